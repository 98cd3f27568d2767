// The operator's fleet metrics as Prometheus scrapes them from the leading replica on the dev cluster
// (bounded labels, a tenant's series from creation to deletion, none from the standby, a backup's size, and
// with real Matomo on the real node its archiver runs and its Redis queue), and `mms status`, the same
// overview read from the API.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import { CONDITION_TYPES, type MatomoTenant } from "../src/api/tenant.ts";
import type { FleetSummary } from "../src/controllers/fleet-status.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { createTenant, deleteTenant, waitDeleted, waitReady } from "../src/tenants/service.ts";
import { eventually, runMms, uniqueName, type Run } from "./helpers.ts";
import { createMatomoTenant, matomoBed, NEWER, removeMatomoTenant, runArchiver, type MatomoBed } from "./support/matomo.ts";
import { holds, operatorLease, operatorMetricsUrl, operatorPods } from "./support/operator.ts";

let http: KubeHttp;
let kubeEnv: NodeJS.ProcessEnv;
const good = uniqueName("om");
// A pool that does not exist keeps this tenant from ever being Ready (DatabaseReady=False, PoolNotFound).
const stuck = uniqueName("oms");
const missingPool = uniqueName("no-pool");
const real = uniqueName("omr");
let bed: MatomoBed | undefined;
let skip: string | undefined;

const mms = (args: string[]): Promise<Run> => runMms(args, kubeEnv);

before(async () => {
  const e = await endpoints();
  kubeEnv = { KUBECONFIG: e.kubeconfig };
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
});

after(async () => {
  for (const t of [good, stuck]) await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
  if (bed) await removeMatomoTenant(bed.http, real);
});

interface Sample { readonly name: string; readonly labels: Record<string, string>; readonly value: number }

/** The samples of a Prometheus text exposition (label values here never hold a `"` or a `,`). */
function parse(text: string): Sample[] {
  return text.split("\n").flatMap((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) return [];
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1] ?? "", l[2] ?? ""]));
    return [{ name: m[1] ?? "", labels, value: Number(m[3]) }];
  });
}

async function scrape(url?: string): Promise<Sample[]> {
  const res = await fetch(url ?? await operatorMetricsUrl(http));
  assert.equal(res.status, 200);
  return parse(await res.text());
}

const of = (samples: readonly Sample[], name: string, tenant: string) => samples.filter((s) => s.name === name && s.labels.tenant === tenant);
const tenantObject = (name: string) => http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);

async function status(): Promise<{ run: Run; summary: FleetSummary }> {
  const run = await mms(["status", "-o", "json"]);
  return { run, summary: JSON.parse(run.stdout) as FleetSummary };
}

