// The tenant reconciler's decisions, pure: from a snapshot of everything one reconcile reads
// (tenant-snapshot.ts) to what to change and the status to report. No I/O, so every decision (placement,
// provisioning, rollout, upgrade phases, deletion) is unit-tested in tenant-plan.test.ts; tenant.ts
// reads the snapshot, applies what this returns and writes the status once.
import { conflictingDomains } from "../api/admission.ts";
import { conditionTrue, setCondition } from "../api/conditions.ts";
import { tenantNamespace } from "../api/names.ts";
import type { TenantPlan } from "../api/plan.ts";
import { DATABASE_FINALIZER, type Condition, type MatomoTenant, type TenantStatus } from "../api/tenant.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import { tenantDatabaseName } from "../db/naming.ts";
import { pickPool, type PoolRoom, type RedisQueue, type ResolvedPool, type TenantSecretValues } from "../db/resolve.ts";
import type { KubeObject } from "../kube/http.ts";
import { renderTenant, TEMPLATE_HASH, type PlatformSettings, type TenantSecrets } from "../render/tenant.ts";
import { certificateCondition, certificateRequeueMs, type CertificateObservation } from "./certificate.ts";
import { decideUpgrade, deploymentsRolled } from "./upgrade.ts";
import { stepVerifiedBackup, type BackupJobObservation, type JobState } from "./verified-backup.ts";

/** A Deployment as the snapshot read it. */
export interface DeploymentObservation {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; updatedReplicas?: number; replicas?: number; availableReplicas?: number };
}

/** A Job of the tenant's namespace as the snapshot read it. */
export interface TenantJobObservation {
  readonly state: JobState;
  readonly component: string | undefined;
  readonly active: number;
  readonly failed: number;
}

/** A pod of the tenant's namespace as the snapshot read it: where it runs and what stops its container. */
export interface TenantPodObservation {
  readonly name: string;
  readonly component: string | undefined;
  readonly nodeName: string | undefined;
  /** The container's waiting reason (ErrImagePull, CrashLoopBackOff, …) and the kubelet's message. */
  readonly waiting?: { readonly reason: string; readonly message: string } | undefined;
  /** The last termination's reason and exit code, when the container restarted. */
  readonly lastTerminated?: { readonly reason: string; readonly exitCode: number } | undefined;
  readonly restarts: number;
  readonly image: string | undefined;
  /** Being deleted (it may still be finishing requests). */
  readonly terminating?: boolean | undefined;
}

/**
 * What probing the tenant's Matomo found: it answers (with its version), or why not, or that its pods
 * run on simulated nodes where nothing can answer (the dev environment's KWOK nodes).
 */
export type MatomoObservation =
  | { readonly ok: true; readonly version: string }
  | { readonly ok: false; readonly reason: string; readonly message: string }
  | { readonly simulated: true };

/** Something the snapshot could not read, as a condition would say it. */
export interface ReadProblem {
  readonly reason: string;
  readonly message: string;
}

