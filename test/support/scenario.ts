// The node-failure scenario of the node doctor's integration tests and benchmark, on a dev cluster:
// a tenant and a StatefulSet with a volume share one node (the victim); helpers tell where their pods run.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { tenantNamespace } from "../../src/api/names.ts";
import type { KubeHttp, KubeObject } from "../../src/kube/http.ts";
import { createTenant, deleteTenant, waitReady } from "../../src/tenants/service.ts";

const MANAGER = "mms-scenario";
export const STATEFUL_POD = "db-0";

interface Pod {
  metadata: { name: string; deletionTimestamp?: string; ownerReferences?: { kind: string }[] };
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

export interface RecoveryWorkload {
  readonly tenant: string;
  /** Namespace of the StatefulSet `db` and its claim `data-db-0`. */
  readonly namespace: string;
  /** The PersistentVolume bound to the StatefulSet's claim. */
  readonly volume: string;
  /** The node running the StatefulSet pod and some of the tenant's pods. */
  readonly victim: string;
  /** Tenant pods Running before the failure. */
  readonly tenantPods: number;
}

const isRunning = (p: Pod) => p.status?.phase === "Running" && !p.metadata.deletionTimestamp;

/** The tenant's Deployment pods (tracker, web…) that are Running and not being deleted. */
export async function runningTenantPods(http: KubeHttp, tenant: string): Promise<Pod[]> {
  const pods = (await http.list<Pod>("v1", "Pod", tenantNamespace(tenant))).items;
  return pods.filter((p) => isRunning(p) && (p.metadata.ownerReferences ?? []).some((o) => o.kind === "ReplicaSet"));
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * A Ready tenant, and a StatefulSet whose pod runs beside some of the tenant's pods with a volume of
 * its own. The dev cluster has no storage provisioner, so the volume is made by hand: a CSI volume (as
 * OVH's Cinder driver makes) reserved for the StatefulSet's claim. Nothing attaches it; Kubernetes binds
 * and schedules with it as with a real one.
 */
export async function deployRecoveryWorkload(http: KubeHttp, prefix: string, timeoutMs = 120_000): Promise<RecoveryWorkload> {
  const suffix = randomUUID().slice(0, 6);
  const tenant = `${prefix}-${suffix}`;
  await createTenant(http, { name: tenant, domains: [`analytics.${tenant}.test`] });
  const ready = await waitReady(http, tenant, timeoutMs);
  if (!ready.ok) throw new Error(`tenant ${tenant} did not become Ready: ${ready.failing?.reason ?? "?"} ${ready.failing?.message ?? ""}`);
  const pods = await until("the tenant's pods Running", timeoutMs, async () => {
    const p = await runningTenantPods(http, tenant);
    return p.length > 0 ? p : undefined;
  });
  const victim = pods[0]?.spec?.nodeName ?? "";

  const namespace = `${prefix}-sts-${suffix}`;
  const volume = `${prefix}-pv-${suffix}`;
  await http.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, { fieldManager: MANAGER });
  await http.create({
    apiVersion: "v1", kind: "PersistentVolume", metadata: { name: volume },
    spec: {
      capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], persistentVolumeReclaimPolicy: "Retain", storageClassName: "",
      claimRef: { namespace, name: `data-${STATEFUL_POD}` },
      csi: { driver: "cinder.csi.openstack.org", volumeHandle: randomUUID(), fsType: "ext4" },
    },
  }, { fieldManager: MANAGER });
  const statefulSet: KubeObject = {
    apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "db", namespace },
    spec: {
      serviceName: "db", replicas: 1, selector: { matchLabels: { app: "db" } },
      template: {
        metadata: { labels: { app: "db" } },
        spec: {
          // Preferred, not required: it starts on the victim and may move when the victim fails.
          affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [victim] }] } }] } },
          containers: [{ name: "db", image: "mariadb:11.4", volumeMounts: [{ name: "data", mountPath: "/var/lib/mysql" }] }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], storageClassName: "", resources: { requests: { storage: "1Gi" } } } }],
    },
  };
  await http.create(statefulSet, { fieldManager: MANAGER });
  const db = await until(`${STATEFUL_POD} Running`, timeoutMs, async () => {
    const p = await http.getOrUndefined<Pod>("v1", "Pod", STATEFUL_POD, namespace);
    return p && isRunning(p) ? p : undefined;
  });
  if (db.spec?.nodeName !== victim) throw new Error(`${STATEFUL_POD} started on ${db.spec?.nodeName}, not beside the tenant on ${victim}`);
  return { tenant, namespace, volume, victim, tenantPods: (await runningTenantPods(http, tenant)).length };
}

export interface Placement {
  /** Every tenant pod Running, none on the victim, at least as many as before. */
  readonly tenantElsewhere: boolean;
  /** The StatefulSet pod Running on another node, with its claim still bound to its volume. */
  readonly statefulElsewhere: boolean;
  readonly statefulNode: string | undefined;
}

export async function placement(http: KubeHttp, w: RecoveryWorkload): Promise<Placement> {
  const pods = await runningTenantPods(http, w.tenant);
  const db = await http.getOrUndefined<Pod>("v1", "Pod", STATEFUL_POD, w.namespace);
  const claim = await http.getOrUndefined<{ spec?: { volumeName?: string }; status?: { phase?: string } }>("v1", "PersistentVolumeClaim", `data-${STATEFUL_POD}`, w.namespace);
  return {
    tenantElsewhere: pods.length >= w.tenantPods && pods.every((p) => p.spec?.nodeName !== w.victim),
    statefulElsewhere: db !== undefined && isRunning(db) && db.spec?.nodeName !== w.victim && claim?.status?.phase === "Bound" && claim.spec?.volumeName === w.volume,
    statefulNode: db?.spec?.nodeName,
  };
}

export async function removeRecoveryWorkload(http: KubeHttp, w: RecoveryWorkload): Promise<void> {
  await deleteTenant(http, w.tenant).catch(() => undefined);
  await http.delete("v1", "Namespace", w.namespace);
  await http.delete("v1", "PersistentVolume", w.volume);
}
