// What tenants cost, as a platform team asks it on the dev environment: `mms cost` per tenant and for the
// fleet (the rows add up to the total, databases measured on the pool, backups counted from their manifests),
// and `mms tenant set-plan` showing a plan change's cost, with --dry-run changing nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnection, type Connection } from "mysql2/promise";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { loadPrices } from "../src/cost/prices.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, runMms, uniqueName, type Run } from "./helpers.ts";

interface Figures { nodeShare: number; database: number; backups: number; shared: number; total: number; saving: number }
interface TenantRow extends Figures {
  name: string; plan: string; flavor: string; requests: { cpu: string; memory: string };
  databaseBytes: number; backupBytes: number; backupCount: number; asVm: { total: number };
}
interface Report { tenants: TenantRow[]; fleet: Figures & { tenants: number; asVm: number }; notes: string[] }

let http: KubeHttp;
let db: Connection;
let kubeEnv: NodeJS.ProcessEnv;
let dir: string;
let pricesFile: string;
const tenants: string[] = [];
const dbName = (t: string) => `mt_${t.replaceAll("-", "_")}`;
const cents = (euros: number) => Math.round(euros * 100);
const mms = (args: string[]): Promise<Run> => runMms(args, kubeEnv);

async function readyTenant(prefix: string, plan?: string): Promise<string> {
  const name = uniqueName(prefix);
  tenants.push(name);
  await createTenant(http, { name, domains: [`analytics.${name}.test`], plan });
  const r = await waitReady(http, name, 120_000);
  assert.ok(r.ok, `tenant ${name} should become Ready: ${r.failing?.message}`);
  return name;
}

