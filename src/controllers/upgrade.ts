// Matomo upgrades of one tenant as one orchestrated operation, driven by the tenant reconciler. Raising
// spec.matomoVersion starts it; each reconcile observes the cluster (its snapshot) and moves it on by at
// most one phase. Pure: decideUpgrade reads an observation and returns the step, with no I/O.
//
//   BackingUp → Queueing → Migrating → Rolling → Draining → Completed
//                              ↓
//                            Failed ── rollback (spec back to `from`) ──→ RollingBack → Completed
//   Completed ── rollback (spec back to `from`): RollingBack, first queueing on the new version until the
//                pre-upgrade backup is restored (ROLLBACK_RESTORED_ANNOTATION), then as above
//
// BackingUp: a backup of the database, proven by a restore drill, taken by a Job the reconciler starts
// and observes (src/controllers/verified-backup.ts). Queueing: archiving and scheduled tasks
// paused, tracking switched to "enqueue only" (QueuedTracking, MySQL backend: the queue lives in the
// tenant's own database), and every pod running that configuration. Migrating: one update Job
// (`core:update --yes`) with the new image. Rolling: tracker and web on the new image. Draining: tracking
// back to the tenant's own mode on every pod, then the queue worked off by a drain Job until empty. Completed: archiving
// back. (Draining first puts every pod back in the tenant's own tracking mode, then drains: a queue
// drained while pods still enqueue would keep their last hits.) A failed update Job stops everything where it is: the old pods
// keep serving and queueing hits, and the condition says how to roll back.
import { tenantNamespace } from "../api/names.ts";
import { ROLLBACK_RESTORED_ANNOTATION, type MatomoTenant, type TenantStatus, type UpgradePhase, type UpgradeStatus } from "../api/tenant.ts";
import { AdminSession } from "../backup/admin.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import type { KubeObject } from "../kube/http.ts";
import type { ControlImage } from "../render/backup-jobs.ts";
import { TABLES_PREFIX, upgradeJobName, type Rollout } from "../render/tenant.ts";
import { stepVerifiedBackup, type BackupJobObservation, type JobState } from "./verified-backup.ts";

export type { JobState } from "./verified-backup.ts";

/**
 * The update and drain Jobs of one upgrade: named after the version and the tenant's generation when
 * it started, e.g. `matomo-update-5-3-0-g4`, so every attempt (a new spec change) has Jobs of its own.
 */
export function attemptJobName(kind: "update" | "queue-drain", version: string, up: Pick<UpgradeStatus, "generation">): string {
  return `${upgradeJobName(kind, version)}-g${up.generation}`;
}

/** The queue tables QueuedTracking's MySQL backend keeps in the tenant's database. */
export const QUEUE_TABLE_PATTERN = new RegExp(`^${TABLES_PREFIX}queuedtracking_list_`);

/** After a failed pre-upgrade backup Job, the next attempt starts this much later. */
export const BACKUP_RETRY_MS = 60_000;

/** What an upgrade decision looks at, all read once by the reconcile's snapshot. */
export interface UpgradeObservation {
  /** The tenant, its spec parsed, with the status as the reconcile has it so far. */
  readonly tenant: MatomoTenant;
  readonly now: number;
  /** Jobs of the tenant's namespace by name. */
  readonly jobs: ReadonlyMap<string, JobState>;
  /** Tracker and web run their current template everywhere. */
  readonly rolled: boolean;
  /**
   * No tracker or web pod is still terminating (one that is may still finish a request into the queue).
   * Undefined when the pods were not read.
   */
  readonly podsSettled?: boolean | undefined;
  /** A pod of the tenant's queue worker (Redis queue) still exists. */
  readonly workerRunning?: boolean | undefined;
  /** Archiving or scheduled-task Jobs still running. */
  readonly scheduledActive: number;
  /** Requests left in the tracking queue; undefined when not read (or unreadable). */
  readonly queued: number | undefined;
  /** The tenant's pre-upgrade verified-backup Jobs, by name. */
  readonly backupJobs: ReadonlyMap<string, BackupJobObservation>;
  /** Why no verified backup can be taken now (no usable BackupStore), when that is known before any Job. */
  readonly backupBlocked?: string | undefined;
  readonly platform: ControlImage;
}

