// Matomo upgrades of one tenant as one orchestrated operation, driven by the tenant reconciler. Raising
// spec.matomoVersion starts it; each reconcile observes the cluster and moves it on by at most one phase:
//
//   BackingUp → Queueing → Migrating → Rolling → Draining → Completed
//                              ↓
//                            Failed ── rollback (spec back to `from`) ──→ RollingBack → Completed
//
// BackingUp: a backup of the database, proven by a restore drill. Queueing: archiving and scheduled tasks
// paused, tracking switched to "enqueue only" (QueuedTracking, MySQL backend: the queue lives in the
// tenant's own database), and every pod running that configuration. Migrating: one update Job
// (`core:update --yes`) with the new image. Rolling: tracker and web on the new image. Draining: the
// queue worked off (a drain Job, and tracking requests process it too) until empty. Completed: archiving
// back, the tenant's normal tracking mode. A failed update Job stops everything where it is: the old pods
// keep serving and queueing hits, and the condition says how to roll back.
import { tenantNamespace } from "../api/names.ts";
import type { PlanSpec } from "../api/plan.ts";
import type { MatomoTenant, TenantStatus, UpgradePhase, UpgradeStatus } from "../api/tenant.ts";
import { AdminSession } from "../backup/admin.ts";
import { BackupError } from "../backup/errors.ts";
import { verifiedBackup } from "../backup/tenant-backup.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import type { KubeHttp } from "../kube/http.ts";
import { TABLES_PREFIX, upgradeJobName, type Rollout } from "../render/tenant.ts";

export type JobState = "absent" | "running" | "succeeded" | "failed";

/**
 * The update and drain Jobs of one upgrade: named after the version and the tenant's generation when
 * it started, e.g. `matomo-update-5-3-0-g4`, so every attempt (a new spec change) has Jobs of its own.
 */
export function attemptJobName(kind: "update" | "queue-drain", version: string, up: Pick<UpgradeStatus, "generation">): string {
  return `${upgradeJobName(kind, version)}-g${up.generation}`;
}

/** The queue tables QueuedTracking's MySQL backend keeps in the tenant's database. */
export const QUEUE_TABLE_PATTERN = new RegExp(`^${TABLES_PREFIX}queuedtracking_list_`);

export interface UpgradeContext {
  readonly http: KubeHttp;
  readonly tenant: MatomoTenant;
  readonly plan: PlanSpec;
  readonly pool: PoolEndpoint;
  readonly poolName: string;
  readonly database: string;
  readonly now: () => Date;
}

export interface UpgradeStep {
  /** What to render while the upgrade is under way; undefined once there is none. */
  readonly rollout: Rollout | undefined;
  readonly upgrade: UpgradeStatus | undefined;
  /** The runningVersion to record, when it changes. */
  readonly runningVersion?: string;
  readonly condition?: { readonly status: "True" | "False"; readonly reason: string; readonly message: string };
  readonly requeueAfterMs?: number;
}

async function jobState(http: KubeHttp, namespace: string, name: string): Promise<JobState> {
  const job = await http.getOrUndefined<{ status?: { succeeded?: number; failed?: number; conditions?: { type: string; status: string }[] } }>("batch/v1", "Job", name, namespace);
  if (!job) return "absent";
  const c = job.status?.conditions ?? [];
  if (c.some((x) => x.type === "Complete" && x.status === "True") || (job.status?.succeeded ?? 0) > 0) return "succeeded";
  if (c.some((x) => x.type === "Failed" && x.status === "True")) return "failed";
  return "running";
}

