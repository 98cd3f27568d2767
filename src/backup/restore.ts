// Restores a backup into a new or empty database: the dump is downloaded and its sha256 and size are
// checked before any database is touched, then loaded with the mariadb client and compared with the manifest.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { quoteIdentifier, TENANT_DATABASE_PATTERN } from "../db/naming.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import { Digest } from "./digest.ts";
import { AdminSession } from "./admin.ts";
import { connectionArgs, describeExit, MARIADB, start, writeCredentials } from "./client-tools.ts";
import { BackupError, detail } from "./errors.ts";
import { backupKeys } from "./layout.ts";
import { parseManifest, type Manifest } from "./manifest.ts";

export interface RestoreOptions {
  readonly pool: PoolEndpoint;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly prefix?: string;
  /** The tenant the backup belongs to. */
  readonly tenant: string;
  readonly backupId: string;
  /** Database to restore into: created when missing, refused when it holds anything. */
  readonly database: string;
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

export interface RestoreResult {
  readonly manifest: Manifest;
  readonly database: string;
  /** True when the restore created the database. */
  readonly created: boolean;
  readonly tables: readonly TableComparison[];
  readonly timings: { readonly downloadMs: number; readonly loadMs: number; readonly verifyMs: number; readonly totalMs: number };
}

export class RestoreVerificationError extends BackupError {
  readonly tables: readonly TableComparison[];
  constructor(message: string, tables: readonly TableComparison[]) {
    super("VerificationFailed", message);
    this.tables = tables;
  }
}

export function restoreLockName(database: string): string {
  return `mms-restore-${database}`;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

/** Reads and validates the manifest of a backup; a backup without one does not exist. */
export async function readManifest(s3: S3Client, bucket: string, tenant: string, backupId: string, prefix?: string): Promise<Manifest> {
  const keys = backupKeys(tenant, backupId, prefix);
  let text: string;
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keys.manifest }));
    text = await got.Body!.transformToString("utf8");
  } catch (err) {
    if (isNotFound(err)) {
      throw new BackupError("ManifestMissing", `backup ${backupId} of tenant ${tenant} has no manifest in s3://${bucket}/${keys.folder}, so it is incomplete or does not exist`);
    }
    throw new BackupError("DownloadFailed", `cannot read the manifest of backup ${backupId} from s3://${bucket}/${keys.manifest}: ${detail(err)}`, { cause: err });
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
    const got = await opts.s3.send(new GetObjectCommand({ Bucket: opts.bucket, Key: manifest.object.key }), { abortSignal: opts.signal });
    await pipeline(got.Body as Readable, digest, createWriteStream(file, { flags: "wx", mode: 0o600 }), { signal: opts.signal });
  } catch (err) {
    if (isNotFound(err)) {
      throw new BackupError("ChecksumMismatch", `the dump of backup ${manifest.backupId} is missing from s3://${opts.bucket}/${manifest.object.key}; refusing to restore`);
    }
    throw new BackupError("DownloadFailed", `cannot download the dump of backup ${manifest.backupId} from s3://${opts.bucket}/${manifest.object.key}: ${detail(err)}`, { cause: err });
  }
  const sha256 = digest.hash.digest("hex");
  if (digest.bytes !== manifest.object.bytes || sha256 !== manifest.object.sha256) {
    throw new BackupError("ChecksumMismatch",
      `the dump of backup ${manifest.backupId} does not match its manifest (sha256 ${sha256.slice(0, 12)}…, ${digest.bytes} bytes; ` +
      `expected ${manifest.object.sha256.slice(0, 12)}…, ${manifest.object.bytes} bytes): it is corrupted, refusing to restore`);
  }
}

