// Tenant backups as a platform team uses them, on the dev environment: scheduled CronJobs, `mms backup
// run|verify|list` through the tenant's BackupStore with results in the tenant's status, deletion with
// deletionPolicy Delete, and `mms dr restore-all` onto a fresh environment from object storage alone.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createConnection, type Connection } from "mysql2/promise";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { DEV_POOL } from "../src/devcluster/components.ts";
import { DEV_BACKUP_BUCKET, endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { devPool, devS3, FIXTURE, loadGzip, rows, tableState } from "./backup-bed.ts";
import { eventually, type Run, runMms, uniqueName } from "./helpers.ts";


const mms = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runMms(args, env);

let http: KubeHttp;
let s3: S3Client;
let db: Connection;
let kubeEnv: NodeJS.ProcessEnv;
const tenants: string[] = [];
const clusterObjects: { kind: string; name: string; namespace?: string }[] = [];

const dbName = (t: string) => `mt_${t.replaceAll("-", "_")}`;

async function tenant(name: string): Promise<MatomoTenant> {
  return http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
}

const cond = (t: MatomoTenant, type: string) => t.status?.conditions?.find((c) => c.type === type);

async function readyTenant(prefix: string, extra: { pool?: string } = {}): Promise<string> {
  const name = uniqueName(prefix);
  tenants.push(name);
  await createTenant(http, { name, domains: [`analytics.${name}.test`], pool: extra.pool });
  const r = await waitReady(http, name, 120_000);
  assert.ok(r.ok, `tenant ${name} should become Ready: ${r.failing?.message}`);
  return name;
}

/** A pool on the dev MariaDB whose tenants back up to their own BackupStore (and prefix). */
async function poolWithStore(prefix: string, store: { exists: boolean }): Promise<{ pool: string; store: string; prefix: string }> {
  const pool = uniqueName(`${prefix}-pool`);
  const storeName = uniqueName(`${prefix}-store`);
  const keyPrefix = `${storeName}/`;
  const devPool = await http.get<{ spec: Record<string, unknown> }>(API_GROUP_VERSION, "DatabasePool", DEV_POOL);
  if (store.exists) {
    const def = await http.get<{ spec: Record<string, unknown> }>(API_GROUP_VERSION, "BackupStore", "default");
    await http.apply({ apiVersion: API_GROUP_VERSION, kind: "BackupStore", metadata: { name: storeName }, spec: { ...def.spec, prefix: keyPrefix } }, { fieldManager: "test" });
    clusterObjects.push({ kind: "BackupStore", name: storeName });
  }
  await http.apply({
    apiVersion: API_GROUP_VERSION, kind: "DatabasePool", metadata: { name: pool },
    spec: { ...devPool.spec, capacity: 5, backup: { store: storeName } },
  }, { fieldManager: "test" });
  clusterObjects.push({ kind: "DatabasePool", name: pool });
  return { pool, store: storeName, prefix: keyPrefix };
}

before(async () => {
  const e = await endpoints();
  kubeEnv = { KUBECONFIG: e.kubeconfig };
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  s3 = devS3(e);
  db = await createConnection({ ...e.mariadb, multipleStatements: true });
});

after(async () => {
  for (const t of tenants) {
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", t, { spec: { deletionPolicy: "Retain" } }).catch(() => undefined);
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    await db.query(`DROP DATABASE IF EXISTS \`${dbName(t)}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [dbName(t)]);
  }
  for (const o of clusterObjects) await http.delete(API_GROUP_VERSION, o.kind, o.name, o.namespace).catch(() => undefined);
  await db.end();
  s3.destroy();
});

describe("scheduled and verified tenant backups", () => {
  test("each tenant gets a backup CronJob at its own minute, and each pool a nightly restore-drill CronJob", async () => {
    const a = await readyTenant("bkcron");
    const cj = await eventually("the backup CronJob", () => http.getOrUndefined<{ spec: { schedule: string; jobTemplate: { spec: { template: { spec: { containers: { args: string[] }[] } } } } } }>("batch/v1", "CronJob", `backup-${a}`, SYSTEM_NAMESPACE));
    assert.match(cj.spec.schedule, /^\d{1,2} \* \* \* \*$/);
    assert.deepEqual(cj.spec.jobTemplate.spec.template.spec.containers[0]?.args, ["backup", "run", "--tenant", a]);
    const drill = await eventually("the pool's drill CronJob", () => http.getOrUndefined<{ spec: { schedule: string; jobTemplate: { spec: { template: { spec: { containers: { args: string[] }[] } } } } } }>("batch/v1", "CronJob", `verify-${DEV_POOL}`, SYSTEM_NAMESPACE));
    assert.match(drill.spec.schedule, /^\d{1,2} \d{1,2} \* \* \*$/);
    assert.deepEqual(drill.spec.jobTemplate.spec.template.spec.containers[0]?.args, ["backup", "verify", "--pool", DEV_POOL]);
  });

  test("backup run, list and verify go through the tenant's BackupStore and show in its status; a corrupted backup fails its drill", async () => {
    const { pool, prefix } = await poolWithStore("bkv", { exists: true });
    const name = await readyTenant("bkv", { pool });
    await db.query(`CREATE TABLE \`${dbName(name)}\`.visits (id INT PRIMARY KEY, url VARCHAR(100)); INSERT INTO \`${dbName(name)}\`.visits VALUES (1, '/a'), (2, '/b'), (3, '/c')`);

    const run = await mms(["backup", "run", "--tenant", name, "-o", "json"], kubeEnv);
    assert.equal(run.code, 0, run.stderr);
    const manifest = JSON.parse(run.stdout) as { backupId: string; object: { key: string }; tables: { name: string; rows: number }[]; retention: { kept: unknown[] } };
    assert.ok(manifest.object.key.startsWith(`${prefix}tenants/${name}/`), "stored under the pool's store prefix");
    assert.deepEqual(manifest.tables.map((t) => [t.name, t.rows]), [["visits", 3]]);
    assert.equal(manifest.retention.kept.length, 1, "retention ran after the backup");
    let t = await tenant(name);
    assert.equal(t.status?.backup?.lastBackupId, manifest.backupId);
    assert.equal(cond(t, "BackupHealthy")?.reason, "NotVerified", "a backup alone is not called healthy");

    const record = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: DEV_BACKUP_BUCKET, Key: `${prefix}tenants/${name}/tenant.json` }))).Body!.transformToString()) as { spec: { domains: string[] }; salt: string; pool: string };
    assert.deepEqual(record.spec.domains, [`analytics.${name}.test`]);
    assert.equal(record.pool, pool);
    const secret = await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(name));
    assert.equal(record.salt, Buffer.from(secret.data.salt ?? "", "base64").toString(), "the tenant's salt is kept for disaster recovery");

    const verify = await mms(["backup", "verify", "--tenant", name], kubeEnv);
    assert.equal(verify.code, 0, verify.stderr);
    t = await tenant(name);
    assert.equal(cond(t, "BackupHealthy")?.status, "True");
    assert.equal(t.status?.backup?.lastVerifiedBackupId, manifest.backupId);
    assert.ok(t.status?.backup?.lastVerifiedAt);
    assert.equal(cond(t, "Ready")?.status, "True", "the operator's own conditions are untouched");

    const list = await mms(["backup", "list", "--tenant", name, "-o", "json"], kubeEnv);
    assert.equal(list.code, 0, list.stderr);
    const listing = JSON.parse(list.stdout) as { backups: { backupId: string; verified: { ok: boolean } | null }[] };
    assert.deepEqual(listing.backups.map((b) => [b.backupId, b.verified?.ok]), [[manifest.backupId, true]]);

    // Damaged in storage, same size: only the checksum can tell.
    const size = (await s3.send(new GetObjectCommand({ Bucket: DEV_BACKUP_BUCKET, Key: manifest.object.key }))).ContentLength ?? 0;
    await s3.send(new PutObjectCommand({ Bucket: DEV_BACKUP_BUCKET, Key: manifest.object.key, Body: Buffer.alloc(size, 7) }));
    const bad = await mms(["backup", "verify", "--tenant", name], kubeEnv);
    assert.notEqual(bad.code, 0, "a failed drill fails the command");
    assert.match(bad.stderr, /^error: the restore drill of tenant .* failed: .*does not match its manifest/m);
    t = await tenant(name);
    assert.equal(cond(t, "BackupHealthy")?.status, "False");
    assert.equal(cond(t, "BackupHealthy")?.reason, "ChecksumMismatch");
    assert.equal(cond(t, "Ready")?.status, "True");
    const scratch = await rows(db, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mms!_verify!_%' ESCAPE '!'");
    assert.deepEqual(scratch, [], "no scratch database is left behind");
  });

  test("bad input to backup verify is refused with one sentence", async () => {
    const none = await mms(["backup", "verify"], kubeEnv);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /^error: say what to verify: exactly one of --tenant NAME, --pool NAME or --all$/m);
    const badName = await mms(["backup", "run", "--tenant", "Not_A_Tenant"], kubeEnv);
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /is not a tenant name/);
  });
});

