// Restore drills and restores over a tenant's own database, against the dev MariaDB and S3 server: a
// drill's verdict is recorded beside the backup and its scratch database never outlives it; a replace
// swaps in the backup's tables only after a safety backup and a full check, or changes nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { runBackup, type BackupResult } from "../src/backup/backup.ts";
import type { ObjectStore } from "../src/backup/store.ts";
import { BackupError } from "../src/backup/errors.ts";
import { backupKeys } from "../src/backup/layout.ts";
import { listBackups } from "../src/backup/list.ts";
import { readManifest, restoreBackup } from "../src/backup/restore.ts";
import { parseVerification } from "../src/backup/verification.ts";
import { verifyBackup } from "../src/backup/verify.ts";
import { PoolError } from "../src/db/errors.ts";
import { dropTenantDatabase, ensureTenantDatabase, type PoolEndpoint } from "../src/db/pool.ts";
import { closeBed, databaseExists, FIXTURE, loadGzip, newTenant, openBed, rows, tableState, type Bed, type TableState } from "./backup-bed.ts";

let bed: Bed;
let pool: PoolEndpoint;
let s3: S3Client;
let admin: Connection;
let bucket: string;
let store: ObjectStore;
// Databases and tenant users made by this file, dropped at the end even when a test fails half-way.
const databases = new Set<string>();
const users = new Set<string>();

/** The drill, staging and replaced-tables databases that belong to a tenant database. */
async function scratchOf(database: string): Promise<string[]> {
  const key = database.slice("mt_".length);
  const names = await rows(admin, "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mms!_%' ESCAPE '!'");
  return names.map((r) => String(r.name)).filter((n) => new RegExp(`^mms_(verify|restore|replaced)_${key}_[0-9a-f]{4}$`).test(n)).sort();
}

async function readText(key: string): Promise<string | undefined> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await got.Body!.transformToString("utf8");
  } catch (err) {
    if ((err as { name?: string }).name === "NoSuchKey") return undefined;
    throw err;
  }
}

/** Same size, one byte different: only the checksum can tell. */
async function corrupt(backup: BackupResult): Promise<void> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: backup.keys.dump }));
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: backup.keys.dump, Body: bytes }));
}

before(async () => {
  bed = await openBed("mms-verify");
  ({ pool, s3, admin, bucket, store } = bed);
});

after(async () => {
  for (const t of users) await dropTenantDatabase(pool, t);
  const drop: string[] = [];
  for (const db of databases) drop.push(...await scratchOf(db), db);
  await closeBed(bed, drop);
});

