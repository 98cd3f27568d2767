// Restores a backup into a new or empty database, or replaces a tenant's own database with it: the dump
// is downloaded and its sha256 and size are checked before any database is touched, then loaded with
// the mariadb client and compared with the manifest. A replace loads into a staging database and swaps
// the tables in one RENAME TABLE only once they match, after a safety backup of what it replaces.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { isTempDatabase, quoteDatabase, quoteTable, TENANT_DATABASE_PATTERN } from "../db/naming.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import { createTempDatabase, databaseLockName, dropStaleTempDatabases, dropTempDatabase } from "../db/temp-database.ts";
import { Digest } from "./digest.ts";
import { AdminSession } from "./admin.ts";
import { connectionArgs, describeExit, MARIADB, start, writeCredentials } from "./client-tools.ts";
import { BackupError, detail } from "./errors.ts";
import { parseManifest, type Manifest } from "./manifest.ts";
import type { ObjectStore } from "./store.ts";

// How long the swap waits for the tenant's running statements to let go of its tables.
const SWAP_LOCK_WAIT_SECONDS = 60;

export interface ReplaceOptions {
  /**
   * Backs up the database about to be replaced and returns that backup's id. Called once the backup to
   * restore has been downloaded and checked, and before anything changes; when it fails, nothing is
   * replaced. Typically `runBackup` of the database's tenant.
   */
  readonly safetyBackup: (database: string) => Promise<string>;
  /**
   * Tables of the live database that stay as they are (neither replaced nor removed), e.g. the tracking
   * queue during an upgrade rollback: hits queued since the backup must survive it.
   */
  readonly keepLive?: (table: string) => boolean;
}

export interface RestoreOptions {
  readonly pool: PoolEndpoint;
  readonly store: ObjectStore;
  /** The tenant the backup belongs to. */
  readonly tenant: string;
  readonly backupId: string;
  /**
   * Database to restore into: a tenant database, or a scratch database (restore drills). Created when
   * missing; when it holds anything, refused unless `replace` is given.
   */
  readonly database: string;
  /** Replace the tables of a non-empty tenant database, after a safety backup of it (`--replace`). */
  readonly replace?: ReplaceOptions;
  readonly signal?: AbortSignal;
}

export interface TableComparison {
  readonly name: string;
  readonly expectedRows: number | null;
  readonly actualRows: number | null;
  readonly expectedChecksum: number | null;
  readonly actualChecksum: number | null;
  readonly ok: boolean;
}

export interface RestoreTimings {
  readonly downloadMs: number;
  /** The safety backup of a replace; 0 otherwise. */
  readonly safetyBackupMs: number;
  readonly loadMs: number;
  readonly verifyMs: number;
  /** The RENAME TABLE of a replace; 0 otherwise. */
  readonly swapMs: number;
  readonly totalMs: number;
}

export interface RestoreResult {
  readonly manifest: Manifest;
  readonly database: string;
  /** True when the restore created the database. */
  readonly created: boolean;
  /** True when the database held tables that were replaced by the backup's. */
  readonly replaced: boolean;
  /** The backup taken of the database before its tables were replaced; null when nothing was replaced. */
  readonly safetyBackupId: string | null;
  readonly tables: readonly TableComparison[];
  readonly timings: RestoreTimings;
}