export interface TenantSnapshot {
  readonly now: number;
  readonly platform: PlatformSettings;
  /** The tenant with its spec parsed (defaults filled in). */
  readonly tenant: MatomoTenant;
  readonly plan: TenantPlan | undefined;
  /** The domain registry (domain → owning tenant). */
  readonly registry: Readonly<Record<string, string>>;
  /** Every pool's free room; read only while the tenant has no pool yet. */
  readonly rooms: readonly PoolRoom[] | undefined;
  /** The pool the tenant is (to be) placed on, resolved, or why that failed. */
  readonly pool: { readonly name: string; readonly resolved?: ResolvedPool | undefined; readonly problem?: ReadProblem | undefined } | undefined;
  /** The tenant Secret's values; undefined when the Secret does not exist yet. */
  readonly secret: TenantSecretValues | undefined;
  /** Values for a Secret not made yet (random, made by the snapshot's reader so that planning stays pure). */
  readonly freshSecrets: TenantSecrets;
  readonly deployments: ReadonlyMap<string, DeploymentObservation>;
  /** Names of the autoscalers in the tenant's namespace that we manage. */
  readonly autoscalers: readonly string[];
  /** Jobs of the tenant's namespace, by name. */
  readonly jobs: ReadonlyMap<string, TenantJobObservation>;
  /** The tenant's verified-backup Jobs (platform namespace), by name. */
  readonly backupJobs: ReadonlyMap<string, BackupJobObservation>;
  /** Why no verified backup can be taken now (the pool's BackupStore is unusable), when one is needed. */
  readonly backupBlocked: ReadProblem | undefined;
  /** Requests in the tracking queue, when an upgrade's drain needs the count. */
  readonly queued: number | undefined;
  /** The tenant's pods, read while something is under way (see wantsPods); undefined when not read. */
  readonly pods?: readonly TenantPodObservation[] | undefined;
  /** The probe of the tenant's Matomo, made when wantsProbe says so; undefined when not made. */
  readonly matomo?: MatomoObservation | undefined;
  /** What was found about the tenant's certificate (certificate.ts); undefined when not looked at. */
  readonly certificate?: CertificateObservation | undefined;
  /** Deleting only: whether the tenant's database still exists, or why that is unknown. */
  readonly databaseExists?: boolean | ReadProblem | undefined;
}

export interface TenantDecision {
  /** The tenant's finalizers to patch to, when they must change. */
  readonly finalizers?: readonly string[] | undefined;
  /** Create the tenant Secret with these values unless it exists (namespace first). */
  readonly seedSecret?: TenantSecretValues | undefined;
  /** Add these values for keys the existing tenant Secret lacks (keys newer than the tenant). */
  readonly completeSecret?: TenantSecretValues | undefined;
  /** Claim a database number on the pool's Redis for the tenant's queue, then record it in the status. */
  readonly claimRedis?: { readonly pool: string; readonly redis: RedisQueue } | undefined;
  /** Converge the tenant's database and user (no DDL when they already match). */
  readonly database?: { readonly endpoint: PoolEndpoint; readonly password: string } | undefined;
  /** Deletion: lock the tenant's user out before its final backup. */
  readonly dropUser?: PoolEndpoint | undefined;
  /** Deletion: the final backup is verified; drop the database. */
  readonly dropDatabase?: PoolEndpoint | undefined;
  /** Objects for server-side apply, in order (Namespace first); Jobs among them are created when absent. */
  readonly objects: readonly KubeObject[];
  /** Verified-backup Jobs to create. */
  readonly createJobs: readonly KubeObject[];
  /** Verified-backup Jobs (platform namespace) to delete, so that they run again. */
  readonly rerunJobs?: readonly string[] | undefined;
  /** Autoscalers no longer rendered (a suspended tenant), to delete. */
  readonly pruneAutoscalers: readonly string[];
  /** The status to report; undefined when there is nothing to report (a tenant about to go). */
  readonly status: TenantStatus | undefined;
  readonly requeueAfterMs?: number | undefined;
  /** Set on the decision that sees the tenant Ready for the first time. */
  readonly onboardedSeconds?: number | undefined;
  /** Applying the Deployments changes the pod template of one that exists: a rollout starts. */
  readonly rolloutStarts: boolean;
  /** Tracker and web run their current template everywhere. */
  readonly rolled: boolean;
}

// CertificateReady is not among them: Matomo answers before its certificate is issued, which may take minutes.
const NEEDED = ["DatabaseReady", "ConfigReady", "WorkloadsReady", "MatomoAnswering"];