/** Restores a backup and checks every table against the manifest; a mismatch throws RestoreVerificationError. */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const db = opts.database;
  if (!TENANT_DATABASE_PATTERN.test(db)) throw new BackupError("InvalidRequest", `${JSON.stringify(db)} is not a tenant database name`);
  const t0 = Date.now();
  const manifest = await readManifest(opts.s3, opts.bucket, opts.tenant, opts.backupId, opts.prefix);
  const dir = await mkdtemp(join(tmpdir(), "mms-restore-"));
  try {
    const file = join(dir, "dump.sql.gz");
    await download(opts, manifest, file);
    const downloadMs = Date.now() - t0;
    opts.signal?.throwIfAborted();

    const admin = await AdminSession.open(opts.pool, `restore backup ${opts.backupId} into database ${db}`);
    try {
      if (!(await admin.tryLock(restoreLockName(db)))) {
        throw new BackupError("RestoreInProgress", `a restore into database ${db} is already running`);
      }
      let created = false;
      if (await admin.databaseExists(db)) {
        if ((await admin.objectCount(db)) > 0) {
          throw new BackupError("TargetNotEmpty", `database ${db} already exists and is not empty; restore into a new or empty database`);
        }
      } else {
        await admin.exec(`CREATE DATABASE ${quoteIdentifier(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
        created = true;
      }

      const loadStart = Date.now();
      try {
        await load(opts, file, manifest);
      } catch (err) {
        // A half-loaded database looks like a tenant's database but is not one: drop it if it is ours.
        const dropped = created && await admin.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)}`).then(() => true, () => false);
        const e = err as BackupError;
        throw new BackupError(e.reason ?? "LoadFailed", `${e.message}; ${dropped ? "the database was removed again" : "the database is incomplete"}`, { cause: err });
      }
      const loadMs = Date.now() - loadStart;

      const verifyStart = Date.now();
      const tables = await compare(admin, db, manifest);
      const verifyMs = Date.now() - verifyStart;
      const bad = tables.filter((t) => !t.ok);
      if (bad.length > 0) {
        const first = bad[0] as TableComparison;
        throw new RestoreVerificationError(
          `database ${db} restored from backup ${opts.backupId} differs from the manifest in ${bad.length} table(s), e.g. ${first.name} ` +
          `(rows ${first.actualRows ?? "missing"} vs ${first.expectedRows ?? "none"}, checksum ${first.actualChecksum ?? "-"} vs ${first.expectedChecksum ?? "-"}); the database was kept for inspection`,
          tables,
        );
      }
      return { manifest, database: db, created, tables, timings: { downloadMs, loadMs, verifyMs, totalMs: Date.now() - t0 } };
    } finally {
      await admin.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function load(opts: RestoreOptions, file: string, manifest: Manifest): Promise<void> {
  const credentials = await writeCredentials(opts.pool);
  try {
    const { child, exit } = start(MARIADB, [
      credentials.option, ...connectionArgs(opts.pool),
      "--batch", "--binary-mode", "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
      `--database=${opts.database}`,
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
        throw new BackupError("LoadFailed", `loading backup ${manifest.backupId} into database ${opts.database} failed: ${detail(why, [opts.pool.adminPassword])}`);
      }
      if (streamError !== undefined) {
        throw new BackupError("LoadFailed", `loading backup ${manifest.backupId} into database ${opts.database} failed: ${detail(streamError)}`);
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
  const withChecksum = manifest.tables.filter((t) => t.checksum !== null && present.has(t.name)).map((t) => t.name);
  const checksums = await admin.checksums(db, withChecksum);
  const out: TableComparison[] = [];
  for (const name of [...new Set([...expected.keys(), ...present])].sort()) {
    const e = expected.get(name);
    const actualRows = present.has(name) ? await admin.rowCount(db, name) : null;
    const expectedChecksum = e?.checksum ?? null;
    const actualChecksum = expectedChecksum === null ? null : checksums.get(name) ?? null;
    const ok = e !== undefined && actualRows === e.rows && (expectedChecksum === null || actualChecksum === expectedChecksum);
    out.push({ name, expectedRows: e?.rows ?? null, actualRows, expectedChecksum, actualChecksum, ok });
  }
  return out;
}