export interface UpgradeStep {
  /** What to render while the upgrade is under way; undefined once there is none. */
  readonly rollout: Rollout | undefined;
  readonly upgrade: UpgradeStatus | undefined;
  /** The runningVersion to record, when it changes. */
  readonly runningVersion?: string;
  readonly condition?: { readonly status: "True" | "False"; readonly reason: string; readonly message: string };
  readonly requeueAfterMs?: number;
  /** A verified-backup Job to create (in the platform namespace). */
  readonly createJob?: KubeObject;
  /** A verified-backup Job to delete so that it runs again (platform namespace). */
  readonly rerunJob?: string;
}

interface DeploymentLike {
  metadata: { generation?: number };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; updatedReplicas?: number; replicas?: number; availableReplicas?: number };
}

/** Tracker and web run their current template everywhere (the rollout finished). */
export function deploymentsRolled(deployments: ReadonlyMap<string, DeploymentLike>): boolean {
  for (const name of ["tracker", "web"]) {
    const d = deployments.get(name);
    if (!d) return false;
    const want = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    if ((s.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return false;
    if ((s.updatedReplicas ?? 0) < want || (s.replicas ?? 0) > want || (s.availableReplicas ?? 0) < want) return false;
  }
  return true;
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

/** Whether the upgrade's next decision needs the tracking queue counted (a database query). */
export function needsQueueCount(up: UpgradeStatus | undefined, jobs: ReadonlyMap<string, JobState>, rolled: boolean): boolean {
  if (!up || (up.phase !== "Draining" && up.phase !== "RollingBack")) return false;
  const version = up.phase === "RollingBack" ? up.from : up.to;
  return jobs.get(attemptJobName("queue-drain", version, up)) === "succeeded" && rolled;
}

/** Whether an upgrade is (about to be) in its backup step, so the snapshot reads the backup Jobs. */
export function upgradeBackingUp(tenant: MatomoTenant): boolean {
  const up = tenant.status?.upgrade;
  if (up && up.phase !== "Completed") return up.phase === "BackingUp";
  const running = tenant.status?.runningVersion;
  return running !== undefined && running !== tenant.spec.matomoVersion;
}

const rollbackHint = (name: string, up: UpgradeStatus) =>
  `roll back with \`mms tenant rollback ${name}\` (restores backup ${up.backupId ?? "?"} taken before the upgrade, keeping the queued hits, and returns to ${up.from}), ` +
  `or fix the cause and retry with \`mms upgrade --to ${up.to} --retry-failed\``;

/**
 * Decides where the tenant's upgrade stands and what to render for it. Called on every reconcile of a
 * tenant that has run before; returns no rollout when no upgrade is under way.
 */
export function decideUpgrade(obs: UpgradeObservation): UpgradeStep {
  const { tenant } = obs;
  const name = tenant.metadata.name;
  const status: TenantStatus = tenant.status ?? {};
  const running = status.runningVersion;
  const target = tenant.spec.matomoVersion;
  const nowIso = new Date(obs.now).toISOString();
  let up = status.upgrade;

  const active = up && up.phase !== "Completed";
  if (!running || (!active && running === target)) return { rollout: undefined, upgrade: up };
  if (up && up.phase === "Completed" && up.backupId && running === up.to && target === up.from) {
    // A completed upgrade being undone (`mms tenant rollback`): queue tracking on the version that serves,
    // until its pre-upgrade backup is restored; then as after a failed one.
    up = { ...up, phase: "RollingBack", phaseStartedAt: nowIso, rollbackOf: "Completed", message: undefined };
  } else if (!active || !up) {
    // Recorded before the backup starts, so the status says what is going on while it runs.
    const started: UpgradeStatus = { from: running, to: target, phase: "BackingUp", startedAt: nowIso, phaseStartedAt: nowIso, generation: tenant.metadata.generation ?? 0 };
    return { rollout: undefined, upgrade: started, requeueAfterMs: 100, condition: { status: "True", reason: "BackingUp", message: `upgrading from ${running} to ${target}: taking a backup and verifying it before anything changes` } };
  } else if (target !== up.to && target !== up.from) {
    // The target moved on while an upgrade ran: finish this one first, then the next starts from it.
  } else if (target === up.from && up.phase !== "RollingBack") {
    if (up.phase !== "Failed") {
      return { rollout: holdOld(up), upgrade: up, requeueAfterMs: 30_000, condition: { status: "True", reason: up.phase, message: `spec.matomoVersion is back at ${up.from} but the upgrade is in phase ${up.phase}, not Failed; use \`mms tenant rollback ${name}\`` } };
    }
    up = { ...up, phase: "RollingBack", phaseStartedAt: nowIso, rollbackOf: "Failed", message: undefined };
  }
  const current: UpgradeStatus = up;
  const at = (phase: UpgradePhase, message?: string): UpgradeStatus => ({ ...current, phase, phaseStartedAt: phase === current.phase ? current.phaseStartedAt : nowIso, message });
  // Draining drains only once every pod writes directly again and none is still finishing requests, so
  // that nothing reaches the queue after the drain Job has emptied it.
  const settled = obs.rolled && obs.podsSettled !== false;
  const progressing = (u: UpgradeStatus, message: string, requeueAfterMs = 2_000): UpgradeStep =>
    ({ rollout: rolloutFor(u, settled), upgrade: u, requeueAfterMs, condition: { status: "True", reason: u.phase, message } });
  const jobState = (n: string): JobState => obs.jobs.get(n) ?? "absent";

  switch (up.phase) {
    case "BackingUp": {
      const waiting = (message: string, requeueAfterMs: number, reason = "BackingUp"): UpgradeStep => {
        const u = at("BackingUp", message);
        return { rollout: undefined, upgrade: u, requeueAfterMs, condition: { status: "True", reason, message } };
      };
      if (obs.backupBlocked) return waiting(`no verified backup yet, nothing changed: ${obs.backupBlocked}; retrying every minute`, BACKUP_RETRY_MS);
      const step = stepVerifiedBackup({
        tenant: name, purpose: "pre-upgrade", key: `g${up.generation}`, platform: obs.platform, jobs: obs.backupJobs,
        lastVerifiedBackupId: status.backup?.lastVerifiedBackupId, now: obs.now, retryMs: BACKUP_RETRY_MS,
      });
      switch (step.kind) {
        case "done":
          up = { ...at("Queueing"), backupId: step.backupId };
          return progressing(up, `backup ${step.backupId} verified; pausing archiving and queueing tracking`);
        case "create":
          return { ...waiting(step.afterFailure
            ? `no verified backup yet, nothing changed: ${step.afterFailure}; trying again with the Job ${step.job.metadata.name}`
            : `taking backup ${step.backupId} and verifying it (Job ${step.job.metadata.name}) before anything changes`, 2_000), createJob: step.job };
        case "running":
          return waiting(`taking backup ${step.backupId} and verifying it (Job ${step.jobName}) before anything changes`, 5_000);
        case "unverified":
          return { ...waiting(`the Job ${step.jobName} finished; waiting for backup ${step.backupId} to show as verified`, 2_000), ...(step.rerun ? { rerunJob: step.jobName } : {}) };
        case "failed":
          return waiting(`no verified backup yet, nothing changed: the backup Job ${step.jobName} failed: ${step.failure}; retrying every minute`, Math.max(1_000, step.retryInMs), "BackupFailed");
      }
      break;
    }
    case "Queueing": {
      // Only when no pod writes to the database directly and nothing archives may migrations start.
      const rolled = obs.rolled;
      const busy = obs.scheduledActive;
      if (!rolled || busy > 0) return progressing(at("Queueing"), `waiting for ${rolled ? `${busy} running archiving job(s) to finish` : "every pod to queue tracking requests"}`);
      if (obs.workerRunning) return progressing(at("Queueing"), "waiting for the queue worker to stop (the hits in Redis wait there)");
      return progressing(at("Migrating"), `running the update Job ${attemptJobName("update", up.to, up)}`);
    }
    case "Migrating":
    case "Failed": {
      const state = jobState(attemptJobName("update", up.to, up));
      if (state === "failed") {
        const u = at("Failed", `the update Job ${attemptJobName("update", up.to, up)} failed; the ${up.from} pods keep serving and hits are queued`);
        return { rollout: rolloutFor(u, settled), upgrade: u, requeueAfterMs: 60_000, condition: { status: "False", reason: "UpdateFailed", message: `${u.message}; ${rollbackHint(name, u)}` } };
      }
      if (state === "succeeded") return progressing(at("Rolling"), `database migrated to ${up.to}; rolling tracker and web to the new image`);
      return progressing(at("Migrating"), `running the update Job ${attemptJobName("update", up.to, up)}`, 3_000);
    }
    case "Rolling": {
      if (!obs.rolled) return progressing(at("Rolling"), `rolling tracker and web to ${up.to}`);
      return progressing(at("Draining"), "working off the queued tracking requests");
    }
    case "Draining":
    case "RollingBack": {
      if (up.phase === "RollingBack" && !rollbackRestored(tenant, up)) {
        const holding = settled;
        const message = holding
          ? `every pod queues tracking on ${up.to}; waiting for \`mms tenant rollback\` to restore backup ${up.backupId ?? "?"}`
          : `queueing tracking on every pod before backup ${up.backupId ?? "?"} is restored`;
        return { rollout: holdNew(up), upgrade: at("RollingBack"), requeueAfterMs: 2_000, condition: { status: "True", reason: holding ? "RollbackRestoring" : "RollbackQueueing", message } };
      }
      const version = up.phase === "RollingBack" ? up.from : up.to;
      const drain = jobState(attemptJobName("queue-drain", version, up));
      if (!settled && drain === "absent") return progressing(at(up.phase), "switching tracking back to its own mode on every pod before working off the queue");
      const queued = drain === "succeeded" && obs.rolled ? (obs.queued ?? -1) : -1;
      if (drain === "failed") {
        const jobName = attemptJobName("queue-drain", version, up);
        const why = `the queue drain Job ${jobName} failed; the queued hits are kept. \`kubectl logs -n ${tenantNamespace(name)} job/${jobName}\` shows why; delete the Job to run it again`;
        return progressing(at(up.phase, why), why, 30_000);
      }
      if (queued !== 0) return progressing(at(up.phase), queued > 0 ? `${queued} queued tracking request(s) left` : "working off the queued tracking requests");
      const done = at("Completed", up.phase === "RollingBack" ? `rolled back to ${up.from}` : `upgraded from ${up.from} to ${up.to}`);
      return { rollout: undefined, upgrade: done, runningVersion: version, condition: { status: "False", reason: up.phase === "RollingBack" ? "RolledBack" : "Completed", message: done.message ?? "" } };
    }
    default:
      return { rollout: undefined, upgrade: up };
  }
  return { rollout: undefined, upgrade: up };
}

/** Whether the database of a RollingBack tenant holds the pre-upgrade backup already. */
function rollbackRestored(tenant: MatomoTenant, up: UpgradeStatus): boolean {
  if (up.rollbackOf !== "Completed") return true; // after a failed upgrade the CLI restores before it sets the version
  return up.backupId !== undefined && tenant.metadata.annotations?.[ROLLBACK_RESTORED_ANNOTATION] === up.backupId;
}

/** The new version serving, nothing archiving, hits only queued: a completed upgrade about to be undone. */
function holdNew(up: UpgradeStatus): Rollout {
  return { servingVersion: up.to, scheduledPaused: true, queue: "hold", jobs: [] };
}

/** The old version serving, nothing archiving, hits only queued: where a failed upgrade waits. */
function holdOld(up: UpgradeStatus): Rollout {
  return { servingVersion: up.from, scheduledPaused: true, queue: "hold", jobs: [] };
}

/**
 * What to render in each phase. Draining and RollingBack render the tenant's own tracking mode (direct
 * writes, or its own queue) on the serving version, and the drain Job only once `settled`.
 */
function rolloutFor(up: UpgradeStatus, settled: boolean): Rollout | undefined {
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
      return { servingVersion: up.to, scheduledPaused: true, jobs: settled ? [update, job("queue-drain", up.to)] : [update] };
    case "RollingBack":
      return { servingVersion: up.from, scheduledPaused: true, jobs: settled ? [job("queue-drain", up.from)] : [] };
  }
}
