// Backups and restores against the dev MariaDB and S3 server: a real Matomo database survives a round
// trip table for table, and every fault ends with no manifest, no database and no false success.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { AbortMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import { runBackup } from "../src/backup/backup.ts";
import { ObjectStore } from "../src/backup/store.ts";
import { BackupError } from "../src/backup/errors.ts";
import { listBackups } from "../src/backup/list.ts";
import { restoreBackup } from "../src/backup/restore.ts";
import type { PoolEndpoint } from "../src/db/pool.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { closeBed, databaseExists, devS3, FIXTURE, loadGzip, newTenant, openBed, rows, tableState, type Bed, type TableState } from "./backup-bed.ts";

const MiB = 1024 * 1024;

let bed: Bed;
let pool: PoolEndpoint;
let s3: S3Client;
let admin: Connection;
let bucket: string;
let store: ObjectStore;
// Databases made by this file, dropped at the end even when a test fails half-way.
const databases = new Set<string>();

async function keysUnder(prefix: string): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? "").sort();
}

async function pendingUploads(prefix: string): Promise<number> {
  const r = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (r.Uploads ?? []).length;
}

/** The session of the running mariadb-dump of a database, found by its data query. */
async function dumpSession(database: string): Promise<number | undefined> {
  const r = await rows(admin, "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT /*!40001 SQL_NO_CACHE */%'", [database]);
  return r[0] ? Number(r[0].id) : undefined;
}

/** A database too big to dump in one go: 40 MB of incompressible rows, about 8 parts of 5 MiB once compressed. */
async function bigDatabase(database: string): Promise<void> {
  await admin.query(`CREATE DATABASE \`${database}\``);
  await admin.query(`CREATE TABLE \`${database}\`.blobs (id INT PRIMARY KEY, payload BLOB) ENGINE=InnoDB`);
  await admin.query(`INSERT INTO \`${database}\`.blobs SELECT seq, RANDOM_BYTES(1000) FROM \`${database}\`.seq_1_to_40000`);
}

