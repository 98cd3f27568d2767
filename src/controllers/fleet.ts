// What an on-call person needs to know about each tenant, derived from its object, its plan and its
// archiver Jobs: the facts behind the operator's fleet metrics (metrics.ts) and `mms status`. Pure: the
// objects come in, facts and series go out; the operator's cache (fleet-cache.ts) and the CLI read them.
import type { PlanSpec } from "../api/plan.ts";
import { CONDITION_TYPES, type MatomoTenant, type UpgradeStatus } from "../api/tenant.ts";
import { scheduleIntervalSeconds } from "./backup-rpo.ts";
import { jobCompletedAt, jobFailedAt, jobStateOf, type JobLike, type JobState } from "./verified-backup.ts";

/** The component label of a tenant's archiver CronJob and of the Jobs it makes (src/render/tenant.ts). */
export const ARCHIVER_COMPONENT = "archiver";

export interface ArchiverJobObject extends JobLike {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  status?: JobLike["status"] & { startTime?: string };
}

/** One run of a tenant's archiver, as its Job shows it. */
export interface ArchiverRun {
  readonly job: string;
  readonly state: JobState;
  readonly startedAt?: number | undefined;
  /** When it succeeded or was seen to fail. */
  readonly finishedAt?: number | undefined;
}

const time = (iso: string | undefined): number | undefined => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? undefined : t;
};

export function archiverRunOf(job: ArchiverJobObject): ArchiverRun {
  const state = jobStateOf(job);
  return {
    job: job.metadata.name, state, startedAt: time(job.status?.startTime),
    finishedAt: time(state === "succeeded" ? jobCompletedAt(job) : state === "failed" ? jobFailedAt(job) : undefined),
  };
}

export interface Archiving {
  readonly lastSuccessAt?: number | undefined;
  /** How long the last successful run took. */
  readonly lastDurationSeconds?: number | undefined;
  /** Whether the newest finished run failed; undefined when no finished run is known. */
  readonly lastRunFailed?: boolean | undefined;
  /** The newest failed run, while it is the newest finished one. */
  readonly failedJob?: string | undefined;
  readonly failedAt?: number | undefined;
}

/**
 * The archiver's record from the Jobs Kubernetes keeps (the CronJob keeps the last successful Job and the
 * last three failed ones): the newest finished run decides whether archiving fails.
 */
export function archivingOf(runs: readonly ArchiverRun[]): Archiving {
  const finished = runs.filter((r) => r.finishedAt !== undefined && r.state !== "running").sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0));
  const newest = finished[0];
  const success = finished.find((r) => r.state === "succeeded");
  return {
    lastSuccessAt: success?.finishedAt,
    lastDurationSeconds: success?.startedAt !== undefined && success.finishedAt !== undefined ? Math.max(0, (success.finishedAt - success.startedAt) / 1000) : undefined,
    lastRunFailed: newest ? newest.state === "failed" : undefined,
    ...(newest?.state === "failed" ? { failedJob: newest.job, failedAt: newest.finishedAt } : {}),
  };
}

export type ConditionStatus = "True" | "False" | "Unknown";

export interface TenantFacts {
  readonly name: string;
  readonly plan: string;
  /** The Matomo version running (the spec's until the first install). */
  readonly version: string;
  readonly pool: string;
  readonly createdAt?: number | undefined;
  readonly readyAt?: number | undefined;
  readonly suspended: boolean;
  readonly deleting: boolean;
  /** The tenant's conditions of CONDITION_TYPES, in that order. */
  readonly conditions: readonly { readonly type: string; readonly status: ConditionStatus; readonly reason: string; readonly message: string }[];
  readonly ready: boolean;
  readonly lastBackupAt?: number | undefined;
  readonly lastBackupBytes?: number | undefined;
  /**
   * The plan's backup interval: the recovery point the tenant is promised. Undefined when the plan is
   * unknown, and for suspended or deleted tenants, whose backups stop (their data does not change).
   */
  readonly rpoSeconds?: number | undefined;
  readonly lastVerifiedAt?: number | undefined;
  readonly archiving: Archiving;
  /** The Redis database the tenant's tracking queue is in (queued tracking on a pool with Redis). */
  readonly redisDatabase?: number | undefined;
}

const KNOWN_CONDITIONS: readonly string[] = CONDITION_TYPES;

