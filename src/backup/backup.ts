// Backs up one tenant database: mariadb-dump streamed through gzip and a hash straight into an S3
// multipart upload, then the manifest. Nothing is staged whole; a failed run leaves no manifest.
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { PoolError } from "../db/errors.ts";
import { quoteTable, TENANT_DATABASE_PATTERN } from "../db/naming.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import { AdminSession } from "./admin.ts";
import { Digest } from "./digest.ts";
import { connectionArgs, describeExit, MARIADB_DUMP, start, toolVersion, writeCredentials, type Exit } from "./client-tools.ts";
import { DumpInspector } from "./dump-inspector.ts";
import { BackupError, detail } from "./errors.ts";
import { newBackupId, type BackupKeys } from "./layout.ts";
import { MANIFEST_FORMAT, serializeManifest, type Manifest } from "./manifest.ts";
import type { ObjectStore } from "./store.ts";

const MiB = 1024 * 1024;

export interface BackupProgress {
  /** Uncompressed dump bytes read so far. */
  readonly dumpBytes: number;
  /** Compressed bytes whose upload has finished. */
  readonly uploadedBytes: number;
}

export interface BackupOptions {
  readonly pool: PoolEndpoint;
  readonly tenant: string;
  /** The tenant's database on the pool (normally tenantDatabaseName(tenant)). */
  readonly database: string;
  readonly store: ObjectStore;
  /**
   * Take CHECKSUM TABLE of every table at the dump's snapshot (default true). This holds off writes to
   * the tenant's tables while the checksums are computed, roughly one full read of the database.
   */
  readonly tableChecksums?: boolean;
  /** How long to wait for running writes before giving up on the checksum lock (default 30 s). */
  readonly lockWaitSeconds?: number;
  /** How long the dump may take to begin its snapshot while writes are held off (default 60 s). */
  readonly snapshotTimeoutMs?: number;
  /** S3 part size (default 8 MiB; S3 requires at least 5 MiB). */
  readonly partSize?: number;
  /** Parts uploaded at once; memory use is about (queueSize + 1) × partSize (default 4). */
  readonly queueSize?: number;
  readonly gzipLevel?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: BackupProgress) => void;
  /** For tests and diagnostics: called with the dump's process id once it has started. */
  readonly onDumpStarted?: (pid: number) => void;
  readonly now?: () => Date;
  /** A named id (`pre-upgrade-g7`) chosen by the caller; default a new time-stamped one. */
  readonly backupId?: string;
}

export interface BackupResult {
  readonly manifest: Manifest;
  readonly keys: BackupKeys;
}

export function backupLockName(database: string): string {
  return `mms-backup-${database}`;
}

/**
 * Passes the dump through and ends only once mariadb-dump has exited successfully and written its
 * closing line: until then the upload cannot complete, so a failed dump can never become an object
 * that looks whole.
 */
class ExitGate extends Transform {
  private readonly exit: Promise<Exit>;
  private readonly inspector: DumpInspector;
  constructor(exit: Promise<Exit>, inspector: DumpInspector) {
    super();
    this.exit = exit;
    this.inspector = inspector;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    this.exit.then((e) => {
      if (e.code !== 0 || e.signal) done(new DumpExitError(e));
      else if (!this.inspector.completed) done(new Error("mariadb-dump exited without writing its closing line"));
      else done();
    }, done);
  }
}

class DumpExitError extends Error {
  readonly exit: Exit;
  constructor(exit: Exit) {
    super(describeExit("mariadb-dump", exit));
    this.exit = exit;
  }
}

function validate(opts: BackupOptions): void {
  if (!TENANT_DATABASE_PATTERN.test(opts.database)) {
    throw new BackupError("InvalidRequest", `${JSON.stringify(opts.database)} is not a tenant database name`);
  }
  if (opts.partSize !== undefined && opts.partSize < 5 * MiB) throw new BackupError("InvalidRequest", "the part size must be at least 5 MiB");
  if (opts.queueSize !== undefined && !(Number.isInteger(opts.queueSize) && opts.queueSize >= 1)) {
    throw new BackupError("InvalidRequest", "the upload queue size must be a whole number of at least 1");
  }
}

/**
 * Runs one backup and returns its manifest. Refuses to start while another backup of the same
 * database runs (on any machine: the lock lives in the database server).
 */