describe("operator fleet metrics and mms status", () => {
  test("`mms status` names a tenant that is not Ready, with its reason, and exits 1", async () => {
    await createTenant(http, { name: stuck, domains: [`analytics.${stuck}.test`], pool: missingPool });
    await createTenant(http, { name: good, domains: [`analytics.${good}.test`] });
    const { run, summary } = await eventually("mms status to report the stuck tenant's reason", async () => {
      const s = await status();
      return s.summary.tenants.notReady.find((t) => t.tenant === stuck)?.reason === "PoolNotFound" ? s : undefined;
    }, 60_000);
    assert.equal(run.code, 1, "something needs attention");
    assert.match(run.stderr, /^error: the fleet needs attention: \d+ tenants? not Ready/m);
    assert.ok(summary.tenants.total >= 2);
    assert.ok(summary.attention.some((a) => /not Ready/.test(a)));
  });

  test("a Ready tenant and a stuck one appear in mms_tenant_info, _condition and _ready, with bounded labels", async () => {
    const r = await waitReady(http, good, 180_000);
    assert.ok(r.ok, `tenant ${good} should become Ready: ${r.failing?.message ?? ""}`);
    const samples = await eventually("the operator to report the tenant Ready", async () => {
      const s = await scrape();
      return of(s, "mms_tenant_ready", good)[0]?.value === 1 ? s : undefined;
    }, 60_000);
    const t = await tenantObject(good);
    assert.deepEqual(of(samples, "mms_tenant_info", good).map((s) => s.labels),
      [{ tenant: good, plan: "small", version: t.status?.runningVersion ?? "?", pool: t.status?.database?.pool ?? "?" }]);
    const conditions = (t.status?.conditions ?? []).filter((c) => (CONDITION_TYPES as readonly string[]).includes(c.type));
    assert.deepEqual(
      of(samples, "mms_tenant_condition", good).map((s) => `${s.labels.condition}=${s.labels.status} ${s.value}`).sort(),
      conditions.map((c) => `${c.type}=${c.status} 1`).sort(),
      "one sample per condition the tenant has, with its status",
    );
    assert.deepEqual(of(samples, "mms_tenant_backup_rpo_seconds", good).map((s) => s.value), [3600], "the small plan backs up hourly");

    assert.deepEqual(of(samples, "mms_tenant_ready", stuck).map((s) => s.value), [0]);
    assert.deepEqual(of(samples, "mms_tenant_info", stuck).map((s) => s.labels.pool), [missingPool]);
    assert.deepEqual(of(samples, "mms_tenant_condition", stuck).filter((s) => s.labels.condition === "DatabaseReady").map((s) => s.labels.status), ["False"]);

    // Bounded labels: the tenant's name is the finest; never a pod, an address, a URL or a user.
    const forbidden = /pod|ip|address|url|host|domain|user|instance/i;
    const offending = new Set(samples.filter((s) => s.name.startsWith("mms_")).flatMap((s) => Object.keys(s.labels).filter((k) => forbidden.test(k)).map((k) => `${s.name}{${k}}`)));
    assert.deepEqual([...offending], []);
  });

  test("a replica that does not lead reports no per-tenant series", async (t) => {
    const lease = await operatorLease(http);
    const standby = (await operatorPods(http)).find((p) => !holds(lease, p) && p.status?.phase === "Running" && p.status.podIP);
    if (!standby?.status?.podIP) return t.skip("the operator runs without a standby replica here");
    const samples = await scrape(`http://${standby.status.podIP}:8080/metrics`);
    assert.ok(samples.some((s) => s.name === "mms_tenant_reconciles_total" || s.name.startsWith("mms_process_")), "the standby answers");
    assert.deepEqual(samples.filter((s) => s.labels.tenant !== undefined).map((s) => s.name), []);
  });

  test("a backup's time and size reach the metrics through the tenant's status", async () => {
    const run = await mms(["backup", "run", "--tenant", good, "-o", "json"]);
    assert.equal(run.code, 0, run.stderr);
    const backup = (await tenantObject(good)).status?.backup;
    assert.ok((backup?.lastBackupBytes ?? 0) > 0, "the backup recorded its size in the status");
    const samples = await eventually("the backup in the metrics", async () => {
      const s = await scrape();
      return of(s, "mms_tenant_last_backup_size_bytes", good).length > 0 ? s : undefined;
    }, 30_000);
    assert.deepEqual(of(samples, "mms_tenant_last_backup_size_bytes", good).map((s) => s.value), [backup?.lastBackupBytes]);
    assert.deepEqual(of(samples, "mms_tenant_last_backup_timestamp_seconds", good).map((s) => s.value), [Date.parse(backup?.lastBackupAt ?? "") / 1000]);
  });

  test("`mms status` in a table lists the stuck tenant and not the Ready one", async () => {
    const run = await mms(["status"]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^Tenants: \d+, \d+ Ready, \d+ not Ready$/m);
    const notReady = run.stdout.slice(run.stdout.indexOf("Not Ready:"), run.stdout.indexOf("Backups older than"));
    assert.match(notReady, new RegExp(`^${stuck}\\s+PoolNotFound\\s+`, "m"));
    assert.doesNotMatch(notReady, new RegExp(`^${good}\\s`, "m"));
    assert.match(run.stdout, /^Storm protection: (not engaged|engaged, holding back .+)$/m);
  });

  test("deleted tenants leave the metrics and the status", async () => {
    await deleteTenant(http, good);
    await deleteTenant(http, stuck);
    for (const t of [good, stuck]) assert.ok(await waitDeleted(http, t, tenantNamespace(t), 180_000), `tenant ${t} deleted`);
    const left = await eventually("the deleted tenants' series to go", async () => {
      const s = (await scrape()).filter((x) => x.labels.tenant === good || x.labels.tenant === stuck);
      return s.length === 0 ? s : undefined;
    }, 30_000).catch(async () => (await scrape()).filter((x) => x.labels.tenant === good || x.labels.tenant === stuck));
    assert.deepEqual(left.map((s) => `${s.name}{tenant="${s.labels.tenant}"}`), [], "no stale series");
    const { summary } = await status();
    assert.equal(summary.tenants.notReady.find((t) => t.tenant === stuck), undefined);
  });
});

describe("operator metrics of real Matomo: archiving and the Redis queue", () => {
  before(async () => {
    const b = await matomoBed([NEWER]);
    if ("skip" in b) skip = b.skip;
    else bed = b;
  });

  test("an archiver run and the tenant's Redis queue show in the metrics", async (t) => {
    if (!bed) return t.skip(skip);
    const created = await createMatomoTenant(real, NEWER, ["--queued-tracking"]);
    assert.equal(created.code, 0, created.stderr);

    await runArchiver(bed, real);
    const samples = await eventually("the archiver's run in the metrics", async () => {
      const s = await scrape();
      return of(s, "mms_tenant_archiving_last_run_failed", real).length > 0 ? s : undefined;
    }, 30_000);
    assert.deepEqual(of(samples, "mms_tenant_archiving_last_run_failed", real).map((s) => s.value), [0]);
    const finished = of(samples, "mms_tenant_archiving_last_success_timestamp_seconds", real)[0]?.value ?? 0;
    assert.ok(Math.abs(finished - Date.now() / 1000) < 600, `the last success is the run just made (${finished})`);
    assert.ok((of(samples, "mms_tenant_archiving_last_duration_seconds", real)[0]?.value ?? -1) >= 0);

    // Requests waiting in a queue list of the tenant's Redis database are counted (none arrive meanwhile:
    // no load runs, so the tenant's own queue stays empty). A list no queue worker reads keeps them there.
    const database = (await tenantObject(real)).status?.tracking?.redisDatabase;
    assert.ok(database !== undefined, "the tenant has a Redis database");
    const e = await endpoints();
    const redis = createClient({ socket: { host: e.redis.host, port: e.redis.port, reconnectStrategy: false }, password: e.redis.password, database });
    await redis.connect();
    const key = "trackingQueueV1_99";
    try {
      await redis.rPush(key, ["a", "b", "c", "d", "e"]);
      await eventually("a queue depth of 5", async () => (of(await scrape(), "mms_tenant_tracking_queue_depth", real)[0]?.value === 5 ? true : undefined), 60_000);
      await redis.del(key);
      await eventually("a queue depth of 0", async () => (of(await scrape(), "mms_tenant_tracking_queue_depth", real)[0]?.value === 0 ? true : undefined), 60_000);
    } finally {
      await redis.del(key).catch(() => undefined);
      await redis.quit();
    }
  });
});