/** Tracker and web run their current template everywhere (the rollout finished). */
export async function deploymentsRolled(http: KubeHttp, namespace: string): Promise<boolean> {
  for (const name of ["tracker", "web"]) {
    const d = await http.getOrUndefined<{ metadata: { generation?: number }; spec?: { replicas?: number }; status?: { observedGeneration?: number; updatedReplicas?: number; replicas?: number; availableReplicas?: number } }>("apps/v1", "Deployment", name, namespace);
    if (!d) return false;
    const want = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    if ((s.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return false;
    if ((s.updatedReplicas ?? 0) < want || (s.replicas ?? 0) > want || (s.availableReplicas ?? 0) < want) return false;
  }
  return true;
}

/** Archiving or scheduled tasks still running (a suspended CronJob does not stop its running Job). */
async function scheduledJobsActive(http: KubeHttp, namespace: string, tenant: string): Promise<number> {
  let active = 0;
  for (const component of ["archiver", "scheduled-tasks"]) {
    const jobs = await http.list<{ status?: { active?: number } }>("batch/v1", "Job", namespace, `multiscale.io/tenant=${tenant},app.kubernetes.io/component=${component}`);
    active += jobs.items.reduce((n, j) => n + (j.status?.active ?? 0), 0);
  }
  return active;
}

/** Requests waiting in the tenant's tracking queue (0 when QueuedTracking never created its tables). */
export async function queuedRequests(pool: PoolEndpoint, database: string): Promise<number> {
  const admin = await AdminSession.open(pool, `count the queued tracking requests of database ${database}`);
  try {
    let n = 0;
    for (const t of (await admin.tables(database)).filter((x) => QUEUE_TABLE_PATTERN.test(x))) n += await admin.rowCount(database, t);
    return n;
  } finally {
    await admin.close();
  }
}

const rollbackHint = (name: string, up: UpgradeStatus) =>
  `roll back with \`mms tenant rollback ${name}\` (restores backup ${up.backupId ?? "?"} taken before the upgrade, keeping the queued hits, and returns to ${up.from}), ` +
  `or fix the cause and retry with \`mms upgrade --to ${up.to} --retry-failed\``;

/**
 * Decides where the tenant's upgrade stands and what to render for it. Called on every reconcile of a
 * tenant that has run before; returns no rollout when no upgrade is under way.
 */
export async function stepUpgrade(ctx: UpgradeContext): Promise<UpgradeStep> {
  const { tenant, http } = ctx;
  const name = tenant.metadata.name;
  const ns = tenantNamespace(name);
  const status: TenantStatus = tenant.status ?? {};
  const running = status.runningVersion;
  const target = tenant.spec.matomoVersion;
  const nowIso = ctx.now().toISOString();
  let up = status.upgrade;

  const active = up && up.phase !== "Completed";
  if (!running || (!active && running === target)) return { rollout: undefined, upgrade: up };
  if (!active || !up) {
    // Recorded before the backup starts, so the status says what is going on while it runs.
    const started: UpgradeStatus = { from: running, to: target, phase: "BackingUp", startedAt: nowIso, phaseStartedAt: nowIso, generation: tenant.metadata.generation ?? 0 };
    return { rollout: undefined, upgrade: started, requeueAfterMs: 100, condition: { status: "True", reason: "BackingUp", message: `upgrading from ${running} to ${target}: taking a backup and verifying it before anything changes` } };
  } else if (target !== up.to && target !== up.from) {
    // The target moved on while an upgrade ran: finish this one first, then the next starts from it.
  } else if (target === up.from && up.phase !== "RollingBack") {
    if (up.phase !== "Failed") {
      return { rollout: holdOld(up), upgrade: up, requeueAfterMs: 30_000, condition: { status: "True", reason: up.phase, message: `spec.matomoVersion is back at ${up.from} but the upgrade is in phase ${up.phase}, not Failed; use \`mms tenant rollback ${name}\`` } };
    }
    up = { ...up, phase: "RollingBack", phaseStartedAt: nowIso, message: undefined };
  }
  const current: UpgradeStatus = up;
  const at = (phase: UpgradePhase, message?: string): UpgradeStatus => ({ ...current, phase, phaseStartedAt: phase === current.phase ? current.phaseStartedAt : nowIso, message });
  const progressing = (u: UpgradeStatus, message: string, requeueAfterMs = 2_000): UpgradeStep =>
    ({ rollout: rolloutFor(u), upgrade: u, requeueAfterMs, condition: { status: "True", reason: u.phase, message } });

  switch (up.phase) {
    case "BackingUp": {
      try {
        const backupId = await verifiedBackup(http, name, ctx.poolName, "pre-upgrade", ctx.now);
        up = { ...at("Queueing"), backupId };
        return progressing(up, `backup ${backupId} verified; pausing archiving and queueing tracking`);
      } catch (err) {
        if (!(err instanceof BackupError)) throw err;
        const u = at("BackingUp", `no verified backup yet, nothing changed: ${err.message}`);
        return { rollout: undefined, upgrade: u, requeueAfterMs: 60_000, condition: { status: "True", reason: "BackingUp", message: `${u.message}; retrying every minute` } };
      }
    }
    case "Queueing": {
      // Only when no pod writes to the database directly and nothing archives may migrations start.
      const rolled = await deploymentsRolled(http, ns);
      const busy = await scheduledJobsActive(http, ns, name);
      if (!rolled || busy > 0) return progressing(at("Queueing"), `waiting for ${rolled ? `${busy} running archiving job(s) to finish` : "every pod to queue tracking requests"}`);
      return progressing(at("Migrating"), `running the update Job ${attemptJobName("update", up.to, up)}`);
    }
    case "Migrating":
    case "Failed": {
      const state = await jobState(http, ns, attemptJobName("update", up.to, up));
      if (state === "failed") {
        const u = at("Failed", `the update Job ${attemptJobName("update", up.to, up)} failed; the ${up.from} pods keep serving and hits are queued`);
        return { rollout: rolloutFor(u), upgrade: u, requeueAfterMs: 60_000, condition: { status: "False", reason: "UpdateFailed", message: `${u.message}; ${rollbackHint(name, u)}` } };
      }
      if (state === "succeeded") return progressing(at("Rolling"), `database migrated to ${up.to}; rolling tracker and web to the new image`);
      return progressing(at("Migrating"), `running the update Job ${attemptJobName("update", up.to, up)}`, 3_000);
    }
    case "Rolling": {
      if (!(await deploymentsRolled(http, ns))) return progressing(at("Rolling"), `rolling tracker and web to ${up.to}`);
      return progressing(at("Draining"), "working off the queued tracking requests");
    }
    case "Draining":
    case "RollingBack": {
      const version = up.phase === "RollingBack" ? up.from : up.to;
      const drain = await jobState(http, ns, attemptJobName("queue-drain", version, up));
      const rolled = await deploymentsRolled(http, ns);
      const queued = drain === "succeeded" && rolled ? await queuedRequests(ctx.pool, ctx.database) : -1;
      if (drain === "failed") return progressing(at(up.phase, "the queue drain Job failed; tracking requests keep processing the queue"), "the queue drain Job failed; retrying", 30_000);
      if (queued !== 0) return progressing(at(up.phase), queued > 0 ? `${queued} queued tracking request(s) left` : "working off the queued tracking requests");
      const done = at("Completed", up.phase === "RollingBack" ? `rolled back to ${up.from}` : `upgraded from ${up.from} to ${up.to}`);
      return { rollout: undefined, upgrade: done, runningVersion: version, condition: { status: "False", reason: up.phase === "RollingBack" ? "RolledBack" : "Completed", message: done.message ?? "" } };
    }
    default:
      return { rollout: undefined, upgrade: up };
  }
}

/** The old version serving, nothing archiving, hits only queued: where a failed upgrade waits. */
function holdOld(up: UpgradeStatus): Rollout {
  return { servingVersion: up.from, scheduledPaused: true, queue: "hold", jobs: [] };
}

function rolloutFor(up: UpgradeStatus): Rollout | undefined {
  const job = (kind: "update" | "queue-drain", version: string) => ({ kind, version, name: attemptJobName(kind, version, up) });
  const update = job("update", up.to);
  switch (up.phase) {
    case "BackingUp":
    case "Completed":
      return undefined;
    case "Queueing":
      return holdOld(up);
    case "Migrating":
    case "Failed":
      return { ...holdOld(up), jobs: [update] };
    case "Rolling":
      return { servingVersion: up.to, scheduledPaused: true, queue: "hold", jobs: [update] };
    case "Draining":
      return { servingVersion: up.to, scheduledPaused: true, queue: "process", jobs: [update, job("queue-drain", up.to)] };
    case "RollingBack":
      return { servingVersion: up.from, scheduledPaused: true, queue: "process", jobs: [job("queue-drain", up.from)] };
  }
}