export class RestoreVerificationError extends BackupError {
  readonly tables: readonly TableComparison[];
  readonly timings: Partial<RestoreTimings>;
  constructor(message: string, tables: readonly TableComparison[], timings: Partial<RestoreTimings> = {}) {
    super("VerificationFailed", message);
    this.tables = tables;
    this.timings = timings;
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

/** Reads and validates the manifest of a backup; a backup without one does not exist. */
export async function readManifest(store: ObjectStore, tenant: string, backupId: string): Promise<Manifest> {
  const keys = store.backupKeys(tenant, backupId);
  let text: string;
  try {
    const got = await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: keys.manifest }));
    text = await got.Body!.transformToString("utf8");
  } catch (err) {
    if (isNotFound(err)) {
      throw new BackupError("ManifestMissing", `backup ${backupId} of tenant ${tenant} has no manifest in ${store.url(keys.folder)}, so it is incomplete or does not exist`);
    }
    throw new BackupError("DownloadFailed", `cannot read the manifest of backup ${backupId} from ${store.url(keys.manifest)}: ${detail(err)}`, { cause: err });
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(text);
  } catch (err) {
    throw new BackupError("ManifestInvalid", `the manifest of backup ${backupId} of tenant ${tenant} is invalid (${detail(err)})`);
  }
  if (manifest.tenant !== tenant || manifest.backupId !== backupId || manifest.object.key !== keys.dump) {
    throw new BackupError("ManifestInvalid", `the manifest of backup ${backupId} of tenant ${tenant} describes another backup (${manifest.tenant}/${manifest.backupId})`);
  }
  return manifest;
}

/**
 * Downloads the dump to a private temporary file while hashing it. A file rather than two passes over
 * the object: the bytes loaded are then exactly the bytes verified (the object cannot change between a
 * checking pass and a loading pass), it is downloaded once, and it costs disk only for the compressed size.
 */
async function download(opts: RestoreOptions, manifest: Manifest, file: string): Promise<void> {
  const digest = new Digest();
  try {
    const got = await opts.store.s3.send(new GetObjectCommand({ Bucket: opts.store.bucket, Key: manifest.object.key }), { abortSignal: opts.signal });
    await pipeline(got.Body as Readable, digest, createWriteStream(file, { flags: "wx", mode: 0o600 }), { signal: opts.signal });
  } catch (err) {
    if (isNotFound(err)) {
      throw new BackupError("ChecksumMismatch", `the dump of backup ${manifest.backupId} is missing from ${opts.store.url(manifest.object.key)}; refusing to restore`);
    }
    if (opts.signal?.aborted) throw cancelled(opts, "no database was touched");
    throw new BackupError("DownloadFailed", `cannot download the dump of backup ${manifest.backupId} from ${opts.store.url(manifest.object.key)}: ${detail(err)}`, { cause: err });
  }
  const sha256 = digest.hash.digest("hex");
  if (digest.bytes !== manifest.object.bytes || sha256 !== manifest.object.sha256) {
    throw new BackupError("ChecksumMismatch",
      `the dump of backup ${manifest.backupId} does not match its manifest (sha256 ${sha256.slice(0, 12)}…, ${digest.bytes} bytes; ` +
      `expected ${manifest.object.sha256.slice(0, 12)}…, ${manifest.object.bytes} bytes): it is corrupted, refusing to restore`);
  }
}

function cancelled(opts: RestoreOptions, outcome: string): BackupError {
  return new BackupError("Aborted", `the restore of backup ${opts.backupId} into database ${opts.database} was cancelled; ${outcome}`);
}

function checkCancelled(opts: RestoreOptions, outcome: string): void {
  if (opts.signal?.aborted) throw cancelled(opts, outcome);
}

/** "differs from the manifest in 2 table(s), e.g. log_visit (rows 3 vs 4, checksum … vs …)" */
export function describeMismatch(tables: readonly TableComparison[]): string {
  const bad = tables.filter((t) => !t.ok);
  const first = bad[0];
  if (!first) return "matches the manifest";
  return `differs from the manifest in ${bad.length} table(s), e.g. ${first.name} ` +
    `(rows ${first.actualRows ?? "missing"} vs ${first.expectedRows ?? "none"}, checksum ${first.actualChecksum ?? "-"} vs ${first.expectedChecksum ?? "-"})`;
}

interface Run {
  readonly opts: RestoreOptions;
  readonly admin: AdminSession;
  readonly manifest: Manifest;
  readonly file: string;
  readonly t0: number;
  readonly downloadMs: number;
}