/** Conditions and Ready, observedGeneration and the first-Ready fields, from the conditions so far. */
export function concludeStatus(snap: TenantSnapshot, status: TenantStatus, conditions: Condition[]): { status: TenantStatus; onboardedSeconds?: number | undefined } {
  const { tenant } = snap;
  const generation = tenant.metadata.generation;
  const nowIso = new Date(snap.now).toISOString();
  const ready = NEEDED.every((t) => conditionTrue(conditions, t));
  const failing = conditions.find((c) => NEEDED.includes(c.type) && c.status !== "True");
  const all = setCondition(conditions, "Ready", ready ? "True" : "False", ready ? "Ready" : (failing?.reason ?? "Reconciling"),
    ready ? `Matomo answers on https://${tenant.spec.domains[0]}` : (failing?.message ?? "reconciling"), generation, nowIso);
  const out: TenantStatus = { ...status, observedGeneration: generation, conditions: all };
  let onboardedSeconds: number | undefined;
  if (ready && !out.readyAt) {
    out.readyAt = nowIso;
    const created = Date.parse(tenant.metadata.creationTimestamp ?? nowIso);
    out.onboardingSeconds = Math.max(0, Math.round((snap.now - created) / 100) / 10);
    onboardedSeconds = out.onboardingSeconds;
  }
  return { status: out, onboardedSeconds };
}

/** Sets one condition in a decided status and concludes Ready again (an apply step that failed). */
export function withCondition(snap: TenantSnapshot, status: TenantStatus | undefined, type: string, ok: boolean, reason: string, message: string): TenantStatus {
  const base = status ?? snap.tenant.status ?? {};
  const conditions = setCondition(base.conditions ?? [], type, ok ? "True" : "False", reason, message, snap.tenant.metadata.generation, new Date(snap.now).toISOString());
  return concludeStatus(snap, base, conditions).status;
}

/**
 * A decision whose step `type` failed when applied: nothing after that step happens, the condition
 * says why, and the reconcile comes back after `requeueAfterMs`.
 */
export function failedAt(snap: TenantSnapshot, d: TenantDecision, type: string, reason: string, message: string, requeueAfterMs: number): TenantDecision {
  return { ...d, database: undefined, objects: [], createJobs: [], pruneAutoscalers: [], status: withCondition(snap, d.status, type, false, reason, message), requeueAfterMs, onboardedSeconds: undefined };
}

/** The Deployments held back: every other object applies, the pods roll once a slot of the rollout gate frees. */
export function rolloutQueued(snap: TenantSnapshot, d: TenantDecision, limit: number): TenantDecision {
  const status = withCondition(snap, d.status, "ConfigReady", true, "RolloutQueued", `configuration applied; the pods roll once fewer than ${limit} tenants are rolling`);
  return { ...d, objects: d.objects.filter((o) => o.kind !== "Deployment"), status, requeueAfterMs: Math.min(d.requeueAfterMs ?? 3_000, 3_000), onboardedSeconds: undefined };
}

const none = { objects: [], createJobs: [], pruneAutoscalers: [], rolloutStarts: false } as const;

function secretsFrom(stored: TenantSecretValues | undefined, fresh: TenantSecrets): TenantSecrets {
  if (!stored) return fresh;
  return {
    databasePassword: stored.databasePassword ?? fresh.databasePassword,
    salt: stored.salt ?? fresh.salt,
    adminUser: stored.adminUser ?? fresh.adminUser,
    adminPassword: stored.adminPassword ?? fresh.adminPassword,
    adminEmail: stored.adminEmail ?? fresh.adminEmail,
    apiToken: stored.apiToken ?? fresh.apiToken,
  };
}

/** Jobs of the tenant's namespace as states, for the upgrade's decisions. */
function jobStates(snap: TenantSnapshot): Map<string, JobState> {
  return new Map([...snap.jobs].map(([n, j]) => [n, j.state]));
}

/** The earliest of some requeue times; undefined when none is set. */
function soonest(...ms: (number | undefined)[]): number | undefined {
  const set = ms.filter((m): m is number => m !== undefined);
  return set.length > 0 ? Math.min(...set) : undefined;
}