/** A TCP relay to the S3 server that can be cut, as if the server stopped. */
async function s3Relay(target: URL): Promise<{ endpoint: string; stop: () => void; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    server,
    stop: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

before(async () => {
  bed = await openBed("mms-backups");
  ({ pool, s3, admin, bucket, store } = bed);
});

after(() => closeBed(bed, databases));

describe("tenant backups", () => {
  const source = newTenant(databases, "itbk");
  let original: TableState;

  before(async () => {
    await loadGzip(bed, source.database, FIXTURE);
    original = await tableState(admin, source.database);
  });

  test("the Matomo fixture, backed up and restored into a new database, matches table for table", async (t) => {
    let commandLine = "";
    const backup = await runBackup({
      pool, store, tenant: source.tenant, database: source.database,
      onDumpStarted: (pid) => (commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")),
    });
    assert.match(commandLine, /--single-transaction/);
    assert.ok(!commandLine.includes(pool.adminPassword), "the password is not on the dump's command line");
    const m = backup.manifest;
    assert.equal(m.matomo.version, "5.1.0-b2");
    assert.equal(m.matomo.tablePrefix, "");
    assert.equal(m.consistency.checksums, "locked");
    assert.equal(m.tables.length, 42);
    assert.deepEqual(
      Object.fromEntries(m.tables.map((x) => [x.name, { rows: x.rows, checksum: String(x.checksum) }])),
      original,
      "the manifest records the source's row counts and checksums",
    );
    assert.match(m.object.sha256, /^[0-9a-f]{64}$/);
    assert.match(m.tools.mariadbDump, /mariadb-dump/);
    assert.deepEqual(await keysUnder(backup.keys.folder), [backup.keys.dump, backup.keys.manifest]);
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: backup.keys.manifest }));
    assert.deepEqual(JSON.parse(await stored.Body!.transformToString()), m);

    const listing = await listBackups(store, source.tenant);
    assert.deepEqual(listing.backups.map((b) => [b.backupId, b.bytes, b.matomoVersion]), [[m.backupId, m.object.bytes, "5.1.0-b2"]]);
    assert.deepEqual(listing.incomplete, []);

    const target = newTenant(databases, "itbr");
    const restored = await restoreBackup({ pool, store, tenant: source.tenant, backupId: m.backupId, database: target.database });
    assert.equal(restored.created, true);
    assert.equal(restored.tables.length, 42);
    assert.ok(restored.tables.every((x) => x.ok));
    assert.deepEqual(await tableState(admin, target.database), original, "every table's row count and checksum match the original");

    const mb = m.object.uncompressedBytes / MiB;
    t.diagnostic(`dump ${mb.toFixed(1)} MiB -> ${(m.object.bytes / MiB).toFixed(2)} MiB gzip; backup ${m.timings.totalMs} ms ` +
      `(writes held ${m.timings.writesBlockedMs} ms, dump ${m.timings.dumpMs} ms, ${(mb / (m.timings.dumpMs / 1000)).toFixed(1)} MiB/s); ` +
      `restore ${restored.timings.totalMs} ms (download ${restored.timings.downloadMs}, load ${restored.timings.loadMs}, verify ${restored.timings.verifyMs})`);
  });

  test("a corrupted dump object is refused before any database is created", async () => {
    const backup = await runBackup({ pool, store, tenant: source.tenant, database: source.database, tableChecksums: false });
    await assert.rejects(
      restoreBackup({ pool, store, tenant: source.tenant, backupId: backup.manifest.backupId, database: source.database }),
      (e: unknown) => e instanceof BackupError && e.reason === "TargetNotEmpty",
      "a restore never writes into a database that holds data",
    );

    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: backup.keys.dump }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff; // same size, one byte different
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: backup.keys.dump, Body: bytes }));

    const target = newTenant(databases, "itbx");
    await assert.rejects(
      restoreBackup({ pool, store, tenant: source.tenant, backupId: backup.manifest.backupId, database: target.database }),
      (e: unknown) => e instanceof BackupError && e.reason === "ChecksumMismatch" && /corrupted, refusing to restore/.test(e.message),
    );
    assert.equal(await databaseExists(admin, target.database), false, "no database was created");

    await assert.rejects(
      restoreBackup({ pool, store, tenant: source.tenant, backupId: "20200101T000000Z-0000", database: target.database }),
      (e: unknown) => e instanceof BackupError && e.reason === "ManifestMissing",
    );
    assert.equal(await databaseExists(admin, target.database), false);
  });

  test("two backups of the same tenant started at once: one runs, the other is refused", async () => {
    const twin = { tenant: `itbc-${randomBytes(3).toString("hex")}`, database: source.database };
    const results = await Promise.allSettled([
      runBackup({ pool, store, ...twin }),
      runBackup({ pool, store, ...twin }),
    ]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(ok.length, 1);
    assert.equal(refused.length, 1);
    assert.ok(refused[0]?.reason instanceof BackupError && refused[0].reason.reason === "BackupInProgress", String(refused[0]?.reason));
    const manifests = (await keysUnder(`tenants/${twin.tenant}/`)).filter((k) => k.endsWith("/manifest.json"));
    assert.equal(manifests.length, 1);
    assert.equal((await listBackups(store, twin.tenant)).backups.length, 1);
  });
});

