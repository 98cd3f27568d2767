// Retention of a tenant's backups: which backups a grandfather-father-son policy keeps (a pure plan),
// and applying it to object storage, with the clean-up of interrupted backups and abandoned uploads.
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import { BackupError, detail } from "./errors.ts";
import { isBackupId, MANIFEST_FILE } from "./layout.ts";
import { listBackups, type BackupListing, type BackupSummary } from "./list.ts";
import type { ObjectStore } from "./store.ts";

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** Backups deleted at once; each one is deleted key by key, manifest first. */
const DELETIONS_AT_ONCE = 8;

export interface RetentionPolicy {
  /** The newest backups kept whatever their dates (at least 1). */
  readonly keepLast: number;
  /** The newest backup of each of this many most recent UTC days that have a backup. */
  readonly daily: number;
  /** The same per ISO week (Monday to Sunday, UTC). */
  readonly weekly: number;
  /** The same per calendar month (UTC). */
  readonly monthly: number;
}

/** What the plan needs of a backup, as listBackups reports it. */
export type RetentionCandidate = Pick<BackupSummary, "backupId" | "createdAt" | "verified">;

export interface KeptBackup {
  readonly backupId: string;
  /** Why it is kept, e.g. "newest", "newest verified", "last 24", "daily 2026-11-25", "weekly 2026-W48", "monthly 2026-11". */
  readonly reasons: readonly string[];
}

export interface RetentionPlan {
  /** Newest first. */
  readonly keep: readonly KeptBackup[];
  /** Backup ids, newest first. */
  readonly remove: readonly string[];
}

/** Returns the policy when every count is a whole number of 0 or more and keepLast is at least 1. */
export function checkRetentionPolicy(policy: RetentionPolicy): RetentionPolicy {
  for (const field of ["keepLast", "daily", "weekly", "monthly"] as const) {
    const value = policy[field];
    const least = field === "keepLast" ? 1 : 0;
    if (!Number.isSafeInteger(value) || value < least) {
      throw new BackupError("InvalidRequest", `the retention policy's ${field} must be a whole number of ${least} or more, not ${JSON.stringify(value)}`);
    }
  }
  return policy;
}

function utcDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function utcMonth(t: number): string {
  return new Date(t).toISOString().slice(0, 7);
}

/** ISO 8601 week, e.g. "2026-W48": weeks start on Monday and belong to the year of their Thursday. */
export function isoWeek(t: number): string {
  const d = new Date(t);
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const mondayBased = (d.getUTCDay() + 6) % 7;
  const thursday = new Date(midnight + (3 - mondayBased) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS));
  return `${year}-W${String(week).padStart(2, "0")}`;
}

/** Newest first, unreadable dates last; ties by id, which sorts by time too. */
function newestFirst(x: { b: RetentionCandidate; t: number }, y: { b: RetentionCandidate; t: number }): number {
  const xBad = Number.isNaN(x.t);
  const yBad = Number.isNaN(y.t);
  if (xBad !== yBad) return xBad ? 1 : -1;
  if (!xBad && x.t !== y.t) return y.t - x.t;
  return x.b.backupId < y.b.backupId ? 1 : x.b.backupId > y.b.backupId ? -1 : 0;
}

/**
 * Decides which backups a policy keeps. Always kept, whatever the policy: the newest backup, the newest
 * backup whose last restore drill succeeded, backups created after `now` (a skewed clock must not let them
 * take the policy's places) and backups whose createdAt cannot be read (nothing proves them old).
 */
export function planRetention(backups: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date = new Date()): RetentionPlan {
  checkRetentionPolicy(policy);
  const reasons = new Map<RetentionCandidate, string[]>();
  const keep = (b: RetentionCandidate, reason: string) => {
    const list = reasons.get(b) ?? [];
    list.push(reason);
    reasons.set(b, list);
  };
  const dated = backups.map((b) => ({ b, t: Date.parse(b.createdAt) })).sort(newestFirst);
  const past: { b: RetentionCandidate; t: number }[] = [];
  for (const d of dated) {
    if (Number.isNaN(d.t)) keep(d.b, "createdAt unreadable");
    else if (d.t > now.getTime()) keep(d.b, "created after now");
    else past.push(d);
  }

  if (past[0]) keep(past[0].b, "newest");
  const verified = past.find((d) => d.b.verified?.ok === true);
  if (verified) keep(verified.b, "newest verified");
  for (const d of past.slice(0, policy.keepLast)) keep(d.b, `last ${policy.keepLast}`);
  const rules: [count: number, label: string, period: (t: number) => string][] = [
    [policy.daily, "daily", utcDay],
    [policy.weekly, "weekly", isoWeek],
    [policy.monthly, "monthly", utcMonth],
  ];
  for (const [count, label, period] of rules) {
    const seen = new Set<string>();
    for (const d of past) {
      const p = period(d.t);
      if (seen.has(p)) continue;
      if (seen.size === count) break;
      seen.add(p);
      keep(d.b, `${label} ${p}`);
    }
  }

  const keepList: KeptBackup[] = [];
  const remove: string[] = [];
  for (const { b } of dated) {
    const r = reasons.get(b);
    if (r) keepList.push({ backupId: b.backupId, reasons: r });
    else remove.push(b.backupId);
  }
  return { keep: keepList, remove };
}

