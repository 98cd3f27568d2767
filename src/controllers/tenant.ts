// Reconciles one MatomoTenant: place it on a pool, give it a database and user, render and apply
// its objects, and report progress as conditions. Every step converges from any starting point, so
// the operator can be killed anywhere and simply run the reconcile again.
import { randomBytes } from "node:crypto";
import { conflictingDomains, REGISTRY_NAME, SYSTEM_NAMESPACE } from "../api/admission.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import type { TenantPlan } from "../api/plan.ts";
import { PoolSpec, type DatabasePool } from "../api/pool.ts";
import { TenantSpec, type Condition, type MatomoTenant, type TenantStatus } from "../api/tenant.ts";
import { ensureTenantDatabase, PoolError, tenantDatabaseName, type PoolEndpoint } from "../db/pool.ts";
import { KubeApiError, type KubeHttp, type KubeObject } from "../kube/http.ts";
import { FIELD_MANAGER, renderTenant, TEMPLATE_HASH, type PlatformSettings, type TenantSecrets } from "../render/tenant.ts";
import { conditionTrue, setCondition } from "../api/conditions.ts";
import type { ReconcileResult } from "./result.ts";
import { ensureFinalizer, finalizeTenant } from "./tenant-deletion.ts";
import type { RolloutGate } from "./rollout-gate.ts";
import { deploymentsRolled, stepUpgrade } from "./upgrade.ts";
import { secretValue } from "../kube/secrets.ts";

export const SECRET_NAME = "matomo-secrets";

export type { ReconcileResult } from "./result.ts";

export interface TenantReconcilerDeps {
  readonly http: KubeHttp;
  readonly platform: PlatformSettings;
  readonly now?: () => Date;
  /** Bounds the tenants rolling their pods at once; unbounded without it. */
  readonly rolloutGate?: RolloutGate;
}

function newSecrets(tenant: MatomoTenant): TenantSecrets {
  const token = (n: number) => randomBytes(n).toString("base64url");
  return {
    databasePassword: token(24),
    // Matomo's salt signs tokens and sessions: made once, identical on every pod, never rotated.
    salt: randomBytes(32).toString("hex"),
    adminUser: "admin",
    adminPassword: token(18),
    adminEmail: `admin@${tenant.spec.domains[0] ?? "example.invalid"}`,
  };
}

export class TenantReconciler {
  private readonly http: KubeHttp;
  private readonly platform: PlatformSettings;
  private readonly gate: RolloutGate | undefined;
  private readonly now: () => Date;