export async function runBackup(opts: BackupOptions): Promise<BackupResult> {
  validate(opts);
  const now = opts.now ?? (() => new Date());
  const started = now();
  const t0 = Date.now();
  const backupId = opts.backupId ?? newBackupId(started);
  const keys = opts.store.backupKeys(opts.tenant, backupId);
  const db = opts.database;
  const secrets = [opts.pool.adminPassword];
  const lock = backupLockName(db);
  const withChecksums = opts.tableChecksums ?? true;
  opts.signal?.throwIfAborted();

  const admin = await AdminSession.open(opts.pool, `back up database ${db}`);
  try {
    if (!(await admin.tryLock(lock))) {
      throw new BackupError("BackupInProgress", `a backup of database ${db} is already running; try again once it has finished`);
    }
    if (!(await admin.databaseExists(db))) {
      throw new BackupError("DatabaseNotFound", `database ${db} does not exist on the pool`);
    }
    const [mariadbDump, server] = await Promise.all([toolVersion(MARIADB_DUMP), admin.serverVersion()]);
    const tables = await admin.tables(db);

    let writesBlockedMs = 0;
    let checksumMs = 0;
    let checksums = new Map<string, number | null>();
    let matomo: Manifest["matomo"] = { version: null, tablePrefix: null };
    let unlock: (() => Promise<void>) | undefined;
    const locked = withChecksums && tables.length > 0;
    if (locked && tables.length > 0) {
      // MariaDB cannot let two clients share one snapshot, so the checksums cannot be taken inside the
      // dump's transaction. Instead writes are held off (LOCK TABLES … READ waits for running write
      // transactions to commit, then blocks new ones) until both the checksums are taken and the dump
      // has started its snapshot: both then see the same committed data. Reads carry on throughout.
      await admin.exec("SET SESSION lock_wait_timeout = ?", [opts.lockWaitSeconds ?? 30]);
      const lockedAt = Date.now();
      try {
        await admin.exec(`LOCK TABLES ${tables.map((t) => `${quoteTable(db, t)} READ`).join(", ")}`);
      } catch (err) {
        if (err instanceof PoolError && err.code === "ER_LOCK_WAIT_TIMEOUT") {
          throw new BackupError("LockTimeout", `database ${db} had writes running for longer than ${opts.lockWaitSeconds ?? 30} s, so no consistent checksums could be taken; try again or back up without checksums`);
        }
        throw err;
      }
      unlock = async () => {
        unlock = undefined;
        await admin.exec("UNLOCK TABLES");
        writesBlockedMs = Date.now() - lockedAt;
      };
    }

    const credentials = await writeCredentials(opts.pool);
    let snapshotStarted: () => void = () => undefined;
    const snapshot = new Promise<void>((resolve) => (snapshotStarted = resolve));
    const dumpStarted = Date.now();
    const { child, exit } = start(MARIADB_DUMP, [
      credentials.option, ...connectionArgs(opts.pool),
      "--single-transaction", "--quick", "--routines", "--triggers", "--hex-blob",
      "--default-character-set=utf8mb4", "--max-allowed-packet=1G", "--net-buffer-length=1M",
      "--no-tablespaces", "--skip-lock-tables",
      db,
    ], "ignore");
    if (child.pid !== undefined) opts.onDumpStarted?.(child.pid);
    let dumpMs = 0;
    // The file is read at start-up; once the dump has exited it is certainly no longer needed.
    const disposed = exit.then(() => {
      dumpMs = Date.now() - dumpStarted;
      return credentials.dispose();
    }).catch(() => undefined);

    const inspector = new DumpInspector(() => snapshotStarted());
    const gate = new ExitGate(exit, inspector);
    const digest = new Digest();
    let uploaded = 0;
    const report = () => opts.onProgress?.({ dumpBytes: inspector.bytes, uploadedBytes: uploaded });
    const upload = new Upload({
      client: opts.store.s3,
      params: { Bucket: opts.store.bucket, Key: keys.dump, Body: digest, ContentType: "application/gzip" },
      partSize: opts.partSize ?? 8 * MiB,
      queueSize: opts.queueSize ?? 4,
      leavePartsOnError: false,
    });
    upload.on("httpUploadProgress", (p) => {
      uploaded = p.loaded ?? uploaded;
      report();
    });

    let failure: unknown;
    let killed = false;
    const fail = (err: unknown) => {
      failure ??= err;
      // Ending the dump and erroring the body makes the upload abort its multipart upload.
      if (child.exitCode === null && child.signalCode === null) killed = child.kill("SIGKILL") || killed;
      digest.destroy(err instanceof Error ? err : new Error(String(err)));
    };
    const onAbort = () => fail(new BackupError("Aborted", `the backup of database ${db} was cancelled`));
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    const flow = pipeline(child.stdout!, inspector, createGzip({ level: opts.gzipLevel ?? 6 }), gate, digest).catch((err: unknown) => fail(err));
    let uploadError: unknown;
    const uploadDone = upload.done().catch((err: unknown) => {
      uploadError = err;
      fail(err);
    });
    const uploadStarted = Date.now();

    if (unlock) {
      const checksumStart = Date.now();
      try {
        checksums = await admin.checksums(db, tables);
        matomo = await admin.matomoVersion(db);
        checksumMs = Date.now() - checksumStart;
        const timeoutMs = opts.snapshotTimeoutMs ?? 60_000;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
        const outcome = await Promise.race([snapshot.then(() => "ok" as const), exit.then(() => "exited" as const), timedOut]);
        clearTimeout(timer);
        if (outcome === "timeout") fail(new BackupError("DumpFailed", `mariadb-dump did not start its snapshot of database ${db} within ${timeoutMs / 1000} s`));
      } catch (err) {
        fail(err);
      } finally {
        await unlock?.().catch((err: unknown) => fail(err));
      }
    } else {
      matomo = await admin.matomoVersion(db).catch((err: unknown) => {
        fail(err);
        return matomo;
      });
    }

    await Promise.all([flow, uploadDone]);
    opts.signal?.removeEventListener("abort", onAbort);
    await disposed;
    const uploadMs = Date.now() - uploadStarted;

    const cleanUp = async () => {
      // The multipart upload was aborted by Upload itself; the object can exist only if the failure
      // came after it completed. Deleting a missing key is harmless.
      await opts.store.s3.send(new DeleteObjectCommand({ Bucket: opts.store.bucket, Key: keys.dump })).catch(() => undefined);
    };

    if (failure === undefined) {
      try {
        const head = await opts.store.s3.send(new HeadObjectCommand({ Bucket: opts.store.bucket, Key: keys.dump }));
        if (head.ContentLength !== digest.bytes) {
          failure = new BackupError("UploadFailed", `the stored dump of backup ${backupId} has ${head.ContentLength} bytes, not the ${digest.bytes} sent`);
        } else if (!(await admin.holdsLock(lock))) {
          failure = new BackupError("DumpFailed", `the connection holding the backup lock of database ${db} was lost, so another backup may have run alongside`);
        }
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== undefined) {
      await cleanUp();
      throw explain({ failure, uploadError, exit: await exit, killed }, opts, keys, secrets);
    }

    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      tenant: opts.tenant,
      database: db,
      backupId,
      createdAt: started.toISOString(),
      completedAt: now().toISOString(),
      matomo,
      object: {
        key: keys.dump, compression: "gzip", bytes: digest.bytes,
        sha256: digest.hash.digest("hex"), uncompressedBytes: inspector.bytes,
      },
      consistency: { rowCounts: "counted-in-dump", checksums: locked ? "locked" : "none" },
      tables: [...inspector.rows.entries()]
        .map(([name, rows]) => ({ name, rows, checksum: checksums.get(name) ?? null }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      timings: { totalMs: Date.now() - t0, writesBlockedMs, checksumMs, dumpMs, uploadMs },
      tools: { mariadbDump, server, node: process.version },
    };
    try {
      await opts.store.s3.send(new PutObjectCommand({
        Bucket: opts.store.bucket, Key: keys.manifest, Body: serializeManifest(manifest), ContentType: "application/json",
      }));
    } catch (err) {
      await cleanUp();
      await opts.store.s3.send(new DeleteObjectCommand({ Bucket: opts.store.bucket, Key: keys.manifest })).catch(() => undefined);
      throw new BackupError("UploadFailed", `cannot write the manifest of backup ${backupId} to ${opts.store.url(keys.manifest)}: ${detail(err, secrets)}`, { cause: err });
    }
    report();
    return { manifest, keys };
  } finally {
    await admin.close();
  }
}

// mariadb-dump's exit code when writing its output failed: then the reader went away, not the database.
const EX_EOF = 5;

interface Outcome {
  /** The first error seen, wherever it came from. */
  readonly failure: unknown;
  readonly uploadError: unknown;
  readonly exit: Exit;
  /** We killed the dump ourselves. */
  readonly killed: boolean;
}

function isStreamError(err: unknown): boolean {
  return err instanceof DumpExitError || (err instanceof Error && (err.name === "DumpFormatError" || err.name === "AbortError"));
}

/**
 * Picks the root cause of a failed run. One failure cascades into the others (a dead dump errors the
 * upload's body; a failed upload stops reading, so the dump fails to write), so the error to report is
 * the one that did not come from the other side.
 */
function explain(o: Outcome, opts: BackupOptions, keys: BackupKeys, secrets: readonly string[]): Error {
  if (o.failure instanceof BackupError) return o.failure;
  const e = o.exit;
  const dumpBroke = (e.code !== null && e.code !== 0 && e.code !== EX_EOF) ||
    (e.signal !== null && e.signal !== "SIGPIPE" && !(o.killed && e.signal === "SIGKILL"));
  if (dumpBroke) {
    return new BackupError("DumpFailed", `the dump of database ${opts.database} failed: ${detail(describeExit("mariadb-dump", e), secrets)}; no backup was recorded`, { cause: o.failure });
  }
  if (o.failure instanceof PoolError) return o.failure;
  const s3Error = o.uploadError !== undefined && !isStreamError(o.uploadError) ? o.uploadError : undefined;
  if (s3Error === undefined && isStreamError(o.failure) && !(o.failure instanceof Error && o.failure.name === "AbortError")) {
    return new BackupError("DumpFailed", `the dump of database ${opts.database} failed: ${detail(o.failure, secrets)}; no backup was recorded`, { cause: o.failure });
  }
  const cause = s3Error ?? o.failure;
  return new BackupError("UploadFailed", `cannot upload the dump of database ${opts.database} to ${opts.store.url(keys.dump)}: ${detail(cause, secrets)}; no backup was recorded`, { cause });
}
