// Reads everything one reconcile of a tenant looks at, once: the tenant, its plan, the domain registry,
// its pool and endpoint, its Secret, Deployments, autoscalers and Jobs, its verified-backup Jobs, its
// certificate (cert-manager's Certificate, or a TLS handshake with the ingress controller), and
// what an upgrade or a deletion needs from the database. Decisions are made on this (tenant-plan.ts).
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { REGISTRY_NAME, SYSTEM_NAMESPACE } from "../api/admission.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import type { TenantPlan } from "../api/plan.ts";
import { TenantSpec, type MatomoTenant } from "../api/tenant.ts";
import { BackupError } from "../backup/errors.ts";
import { resolveStoreOfPool } from "../backup/store.ts";
import { PoolError, tenantDatabaseExists, tenantDatabaseName } from "../db/pool.ts";
import { listPoolRoom, PoolLookupError, readTenantSecret, resolvePool } from "../db/resolve.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { TLS_SECRET_NAME, type PlatformSettings, type TenantSecrets } from "../render/tenant.ts";
import type { MatomoEndpoint } from "../matomo/client.ts";
import { probeMatomo } from "../matomo/probe.ts";
import { probeCertificate } from "../matomo/tls-probe.ts";
import { certificateCheck, type CertificateObservation, type CertManagerCertificate } from "./certificate.ts";
import { wantsPods, wantsProbe, type DeploymentObservation, type MatomoObservation, type ReadProblem, type TenantJobObservation, type TenantPodObservation, type TenantSnapshot } from "./tenant-plan.ts";
import { deploymentsRolled, needsQueueCount, queuedRequests, upgradeBackingUp } from "./upgrade.ts";
import { jobCompletedAt, jobFailedAt, jobStateOf, type BackupJobObservation } from "./verified-backup.ts";

export function newSecrets(tenant: MatomoTenant): TenantSecrets {
  const token = (n: number) => randomBytes(n).toString("base64url");
  return {
    databasePassword: token(24),
    // Matomo's salt signs tokens and sessions: made once, identical on every pod, never rotated.
    salt: randomBytes(32).toString("hex"),
    adminUser: "admin",
    adminPassword: token(18),
    adminEmail: `admin@${tenant.spec.domains[0] ?? "example.invalid"}`,
    // The shape of the tokens Matomo makes itself (32 hex characters).
    apiToken: randomBytes(16).toString("hex"),
  };
}

interface JobObject {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { active?: number; succeeded?: number; failed?: number; completionTime?: string; conditions?: { type: string; status: string; lastTransitionTime?: string; message?: string }[] };
}

interface PodObject {
  status?: { containerStatuses?: { state?: { terminated?: { message?: string; exitCode?: number } } }[] };
}

/** The tenant, its spec parsed; undefined when it does not exist. */
export async function readTenant(http: KubeHttp, name: string): Promise<MatomoTenant | undefined> {
  const raw = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
  return raw ? { ...raw, spec: TenantSpec.parse(raw.spec) } : undefined;
}

function problemOf(err: unknown): ReadProblem {
  if (err instanceof PoolLookupError || err instanceof PoolError || err instanceof BackupError) return { reason: err.reason, message: err.message };
  throw err;
}

/** Why the final or pre-upgrade backup Job failed: the last lines its pod left, else the Job's condition. */
async function failureOf(http: KubeHttp, job: JobObject): Promise<string | undefined> {
  const pods = await http.list<PodObject>("v1", "Pod", SYSTEM_NAMESPACE, `job-name=${job.metadata.name}`);
  for (const p of pods.items) {
    for (const c of p.status?.containerStatuses ?? []) {
      const m = c.state?.terminated?.message?.trim();
      if (m) return m.split("\n").filter((l) => l.trim()).slice(-3).join(" ").replace(/^error:\s*/, "");
    }
  }
  return job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True")?.message;
}

async function backupJobs(http: KubeHttp, tenant: string, purpose: "pre-upgrade" | "final"): Promise<Map<string, BackupJobObservation>> {
  const list = await http.list<JobObject>("batch/v1", "Job", SYSTEM_NAMESPACE, `multiscale.io/tenant=${tenant},multiscale.io/purpose=${purpose}`);
  const out = new Map<string, BackupJobObservation>();
  for (const j of list.items) {
    const state = jobStateOf(j);
    out.set(j.metadata.name, { name: j.metadata.name, state, failedAt: jobFailedAt(j), completedAt: jobCompletedAt(j), failure: state === "failed" ? await failureOf(http, j) : undefined });
  }
  return out;
}