/**
 * Restores a backup and checks every table against the manifest; a mismatch throws
 * RestoreVerificationError. A non-empty target is refused unless `replace` is given.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const db = opts.database;
  if (!TENANT_DATABASE_PATTERN.test(db) && !isTempDatabase(db)) throw new BackupError("InvalidRequest", `${JSON.stringify(db)} is not a tenant database name`);
  if (opts.replace && !TENANT_DATABASE_PATTERN.test(db)) throw new BackupError("InvalidRequest", `only a tenant database can be replaced, not ${db}`);
  const t0 = Date.now();
  const manifest = await readManifest(opts.store, opts.tenant, opts.backupId);
  const dir = await mkdtemp(join(tmpdir(), "mms-restore-"));
  try {
    const file = join(dir, "dump.sql.gz");
    await download(opts, manifest, file);
    const downloadMs = Date.now() - t0;
    checkCancelled(opts, "no database was touched");

    const admin = await AdminSession.open(opts.pool, `restore backup ${opts.backupId} into database ${db}`);
    try {
      if (!(await admin.tryLock(databaseLockName(db)))) {
        throw new BackupError("RestoreInProgress", `a restore into database ${db} is already running`);
      }
      const run: Run = { opts, admin, manifest, file, t0, downloadMs };
      const exists = await admin.databaseExists(db);
      if (exists && (await admin.objectCount(db)) > 0) {
        if (!opts.replace) {
          throw new BackupError("TargetNotEmpty",
            `database ${db} already exists and is not empty; restore into a new or empty database, or replace its tables (--replace), which takes a safety backup of it first`);
        }
        return await replaceDatabase(run, opts.replace);
      }
      return await restoreIntoEmpty(run, exists);
    } finally {
      await admin.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function restoreIntoEmpty(run: Run, exists: boolean): Promise<RestoreResult> {
  const { opts, admin, manifest } = run;
  const db = opts.database;
  if (!exists) await admin.exec(`CREATE DATABASE ${quoteDatabase(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  const created = !exists;

  const loadStart = Date.now();
  try {
    await load(opts, run.file, db, manifest);
  } catch (err) {
    // A half-loaded database looks like a tenant's database but is not one: drop it if it is ours.
    const dropped = created && await admin.exec(`DROP DATABASE IF EXISTS ${quoteDatabase(db)}`).then(() => true, () => false);
    throw failedLoad(opts, err, dropped ? "the database was removed again" : "the database is incomplete");
  }
  const loadMs = Date.now() - loadStart;

  const verifyStart = Date.now();
  const tables = await compare(admin, db, manifest);
  const verifyMs = Date.now() - verifyStart;
  const timings = { downloadMs: run.downloadMs, safetyBackupMs: 0, loadMs, verifyMs, swapMs: 0, totalMs: Date.now() - run.t0 };
  if (tables.some((t) => !t.ok)) {
    throw new RestoreVerificationError(
      `database ${db} restored from backup ${opts.backupId} ${describeMismatch(tables)}; the database was kept for inspection`, tables, timings);
  }
  return { manifest, database: db, created, replaced: false, safetyBackupId: null, tables, timings };
}

/**
 * Loads the backup into a staging database and, once it matches the manifest, moves the live tables
 * out and the staged ones in with one RENAME TABLE, which MariaDB applies atomically: the tenant sees
 * either all of its old tables or all of the restored ones. Grants on the database follow its name.
 */
