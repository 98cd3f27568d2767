// The tenant reconciler's shape on the dev environment: provisioning again issues no DDL when the
// database already matches; the backup jobs' status write and a reconcile at the same moment lose
// neither's fields (one owner per field, server-side apply); and eight upgrades backing up in Jobs leave
// the operator free to bring new tenants to Ready.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { TenantReconciler } from "../src/controllers/tenant.ts";
import { ensureTenantDatabase, tenantDatabaseName, type PoolEndpoint, type TenantDatabaseChange } from "../src/db/pool.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { KUBELET_LABEL } from "../src/devcluster/kwok.ts";
import { DEFAULT_PLATFORM } from "../src/render/tenant.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, uniqueName } from "./helpers.ts";

const FROM = "5.2.1";
const TO = "5.3.0";
let http: KubeHttp;
let db: Connection;
let pool: PoolEndpoint;
const created: string[] = [];
const databases: string[] = [];

async function tenant(name: string): Promise<MatomoTenant> {
  return http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
}

async function rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await db.query<RowDataPacket[]>(sql, values);
  return r;
}

async function newTenant(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  created.push(name);
  await eventually(`tenant ${name} to be accepted`, async () => {
    await createTenant(http, { name, domains: [`analytics.${name}.test`], matomoVersion: FROM });
    return true;
  }, 30_000);
  return name;
}

async function readyTenant(prefix: string): Promise<string> {
  const name = await newTenant(prefix);
  const r = await waitReady(http, name, 180_000);
  assert.ok(r.ok, `tenant ${name} should become Ready: ${r.failing?.message}`);
  await eventually(`tenant ${name} to record its running version`, async () => ((await tenant(name)).status?.runningVersion === FROM ? true : undefined));
  return name;
}

/** The server's counters of the statements provisioning may run. */
async function ddlCounters(): Promise<Record<string, number>> {
  const r = await rows("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_create_db', 'Com_create_user', 'Com_alter_user', 'Com_grant', 'Com_revoke_all')");
  return Object.fromEntries(r.map((x) => [String(x.Variable_name), Number(x.Value)]));
}

before(async () => {
  const e = await endpoints();
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  db = await createConnection({ ...e.mariadb, multipleStatements: true });
  pool = { host: e.mariadb.host, port: e.mariadb.port, adminUser: e.mariadb.user, adminPassword: e.mariadb.password };
});

after(async () => {
  for (const t of created) await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
  for (const d of [...databases, ...created.map(tenantDatabaseName)]) {
    await db.query(`DROP DATABASE IF EXISTS \`${d}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [d]);
  }
  await db.end();
});

describe("provisioning a tenant's database", () => {
  test("again with the same password and grants changes nothing and issues no DDL; a changed password or drifted grant is put right", async () => {
    const t = `ddl-${randomBytes(3).toString("hex")}`;
    const name = tenantDatabaseName(t);
    databases.push(name);
    const pw = randomBytes(12).toString("base64url");
    const changes = async (password: string) => {
      const seen: TenantDatabaseChange[] = [];
      await ensureTenantDatabase(pool, t, password, { onChange: (c) => seen.push(c) });
      return seen;
    };
    assert.deepEqual(await changes(pw), ["database", "user", "grants"]);

    const before = await ddlCounters();
    const hash = await rows("SELECT authentication_string h FROM mysql.user WHERE User = ?", [name]);
    for (let i = 0; i < 3; i++) assert.deepEqual(await changes(pw), [], "nothing to change");
    assert.deepEqual(await ddlCounters(), before, "no CREATE, ALTER USER, GRANT or REVOKE reached the server");
    assert.deepEqual(await rows("SELECT authentication_string h FROM mysql.user WHERE User = ?", [name]), hash);

    assert.deepEqual(await changes(`${pw}-new`), ["password"], "a new password is set");
    await db.query(`REVOKE LOCK TABLES ON \`${name.replaceAll("_", "\\_")}\`.* FROM ?@'%'`, [name]);
    assert.deepEqual(await changes(`${pw}-new`), ["grants"], "a missing privilege is granted again");
    await db.query("GRANT PROCESS ON *.* TO ?@'%'", [name]);
    assert.deepEqual(await changes(`${pw}-new`), ["grants"], "a foreign privilege is taken back");
    const grants = (await rows("SHOW GRANTS FOR ?@'%'", [name])).map((r) => String(Object.values(r)[0]));
    assert.ok(!grants.some((g) => g.includes("PROCESS")), grants.join("; "));
    assert.deepEqual(await changes(`${pw}-new`), []);
  });
});