describe("interrupted backups", () => {
  const big = newTenant(databases, "itbi");
  before(async () => {
    await bigDatabase(big.database);
  });

  test("a dump whose database connection is killed mid-way leaves no manifest, no object and no backup", async (t) => {
    let killed = false;
    await assert.rejects(
      runBackup({
        pool, store, ...big, partSize: 5 * MiB, queueSize: 1,
        onProgress: (p) => {
          if (killed || p.uploadedBytes === 0) return;
          killed = true;
          void dumpSession(big.database).then(async (id) => {
            if (id !== undefined) await admin.query(`KILL CONNECTION ${id}`);
          });
        },
      }),
      (e: unknown) => {
        t.diagnostic(`error: ${(e as Error).message}`);
        return e instanceof BackupError && e.reason === "DumpFailed" && /mariadb-dump/.test(e.message) && /no backup was recorded/.test(e.message);
      },
    );
    assert.ok(killed, "the dump was interrupted after at least one part had been uploaded");
    const listing = await listBackups(store, big.tenant);
    assert.deepEqual(listing, { backups: [], incomplete: [] });
    assert.deepEqual(await keysUnder(`tenants/${big.tenant}/`), []);
    assert.equal(await pendingUploads(`tenants/${big.tenant}/`), 0, "the multipart upload was aborted");
  });

  test("an S3 server that stops in the middle of an upload fails the backup, and no backup is listed", async (t) => {
    const e = await endpoints();
    const relay = await s3Relay(new URL(e.s3.endpoint));
    const viaRelay = devS3(e, { endpoint: relay.endpoint, maxAttempts: 2 });
    try {
      await assert.rejects(
        runBackup({
          pool, store: new ObjectStore(viaRelay, bucket), ...big, partSize: 5 * MiB, queueSize: 1,
          onProgress: (p) => { if (p.uploadedBytes > 0) relay.stop(); },
        }),
        (err: unknown) => {
          t.diagnostic(`error: ${(err as Error).message}`);
          return err instanceof BackupError && err.reason === "UploadFailed" && /no backup was recorded/.test(err.message);
        },
      );
    } finally {
      relay.stop();
      viaRelay.destroy();
    }
    // The server could not be told to drop the parts already sent; they are an unfinished multipart
    // upload, never an object, and never a backup.
    assert.deepEqual(await keysUnder(`tenants/${big.tenant}/`), []);
    assert.deepEqual(await listBackups(store, big.tenant), { backups: [], incomplete: [] });
    assert.equal(await dumpSession(big.database), undefined, "the dump was stopped");
    // That upload is what retention's clean-up is for; aborted here so the next test starts clean.
    const left = (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `tenants/${big.tenant}/` }))).Uploads ?? [];
    assert.equal(left.length, 1, "the parts sent are one unfinished upload");
    for (const u of left) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  });

  test("a backup cancelled mid-upload leaves nothing behind, and the next one succeeds", async (t) => {
    const controller = new AbortController();
    await assert.rejects(
      runBackup({
        pool, store, ...big, partSize: 5 * MiB, queueSize: 1, signal: controller.signal,
        onProgress: (p) => { if (p.uploadedBytes > 0) controller.abort(); },
      }),
      (e: unknown) => e instanceof BackupError && e.reason === "Aborted",
    );
    assert.deepEqual(await keysUnder(`tenants/${big.tenant}/`), []);
    assert.equal(await pendingUploads(`tenants/${big.tenant}/`), 0);

    const backup = await runBackup({ pool, store, ...big, partSize: 5 * MiB });
    assert.deepEqual(backup.manifest.tables.map((x) => [x.name, x.rows]), [["blobs", 40000]]);
    assert.ok(backup.manifest.object.bytes > 10 * MiB, `a multipart upload (${backup.manifest.object.bytes} bytes)`);
    const m = backup.manifest;
    t.diagnostic(`dump ${(m.object.uncompressedBytes / MiB).toFixed(1)} MiB -> ${(m.object.bytes / MiB).toFixed(1)} MiB gzip in ${m.timings.dumpMs} ms ` +
      `(${(m.object.uncompressedBytes / MiB / (m.timings.dumpMs / 1000)).toFixed(1)} MiB/s), writes held ${m.timings.writesBlockedMs} ms`);
    assert.deepEqual((await listBackups(store, big.tenant)).backups.map((b) => b.backupId), [backup.manifest.backupId]);
  });
});