/** The one decision of one reconcile of a live tenant (see planDeletion for a deleted one). */
export function planTenant(snap: TenantSnapshot): TenantDecision {
  const { tenant } = snap;
  if (tenant.metadata.deletionTimestamp) return planDeletion(snap);
  const name = tenant.metadata.name;
  const generation = tenant.metadata.generation;
  const nowIso = new Date(snap.now).toISOString();
  const rolled = deploymentsRolled(snap.deployments);

  const wantFinalizer = tenant.spec.deletionPolicy === "Delete";
  const current = tenant.metadata.finalizers ?? [];
  if (current.includes(DATABASE_FINALIZER) !== wantFinalizer) {
    // The finalizer is in place before anything that would need it exists.
    return { ...none, rolled, finalizers: wantFinalizer ? [...current, DATABASE_FINALIZER] : current.filter((f) => f !== DATABASE_FINALIZER), status: undefined, requeueAfterMs: 100 };
  }

  let status: TenantStatus = { ...(tenant.status ?? {}) };
  let conditions: Condition[] = [...(status.conditions ?? [])];
  const set = (type: string, ok: boolean, reason: string, message: string) => {
    conditions = setCondition(conditions, type, ok ? "True" : "False", reason, message, generation, nowIso);
  };
  /** A pending certificate's own time to look again (certificate.ts). */
  let certificateAgainMs: number | undefined;
  const finish = (extra: Partial<TenantDecision>, requeueAfterMs?: number): TenantDecision => {
    const concluded = concludeStatus(snap, status, conditions);
    const ready = conditionTrue(concluded.status.conditions, "Ready");
    const again = ready ? requeueAfterMs : (requeueAfterMs ?? 5_000);
    return {
      ...none, rolled, ...extra, status: concluded.status, onboardedSeconds: concluded.onboardedSeconds,
      requeueAfterMs: soonest(again, certificateAgainMs),
    };
  };

  const plan = snap.plan;
  if (!plan) {
    set("ConfigReady", false, "PlanNotFound", `TenantPlan "${tenant.spec.plan}" does not exist`);
    return finish({}, 30_000);
  }
  // Admission refuses a taken domain, but two creates racing the registry update can both pass:
  // the older claim keeps the domain and the newer tenant waits with a clear reason.
  const conflicts = conflictingDomains({ ...snap.registry }, name, tenant.spec.domains);
  if (conflicts.length > 0) {
    set("ConfigReady", false, "DomainConflict", conflicts.map((c) => `${c.domain} belongs to tenant ${c.owner}`).join("; "));
    return finish({}, 30_000);
  }

  // Placement is recorded (status written) before anything is created, so a crash never places a tenant twice.
  const database = tenantDatabaseName(name);
  const placed = status.database?.pool ?? tenant.spec.database.pool;
  const poolName = placed ?? (snap.rooms ? pickPool(snap.rooms)?.name : undefined);
  if (!poolName) {
    set("DatabaseReady", false, "NoPoolWithCapacity", "no DatabasePool has free capacity; add a pool or raise a pool's capacity");
    return finish({}, 30_000);
  }
  if (status.database?.pool !== poolName || status.database.name !== database) {
    status = { ...status, database: { pool: poolName, name: database }, namespace: tenantNamespace(name) };
    return { ...finish({}), requeueAfterMs: 100 };
  }
  const pool = snap.pool?.name === poolName ? snap.pool : undefined;
  if (!pool?.resolved) {
    const problem = pool?.problem ?? { reason: "PoolNotFound", message: `DatabasePool "${poolName}" does not exist` };
    set("DatabaseReady", false, problem.reason, problem.message);
    return finish({}, 30_000);
  }
  const { spec: poolSpec, endpoint } = pool.resolved;
  const secrets = secretsFrom(snap.secret, snap.freshSecrets);
  if (snap.secret) {
    // A key added to the Secret after this tenant was made gets its value stored before anything renders
    // it, so that it is made once, not anew at every reconcile.
    const missing = Object.fromEntries(Object.entries(secrets).filter(([k]) => snap.secret?.[k as keyof TenantSecretValues] === undefined));
    if (Object.keys(missing).length > 0) return { ...finish({}), completeSecret: missing, requeueAfterMs: 100 };
  }
  set("DatabaseReady", true, "DatabaseProvisioned", `database ${database} on pool ${poolName}`);

  // A queued tenant on a pool with Redis gets a database number of its own there, recorded before use.
  const redis = pool.resolved.redis;
  if (tenant.spec.tracking.queuedTracking && redis && status.tracking?.redisDatabase === undefined) {
    return { ...finish({}), claimRedis: { pool: poolName, redis }, requeueAfterMs: 100 };
  }
  const queue = tenant.spec.tracking.queuedTracking && redis && status.tracking?.redisDatabase !== undefined
    ? { host: redis.host, port: redis.port, database: status.tracking.redisDatabase, password: redis.password } : undefined;

  // An upgrade under way decides what runs (upgrade.ts).
  const step = decideUpgrade({
    tenant: { ...tenant, status }, now: snap.now, jobs: jobStates(snap), rolled,
    podsSettled: snap.pods ? !snap.pods.some((p) => p.terminating && (p.component === "tracker" || p.component === "web")) : undefined,
    workerRunning: snap.pods?.some((p) => p.component === "queue-worker") ?? false,
    scheduledActive: [...snap.jobs.values()].filter((j) => j.component === "archiver" || j.component === "scheduled-tasks").reduce((n, j) => n + j.active, 0),
    queued: snap.queued, backupJobs: snap.backupJobs, backupBlocked: snap.backupBlocked?.message, platform: snap.platform,
  });
  status = { ...status, upgrade: step.upgrade, ...(step.runningVersion ? { runningVersion: step.runningVersion } : {}) };
  if (step.condition) set("Upgrading", step.condition.status === "True", step.condition.reason, step.condition.message);

  const placement = { name: poolName, host: poolSpec.host, port: poolSpec.port, reader: poolSpec.reader };
  const objects = renderTenant({ tenant, plan: plan.spec, pool: placement, database: { name: database, user: database }, secrets, platform: snap.platform, rollout: step.rollout, queue });
  const rolloutStarts = objects.some((o) => {
    if (o.kind !== "Deployment") return false;
    const existing = snap.deployments.get(o.metadata.name);
    return existing !== undefined && existing.metadata.annotations?.[TEMPLATE_HASH] !== (o.metadata.annotations as Record<string, string> | undefined)?.[TEMPLATE_HASH];
  });
  // Likewise "every pod queues" (the rollback's go-ahead to restore) is never said in the reconcile that
  // switches the pods to queueing: "rolled" was of the template before, whose pods still write directly.
  if (rolloutStarts && step.condition?.reason === "RollbackRestoring") {
    set("Upgrading", true, "RollbackQueueing", `queueing tracking on every pod before backup ${step.upgrade?.backupId ?? "?"} is restored`);
  }
  // Jobs run once by name: one that exists is never applied again. A queue drain never starts in the
  // reconcile that changes a pod template: "rolled" was read of the template before it, and pods still in
  // queue mode could enqueue after the drain (it starts on a later reconcile, once the new one has rolled).
  const toApply = objects.filter((o) => !(o.kind === "Job" && snap.jobs.has(o.metadata.name)))
    .filter((o) => !(rolloutStarts && o.kind === "Job" && (o.metadata.labels as Record<string, string> | undefined)?.["app.kubernetes.io/component"] === "queue-drain"));
  const wantedHpas = new Set(objects.filter((o) => o.kind === "HorizontalPodAutoscaler").map((o) => o.metadata.name));
  set("ConfigReady", true, "Applied", `${objects.length} objects applied`);

  const workloads = workloadsReady(snap, plan);
  set("WorkloadsReady", workloads.ok, workloads.reason, workloads.message);
  const answering = matomoAnswering(snap, workloads.ok);
  if (answering) set("MatomoAnswering", answering.ok, answering.reason, answering.message);
  if (snap.certificate) {
    const cert = certificateCondition(name, snap.certificate, snap.platform);
    conditions = setCondition(conditions, "CertificateReady", cert.status, cert.reason, cert.message, generation, nowIso);
    certificateAgainMs = certificateRequeueMs(cert, conditions.find((c) => c.type === "CertificateReady")?.lastTransitionTime, snap.now);
  }
  status = { ...status, url: `https://${tenant.spec.domains[0]}` };
  // The first install sets the running version; after that only a completed upgrade changes it.
  if (workloads.ok && !status.runningVersion) status.runningVersion = tenant.spec.matomoVersion;
  return finish({
    ...(snap.secret ? {} : { seedSecret: { ...secrets } }),
    database: { endpoint, password: secrets.databasePassword },
    objects: toApply,
    createJobs: step.createJob ? [step.createJob] : [],
    ...(step.rerunJob ? { rerunJobs: [step.rerunJob] } : {}),
    pruneAutoscalers: snap.autoscalers.filter((n) => !wantedHpas.has(n)),
    rolloutStarts,
  }, step.requeueAfterMs);
}