describe("deleting a tenant with deletionPolicy Delete", () => {
  test("takes a final backup, proves it by a drill, then drops the database and user", async () => {
    const { pool } = await poolWithStore("bkdel", { exists: true });
    const name = await readyTenant("bkdel", { pool });
    await db.query(`CREATE TABLE \`${dbName(name)}\`.goals (id INT PRIMARY KEY, name VARCHAR(50)); INSERT INTO \`${dbName(name)}\`.goals VALUES (1, 'signup'), (2, 'buy')`);
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { deletionPolicy: "Delete" } });
    await eventually("the finalizer", async () => ((await tenant(name)).metadata.finalizers?.includes("multiscale.io/database") ? true : undefined));
    await http.delete(API_GROUP_VERSION, "MatomoTenant", name);
    await eventually("the tenant to be gone", async () => ((await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", name)) ? undefined : true), 120_000);

    assert.deepEqual(await rows(db, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [dbName(name)]), [], "the database is dropped");
    assert.deepEqual(await rows(db, "SELECT 1 FROM mysql.user WHERE User = ?", [dbName(name)]), [], "the user is dropped");
    const list = await mms(["backup", "list", "--tenant", name, "--store", (await storeOfPool(pool)), "-o", "json"], kubeEnv);
    assert.equal(list.code, 0, list.stderr);
    const listing = JSON.parse(list.stdout) as { backups: { backupId: string; rows: number; verified: { ok: boolean } | null }[] };
    assert.equal(listing.backups.length, 1);
    assert.equal(listing.backups[0]?.rows, 2, "the final backup holds the data");
    assert.equal(listing.backups[0]?.verified?.ok, true, "and was verified before the database went");
  });

  test("without a usable backup store the database is kept and the condition says why; Retain then lets the tenant go", async () => {
    const { pool, store } = await poolWithStore("bknostore", { exists: false });
    const name = await readyTenant("bknostore", { pool });
    await db.query(`CREATE TABLE \`${dbName(name)}\`.keep (id INT PRIMARY KEY); INSERT INTO \`${dbName(name)}\`.keep VALUES (1)`);
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { deletionPolicy: "Delete" } });
    await eventually("the finalizer", async () => ((await tenant(name)).metadata.finalizers?.includes("multiscale.io/database") ? true : undefined));
    await http.delete(API_GROUP_VERSION, "MatomoTenant", name);
    const deleting = await eventually("the Deleting condition", async () => {
      const c = cond(await tenant(name), "Deleting");
      return c?.status === "False" ? c : undefined;
    });
    assert.equal(deleting.reason, "StoreNotFound");
    assert.match(deleting.message, new RegExp(`database of tenant ${name} is kept: BackupStore ${store} does not exist`));
    assert.match(deleting.message, /set spec.deletionPolicy to Retain/);
    assert.deepEqual((await rows(db, `SELECT id FROM \`${dbName(name)}\`.keep`)).map((r) => Number(r.id)), [1], "the data is untouched");

    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { deletionPolicy: "Retain" } });
    await eventually("the tenant to be gone", async () => ((await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", name)) ? undefined : true), 60_000);
    assert.deepEqual((await rows(db, `SELECT id FROM \`${dbName(name)}\`.keep`)).map((r) => Number(r.id)), [1], "Retain keeps the database");
  });
});