describe("tenant status: one owner per field", () => {
  test("the backup jobs' status write and a reconcile at the same moment both keep their fields, every time", async () => {
    const name = await readyTenant("ssa");
    // As the dev operator runs: its tenants' pods are on simulated nodes, which are not probed.
    const reconciler = new TenantReconciler({ http, platform: { ...DEFAULT_PLATFORM, simulatedNodeLabel: KUBELET_LABEL } });
    for (let round = 1; round <= 6; round++) {
      // A spec change gives the reconcile something of its own to write (observedGeneration).
      await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { privacy: { anonymizeIpBytes: round % 4 } } });
      const generation = (await tenant(name)).metadata.generation;
      const at = new Date(Date.now() + round * 1000).toISOString().replace(/\.\d+Z$/, "Z");
      const backupWrite = http.apply({
        apiVersion: API_GROUP_VERSION, kind: "MatomoTenant", metadata: { name },
        status: {
          backup: { lastBackupId: `b-${round}`, lastBackupAt: at, lastVerifiedBackupId: `b-${round}`, lastVerifiedAt: at },
          conditions: [{ type: "BackupHealthy", status: "True", reason: "Verified", message: `backup b-${round} restored in a drill`, lastTransitionTime: at }],
        },
      }, { fieldManager: "mms-backup", subresource: "status" });
      await Promise.all([backupWrite, reconciler.reconcile(name)]);

      const s = (await tenant(name)).status;
      assert.equal(s?.observedGeneration, generation, `round ${round}: the reconcile's write is there`);
      assert.equal(s?.conditions?.find((c) => c.type === "Ready")?.status, "True", `round ${round}: Ready kept`);
      assert.equal(s?.database?.pool !== undefined, true, `round ${round}: placement kept`);
      assert.equal(s?.runningVersion, FROM, `round ${round}: running version kept`);
      assert.deepEqual(
        { id: s?.backup?.lastBackupId, verified: s?.backup?.lastVerifiedBackupId, at: s?.backup?.lastVerifiedAt },
        { id: `b-${round}`, verified: `b-${round}`, at }, `round ${round}: the backup's write is there`);
      assert.equal(s?.conditions?.find((c) => c.type === "BackupHealthy")?.message, `backup b-${round} restored in a drill`, `round ${round}: BackupHealthy kept`);
    }
    const managed = (await http.get<{ metadata: { managedFields?: { manager: string; subresource?: string }[] } }>(API_GROUP_VERSION, "MatomoTenant", name)).metadata.managedFields ?? [];
    const statusManagers = managed.filter((m) => m.subresource === "status").map((m) => m.manager).sort();
    assert.ok(statusManagers.includes("mms-backup") && statusManagers.includes("mms-operator"), `status writers: ${statusManagers.join(", ")}`);
  });
});

describe("long work in Jobs", () => {
  test("while eight upgrades are backing up, new tenants still reach Ready", async () => {
    const upgrading = await Promise.all(Array.from({ length: 8 }, () => readyTenant("bk8")));
    await Promise.all(upgrading.map((n) => http.mergePatch(API_GROUP_VERSION, "MatomoTenant", n, { spec: { matomoVersion: TO } })));
    // Every one of them has started its backup: phase BackingUp and its verified-backup Job created.
    await eventually("eight upgrades backing up in Jobs", async () => {
      const jobs = await http.list<{ metadata: { labels?: Record<string, string> } }>("batch/v1", "Job", SYSTEM_NAMESPACE, "multiscale.io/purpose=pre-upgrade");
      const withJob = new Set(jobs.items.map((j) => j.metadata.labels?.["multiscale.io/tenant"]));
      const phases = await Promise.all(upgrading.map(async (n) => (await tenant(n)).status?.upgrade?.phase));
      return upgrading.every((n, i) => withJob.has(n) && phases[i] !== undefined) ? true : undefined;
    }, 120_000);

    const fresh = await Promise.all(Array.from({ length: 3 }, () => newTenant("bknew")));
    const results = await Promise.all(fresh.map((n) => waitReady(http, n, 180_000)));
    for (const [i, r] of results.entries()) assert.ok(r.ok, `tenant ${fresh[i]} should become Ready while the upgrades back up: ${r.failing?.message}`);
    for (const n of upgrading) {
      const phase = (await tenant(n)).status?.upgrade?.phase;
      assert.ok(phase !== undefined && phase !== "Failed", `${n}: its upgrade goes on (phase ${phase})`);
    }
  });
});