describe("restore drills", () => {
  const source = newTenant(databases, "vs");
  let good: BackupResult;

  before(async () => {
    await loadGzip(bed, source.database, FIXTURE);
    good = await runBackup({ pool, store, tenant: source.tenant, database: source.database });
  });

  test("a good backup of the Matomo fixture passes its drill, the record is written beside it, and no scratch database is left", async () => {
    const at = new Date("2026-12-01T10:00:00Z");
    const r = await verifyBackup({ pool, store, tenant: source.tenant, now: () => at });
    const v = r.verification;
    assert.equal(v.backupId, good.manifest.backupId, "the newest backup is verified by default");
    assert.equal(v.ok, true, v.message);
    assert.equal(v.reason, undefined);
    assert.equal(v.tablesChecked, 42);
    assert.deepEqual(v.tablesMismatched, []);
    assert.equal(v.verifiedAt, at.toISOString());
    assert.equal(typeof v.timings.loadMs, "number");
    assert.equal(r.key, backupKeys(source.tenant, good.manifest.backupId).verification);
    assert.deepEqual(parseVerification((await readText(r.key)) ?? ""), v, "the stored record is the one returned");
    const listed = (await listBackups(store, source.tenant)).backups;
    assert.deepEqual(listed.map((b) => b.verified), [{ at: at.toISOString(), ok: true }]);
    assert.deepEqual(await scratchOf(source.database), []);
  });

  test("a backup whose dump was overwritten fails its drill with ChecksumMismatch, recorded, and no scratch database is left", async () => {
    const owner = newTenant(databases, "vc");
    const backup = await runBackup({ pool, store, tenant: owner.tenant, database: source.database, tableChecksums: false });
    await corrupt(backup);
    const r = await verifyBackup({ pool, store, tenant: owner.tenant, backupId: backup.manifest.backupId });
    const v = r.verification;
    assert.equal(v.ok, false);
    assert.equal(v.reason, "ChecksumMismatch");
    assert.match(v.message ?? "", /corrupted/);
    assert.equal(v.tablesChecked, 0);
    assert.deepEqual(parseVerification((await readText(backup.keys.verification)) ?? ""), v);
    assert.deepEqual((await listBackups(store, owner.tenant)).backups.map((b) => b.verified?.ok), [false]);
    assert.deepEqual(await scratchOf(owner.database), []);
  });

  test("the scratch database of a crashed drill is dropped by the next one; a running drill's and another tenant's are left alone", async () => {
    const key = source.database.slice("mt_".length);
    const crashed = `mms_verify_${key}_0bad`;
    const running = `mms_verify_${key}_beef`;
    const otherTenant = `mms_verify_${key}_x_0bad`;
    const holder = await createConnection({ host: pool.host, port: pool.port, user: pool.adminUser, password: pool.adminPassword });
    try {
      for (const db of [crashed, running, otherTenant]) {
        await admin.query(`CREATE DATABASE \`${db}\``);
        await admin.query(`CREATE TABLE \`${db}\`.half_loaded (id INT PRIMARY KEY)`);
      }
      const [lock] = await holder.query<RowDataPacket[]>("SELECT GET_LOCK(?, 0) AS got", [`mms-restore-${running}`]);
      assert.equal(Number(lock[0]?.got), 1);

      const r = await verifyBackup({ pool, store, tenant: source.tenant, backupId: good.manifest.backupId });
      assert.equal(r.verification.ok, true, r.verification.message);
      assert.deepEqual(r.staleDropped, [crashed]);
      assert.equal(await databaseExists(admin, crashed), false);
      assert.equal(await databaseExists(admin, running), true, "a drill still holding its lock keeps its database");
      assert.equal(await databaseExists(admin, otherTenant), true, "tenant vs-…-x's drill is not tenant vs-…'s");
    } finally {
      await holder.end();
      for (const db of [crashed, running, otherTenant]) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    }
  });

  test("a tenant without backups, or an unreachable pool, is an error, not a verdict", async () => {
    await assert.rejects(
      verifyBackup({ pool, store, tenant: `vn-${randomBytes(3).toString("hex")}` }),
      (e: unknown) => e instanceof BackupError && e.reason === "BackupNotFound" && /has no backups in s3:\/\/.*nothing to verify/.test(e.message),
    );
    const before = await readText(good.keys.verification);
    await assert.rejects(
      verifyBackup({ pool: { ...pool, port: 1 }, store, tenant: source.tenant, backupId: good.manifest.backupId }),
      (e: unknown) => e instanceof PoolError && e.reason === "PoolUnreachable",
    );
    assert.equal(await readText(good.keys.verification), before, "the last verdict stands");
  });
});

