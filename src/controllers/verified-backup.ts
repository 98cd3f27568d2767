// A verified backup as a step the reconciler observes: a Job (src/render/backup-jobs.ts) takes the backup
// and proves it by a restore drill; the reconciler creates it when absent, reads its state on every
// reconcile and never waits for it. Pure: the Jobs and the tenant's status come in, a decision goes out.
import type { VerifiedBackupPurpose } from "../api/backup-id.ts";
import type { KubeObject } from "../kube/http.ts";
import { renderVerifiedBackupJob, type ControlImage } from "../render/backup-jobs.ts";

export type JobState = "absent" | "running" | "succeeded" | "failed";

export interface JobLike {
  status?: { succeeded?: number; failed?: number; completionTime?: string; conditions?: { type: string; status: string; lastTransitionTime?: string; message?: string }[] };
}

export function jobStateOf(job: JobLike | undefined): JobState {
  if (!job) return "absent";
  const c = job.status?.conditions ?? [];
  if (c.some((x) => x.type === "Complete" && x.status === "True") || (job.status?.succeeded ?? 0) > 0) return "succeeded";
  if (c.some((x) => x.type === "Failed" && x.status === "True")) return "failed";
  return "running";
}

/** When a Job succeeded (its Complete condition). */
export function jobCompletedAt(job: JobLike | undefined): string | undefined {
  return job?.status?.completionTime ?? job?.status?.conditions?.find((x) => x.type === "Complete" && x.status === "True")?.lastTransitionTime;
}

/** When a failed Job was seen to fail (its Failed condition), for spacing retries. */
export function jobFailedAt(job: JobLike | undefined): string | undefined {
  return job?.status?.conditions?.find((x) => x.type === "Failed" && x.status === "True")?.lastTransitionTime;
}

/** One verified-backup Job as the snapshot saw it. */
export interface BackupJobObservation {
  readonly name: string;
  readonly state: JobState;
  readonly failedAt?: string | undefined;
  readonly completedAt?: string | undefined;
  /** Why it failed: its pod's termination message (the command's last lines), else the Job's own condition. */
  readonly failure?: string | undefined;
}

export type VerifiedBackupStep =
  | { readonly kind: "create"; readonly job: KubeObject; readonly backupId: string; readonly afterFailure?: string | undefined }
  | { readonly kind: "running"; readonly jobName: string; readonly backupId: string }
  /**
   * The Job succeeded; its status write (`status.backup.lastVerifiedBackupId`) has not been seen yet. After
   * `retryMs` (another writer, a restore drill, recorded its own backup meanwhile) the Job is deleted so
   * that it runs again: a rerun finds the backup verified and only records it again.
   */
  | { readonly kind: "unverified"; readonly jobName: string; readonly backupId: string; readonly rerun: boolean }
  | { readonly kind: "failed"; readonly jobName: string; readonly backupId: string; readonly failure: string; readonly retryInMs: number }
  | { readonly kind: "done"; readonly backupId: string };

export interface VerifiedBackupInput {
  readonly tenant: string;
  readonly purpose: VerifiedBackupPurpose;
  /** The first attempt's key (`g7`, a uid prefix); attempt n uses `<key>-<n>`. */
  readonly key: string;
  readonly platform: ControlImage;
  /** This tenant's verified-backup Jobs of this purpose, by name. */
  readonly jobs: ReadonlyMap<string, BackupJobObservation>;
  readonly lastVerifiedBackupId: string | undefined;
  readonly now: number;
  /** How long after a failed attempt the next one starts. */
  readonly retryMs: number;
}

const MAX_ATTEMPTS = 200;

/**
 * Where the verified backup stands. Attempts are found by name, so nothing needs storing: attempt 1 is
 * `key`, attempt n `key-n`; a failed attempt is followed by the next once `retryMs` have passed.
 */
export function stepVerifiedBackup(input: VerifiedBackupInput): VerifiedBackupStep {
  let previous: { job: BackupJobObservation; backupId: string } | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const { job, backupId } = renderVerifiedBackupJob({ tenant: input.tenant, purpose: input.purpose, key: attempt === 1 ? input.key : `${input.key}-${attempt}`, platform: input.platform });
    const seen = input.jobs.get(job.metadata.name);
    if (seen?.state === "failed") {
      previous = { job: seen, backupId };
      continue;
    }
    if (!seen || seen.state === "absent") {
      // Its Job may be gone (time to live) while its backup stands verified.
      if (input.lastVerifiedBackupId === backupId) return { kind: "done", backupId };
      if (previous) {
        const failure = previous.job.failure ?? `the Job ${previous.job.name} failed`;
        const since = previous.job.failedAt ? input.now - Date.parse(previous.job.failedAt) : input.retryMs;
        if (since < input.retryMs) return { kind: "failed", jobName: previous.job.name, backupId: previous.backupId, failure, retryInMs: input.retryMs - since };
        return { kind: "create", job, backupId, afterFailure: failure };
      }
      return { kind: "create", job, backupId };
    }
    if (seen.state === "running") return { kind: "running", jobName: seen.name, backupId };
    if (input.lastVerifiedBackupId === backupId) return { kind: "done", backupId };
    const since = seen.completedAt ? input.now - Date.parse(seen.completedAt) : 0;
    return { kind: "unverified", jobName: seen.name, backupId, rerun: since >= input.retryMs };
  }
  const last = previous ?? { job: { name: "?", state: "failed" as const }, backupId: "?" };
  return { kind: "failed", jobName: last.job.name, backupId: last.backupId, failure: `${MAX_ATTEMPTS} attempts failed`, retryInMs: input.retryMs };
}