async function report(args: string[] = []): Promise<Report> {
  const r = await mms(["cost", "-o", "json", "--prices", pricesFile, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

let withBackup: string;
let noBackup: string;
let medium: string;

before(async () => {
  const e = await endpoints();
  kubeEnv = { KUBECONFIG: e.kubeconfig };
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  db = await createConnection({ ...e.mariadb, multipleStatements: true });
  // The shipped prices with storage made dear, so that the few kilobytes a test stores show in cents.
  dir = await mkdtemp(join(tmpdir(), "mms-cost-"));
  const shipped = loadPrices();
  pricesFile = join(dir, "prices.json");
  await writeFile(pricesFile, JSON.stringify({
    ...shipped,
    blockStorage: { ...shipped.blockStorage, "high-speed": { ...shipped.blockStorage["high-speed"], perGBMonth: 100_000 } },
    objectStorage: { ...shipped.objectStorage, standard: { ...shipped.objectStorage.standard, perGBMonth: 100_000 } },
  }));

  [withBackup, noBackup, medium] = [await readyTenant("cost-bk"), await readyTenant("cost-nobk"), await readyTenant("cost-med", "medium")];
  await db.query(`CREATE TABLE \`${dbName(withBackup)}\`.visits (id INT PRIMARY KEY, url VARCHAR(200)); ` +
    `INSERT INTO \`${dbName(withBackup)}\`.visits SELECT seq, CONCAT('/page/', seq) FROM \`${dbName(withBackup)}\`.seq_1_to_2000`);
  const backup = await mms(["backup", "run", "--tenant", withBackup]);
  assert.equal(backup.code, 0, backup.stderr);
});

after(async () => {
  for (const t of tenants) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    await db.query(`DROP DATABASE IF EXISTS \`${dbName(t)}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [dbName(t)]);
  }
  await db.end();
  await rm(dir, { recursive: true, force: true });
});

describe("mms cost", () => {
  test("per-tenant figures add up to the fleet total; a backed-up tenant pays for its backups, one without none", async () => {
    const r = await report();
    const row = (n: string) => r.tenants.find((t) => t.name === n) as TenantRow;
    for (const n of [withBackup, noBackup, medium]) assert.ok(row(n), `tenant ${n} has a row`);

    for (const key of ["nodeShare", "database", "backups", "shared", "total", "saving"] as const) {
      assert.equal(r.tenants.reduce((s, t) => s + cents(t[key]), 0), cents(r.fleet[key]), `the rows' ${key} add up to the fleet's`);
    }
    assert.equal(r.tenants.reduce((s, t) => s + cents(t.asVm.total), 0), cents(r.fleet.asVm));
    assert.equal(r.fleet.tenants, r.tenants.length);
    for (const t of r.tenants) {
      assert.equal(cents(t.total), cents(t.nodeShare) + cents(t.database) + cents(t.backups) + cents(t.shared), `${t.name}: total = node share + database + backups + shared`);
    }

    const bk = row(withBackup);
    assert.ok(bk.backupCount >= 1 && bk.backupBytes > 0, `the backup is counted: ${JSON.stringify(bk)}`);
    assert.ok(bk.backups > 0, "a tenant with a backup pays for its storage");
    assert.ok(bk.databaseBytes > 0 && bk.database > 0, "its database is measured on the pool");
    const none = row(noBackup);
    assert.deepEqual([none.backupCount, none.backupBytes, none.backups], [0, 0, 0]);
    // The simulated nodes are labelled as OVH labels a b3-16 node pool.
    assert.equal(none.flavor, "b3-16");
    assert.ok(r.notes.some((n) => n.includes("tenant pool flavor b3-16") && n.includes("instance-type label")), r.notes.join("\n"));
    assert.ok(row(medium).nodeShare > none.nodeShare, "a medium tenant requests more than a small one");
    assert.deepEqual(none.requests, { cpu: "300m", memory: "512Mi" });
  });

  test("a label selector reports only the matching tenants, each with the same share of the fleet's shared costs", async () => {
    const mark = uniqueName("sel");
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", medium, { metadata: { labels: { "cost-test": mark } } });
    const all = await report(["--system-pool", "2xb3-8"]);
    const some = await report(["--system-pool", "2xb3-8", "-l", `cost-test=${mark}`]);
    assert.deepEqual(some.tenants.map((t) => t.name), [medium]);
    assert.equal(some.tenants[0]?.shared, all.tenants.find((t) => t.name === medium)?.shared);
    assert.ok((some.tenants[0]?.shared ?? 0) > 0, "two b3-8 system nodes are a shared cost");
    assert.equal(cents(some.fleet.total), cents(some.tenants[0]?.total ?? 0));
  });

  test("the table's TOTAL row is the fleet total; an unknown flavor is refused with the known ones", async () => {
    const table = await mms(["cost", "--prices", pricesFile]);
    assert.equal(table.code, 0, table.stderr);
    const r = await report();
    const total = table.stdout.split("\n").find((l) => l.startsWith("TOTAL"))?.trim().split(/\s+/);
    assert.equal(total?.[1], String(r.tenants.length));
    // TOTAL, n, "tenants", node-share, db-gb, db, backup-gb, backups, shared, total, as-vm, saving
    assert.equal(total?.[9], r.fleet.total.toFixed(2));

    const bad = await mms(["cost", "--flavor", "b9-99"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /error: flavor "b9-99" has no price in the price table of \d{4}-\d{2}-\d{2} \(known: .*b3-8.*\)/);
  });
});

describe("mms tenant set-plan", () => {
  const plan = async (n: string) => http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", n);
  const webMemory = async (n: string) => (await http.get<{ spec: { template: { spec: { containers: { resources: { requests: { memory: string } } }[] } } } }>(
    "apps/v1", "Deployment", "web", tenantNamespace(n))).spec.template.spec.containers[0]?.resources.requests.memory;

  test("--dry-run prints the cost before and after and changes nothing; without it the plan changes and the operator resizes the tenant", async () => {
    const beforeTenant = await plan(noBackup);
    const dry = await mms(["tenant", "set-plan", noBackup, "medium", "--dry-run", "-o", "json", "--prices", pricesFile]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, /dry run: .*nothing changed/);
    const c = JSON.parse(dry.stdout) as { from: string; to: string; dryRun: boolean; changed: boolean; before: TenantRow; after: TenantRow; delta: { total: number; nodeShare: number } };
    assert.deepEqual([c.from, c.to, c.dryRun, c.changed], ["small", "medium", true, false]);
    assert.deepEqual([c.before.plan, c.after.plan], ["small", "medium"]);
    assert.ok(c.delta.total > 0, "medium costs more than small");
    assert.equal(cents(c.delta.total), cents(c.after.total) - cents(c.before.total));
    assert.equal(cents(c.after.database), cents(c.before.database), "the plan does not change what is stored");

    const afterDry = await plan(noBackup);
    assert.equal(afterDry.spec.plan, "small");
    assert.equal(afterDry.metadata.generation, beforeTenant.metadata.generation, "the dry run stored nothing");
    assert.equal(await webMemory(noBackup), "256Mi");

    const real = await mms(["tenant", "set-plan", noBackup, "medium"]);
    assert.equal(real.code, 0, real.stderr);
    assert.equal((await plan(noBackup)).spec.plan, "medium");
    await eventually("web resized to the medium plan's requests", async () => ((await webMemory(noBackup)) === "512Mi" ? true : undefined));
  });

  test("an unknown plan or tenant is refused in one sentence", async () => {
    const r = await mms(["tenant", "set-plan", withBackup, "gigantic", "--dry-run"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: TenantPlan "gigantic" does not exist \(plans: .*small.*\)/);
    const t = await mms(["tenant", "set-plan", "no-such-tenant", "small", "--dry-run"]);
    assert.match(t.stderr, /error: tenant no-such-tenant does not exist/);
  });
});
