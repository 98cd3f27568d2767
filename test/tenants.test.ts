// Onboarding tenants end to end on the dev environment: the operator provisions each tenant's
// database and objects, isolates tenants from each other, survives being killed mid-work, and
// recovers by itself when MariaDB comes back.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { createConnection } from "mysql2/promise";
import { createProgress } from "../src/util/progress.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { currentPaths, endpoints, up } from "../src/devcluster/environment.ts";
import { DEV_POOL } from "../src/devcluster/components.ts";
import { isOurs, stopProcess } from "../src/devcluster/processes.ts";
import { readState } from "../src/devcluster/state.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { condition, createTenant, deleteTenant, setSuspended, waitDeleted, waitReady } from "../src/tenants/service.ts";
import { eventually, runMms, uniqueName } from "./helpers.ts";
import { killOperator, operatorMetricsUrl } from "./support/operator.ts";

let http: KubeHttp;
const created: string[] = [];
const quiet = createProgress(process.stderr, true);

async function secretValue(tenant: string, key: string): Promise<string> {
  const s = await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(tenant));
  return Buffer.from(s.data[key] ?? "", "base64").toString("utf8");
}

async function admin() {
  return createConnection({ ...(await endpoints()).mariadb });
}

async function newTenant(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  created.push(name);
  await createTenant(http, { name, domains: [`analytics.${name}.test`] });
  return name;
}

async function stopMariadb(): Promise<void> {
  const rec = (await readState(currentPaths()))?.processes.mariadb;
  assert.ok(rec && isOurs(rec.pid, rec.executable), "mariadb should be running");
  await stopProcess(rec.pid, rec.executable);
  while (isOurs(rec.pid, rec.executable)) await sleep(50);
}

before(async () => {
  http = new KubeHttp(loadKubeConfig({ kubeconfig: (await endpoints()).kubeconfig }));
});

after(async () => {
  await up({ nodes: 3, progress: quiet }); // whatever a test stopped runs again
  const db = await admin();
  try {
    for (const name of created) {
      await http.delete(API_GROUP_VERSION, "MatomoTenant", name);
      const id = `mt_${name.replaceAll("-", "_")}`;
      await db.query(`DROP DATABASE IF EXISTS \`${id}\``);
      await db.query("DROP USER IF EXISTS ?@'%'", [id]);
    }
  } finally {
    await db.end();
  }
});