describe("restoring over a tenant's own database", () => {
  const live = newTenant(databases, "vr");
  const password = randomBytes(12).toString("hex");
  let original: TableState;
  let base: BackupResult;
  let grants: string[];

  async function showGrants(): Promise<string[]> {
    return (await rows(admin, "SHOW GRANTS FOR ?@'%'", [live.database])).map((r) => String(Object.values(r)[0])).sort();
  }

  before(async () => {
    users.add(live.tenant);
    await ensureTenantDatabase(pool, live.tenant, password);
    await loadGzip(bed, live.database, FIXTURE);
    original = await tableState(admin, live.database);
    base = await runBackup({ pool, store, tenant: live.tenant, database: live.database });
    grants = await showGrants();
  });

  test("without replace, a non-empty database is refused and left as it was", async () => {
    await assert.rejects(
      restoreBackup({ pool, store, tenant: live.tenant, backupId: base.manifest.backupId, database: live.database }),
      (e: unknown) => e instanceof BackupError && e.reason === "TargetNotEmpty" && /--replace/.test(e.message),
    );
    assert.deepEqual(await tableState(admin, live.database), original);
  });

  test("a corrupted backup is refused before any safety backup, and the database is left as it was", async () => {
    const owner = newTenant(databases, "vx");
    const backup = await runBackup({ pool, store, tenant: owner.tenant, database: live.database, tableChecksums: false });
    await corrupt(backup);
    let safetyBackups = 0;
    await assert.rejects(
      restoreBackup({
        pool, store, tenant: owner.tenant, backupId: backup.manifest.backupId, database: live.database,
        replace: { safetyBackup: () => Promise.resolve(String(++safetyBackups)) },
      }),
      (e: unknown) => e instanceof BackupError && e.reason === "ChecksumMismatch",
    );
    assert.equal(safetyBackups, 0);
    assert.deepEqual(await tableState(admin, live.database), original);
    assert.deepEqual(await scratchOf(live.database), []);
  });

  test("a replace cancelled while loading leaves the database as it was and no staging database", async () => {
    const controller = new AbortController();
    const staging = `mms!_restore!_${live.database.slice("mt_".length).replaceAll("_", "!_")}!_%`;
    const outcome = restoreBackup({
      pool, store, tenant: live.tenant, backupId: base.manifest.backupId, database: live.database, signal: controller.signal,
      replace: { safetyBackup: () => Promise.resolve("20200101T000000Z-0000") },
    }).then(() => undefined, (e: unknown) => e);
    let settled = false;
    void outcome.then(() => (settled = true));
    while (!settled && !controller.signal.aborted) {
      const loading = await rows(admin, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE ? ESCAPE '!' LIMIT 1", [staging]);
      if (loading.length > 0) controller.abort();
      else await sleep(20);
    }
    const err = await outcome;
    assert.ok(controller.signal.aborted, "the load was under way when cancelled");
    assert.ok(err instanceof BackupError && err.reason === "Aborted" && /was not changed/.test(err.message), String(err));
    assert.deepEqual(await tableState(admin, live.database), original);
    assert.deepEqual(await scratchOf(live.database), []);
  });

  test("with replace, the tables become the backup's after a safety backup of the changed database, and the tenant keeps its access", async () => {
    await admin.query(`DELETE FROM \`${live.database}\`.log_action LIMIT 3`);
    await admin.query(`INSERT INTO \`${live.database}\`.\`option\` (option_name, option_value, autoload) VALUES ('mms_test', 'changed', 0)`);
    await admin.query(`CREATE TABLE \`${live.database}\`.added_later (id INT PRIMARY KEY)`);
    const changed = await tableState(admin, live.database);
    assert.notDeepEqual(changed, original);

    const result = await restoreBackup({
      pool, store, tenant: live.tenant, backupId: base.manifest.backupId, database: live.database,
      replace: { safetyBackup: async (database) => (await runBackup({ pool, store, tenant: live.tenant, database })).manifest.backupId },
    });
    assert.equal(result.replaced, true);
    assert.equal(result.created, false);
    assert.equal(result.tables.length, 42);
    assert.ok(result.tables.every((t) => t.ok));
    assert.deepEqual(await tableState(admin, live.database), original, "every table is the backup's, and the table added since is gone");

    const safetyId = result.safetyBackupId;
    assert.ok(safetyId !== null && safetyId !== base.manifest.backupId);
    const safety = await readManifest(store, live.tenant, safetyId);
    assert.deepEqual(Object.fromEntries(safety.tables.map((t) => [t.name, { rows: t.rows, checksum: String(t.checksum) }])), changed,
      "the safety backup holds the database as it was just before");
    assert.deepEqual(await scratchOf(live.database), [], "no staging or replaced-tables database is left");

    assert.deepEqual(await showGrants(), grants);
    const asTenant = await createConnection({ host: pool.host, port: pool.port, user: live.database, password, database: live.database });
    try {
      const [r] = await asTenant.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM log_action");
      assert.equal(Number(r[0]?.n), original.log_action?.rows);
      await asTenant.query("UPDATE `option` SET option_value = option_value WHERE option_name = 'version_core'");
    } finally {
      await asTenant.end();
    }
  });
});