async function replaceDatabase(run: Run, replace: ReplaceOptions): Promise<RestoreResult> {
  const { opts, admin, manifest } = run;
  const db = opts.database;
  const unchanged = `database ${db} was not changed`;
  const unmovable = await objectsRenameCannotMove(admin, db);
  if (unmovable.length > 0) {
    throw new BackupError("UnsupportedObjects",
      `database ${db} holds ${describeObjects(unmovable)}, which a replacing restore cannot carry over (RENAME TABLE moves only tables); ` +
      `Matomo creates none, so remove them or restore into a new database; ${unchanged}`);
  }
  // Left by a replace of this database that crashed; the replaced tables in them are in its safety backup.
  await dropStaleTempDatabases(admin, "restore", db);
  await dropStaleTempDatabases(admin, "replaced", db);

  const safetyStart = Date.now();
  let safetyBackupId: string;
  try {
    safetyBackupId = await replace.safetyBackup(db);
  } catch (err) {
    if (opts.signal?.aborted) throw cancelled(opts, unchanged);
    throw new BackupError("SafetyBackupFailed", `the safety backup of database ${db} failed, so it was not replaced: ${detail(err)}; ${unchanged}`, { cause: err });
  }
  const safetyBackupMs = Date.now() - safetyStart;
  const kept = `${unchanged} (safety backup ${safetyBackupId} was taken)`;
  checkCancelled(opts, kept);

  const staging = (await createTempDatabase(admin, "restore", db)).database;
  let replaced: string | undefined;
  try {
    const loadStart = Date.now();
    try {
      await load(opts, run.file, staging, manifest);
    } catch (err) {
      throw failedLoad(opts, err, kept);
    }
    const loadMs = Date.now() - loadStart;
    const extra = await objectsRenameCannotMove(admin, staging);
    if (extra.length > 0) {
      throw new BackupError("UnsupportedObjects",
        `backup ${opts.backupId} holds ${describeObjects(extra)}, which a replacing restore cannot carry over (RENAME TABLE moves only tables); restore it into a new database; ${kept}`);
    }

    const verifyStart = Date.now();
    const tables = await compare(admin, staging, manifest);
    const verifyMs = Date.now() - verifyStart;
    if (tables.some((t) => !t.ok)) {
      throw new RestoreVerificationError(`backup ${opts.backupId} loaded into staging ${describeMismatch(tables)}; ${kept}`, tables,
        { downloadMs: run.downloadMs, safetyBackupMs, loadMs, verifyMs });
    }
    checkCancelled(opts, kept);

    replaced = (await createTempDatabase(admin, "replaced", db)).database;
    const swapStart = Date.now();
    await swap(opts, admin, staging, replaced, kept, safetyBackupId, replace.keepLive ?? (() => false));
    const swapMs = Date.now() - swapStart;
    return {
      manifest, database: db, created: false, replaced: true, safetyBackupId, tables,
      timings: { downloadMs: run.downloadMs, safetyBackupMs, loadMs, verifyMs, swapMs, totalMs: Date.now() - run.t0 },
    };
  } finally {
    // After the swap the staging database is empty and the other holds the replaced tables, which the
    // safety backup also holds. One that cannot be dropped now is dropped by the next replace of this
    // database, so a failure here changes nothing about the outcome.
    for (const scratch of [staging, replaced]) {
      if (scratch !== undefined) await dropTempDatabase(admin, scratch).catch(() => undefined);
    }
  }
}

async function swap(opts: RestoreOptions, admin: AdminSession, staging: string, replaced: string, kept: string, safetyBackupId: string, keepLive: (t: string) => boolean): Promise<void> {
  const db = opts.database;
  const keep = new Set((await admin.tables(db)).filter(keepLive));
  const live = (await admin.tables(db)).filter((t) => !keep.has(t));
  const next = (await admin.tables(staging)).filter((t) => !keep.has(t));
  const moves = [
    ...live.map((t) => `${quoteTable(db, t)} TO ${quoteTable(replaced, t)}`),
    ...next.map((t) => `${quoteTable(staging, t)} TO ${quoteTable(db, t)}`),
  ];
  await admin.exec("SET SESSION lock_wait_timeout = ?", [SWAP_LOCK_WAIT_SECONDS]);
  try {
    await admin.exec(`RENAME TABLE ${moves.join(", ")}`);
  } catch (err) {
    // The statement is all or nothing; only a lost connection leaves open which of the two happened.
    const swapped = await admin.tables(staging).then((t) => next.length > 0 && !t.some((x) => next.includes(x)), () => undefined);
    const outcome = swapped === undefined
      ? `whether database ${db} was replaced is unknown: check it, safety backup ${safetyBackupId} holds its previous tables`
      : swapped ? `database ${db} was replaced nevertheless` : kept;
    throw new BackupError("SwapFailed", `cannot swap the restored tables into database ${db}: ${detail(err)}; ${outcome}`, { cause: err });
  }
}