/** Whether a verified backup could be taken now: the pool's BackupStore and its credentials resolve. */
async function backupBlocked(http: KubeHttp, poolName: string): Promise<ReadProblem | undefined> {
  try {
    await resolveStoreOfPool(http, poolName);
    return undefined;
  } catch (err) {
    return problemOf(err);
  }
}

interface PodObjectFull {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string; containers?: { image?: string }[] };
  status?: {
    phase?: string;
    containerStatuses?: {
      image?: string; restartCount?: number; ready?: boolean;
      state?: { waiting?: { reason?: string; message?: string } };
      lastState?: { terminated?: { reason?: string; exitCode?: number } };
    }[];
  };
}

/** The tenant's Matomo pods: where each runs and what, if anything, stops its container. */
async function readPods(http: KubeHttp, tenant: string): Promise<TenantPodObservation[]> {
  const list = await http.list<PodObjectFull>("v1", "Pod", tenantNamespace(tenant), `multiscale.io/tenant=${tenant}`);
  return list.items.map((p) => {
    const c = p.status?.containerStatuses?.[0];
    const waiting = c?.state?.waiting?.reason ? { reason: c.state.waiting.reason, message: c.state.waiting.message ?? "" } : undefined;
    const last = c?.lastState?.terminated;
    return {
      name: p.metadata.name, component: p.metadata.labels?.["app.kubernetes.io/component"], nodeName: p.spec?.nodeName,
      waiting, lastTerminated: last ? { reason: last.reason ?? "Error", exitCode: last.exitCode ?? 0 } : undefined,
      restarts: c?.restartCount ?? 0, image: p.spec?.containers?.[0]?.image, terminating: p.metadata.deletionTimestamp !== undefined,
    };
  });
}

/**
 * Which nodes are simulated (the dev environment's KWOK nodes carry PlatformSettings.simulatedNodeLabel):
 * nodes are looked up by name and remembered for a while, since a node does not change kind.
 */
export class NodeKinds {
  private readonly known = new Map<string, { simulated: boolean; at: number }>();
  private readonly http: KubeHttp;
  private readonly ttlMs: number;
  constructor(http: KubeHttp, ttlMs = 5 * 60_000) {
    this.http = http;
    this.ttlMs = ttlMs;
  }

  async simulated(node: string, label: string): Promise<boolean> {
    const hit = this.known.get(node);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.simulated;
    const n = await this.http.getOrUndefined<{ metadata: { labels?: Record<string, string> } }>("v1", "Node", node);
    const simulated = n?.metadata.labels?.[label] !== undefined;
    this.known.set(node, { simulated, at: Date.now() });
    return simulated;
  }
}

/** Whether the tenant's tracker and web pods all run on simulated nodes, where nothing answers. */
async function servingSimulated(pods: readonly TenantPodObservation[], platform: PlatformSettings, nodes: NodeKinds | undefined): Promise<boolean> {
  const serving = pods.filter((p) => (p.component === "tracker" || p.component === "web") && p.nodeName);
  const label = platform.simulatedNodeLabel;
  if (!label || !nodes || serving.length === 0) return false;
  const kinds = await Promise.all(serving.map((p) => nodes.simulated(p.nodeName ?? "", label)));
  return kinds.every(Boolean);
}

/** Probes the tenant's Matomo through its tracker and web Services (simulated pods are not probed). */
async function observeMatomo(http: KubeHttp, tenant: MatomoTenant, pods: readonly TenantPodObservation[], token: string,
  platform: PlatformSettings, nodes: NodeKinds | undefined): Promise<MatomoObservation> {
  if (await servingSimulated(pods, platform, nodes)) return { simulated: true };
  const ns = tenantNamespace(tenant.metadata.name);
  const host = tenant.spec.domains[0] ?? "";
  const endpoint = async (svc: string): Promise<MatomoEndpoint | undefined> => {
    const s = await http.getOrUndefined<{ spec?: { clusterIP?: string } }>("v1", "Service", svc, ns);
    const ip = s?.spec?.clusterIP;
    return ip && ip !== "None" ? { address: ip, port: 80, host } : undefined;
  };
  const [tracker, web] = await Promise.all([endpoint("tracker"), endpoint("web")]);
  if (!tracker || !web) return { ok: false, reason: "ServiceMissing", message: `the ${tracker ? "web" : "tracker"} Service has no cluster IP yet` };
  return probeMatomo(tracker, web, token);
}