/** Waiting reasons of a container whose image cannot be had. */
const IMAGE_REASONS = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);
/** Waiting reasons of a container that cannot start or keeps stopping. */
const START_REASONS = new Set(["CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"]);

/**
 * The first thing that stops a pod of the tenant, as a condition says it: an image that cannot be pulled,
 * a container that cannot start or keeps crashing. Image problems first: they explain the rest.
 */
export function podProblem(snap: Pick<TenantSnapshot, "pods" | "tenant">): { reason: string; message: string } | undefined {
  const pods = snap.pods ?? [];
  const ns = tenantNamespace(snap.tenant.metadata.name);
  const what = (p: TenantPodObservation) => `the ${p.component ?? "Matomo"} pod ${p.name}`;
  const pull = pods.find((p) => p.waiting && IMAGE_REASONS.has(p.waiting.reason));
  if (pull?.waiting) {
    return {
      reason: pull.waiting.reason,
      message: `${what(pull)} cannot pull its image ${pull.image ?? ""}: ${oneLine(pull.waiting.message) || pull.waiting.reason}. ` +
        `No image of Matomo ${imageTag(pull.image) ?? snap.tenant.spec.matomoVersion} can be had: build and push it, or choose a version that has one`,
    };
  }
  const stuck = pods.find((p) => p.waiting && START_REASONS.has(p.waiting.reason));
  if (stuck?.waiting) {
    const last = stuck.lastTerminated ? `, last exit code ${stuck.lastTerminated.exitCode} (${stuck.lastTerminated.reason})` : "";
    const detail = stuck.waiting.reason === "CrashLoopBackOff"
      ? `keeps crashing (restarted ${stuck.restarts} time(s)${last}); kubectl logs -n ${ns} ${stuck.name} --previous shows why`
      : `cannot start: ${oneLine(stuck.waiting.message) || stuck.waiting.reason}`;
    return { reason: stuck.waiting.reason, message: `${what(stuck)} ${detail}` };
  }
  return undefined;
}