interface SchemaObject {
  readonly kind: string;
  readonly name: string;
}

/** Views, sequences, triggers, routines and events: what RENAME TABLE cannot move between databases. */
async function objectsRenameCannotMove(admin: AdminSession, database: string): Promise<SchemaObject[]> {
  const rows = await admin.rows(
    "SELECT LOWER(TABLE_TYPE) AS kind, TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'BASE TABLE' " +
    "UNION ALL SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? " +
    "UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? " +
    "UNION ALL SELECT 'event', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
    [database, database, database, database],
  );
  return rows.map((r) => ({ kind: String(r.kind), name: String(r.name) }));
}

function describeObjects(objects: readonly SchemaObject[]): string {
  const first = objects[0] as SchemaObject;
  return `${objects.length} view(s), trigger(s), routine(s) or event(s), e.g. ${first.kind} ${first.name}`;
}

function failedLoad(opts: RestoreOptions, err: unknown, outcome: string): BackupError {
  if (opts.signal?.aborted) return cancelled(opts, outcome);
  const e = err as BackupError;
  return new BackupError(e.reason ?? "LoadFailed", `${detail(err)}; ${outcome}`, { cause: err });
}

async function load(opts: RestoreOptions, file: string, database: string, manifest: Manifest): Promise<void> {
  const credentials = await writeCredentials(opts.pool);
  try {
    const { child, exit } = start(MARIADB, [
      credentials.option, ...connectionArgs(opts.pool),
      "--batch", "--binary-mode", "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
      `--database=${database}`,
    ], "pipe");
    const onAbort = () => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    let streamError: unknown;
    try {
      await pipeline(createReadStream(file), createGunzip(), child.stdin!).catch((err: unknown) => {
        streamError = err;
        // The client would otherwise wait for the rest of its input forever.
        child.kill("SIGKILL");
      });
      const e = await exit;
      if (e.code !== 0 || e.signal) {
        const why = opts.signal?.aborted ? "the restore was cancelled" : describeExit("mariadb", e);
        throw new BackupError("LoadFailed", `loading backup ${manifest.backupId} into database ${database} failed: ${detail(why, [opts.pool.adminPassword])}`);
      }
      if (streamError !== undefined) {
        throw new BackupError("LoadFailed", `loading backup ${manifest.backupId} into database ${database} failed: ${detail(streamError)}`);
      }
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    await credentials.dispose();
  }
}

async function compare(admin: AdminSession, db: string, manifest: Manifest): Promise<TableComparison[]> {
  const present = new Set(await admin.tables(db));
  const expected = new Map(manifest.tables.map((t) => [t.name, t]));
  const out: TableComparison[] = [];
  for (const name of [...new Set([...expected.keys(), ...present])].sort()) {
    const e = expected.get(name);
    const actualRows = present.has(name) ? await admin.rowCount(db, name) : null;
    const expectedChecksum = e?.checksum ?? null;
    const actualChecksum = expectedChecksum === null || !present.has(name) ? null : (await admin.checksums(db, [name])).get(name) ?? null;
    const ok = e !== undefined && actualRows === e.rows && (expectedChecksum === null || actualChecksum === expectedChecksum);
    out.push({ name, expectedRows: e?.rows ?? null, actualRows, expectedChecksum, actualChecksum, ok });
  }
  return out;
}