/** The port the ingress controller's Service serves HTTPS on. */
const INGRESS_HTTPS_PORT = 443;
const CERTIFICATE_CRD = "certificates.cert-manager.io";

/** cert-manager's Certificate for the tenant's Ingress, or whether cert-manager is there at all. */
async function readCertManagerCertificate(http: KubeHttp, tenant: MatomoTenant): Promise<CertificateObservation> {
  try {
    const certificate = await http.get<CertManagerCertificate>("cert-manager.io/v1", "Certificate", TLS_SECRET_NAME, tenantNamespace(tenant.metadata.name));
    return { mode: "cert-manager", installed: true, certificate };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.status === 403) {
      return { problem: { reason: "CertificateUnreadable", pending: false, message: `the operator may not read cert-manager Certificates (${err.message}): grant it get on ${CERTIFICATE_CRD}` } };
    }
    if (err.status !== 404) throw err;
    // Without the CRD the API server does not know the path at all ("the server could not find the requested
    // resource"); with it, only the object is missing (`certificates.cert-manager.io "matomo-tls" not found`).
    const objectMissing = err.reason === "NotFound" && err.message.includes(`"${TLS_SECRET_NAME}" not found`);
    return { mode: "cert-manager", installed: objectMissing, certificate: undefined };
  }
}

/** What the ingress controller serves for each of the tenant's domains, dialled at its Service's ClusterIP. */
async function probeIngressCertificates(http: KubeHttp, tenant: MatomoTenant, platform: PlatformSettings): Promise<CertificateObservation> {
  const ref = platform.ingressService ?? { namespace: platform.ingressNamespace, name: "traefik" };
  const svc = await http.getOrUndefined<{ spec?: { clusterIP?: string } }>("v1", "Service", ref.name, ref.namespace);
  const ip = svc?.spec?.clusterIP;
  if (!ip || ip === "None") {
    return { problem: { reason: "IngressServiceMissing", pending: true, message: `the ingress controller's Service ${ref.namespace}/${ref.name} ${svc ? "has no cluster IP" : "does not exist"} (operator flag --ingress-service)` } };
  }
  let ca: string | undefined;
  if (platform.acmeCaFile) {
    try {
      ca = await readFile(platform.acmeCaFile, "utf8");
    } catch (err) {
      return { problem: { reason: "CaFileUnreadable", pending: false, message: `the CA file ${platform.acmeCaFile} (--acme-ca-file) cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` } };
    }
  }
  const served = await Promise.all(tenant.spec.domains.map((d) => probeCertificate(ip, INGRESS_HTTPS_PORT, d, { ca, timeoutMs: 3_000 })));
  return { mode: "ingress-acme", served };
}

/** The certificate's observation for CertificateReady (certificate.ts decides whether and how to look). */
async function observeCertificate(http: KubeHttp, tenant: MatomoTenant, platform: PlatformSettings, deployments: ReadonlyMap<string, DeploymentObservation>,
  simulated: () => Promise<boolean>): Promise<CertificateObservation | undefined> {
  const available = (d: "tracker" | "web") => (deployments.has(d) ? deployments.get(d)?.status?.availableReplicas ?? 0 : undefined);
  const wantsSimulation = platform.tlsMode === "ingress-acme" && platform.simulatedNodeLabel !== undefined;
  const check = certificateCheck(tenant, platform, available, wantsSimulation && (await simulated()));
  if (check === undefined || typeof check === "object") return check;
  return check === "cert-manager" ? readCertManagerCertificate(http, tenant) : probeIngressCertificates(http, tenant, platform);
}