export interface RetentionOptions {
  readonly now?: () => Date;
  /** Plan and report, delete nothing. */
  readonly dryRun?: boolean;
  /**
   * Interrupted backups (folders without a manifest) and multipart uploads are removed only once their
   * newest object, or the upload, is at least this old (default 24 h). It must be longer than the longest
   * backup takes, so that a running backup is never touched.
   */
  readonly incompleteMinAgeMs?: number;
}

export interface RetentionReport {
  readonly tenant: string;
  readonly dryRun: boolean;
  /** Newest first, with the reasons the policy keeps them. */
  readonly kept: readonly KeptBackup[];
  /** Backups removed (in a dry run: that would be), newest first. */
  readonly removed: readonly string[];
  /** Folders of interrupted backups removed (in a dry run: that would be). */
  readonly incompleteRemoved: readonly string[];
  /** Incomplete folders left alone, and why. */
  readonly incompleteKept: readonly { readonly backupId: string; readonly reason: string }[];
  /** Abandoned multipart uploads aborted (in a dry run: that would be). */
  readonly uploadsAborted: number;
  /** One sentence per failed step; empty when everything succeeded. */
  readonly errors: readonly string[];
}

/** Thrown at the end of a run in which some step failed; every other step was still carried out. */
export class RetentionError extends BackupError {
  readonly report: RetentionReport;
  constructor(report: RetentionReport) {
    const n = report.errors.length;
    super("DeleteFailed", `retention of tenant ${report.tenant} finished with ${n} error${n === 1 ? "" : "s"}, the first: ${report.errors[0] ?? "unknown"}`);
    this.report = report;
  }
}

/**
 * Applies a policy to a tenant's backups. Nothing is deleted unless the whole listing succeeded: when it
 * fails this throws (with the listing's reason) before any deletion. A backup is deleted manifest first,
 * so it stops being a backup in one step; if a later key fails, the folder is an interrupted backup that
 * the next run removes. A failed step is recorded and the run goes on with the others; at the end a
 * RetentionError carrying the full report is thrown, so a caller cannot mistake a partial run for success.
 */
export async function applyRetention(store: ObjectStore, tenant: string, policy: RetentionPolicy, opts: RetentionOptions = {}): Promise<RetentionReport> {
  checkRetentionPolicy(policy);
  const minAgeMs = opts.incompleteMinAgeMs ?? DAY_MS;
  if (!(Number.isFinite(minAgeMs) && minAgeMs >= 0)) throw new BackupError("InvalidRequest", "the minimum age of incomplete backups must be 0 or more milliseconds");
  const root = store.tenantFolder(tenant);
  const now = (opts.now ?? (() => new Date()))();
  const cutoff = now.getTime() - minAgeMs;
  const dryRun = opts.dryRun ?? false;

  let listing: BackupListing;
  try {
    listing = await listBackups(store, tenant);
  } catch (err) {
    const reason = err instanceof BackupError ? err.reason : "DownloadFailed";
    throw new BackupError(reason, `${err instanceof BackupError ? err.message : detail(err)}; nothing was deleted`, { cause: err });
  }

  const plan = planRetention(listing.backups, policy, now);
  const errors: string[] = [];
  const removed: string[] = [];
  const incompleteRemoved: string[] = [];
  const incompleteKept: { backupId: string; reason: string }[] = [];

  if (dryRun) {
    removed.push(...plan.remove);
  } else {
    const done = new Set<string>();
    await eachLimited(plan.remove, DELETIONS_AT_ONCE, async (backupId) => {
      if (await removeBackup(store, tenant, backupId, errors)) done.add(backupId);
    });
    removed.push(...plan.remove.filter((id) => done.has(id)));
  }

  for (const inc of listing.incomplete) {
    const folder = `${root}${inc.backupId}/`;
    if (!isBackupId(inc.backupId)) {
      incompleteKept.push({ backupId: inc.backupId, reason: "not a backup folder, so not ours to remove" });
    } else if (inc.keys.some((k) => k === folder + MANIFEST_FILE)) {
      // A manifest we could not accept may come from a newer version or show damage worth a look.
      incompleteKept.push({ backupId: inc.backupId, reason: `it has a manifest, left for a person to look at (${inc.reason})` });
    } else if (inc.lastModified === null || Date.parse(inc.lastModified) > cutoff) {
      incompleteKept.push({ backupId: inc.backupId, reason: "written to recently, so possibly a backup still running" });
    } else if (dryRun) {
      incompleteRemoved.push(inc.backupId);
    } else if (await removeIncomplete(store, folder, inc.backupId, cutoff, errors, incompleteKept)) {
      incompleteRemoved.push(inc.backupId);
    }
  }

  const uploadsAborted = await abortUploads(store, root, cutoff, dryRun, errors);
  const report: RetentionReport = { tenant, dryRun, kept: plan.keep, removed, incompleteRemoved, incompleteKept, uploadsAborted, errors };
  if (errors.length > 0) throw new RetentionError(report);
  return report;
}