export function tenantFacts(tenant: MatomoTenant, plan: PlanSpec | undefined, runs: readonly ArchiverRun[]): TenantFacts {
  const name = tenant.metadata.name;
  const status = tenant.status ?? {};
  const suspended = tenant.spec.suspended === true;
  const deleting = tenant.metadata.deletionTimestamp !== undefined;
  const conditions = KNOWN_CONDITIONS.flatMap((type) => {
    const c = status.conditions?.find((x) => x.type === type);
    return c ? [{ type, status: c.status, reason: c.reason, message: c.message }] : [];
  });
  const redis = tenant.spec.tracking?.queuedTracking ? status.tracking?.redisDatabase : undefined;
  return {
    name,
    plan: tenant.spec.plan,
    version: status.runningVersion ?? tenant.spec.matomoVersion,
    pool: status.database?.pool ?? tenant.spec.database?.pool ?? "",
    createdAt: time(tenant.metadata.creationTimestamp),
    readyAt: time(status.readyAt),
    suspended,
    deleting,
    conditions,
    ready: conditions.some((c) => c.type === "Ready" && c.status === "True"),
    lastBackupAt: time(status.backup?.lastBackupAt),
    lastBackupBytes: status.backup?.lastBackupBytes,
    rpoSeconds: plan && !suspended && !deleting ? scheduleIntervalSeconds(plan.backup.schedule, name) : undefined,
    lastVerifiedAt: time(status.backup?.lastVerifiedAt),
    archiving: archivingOf(runs),
    ...(redis !== undefined ? { redisDatabase: redis } : {}),
  };
}

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The fleet-state gauges, by metric name (see docs/operator.md, "Metrics"). */
export interface FleetSeries {
  readonly info: Sample[];
  readonly condition: Sample[];
  readonly ready: Sample[];
  readonly lastBackup: Sample[];
  readonly lastBackupSize: Sample[];
  readonly backupRpo: Sample[];
  readonly lastVerifiedRestore: Sample[];
  readonly archivingLastSuccess: Sample[];
  readonly archivingLastDuration: Sample[];
  readonly archivingLastRunFailed: Sample[];
}

const seconds = (ms: number) => ms / 1000;

/** One sample per tenant and metric; a fact that is not known gives no sample (never a made-up 0). */
export function fleetSeries(facts: readonly TenantFacts[]): FleetSeries {
  const out: FleetSeries = {
    info: [], condition: [], ready: [], lastBackup: [], lastBackupSize: [], backupRpo: [], lastVerifiedRestore: [],
    archivingLastSuccess: [], archivingLastDuration: [], archivingLastRunFailed: [],
  };
  for (const f of facts) {
    const tenant = { tenant: f.name };
    const add = (series: Sample[], value: number | undefined) => {
      if (value !== undefined) series.push({ labels: tenant, value });
    };
    out.info.push({ labels: { tenant: f.name, plan: f.plan, version: f.version, pool: f.pool }, value: 1 });
    for (const c of f.conditions) out.condition.push({ labels: { tenant: f.name, condition: c.type, status: c.status }, value: 1 });
    add(out.ready, f.ready ? 1 : 0);
    add(out.lastBackup, f.lastBackupAt !== undefined ? seconds(f.lastBackupAt) : undefined);
    add(out.lastBackupSize, f.lastBackupBytes);
    add(out.backupRpo, f.rpoSeconds);
    add(out.lastVerifiedRestore, f.lastVerifiedAt !== undefined ? seconds(f.lastVerifiedAt) : undefined);
    add(out.archivingLastSuccess, f.archiving.lastSuccessAt !== undefined ? seconds(f.archiving.lastSuccessAt) : undefined);
    add(out.archivingLastDuration, f.archiving.lastDurationSeconds);
    add(out.archivingLastRunFailed, f.archiving.lastRunFailed === undefined ? undefined : f.archiving.lastRunFailed ? 1 : 0);
  }
  return out;
}

export type UpgradeResult = "succeeded" | "failed" | "rolled_back";

/**
 * Whether this status change ends an upgrade, how, and how long it took since it started: Completed
 * (succeeded, or rolled_back when it undid one) or Failed (the update Job failed). An upgrade that fails
 * and is then rolled back ends twice: failed, then rolled_back.
 */
export function upgradeEnded(before: UpgradeStatus | undefined, after: UpgradeStatus | undefined, now: number): { result: UpgradeResult; seconds: number } | undefined {
  if (!after || (after.phase !== "Completed" && after.phase !== "Failed")) return undefined;
  if (before?.phase === after.phase && before.startedAt === after.startedAt) return undefined;
  const started = Date.parse(after.startedAt);
  const result: UpgradeResult = after.phase === "Failed" ? "failed" : after.rollbackOf ? "rolled_back" : "succeeded";
  return { result, seconds: Number.isNaN(started) ? 0 : Math.max(0, (now - started) / 1000) };
}