export async function readSnapshot(http: KubeHttp, tenant: MatomoTenant, platform: PlatformSettings, now: number, nodes?: NodeKinds): Promise<TenantSnapshot> {
  const name = tenant.metadata.name;
  const ns = tenantNamespace(name);
  const deleting = tenant.metadata.deletionTimestamp !== undefined;
  const poolName = tenant.status?.database?.pool ?? tenant.spec.database.pool;
  const resolvePoolOf = async (n: string | undefined) => {
    if (!n) return undefined;
    try {
      return { name: n, resolved: await resolvePool(http, n) };
    } catch (err) {
      return { name: n, problem: problemOf(err) };
    }
  };

  if (deleting) {
    const pool = await resolvePoolOf(tenant.status?.database?.pool);
    let databaseExists: boolean | ReadProblem | undefined;
    if (pool?.resolved) {
      try {
        databaseExists = await tenantDatabaseExists(pool.resolved.endpoint, name);
      } catch (err) {
        databaseExists = problemOf(err);
      }
    }
    const wantsBackup = databaseExists === true && !tenant.status?.backup?.finalBackupId && tenant.spec.deletionPolicy === "Delete";
    return {
      now, platform, tenant, plan: undefined, registry: {}, rooms: undefined, pool, secret: undefined, freshSecrets: newSecrets(tenant),
      deployments: new Map(), autoscalers: [], jobs: new Map(),
      backupJobs: wantsBackup ? await backupJobs(http, name, "final") : new Map(),
      backupBlocked: wantsBackup && pool ? await backupBlocked(http, pool.name) : undefined,
      queued: undefined, databaseExists,
    };
  }

  const [plan, registry, rooms, pool, secret, deployments, hpas, jobs] = await Promise.all([
    http.getOrUndefined<TenantPlan>(API_GROUP_VERSION, "TenantPlan", tenant.spec.plan),
    http.getOrUndefined<{ data?: Record<string, string> }>("v1", "ConfigMap", REGISTRY_NAME, SYSTEM_NAMESPACE),
    poolName ? Promise.resolve(undefined) : listPoolRoom(http),
    resolvePoolOf(poolName),
    readTenantSecret(http, name),
    http.list<DeploymentObservation>("apps/v1", "Deployment", ns, `multiscale.io/tenant=${name}`),
    http.list<{ metadata: { name: string } }>("autoscaling/v2", "HorizontalPodAutoscaler", ns, "app.kubernetes.io/managed-by=mms"),
    http.list<JobObject>("batch/v1", "Job", ns, `multiscale.io/tenant=${name}`),
  ]);
  const deploymentMap = new Map(deployments.items.map((d) => [d.metadata.name, d]));
  const jobMap = new Map<string, TenantJobObservation>(jobs.items.map((j) => [j.metadata.name, {
    state: jobStateOf(j), component: j.metadata.labels?.["app.kubernetes.io/component"], active: j.status?.active ?? 0, failed: j.status?.failed ?? 0,
  }]));
  const backingUp = upgradeBackingUp(tenant) && pool?.resolved !== undefined;
  let queued: number | undefined;
  const up = tenant.status?.upgrade;
  const rolled = deploymentsRolled(deploymentMap);
  if (pool?.resolved && needsQueueCount(up, new Map([...jobMap].map(([n, j]) => [n, j.state])), rolled)) {
    try {
      queued = await queuedRequests(pool.resolved.endpoint, tenantDatabaseName(name));
    } catch (err) {
      if (!(err instanceof PoolError || err instanceof BackupError)) throw err;
    }
  }
  const pods = wantsPods(tenant, rolled) ? await readPods(http, name) : undefined;
  const matomo = pods && secret?.apiToken && wantsProbe(tenant, deploymentMap, jobMap)
    ? await observeMatomo(http, tenant, pods, secret.apiToken, platform, nodes) : undefined;
  // Simulated pods: as the Matomo probe found, else as the pods read show, else as the last probe said.
  const simulated = async () => (matomo ? "simulated" in matomo : pods ? servingSimulated(pods, platform, nodes)
    : tenant.status?.conditions?.find((c) => c.type === "MatomoAnswering")?.reason === "Simulated");
  const certificate = await observeCertificate(http, tenant, platform, deploymentMap, simulated);
  return {
    now, platform, tenant, plan, registry: registry?.data ?? {}, rooms, pool, secret, freshSecrets: newSecrets(tenant),
    deployments: deploymentMap, autoscalers: hpas.items.map((h) => h.metadata.name), jobs: jobMap, pods, matomo, certificate,
    backupJobs: backingUp ? await backupJobs(http, name, "pre-upgrade") : new Map(),
    backupBlocked: backingUp && pool ? await backupBlocked(http, pool.name) : undefined,
    queued,
  };
}