describe("tenant onboarding", () => {
  test("two tenants become Ready, each with a database only its own user can reach", async () => {
    const a = await newTenant("iso-a");
    const b = await newTenant("iso-b");
    for (const t of [a, b]) {
      const r = await waitReady(http, t, 60_000);
      assert.ok(r.ok, `${t} not Ready: ${r.failing?.reason} ${r.failing?.message}`);
      assert.equal(r.tenant?.status?.url, `https://analytics.${t}.test`);
      assert.equal(r.tenant?.status?.database?.name, `mt_${t.replaceAll("-", "_")}`);
    }
    const e = await endpoints();
    const conn = await createConnection({ host: e.mariadb.host, port: e.mariadb.port, user: `mt_${a.replaceAll("-", "_")}`, password: await secretValue(a, "database-password"), database: `mt_${a.replaceAll("-", "_")}` });
    try {
      await conn.query("CREATE TABLE hits (id INT PRIMARY KEY)");
      await conn.query("INSERT INTO hits VALUES (1)");
      const [rows] = await conn.query("SELECT COUNT(*) AS n FROM hits");
      assert.deepEqual(rows, [{ n: 1 }]);
      const [dbs] = await conn.query("SHOW DATABASES");
      const names = (dbs as { Database: string }[]).map((r) => r.Database);
      assert.ok(!names.includes(`mt_${b.replaceAll("-", "_")}`), "tenant a must not see tenant b's database");
      await assert.rejects(conn.query(`SELECT * FROM \`mt_${b.replaceAll("-", "_")}\`.hits`), /denied/);
    } finally {
      await conn.end();
    }
  });

  test("suspending scales the tenant to zero and resuming brings it back", async () => {
    const t = await newTenant("pause");
    assert.ok((await waitReady(http, t, 60_000)).ok);
    await setSuspended(http, t, true);
    const suspended = await waitReady(http, t, 60_000);
    assert.equal(condition(suspended.tenant as MatomoTenant, "WorkloadsReady")?.reason, "Suspended");
    await eventually("web scaled to zero", async () => {
      const d = await http.get<{ spec: { replicas: number } }>("apps/v1", "Deployment", "web", tenantNamespace(t));
      return d.spec.replicas === 0 ? true : undefined;
    });
    const hpas = await http.list("autoscaling/v2", "HorizontalPodAutoscaler", tenantNamespace(t));
    assert.equal(hpas.items.length, 0, "no autoscaler may scale a suspended tenant back up");
    await setSuspended(http, t, false);
    const resumed = await waitReady(http, t, 60_000);
    assert.ok(resumed.ok);
    assert.equal(condition(resumed.tenant as MatomoTenant, "WorkloadsReady")?.reason, "Available");
  });

  test("deleting a tenant removes its namespace and objects but keeps its database", async () => {
    const t = await newTenant("gone");
    assert.ok((await waitReady(http, t, 60_000)).ok);
    const salt = await secretValue(t, "salt");
    assert.match(salt, /^[0-9a-f]{64}$/);
    await deleteTenant(http, t);
    assert.ok(await waitDeleted(http, t, tenantNamespace(t), 120_000), "namespace should be deleted");
    const db = await admin();
    try {
      const [rows] = await db.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [`mt_${t.replaceAll("-", "_")}`]);
      assert.equal((rows as unknown[]).length, 1, "the database is kept (deletionPolicy Retain)");
    } finally {
      await db.end();
    }
  });

  test("with MariaDB stopped a tenant reports DatabaseReady=False, then becomes Ready by itself when it returns", async () => {
    await stopMariadb();
    try {
      const t = await newTenant("dbdown");
      const down = await eventually("DatabaseReady=False", async () => {
        const got = await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", t);
        const c = condition(got, "DatabaseReady");
        return c?.status === "False" ? c : undefined;
      });
      assert.equal(down.reason, "PoolUnreachable");
      const pool = await http.get<{ spec: { host: string; port: number } }>(API_GROUP_VERSION, "DatabasePool", DEV_POOL);
      assert.ok(down.message.includes(`${pool.spec.host}:${pool.spec.port}`), `the message names the pool's address: ${down.message}`);
      assert.equal(condition(await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", t), "Ready")?.status, "False");
      await up({ nodes: 3, progress: quiet }); // MariaDB back; nothing is done to the tenant
      const r = await waitReady(http, t, 90_000);
      assert.ok(r.ok, `not Ready after MariaDB returned: ${r.failing?.reason} ${r.failing?.message}`);
    } finally {
      await up({ nodes: 3, progress: quiet });
    }
  });

  test("the operator killed (SIGKILL, or its leading replica deleted at once) again and again while 20 tenants are created still converges: all Ready, one database and one user each, no orphans", async () => {
    const names = Array.from({ length: 20 }, () => uniqueName("crash"));
    created.push(...names);
    await Promise.all(names.map((name) => createTenant(http, { name, domains: [`analytics.${name}.test`] })));
    for (let i = 0; i < 4; i++) {
      await sleep(150 + Math.floor(Math.random() * 600));
      await killOperator(http);
      await up({ nodes: 3, progress: quiet });
    }
    for (const name of names) {
      const r = await waitReady(http, name, 120_000);
      assert.ok(r.ok, `${name} not Ready: ${r.failing?.reason} ${r.failing?.message}`);
    }
    const db = await admin();
    try {
      for (const name of names) {
        const id = `mt_${name.replaceAll("-", "_")}`;
        const [schemas] = await db.query("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [id]);
        const [users] = await db.query("SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?", [id]);
        assert.deepEqual([schemas, users], [[{ n: 1 }], [{ n: 1 }]], `${name}: one database and one user`);
        // The user's password is the one in the tenant's Secret, whatever run of the operator made it.
        const conn = await createConnection({ host: "127.0.0.1", port: (await endpoints()).mariadb.port, user: id, password: await secretValue(name, "database-password"), database: id });
        await conn.end();
      }
    } finally {
      await db.end();
    }
    for (const name of names) {
      const ns = tenantNamespace(name);
      const deployments = await http.list<{ metadata: { name: string } }>("apps/v1", "Deployment", ns);
      assert.deepEqual(deployments.items.map((d) => d.metadata.name).sort(), ["tracker", "web"], `${name}: exactly the rendered Deployments`);
      const jobs = await http.list<{ metadata: { name: string } }>("batch/v1", "Job", ns);
      assert.deepEqual(jobs.items.map((j) => j.metadata.name), ["matomo-install"], `${name}: one install Job`);
      const secrets = await http.list<{ metadata: { name: string } }>("v1", "Secret", ns);
      assert.deepEqual(secrets.items.map((s) => s.metadata.name), ["matomo-secrets"], `${name}: one Secret`);
    }
  });
});

describe("mms tenant CLI", () => {
  const run = async (args: string[]) => runMms(args, { KUBECONFIG: (await endpoints()).kubeconfig });

  test("tenant create --wait reports the elapsed time; get -o json returns the API object", async () => {
    const name = uniqueName("cli");
    created.push(name);
    const r = await run(["tenant", "create", name, "--domain", `analytics.${name}.test`, "--wait", "--timeout", "60s"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`tenant ${name} is Ready after \\d+\\.\\d s`));
    const got = await run(["tenant", "get", name, "-o", "json"]);
    const obj = JSON.parse(got.stdout) as MatomoTenant;
    assert.equal(obj.kind, "MatomoTenant");
    assert.equal(obj.metadata.name, name);
    assert.equal(condition(obj, "Ready")?.status, "True");
    assert.ok(obj.metadata.uid && obj.metadata.resourceVersion, "the object as stored, with its uid and resourceVersion");
  });

  test("tenant create --wait that times out prints the failing condition and exits non-zero", async () => {
    const name = uniqueName("nopool");
    created.push(name);
    const r = await run(["tenant", "create", name, "--domain", `analytics.${name}.test`, "--pool", "nowhere", "--wait", "--timeout", "4s"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: tenant .* is not Ready after \d+\.\d s: DatabaseReady=False, PoolNotFound: DatabasePool "nowhere" does not exist/);
  });

  test("every tenant namespace belongs to an existing tenant (no orphans)", async () => {
    const namespaces = await http.list<{ metadata: { name: string; deletionTimestamp?: string } }>("v1", "Namespace", undefined, "app.kubernetes.io/managed-by=mms");
    const tenants = new Set((await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant")).items.map((t) => tenantNamespace(t.metadata.name)));
    const orphans = namespaces.items.filter((n) => !n.metadata.deletionTimestamp && !tenants.has(n.metadata.name)).map((n) => n.metadata.name);
    assert.deepEqual(orphans, []);
  });
});

describe("operator metrics", () => {
  test("the operator serves Prometheus metrics: reconciles by result and onboarding times", async () => {
    const res = await fetch(await operatorMetricsUrl(http));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^mms_tenant_reconciles_total\{result="done"\} [1-9]\d*$/m);
    assert.match(text, /^mms_tenant_onboarding_seconds_count [1-9]\d*$/m);
    assert.match(text, /^mms_tenant_queue_depth \d+$/m);
  });
});
