// Restore drills: restores a backup into a scratch database on the tenant's pool, compares every table
// with the manifest, drops the scratch database and records the verdict beside the backup.
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { tenantDatabaseName, type PoolEndpoint } from "../db/pool.ts";
import { freeTempName, dropStaleTempDatabases, dropTempDatabase } from "../db/temp-database.ts";
import { AdminSession } from "./admin.ts";
import { BackupError, detail, type BackupErrorReason } from "./errors.ts";
import { listBackups } from "./list.ts";
import { describeMismatch, restoreBackup, RestoreVerificationError, type RestoreTimings, type TableComparison } from "./restore.ts";
import type { ObjectStore } from "./store.ts";
import { serializeVerification, VERIFICATION_FORMAT, type Verification } from "./verification.ts";

export interface VerifyOptions {
  readonly pool: PoolEndpoint;
  readonly store: ObjectStore;
  readonly tenant: string;
  /** Default: the tenant's newest backup. */
  readonly backupId?: string;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
}

export interface VerifyResult {
  /** The record written beside the backup. */
  readonly verification: Verification;
  /** Its key in the bucket. */
  readonly key: string;
  /** Table by table, when the backup could be loaded. */
  readonly tables: readonly TableComparison[];
  /** Scratch databases of earlier drills of this tenant that had crashed, dropped before this one. */
  readonly staleDropped: readonly string[];
}

// A failure with one of these reasons is a verdict on the backup; anything else (the pool or the
// object store failing, a cancellation) says nothing about it, so it throws and no record is written.
const VERDICT_REASONS: ReadonlySet<BackupErrorReason> = new Set(["ChecksumMismatch", "ManifestInvalid", "LoadFailed", "VerificationFailed"]);

interface Verdict {
  readonly ok: boolean;
  readonly reason?: BackupErrorReason;
  readonly message?: string;
  readonly tables: readonly TableComparison[];
  readonly timings: Partial<RestoreTimings>;
}

/**
 * Proves a backup restorable, or records why it is not, in `verification.json` beside it. A corrupted
 * dump is refused before any database is touched and recorded as ok: false. The scratch database is
 * dropped on every path, and those of earlier drills of the tenant that crashed are dropped first.
 */
export async function verifyBackup(opts: VerifyOptions): Promise<VerifyResult> {
  const now = opts.now ?? (() => new Date());
  const t0 = Date.now();
  const backupId = opts.backupId ?? await newestBackup(opts);
  const keys = opts.store.backupKeys(opts.tenant, backupId);
  const database = tenantDatabaseName(opts.tenant);
  if (opts.signal?.aborted) throw cancelled(backupId);

  let verdict: Verdict;
  let staleDropped: string[];
  const admin = await AdminSession.open(opts.pool, `verify backup ${backupId} of tenant ${opts.tenant}`);
  try {
    staleDropped = await dropStaleTempDatabases(admin, "verify", database);
    const scratch = await freeTempName(admin, "verify", database);
    let settled = false;
    try {
      verdict = await drill(opts, admin, backupId, scratch);
      settled = true;
    } finally {
      // When the drill failed, its own error is the one worth reporting; a database left here is
      // dropped by the next drill of this tenant.
      await dropTempDatabase(admin, scratch).catch((err: unknown) => {
        if (settled) throw err;
      });
    }
  } finally {
    await admin.close();
  }

  const verification: Verification = {
    format: VERIFICATION_FORMAT,
    tenant: opts.tenant,
    backupId,
    verifiedAt: now().toISOString(),
    ok: verdict.ok,
    ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
    ...(verdict.message === undefined ? {} : { message: verdict.message }),
    tablesChecked: verdict.tables.length,
    tablesMismatched: verdict.tables.filter((t) => !t.ok).map((t) => t.name),
    timings: { ...pick(verdict.timings), totalMs: Date.now() - t0 },
  };
  try {
    await opts.store.s3.send(new PutObjectCommand({
      Bucket: opts.store.bucket, Key: keys.verification, Body: serializeVerification(verification), ContentType: "application/json",
    }));
  } catch (err) {
    throw new BackupError("UploadFailed", `cannot write the verification record of backup ${backupId} to ${opts.store.url(keys.verification)}: ${detail(err)}`, { cause: err });
  }
  return { verification, key: keys.verification, tables: verdict.tables, staleDropped };
}

async function drill(opts: VerifyOptions, admin: AdminSession, backupId: string, scratch: string): Promise<Verdict> {
  try {
    const r = await restoreBackup({
      pool: opts.pool, store: opts.store, tenant: opts.tenant, backupId, database: scratch, signal: opts.signal,
    });
    return { ok: true, tables: r.tables, timings: r.timings };
  } catch (err) {
    if (opts.signal?.aborted) throw cancelled(backupId);
    if (err instanceof RestoreVerificationError) {
      return { ok: false, reason: err.reason, message: `backup ${backupId} restored ${describeMismatch(err.tables)}`, tables: err.tables, timings: err.timings };
    }
    if (!(err instanceof BackupError) || !VERDICT_REASONS.has(err.reason)) throw err;
    // The client also fails when the pool goes away mid-load: that is no verdict on the backup.
    if (err.reason === "LoadFailed") await admin.rows("SELECT 1");
    return { ok: false, reason: err.reason, message: err.message, tables: [], timings: {} };
  }
}

async function newestBackup(opts: VerifyOptions): Promise<string> {
  const listing = await listBackups(opts.store, opts.tenant);
  const newest = listing.backups[0];
  if (!newest) {
    throw new BackupError("BackupNotFound",
      `tenant ${opts.tenant} has no backups in ${opts.store.url(opts.store.tenantFolder(opts.tenant))}, so there is nothing to verify`);
  }
  return newest.backupId;
}

function cancelled(backupId: string): BackupError {
  return new BackupError("Aborted", `the verification of backup ${backupId} was cancelled; no verdict was recorded`);
}

/** The timings the record keeps. */
function pick(t: Partial<RestoreTimings>): Verification["timings"] {
  const out: Verification["timings"] = {};
  if (t.downloadMs !== undefined) out.downloadMs = t.downloadMs;
  if (t.loadMs !== undefined) out.loadMs = t.loadMs;
  if (t.verifyMs !== undefined) out.verifyMs = t.verifyMs;
  return out;
}