/** Runs `fn` over the items with at most `limit` at a time; `fn` must not throw. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function listFolder({ s3, bucket }: ObjectStore, folder: string): Promise<{ key: string; lastModified: number }[]> {
  const out: { key: string; lastModified: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: folder, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, lastModified: o.LastModified?.getTime() ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * Deletes key by key (DeleteObject, not DeleteObjects): a folder holds two or three objects, and single
 * deletes work on every S3-compatible store whatever its stance on the batch call's checksum headers.
 */
async function deleteKeys({ s3, bucket }: ObjectStore, keys: readonly string[]): Promise<{ key: string; err: unknown }[]> {
  const failed: { key: string; err: unknown }[] = [];
  for (const key of keys) {
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      failed.push({ key, err });
    }
  }
  return failed;
}

/** True once the backup no longer exists (its manifest is gone), even if some of its other objects remain. */
async function removeBackup(store: ObjectStore, tenant: string, backupId: string, errors: string[]): Promise<boolean> {
  const { s3, bucket } = store;
  const keys = store.backupKeys(tenant, backupId);
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: keys.manifest }));
  } catch (err) {
    errors.push(`cannot delete backup ${backupId} (its manifest s3://${bucket}/${keys.manifest}): ${detail(err)}; the backup is still complete`);
    return false;
  }
  let rest: string[];
  try {
    rest = (await listFolder(store, keys.folder)).map((o) => o.key).filter((k) => k !== keys.manifest);
  } catch (err) {
    errors.push(`backup ${backupId} was deleted but its other objects could not be listed in s3://${bucket}/${keys.folder}: ${detail(err)}; a later run removes them`);
    return true;
  }
  const failed = await deleteKeys(store, rest);
  if (failed[0]) {
    errors.push(`backup ${backupId} was deleted but ${failed.length} of its objects remain in s3://${bucket}/${keys.folder} (${detail(failed[0].err)}); a later run removes them`);
  }
  return true;
}

/** Lists the folder again just before deleting, so that an object written since the listing spares it. */
async function removeIncomplete(
  store: ObjectStore, folder: string, backupId: string, cutoff: number, errors: string[], kept: { backupId: string; reason: string }[],
): Promise<boolean> {
  const { bucket } = store;
  let objects: { key: string; lastModified: number }[];
  try {
    objects = await listFolder(store, folder);
  } catch (err) {
    errors.push(`cannot list the incomplete backup ${backupId} in s3://${bucket}/${folder}: ${detail(err)}; nothing of it was deleted`);
    return false;
  }
  if (objects.some((o) => o.lastModified > cutoff || o.key === folder + MANIFEST_FILE)) {
    kept.push({ backupId, reason: "written to since the listing, so possibly a backup still running" });
    return false;
  }
  const failed = await deleteKeys(store, objects.map((o) => o.key));
  if (failed[0]) {
    errors.push(`cannot delete ${failed.length} of the ${objects.length} objects of the incomplete backup ${backupId} in s3://${bucket}/${folder}: ${detail(failed[0].err)}`);
    return false;
  }
  return true;
}

/**
 * Aborts the tenant's multipart uploads started before the cutoff: what a backup killed mid-upload leaves
 * behind, invisible to object listings but stored and billed. The whole bucket's uploads are listed and
 * filtered here, because some S3-compatible stores match the Prefix of this call only against whole keys.
 */
async function abortUploads(store: ObjectStore, root: string, cutoff: number, dryRun: boolean, errors: string[]): Promise<number> {
  const { s3, bucket } = store;
  const stale: { key: string; uploadId: string }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  try {
    for (;;) {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const u of page.Uploads ?? []) {
        if (u.Key?.startsWith(root) && u.UploadId && u.Initiated && u.Initiated.getTime() <= cutoff) stale.push({ key: u.Key, uploadId: u.UploadId });
      }
      if (!page.IsTruncated) break;
      if (page.NextKeyMarker === keyMarker && page.NextUploadIdMarker === uploadIdMarker) throw new Error("the store returned the same page twice");
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  } catch (err) {
    errors.push(`cannot list the unfinished uploads in s3://${bucket}: ${detail(err)}; none was aborted`);
    return 0;
  }
  if (dryRun) return stale.length;
  let aborted = 0;
  for (const u of stale) {
    try {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }));
      aborted++;
    } catch (err) {
      errors.push(`cannot abort the unfinished upload of s3://${bucket}/${u.key}: ${detail(err)}`);
    }
  }
  return aborted;
}