async function storeOfPool(pool: string): Promise<string> {
  const p = await http.get<{ spec: { backup: { store: string } } }>(API_GROUP_VERSION, "DatabasePool", pool);
  return p.spec.backup.store;
}

describe("disaster recovery", () => {
  const home = { dir: "" };
  const FRESH_BASE = "28400";
  const freshEnv = () => ({ MMS_DEV_HOME: home.dir, MMS_DEV_PORT_BASE: FRESH_BASE, KUBECONFIG: "" });

  after(async () => {
    if (!home.dir) return;
    await mms(["dev", "down"], freshEnv());
    await rm(home.dir, { recursive: true, force: true });
  });

  test("dr restore-all on a fresh dev environment brings every tenant back Ready with identical data, from object storage alone", async (t) => {
    const { pool, prefix } = await poolWithStore("dr", { exists: true });
    const matomo = await readyTenant("drm", { pool });
    const small = await readyTenant("drs", { pool });
    // A real Matomo database for one, a table of its own for the other.
    const e = await endpoints();
    await loadGzip({ pool: devPool(e), admin: db }, dbName(matomo), FIXTURE);
    await db.query(`CREATE TABLE \`${dbName(small)}\`.notes (id INT PRIMARY KEY, body TEXT); INSERT INTO \`${dbName(small)}\`.notes SELECT seq, REPEAT('x', seq) FROM \`${dbName(small)}\`.seq_1_to_500`);
    const original = { [matomo]: await tableState(db, dbName(matomo)), [small]: await tableState(db, dbName(small)) };
    for (const name of [matomo, small]) {
      const r = await mms(["backup", "run", "--tenant", name], kubeEnv);
      assert.equal(r.code, 0, r.stderr);
    }
    const salt = Buffer.from((await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(matomo))).data.salt ?? "", "base64").toString();

    // A new, empty environment: its own API server, MariaDB and operator; only the object store is shared.
    home.dir = await mkdtemp(join(tmpdir(), "mms-dr-"));
    const upRun = await mms(["dev", "up", "--nodes", "2", "--real-nodes", "0"], freshEnv());
    assert.equal(upRun.code, 0, upRun.stderr);
    const envText = (await mms(["dev", "env"], freshEnv())).stdout;
    const value = (k: string) => new RegExp(`^export ${k}='([^']*)'$`, "m").exec(envText)?.[1] ?? "";
    const fresh = { kubeconfig: value("KUBECONFIG"), mariadb: { host: value("MMS_DEV_MARIADB_HOST"), port: Number(value("MMS_DEV_MARIADB_PORT")), user: value("MMS_DEV_MARIADB_USER"), password: value("MMS_DEV_MARIADB_PASSWORD") } };

    const restore = await mms([
      "dr", "restore-all", "--from", `${DEV_BACKUP_BUCKET}/${prefix}`, "--s3-endpoint", e.s3.endpoint, "--pool", DEV_POOL, "-o", "json",
    ], { ...freshEnv(), KUBECONFIG: fresh.kubeconfig, MMS_S3_ACCESS_KEY_ID: e.s3.accessKeyId, MMS_S3_SECRET_ACCESS_KEY: e.s3.secretAccessKey });
    assert.equal(restore.code, 0, restore.stderr);
    const report = JSON.parse(restore.stdout) as { tenants: { tenant: string; outcome: string; restoreMs: number; readyMs: number; totalMs: number }[]; totalMs: number };
    assert.deepEqual(report.tenants.map((x) => [x.tenant, x.outcome]), [[matomo, "restored"], [small, "restored"]].sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? "")));
    assert.match(restore.stderr, /2 of 2 tenant\(s\) restored and Ready in/);
    t.diagnostic(`RTO: ${report.tenants.map((x) => `${x.tenant} restore ${x.restoreMs} ms + ready ${x.readyMs} ms`).join("; ")}; total ${report.totalMs} ms`);

    const freshHttp = new KubeHttp(loadKubeConfig({ kubeconfig: fresh.kubeconfig }));
    const freshDb = await createConnection(fresh.mariadb);
    try {
      for (const name of [matomo, small]) {
        const restored = await freshHttp.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
        assert.equal(restored.status?.conditions?.find((c) => c.type === "Ready")?.status, "True", `${name} is Ready`);
        assert.deepEqual(restored.spec.domains, [`analytics.${name}.test`]);
        assert.deepEqual(await tableState(freshDb, dbName(name)), original[name], `${name}: every table's rows and checksum are as before`);
      }
      const freshSalt = await freshHttp.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(matomo));
      assert.equal(Buffer.from(freshSalt.data.salt ?? "", "base64").toString(), salt, "the salt comes back, so API tokens stay valid");
      const [grant] = await rows(freshDb, "SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?", [dbName(matomo)]);
      assert.equal(Number(grant?.n), 1, "the tenant's database user exists again");
    } finally {
      await freshDb.end();
    }

    const again = await mms(["dr", "restore-all", "--from", `${DEV_BACKUP_BUCKET}/${prefix}`, "--s3-endpoint", e.s3.endpoint, "--pool", DEV_POOL],
      { ...freshEnv(), KUBECONFIG: fresh.kubeconfig, MMS_S3_ACCESS_KEY_ID: e.s3.accessKeyId, MMS_S3_SECRET_ACCESS_KEY: e.s3.secretAccessKey });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /skipped.*already exists/, "running it again changes nothing");
  });
});