  constructor(deps: TenantReconcilerDeps) {
    this.http = deps.http;
    this.platform = deps.platform;
    this.gate = deps.rolloutGate;
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const raw = await this.http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
    if (!raw || raw.metadata.deletionTimestamp) this.gate?.release(name);
    if (!raw) return {};
    const tenant: MatomoTenant = { ...raw, spec: TenantSpec.parse(raw.spec) };
    // Deleted: the garbage collector removes its objects (owner references). With deletionPolicy
    // Delete our finalizer holds the tenant until its database is backed up, verified and dropped.
    if (raw.metadata.deletionTimestamp) return finalizeTenant(this.http, tenant, this.now);
    if (!(await ensureFinalizer(this.http, raw, tenant.spec.deletionPolicy === "Delete"))) return { requeueAfterMs: 100 };
    const generation = tenant.metadata.generation;
    const nowIso = this.now().toISOString();
    let status: TenantStatus = { ...(raw.status ?? {}) };
    let conditions: Condition[] = [...(status.conditions ?? [])];
    const set = (type: string, ok: boolean | "Unknown", reason: string, message: string) => {
      conditions = setCondition(conditions, type, ok === "Unknown" ? "Unknown" : ok ? "True" : "False", reason, message, generation, nowIso);
    };
    const finish = async (requeueAfterMs?: number): Promise<ReconcileResult> => {
      const needed = ["DatabaseReady", "ConfigReady", "WorkloadsReady"];
      const ready = needed.every((t) => conditionTrue(conditions, t));
      const failing = conditions.find((c) => needed.includes(c.type) && c.status !== "True");
      set("Ready", ready, ready ? "Ready" : (failing?.reason ?? "Reconciling"), ready ? `Matomo answers on https://${tenant.spec.domains[0]}` : (failing?.message ?? "reconciling"));
      status = { ...status, observedGeneration: generation, conditions };
      if (ready && !status.readyAt) {
        status.readyAt = nowIso;
        const created = Date.parse(tenant.metadata.creationTimestamp ?? nowIso);
        status.onboardingSeconds = Math.max(0, Math.round((Date.parse(nowIso) - created) / 100) / 10);
      }
      const firstReady = ready && !raw.status?.readyAt && status.onboardingSeconds !== undefined;
      await this.writeStatus(raw, status);
      if (!ready) return { requeueAfterMs: requeueAfterMs ?? 5_000 };
      return { ...(firstReady ? { onboardedSeconds: status.onboardingSeconds } : {}), ...(requeueAfterMs ? { requeueAfterMs } : {}) };
    };

    const plan = await this.http.getOrUndefined<TenantPlan>(API_GROUP_VERSION, "TenantPlan", tenant.spec.plan);
    if (!plan) {
      set("ConfigReady", false, "PlanNotFound", `TenantPlan "${tenant.spec.plan}" does not exist`);
      return finish(30_000);
    }

    // Admission refuses a taken domain, but two creates racing the registry update can both pass:
    // the older claim keeps the domain and the newer tenant waits with a clear reason.
    const registry = await this.http.getOrUndefined<{ data?: Record<string, string> }>("v1", "ConfigMap", REGISTRY_NAME, SYSTEM_NAMESPACE);
    const conflicts = conflictingDomains(registry?.data ?? {}, name, tenant.spec.domains);
    if (conflicts.length > 0) {
      set("ConfigReady", false, "DomainConflict", conflicts.map((c) => `${c.domain} belongs to tenant ${c.owner}`).join("; "));
      return finish(30_000);
    }

    // Placement is recorded before anything is created, so a crash never places a tenant twice.
    const database = tenantDatabaseName(name);
    let poolName = status.database?.pool ?? tenant.spec.database.pool;
    if (!poolName) {
      const chosen = await this.choosePool();
      if (!chosen) {
        set("DatabaseReady", false, "NoPoolWithCapacity", "no DatabasePool has free capacity; add a pool or raise a pool's capacity");
        return finish(30_000);
      }
      poolName = chosen;
    }
    if (status.database?.pool !== poolName || status.database.name !== database) {
      status = { ...status, database: { pool: poolName, name: database }, namespace: tenantNamespace(name) };
      await this.writeStatus(raw, { ...status, conditions });
    }
    const pool = await this.http.getOrUndefined<DatabasePool>(API_GROUP_VERSION, "DatabasePool", poolName);
    if (!pool) {
      set("DatabaseReady", false, "PoolNotFound", `DatabasePool "${poolName}" does not exist`);
      return finish(30_000);
    }
    const poolSpec = PoolSpec.parse(pool.spec);

    // The namespace first: the tenant's Secret lives in it and must exist before its database user.
    const secretsFirst = newSecrets(tenant);
    const placement = { name: poolName, host: poolSpec.host, port: poolSpec.port, reader: poolSpec.reader };
    const draft = renderTenant({ tenant, plan: plan.spec, pool: placement, database: { name: database, user: database }, secrets: secretsFirst, platform: this.platform });
    const namespaceObj = draft.find((o) => o.kind === "Namespace");
    if (namespaceObj) await this.http.apply(namespaceObj, { fieldManager: FIELD_MANAGER });
    const secrets = await this.ensureSecrets(tenant, secretsFirst);

    let endpoint: PoolEndpoint;
    try {
      endpoint = await this.poolEndpoint(poolSpec);
    } catch (err) {
      set("DatabaseReady", false, "PoolCredentialsMissing", (err as Error).message);
      return finish(30_000);
    }
    try {
      await ensureTenantDatabase(endpoint, name, secrets.databasePassword);
      set("DatabaseReady", true, "DatabaseProvisioned", `database ${database} on pool ${poolName}`);
    } catch (err) {
      if (!(err instanceof PoolError)) throw err;
      set("DatabaseReady", false, err.reason, err.message);
      return finish(10_000);
    }

    // An upgrade under way decides what runs (src/controllers/upgrade.ts). Its backup step records the
    // backup in the status itself, so the status is read again after it.
    const phaseBefore = status.upgrade?.phase;
    const step = await stepUpgrade({ http: this.http, tenant: { ...tenant, status }, plan: plan.spec, pool: endpoint, poolName, database, now: this.now });
    if (phaseBefore === "BackingUp") {
      const fresh = await this.http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
      raw.metadata.resourceVersion = fresh.metadata.resourceVersion;
      raw.status = fresh.status;
      const health = fresh.status?.conditions?.find((c) => c.type === "BackupHealthy");
      conditions = [...conditions.filter((c) => c.type !== "BackupHealthy"), ...(health ? [health] : [])];
      status = { ...status, backup: fresh.status?.backup };
    }
    status = { ...status, upgrade: step.upgrade, ...(step.runningVersion ? { runningVersion: step.runningVersion } : {}) };
    if (step.condition) set("Upgrading", step.condition.status === "True", step.condition.reason, step.condition.message);
    const objects = renderTenant({ tenant, plan: plan.spec, pool: placement, database: { name: database, user: database }, secrets, platform: this.platform, rollout: step.rollout });
    let admitted: boolean;
    try {
      admitted = await this.admitRollout(name, objects);
      for (const obj of objects) {
        if (obj.kind === "Deployment" && !admitted) continue;
        await this.applyOne(obj, objects);
      }
      await this.pruneAutoscalers(tenantNamespace(name), objects);
      if (admitted) set("ConfigReady", true, "Applied", `${objects.length} objects applied`);
      else set("ConfigReady", true, "RolloutQueued", `configuration applied; the pods roll once fewer than ${this.gate?.limit} tenants are rolling`);
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status >= 500) throw err;
      set("ConfigReady", false, "ApplyFailed", err.message);
      return finish(30_000);
    }