function oneLine(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

function imageTag(image: string | undefined): string | undefined {
  const m = /:([^:/@]+)$/.exec(image ?? "");
  return m?.[1];
}

/** Whether the reconcile should read the tenant's pods: while it is not Ready, or something rolls. */
export function wantsPods(tenant: MatomoTenant, rolled: boolean): boolean {
  if (tenant.spec.suspended) return false;
  const ready = tenant.status?.conditions?.find((c) => c.type === "Ready");
  return ready?.status !== "True" || ready.observedGeneration !== tenant.metadata.generation || !rolled || tenant.status?.upgrade !== undefined;
}

/**
 * Whether the reconcile should probe the tenant's Matomo: once its workloads are up and installed, until it
 * has answered for the tenant's current generation.
 */
export function wantsProbe(tenant: MatomoTenant, deployments: ReadonlyMap<string, DeploymentObservation>, jobs: ReadonlyMap<string, { readonly state: JobState }>): boolean {
  if (tenant.spec.suspended || jobs.get("matomo-install")?.state !== "succeeded") return false;
  if (["tracker", "web"].some((d) => (deployments.get(d)?.status?.availableReplicas ?? 0) < 1)) return false;
  const c = tenant.status?.conditions?.find((x) => x.type === "MatomoAnswering");
  return !(c?.status === "True" && c.observedGeneration === tenant.metadata.generation);
}

/** The MatomoAnswering condition; undefined keeps the one the tenant has (nothing was probed this time). */
function matomoAnswering(snap: TenantSnapshot, workloadsOk: boolean): { ok: boolean; reason: string; message: string } | undefined {
  if (snap.tenant.spec.suspended) return { ok: true, reason: "Suspended", message: "tenant is suspended: Matomo is not probed" };
  if (!workloadsOk) return { ok: false, reason: "WaitingForWorkloads", message: "Matomo is probed once tracker and web are available and it is installed" };
  const m = snap.matomo;
  if (m === undefined) {
    const current = snap.tenant.status?.conditions?.find((c) => c.type === "MatomoAnswering");
    return current?.status === "True" ? undefined : { ok: false, reason: "Probing", message: "probing the tracker, the web and the Reporting API" };
  }
  if ("simulated" in m) return { ok: true, reason: "Simulated", message: "the tenant's pods run on simulated nodes, where nothing answers: Matomo is not probed" };
  if (!m.ok) return { ok: false, reason: m.reason, message: m.message };
  return { ok: true, reason: "Answering", message: `Matomo ${m.version} answers: the tracker serves matomo.js and matomo.php, the web its login page and the Reporting API` };
}

function workloadsReady(snap: TenantSnapshot, plan: TenantPlan): { ok: boolean; reason: string; message: string } {
  if (snap.tenant.spec.suspended) return { ok: true, reason: "Suspended", message: "tenant is suspended: no pods run, data is kept" };
  const job = snap.jobs.get("matomo-install");
  const waiting: string[] = [];
  for (const [component, min] of [["tracker", plan.spec.tracker.minReplicas], ["web", plan.spec.web.minReplicas]] as const) {
    const available = snap.deployments.get(component)?.status?.availableReplicas ?? 0;
    if (available < min) waiting.push(`${component} ${available}/${min} available`);
  }
  if (job?.state !== "succeeded") waiting.push(job && job.failed > 0 ? `install job failed ${job.failed} time(s)` : "install job running");
  if (waiting.length === 0) return { ok: true, reason: "Available", message: "tracker and web available, Matomo installed" };
  const problem = podProblem(snap);
  return problem
    ? { ok: false, reason: problem.reason, message: `${problem.message} (${waiting.join("; ")})` }
    : { ok: false, reason: "Progressing", message: waiting.join("; ") };
}

/** After a failed final backup, the next attempt (and the Deleting condition's promise) comes this much later. */
export const DELETION_RETRY_MS = 60_000;

/**
 * A deleted tenant with deletionPolicy Delete: lock its database user out, have a Job take the final
 * backup and prove it by a restore drill, and only then drop the database and let the tenant go.
 * Without a verified final backup the database is kept and the Deleting condition says why.
 */
export function planDeletion(snap: TenantSnapshot): TenantDecision {
  const { tenant } = snap;
  const name = tenant.metadata.name;
  const finalizers = tenant.metadata.finalizers ?? [];
  const rolled = false;
  if (!finalizers.includes(DATABASE_FINALIZER)) return { ...none, rolled, status: undefined };
  const release: TenantDecision = { ...none, rolled, finalizers: finalizers.filter((f) => f !== DATABASE_FINALIZER), status: undefined };
  // Switching to Retain while the deletion waits is how a person keeps the database after all.
  if (tenant.spec.deletionPolicy !== "Delete") return release;
  const poolName = tenant.status?.database?.pool;
  if (!poolName) return release; // never placed: there is no database

  const status: TenantStatus = { ...(tenant.status ?? {}) };
  const say = (value: "True" | "False" | "Unknown", reason: string, message: string, extra: Partial<TenantDecision>, requeueAfterMs?: number, backup?: TenantStatus["backup"]): TenantDecision => ({
    ...none, rolled, ...extra, requeueAfterMs,
    status: { ...status, ...(backup ? { backup } : {}), conditions: setCondition(status.conditions ?? [], "Deleting", value, reason, message, undefined, new Date(snap.now).toISOString()) },
  });
  const kept = (reason: string, why: string) => deletionKept(snap, reason, why);

  const pool = snap.pool?.name === poolName ? snap.pool : undefined;
  if (!pool?.resolved) {
    const p = pool?.problem ?? { reason: "PoolNotFound", message: `DatabasePool "${poolName}" does not exist` };
    return kept(p.reason, p.message);
  }
  const exists = snap.databaseExists;
  if (exists === false) return release;
  if (exists === undefined || typeof exists !== "boolean") return kept(exists?.reason ?? "PoolError", exists?.message ?? "whether its database exists is unknown");

  const endpoint = pool.resolved.endpoint;
  const finalId = status.backup?.finalBackupId;
  if (finalId) return say("Unknown", "DroppingDatabase", `final backup ${finalId} verified; dropping the database`, { dropDatabase: endpoint, finalizers: release.finalizers });
  if (snap.backupBlocked) return kept(snap.backupBlocked.reason, snap.backupBlocked.message);

  const step = stepVerifiedBackup({
    tenant: name, purpose: "final", key: (tenant.metadata.uid ?? "nouid").replaceAll("-", "").slice(0, 8), platform: snap.platform,
    jobs: snap.backupJobs, lastVerifiedBackupId: status.backup?.lastVerifiedBackupId, now: snap.now, retryMs: DELETION_RETRY_MS,
  });
  const taking = "locking the tenant's database user out, then taking and verifying the final backup";
  switch (step.kind) {
    case "create":
      // Nothing may write after the final backup: the user goes first (the data stays).
      return say("Unknown", "FinalBackup", `${taking} (Job ${step.job.metadata.name})`, { dropUser: endpoint, createJobs: [step.job] }, 2_000);
    case "running":
      return say("Unknown", "FinalBackup", `${taking} (Job ${step.jobName})`, {}, 5_000);
    case "unverified":
      return say("Unknown", "FinalBackup", `${taking} (Job ${step.jobName})`, step.rerun ? { rerunJobs: [step.jobName] } : {}, 5_000);
    case "failed":
      return { ...kept("FinalBackupFailed", `the final backup Job ${step.jobName} failed: ${step.failure}`), requeueAfterMs: Math.max(1_000, step.retryInMs) };
    case "done":
      // Recorded first: once the database is gone the backup is what is left of the tenant.
      return say("Unknown", "DroppingDatabase", `final backup ${step.backupId} verified; dropping the database`, {}, 100, { ...status.backup, finalBackupId: step.backupId });
  }
}

/** A deletion that cannot go on: the database is kept, the Deleting condition says why, retried later. */
export function deletionKept(snap: TenantSnapshot, reason: string, why: string): TenantDecision {
  const status: TenantStatus = { ...(snap.tenant.status ?? {}) };
  const message = `the database of tenant ${snap.tenant.metadata.name} is kept: ${why.replace(/[.\s]+$/, "")}. It is retried every ${DELETION_RETRY_MS / 1000} s; to delete the tenant and keep its database, set spec.deletionPolicy to Retain`;
  return {
    ...none, rolled: false, requeueAfterMs: DELETION_RETRY_MS,
    status: { ...status, conditions: setCondition(status.conditions ?? [], "Deleting", "False", reason, message, undefined, new Date(snap.now).toISOString()) },
  };
}