    const workloads = await this.workloadsReady(tenant, plan);
    set("WorkloadsReady", workloads.ok, workloads.reason, workloads.message);
    status = { ...status, url: `https://${tenant.spec.domains[0]}` };
    // The first install sets the running version; after that only a completed upgrade changes it.
    if (workloads.ok && !status.runningVersion) status.runningVersion = tenant.spec.matomoVersion;
    // A tenant holding a rollout slot is looked at again soon, to give the slot back once its pods rolled.
    const holding = this.gate?.holds(name) === true;
    const waits = [step.requeueAfterMs, admitted ? undefined : 3_000, holding ? 2_000 : undefined].filter((x): x is number => x !== undefined);
    return finish(waits.length > 0 ? Math.min(...waits) : undefined);
  }

  private async choosePool(): Promise<string | undefined> {
    const pools = await this.http.list<DatabasePool>(API_GROUP_VERSION, "DatabasePool");
    const tenants = await this.http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant");
    const used = new Map<string, number>();
    for (const t of tenants.items) {
      const p = t.status?.database?.pool;
      if (p) used.set(p, (used.get(p) ?? 0) + 1);
    }
    const free = pools.items
      .map((p) => ({ name: p.metadata.name, free: PoolSpec.parse(p.spec).capacity - (used.get(p.metadata.name) ?? 0) }))
      .filter((p) => p.free > 0)
      .sort((a, b) => b.free - a.free || a.name.localeCompare(b.name));
    return free[0]?.name;
  }

  private async poolEndpoint(spec: PoolSpec): Promise<PoolEndpoint> {
    const ref = spec.adminSecretRef;
    const secret = await this.http.getOrUndefined<{ data?: Record<string, string> }>("v1", "Secret", ref.name, ref.namespace);
    const user = secretValue(secret?.data, ref.usernameKey);
    const password = secretValue(secret?.data, ref.passwordKey);
    if (!user || !password) throw new Error(`Secret ${ref.namespace}/${ref.name} with keys ${ref.usernameKey} and ${ref.passwordKey} is missing or incomplete`);
    return { host: spec.host, port: spec.port, adminUser: user, adminPassword: password };
  }

  /** Reads the tenant's secrets, creating them once; values already stored are never replaced. */
  private async ensureSecrets(tenant: MatomoTenant, fresh: TenantSecrets): Promise<TenantSecrets> {
    const ns = tenantNamespace(tenant.metadata.name);
    const read = async () => {
      const s = await this.http.getOrUndefined<{ data?: Record<string, string> }>("v1", "Secret", SECRET_NAME, ns);
      if (!s) return undefined;
      return {
        databasePassword: secretValue(s.data, "database-password") ?? fresh.databasePassword,
        salt: secretValue(s.data, "salt") ?? fresh.salt,
        adminUser: secretValue(s.data, "admin-user") ?? fresh.adminUser,
        adminPassword: secretValue(s.data, "admin-password") ?? fresh.adminPassword,
        adminEmail: secretValue(s.data, "admin-email") ?? fresh.adminEmail,
      };
    };
    const existing = await read();
    if (existing) return existing;
    try {
      await this.http.create({
        apiVersion: "v1", kind: "Secret",
        metadata: { name: SECRET_NAME, namespace: ns, labels: { "app.kubernetes.io/managed-by": "mms", "multiscale.io/tenant": tenant.metadata.name } },
        type: "Opaque",
        stringData: {
          "database-password": fresh.databasePassword, salt: fresh.salt,
          "admin-user": fresh.adminUser, "admin-password": fresh.adminPassword, "admin-email": fresh.adminEmail,
        },
      }, { fieldManager: FIELD_MANAGER });
      return fresh;
    } catch (err) {
      // Someone (a previous run of ours) created it in between: theirs wins.
      if (err instanceof KubeApiError && err.status === 409) return (await read()) ?? fresh;
      throw err;
    }
  }

  private async applyOne(obj: KubeObject, all: readonly KubeObject[]): Promise<void> {
    if (obj.kind === "Job") {
      // A Job's template is immutable and it must run once: create it if absent, never re-apply.
      try {
        await this.http.create(obj, { fieldManager: FIELD_MANAGER });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      }
      return;
    }
    if (obj.kind === "Deployment") {
      // Replicas come from a separate field manager, so that our regular applies never own
      // `replicas` and never fight the HorizontalPodAutoscaler. It only lifts a Deployment up to the
      // HPA's minimum: when created, and when a suspended tenant resumes (the HPA would take a sync
      // period or more to do it).
      const spec = obj.spec as Record<string, unknown>;
      const min = initialReplicas(obj, all);
      if (spec.replicas === undefined && min !== undefined) {
        const existing = await this.http.getOrUndefined<{ spec?: { replicas?: number } }>("apps/v1", "Deployment", obj.metadata.name, obj.metadata.namespace);
        if ((existing?.spec?.replicas ?? 0) < min) {
          await this.http.apply({ ...obj, spec: { ...spec, replicas: min } }, { fieldManager: `${FIELD_MANAGER}-replicas` });
        }
      }
    }
    await this.http.apply(obj, { fieldManager: FIELD_MANAGER });
  }

  /**
   * Whether the Deployments may be applied now: always when that changes no pod template (or creates
   * them), otherwise only with a slot of the rollout gate, given back once the rollout has finished.
   */
  private async admitRollout(name: string, objects: readonly KubeObject[]): Promise<boolean> {
    const gate = this.gate;
    if (!gate) return true;
    const ns = tenantNamespace(name);
    if (gate.holds(name) && await deploymentsRolled(this.http, ns)) gate.release(name);
    for (const d of objects.filter((o) => o.kind === "Deployment")) {
      const existing = await this.http.getOrUndefined<KubeObject>("apps/v1", "Deployment", d.metadata.name, ns);
      const before = (existing?.metadata.annotations as Record<string, string> | undefined)?.[TEMPLATE_HASH];
      const after = (d.metadata.annotations as Record<string, string> | undefined)?.[TEMPLATE_HASH];
      if (existing && before !== after) return gate.acquire(name);
    }
    return true;
  }

  /** Server-side apply never deletes: autoscalers no longer rendered (a suspended tenant) are removed here. */
  private async pruneAutoscalers(namespace: string, objects: readonly KubeObject[]): Promise<void> {
    const wanted = new Set(objects.filter((o) => o.kind === "HorizontalPodAutoscaler").map((o) => o.metadata.name));
    const existing = await this.http.list<KubeObject>("autoscaling/v2", "HorizontalPodAutoscaler", namespace, "app.kubernetes.io/managed-by=mms");
    for (const hpa of existing.items) {
      if (!wanted.has(hpa.metadata.name)) await this.http.delete("autoscaling/v2", "HorizontalPodAutoscaler", hpa.metadata.name, namespace);
    }
  }

  private async workloadsReady(tenant: MatomoTenant, plan: TenantPlan): Promise<{ ok: boolean; reason: string; message: string }> {
    const ns = tenantNamespace(tenant.metadata.name);
    if (tenant.spec.suspended) return { ok: true, reason: "Suspended", message: "tenant is suspended: no pods run, data is kept" };
    const job = await this.http.getOrUndefined<{ status?: { succeeded?: number; failed?: number } }>("batch/v1", "Job", "matomo-install", ns);
    const waiting: string[] = [];
    for (const [component, min] of [["tracker", plan.spec.tracker.minReplicas], ["web", plan.spec.web.minReplicas]] as const) {
      const d = await this.http.getOrUndefined<{ status?: { availableReplicas?: number } }>("apps/v1", "Deployment", component, ns);
      const available = d?.status?.availableReplicas ?? 0;
      if (available < min) waiting.push(`${component} ${available}/${min} available`);
    }
    if (!job?.status?.succeeded) waiting.push(job?.status?.failed ? `install job failed ${job.status.failed} time(s)` : "install job running");
    return waiting.length === 0
      ? { ok: true, reason: "Available", message: "tracker and web available, Matomo installed" }
      : { ok: false, reason: "Progressing", message: waiting.join("; ") };
  }

  /**
   * Writes the status only over the version read: backup jobs record their results in the same
   * status, and a conflict (409) makes the queue run this reconcile again on fresh data.
   */
  private async writeStatus(raw: MatomoTenant, status: TenantStatus): Promise<void> {
    if (JSON.stringify(raw.status ?? {}) === JSON.stringify(status)) return;
    let updated: MatomoTenant;
    try {
      updated = await this.http.request<MatomoTenant>("PATCH", `/apis/${API_GROUP_VERSION}/matomotenants/${encodeURIComponent(raw.metadata.name)}/status`,
        { metadata: { resourceVersion: raw.metadata.resourceVersion }, status }, "application/merge-patch+json");
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return; // deleted meanwhile: nothing to report
      throw err;
    }
    raw.status = status;
    raw.metadata.resourceVersion = updated.metadata.resourceVersion;
  }
}

/** The HPA minimum of the autoscaler that targets this Deployment, if one is rendered. */
function initialReplicas(deployment: KubeObject, all: readonly KubeObject[]): number | undefined {
  for (const o of all) {
    const spec = o.spec as { minReplicas?: number; scaleTargetRef?: { name?: string } } | undefined;
    if (o.kind === "HorizontalPodAutoscaler" && spec?.scaleTargetRef?.name === deployment.metadata.name) return spec.minReplicas;
  }
  return undefined;
}
