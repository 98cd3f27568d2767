import { test } from "node:test";
import assert from "node:assert/strict";
import { BUILT_IN_PLANS } from "../api/plan.ts";
import { FleetCache } from "./fleet-cache.ts";
import { createMetrics } from "./metrics.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const NOW = Date.now();

const tenant = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant",
  metadata: { name, creationTimestamp: iso(NOW - 3_600_000), managedFields: [{ manager: "kubectl" }] },
  spec: { domains: [`${name}.example`], plan: "small", tracking: { queuedTracking: true } },
  status: {
    database: { pool: "p1", name: `mt_${name}` }, runningVersion: "5.2.1", tracking: { redisDatabase: 2 },
    conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "ok", lastTransitionTime: iso(NOW) }],
    backup: { lastBackupAt: iso(NOW - 60_000), lastBackupBytes: 2048 },
  },
  ...extra,
});

const failedJob = (name: string, tenantName: string) => ({
  metadata: { name, namespace: `mt-${tenantName}`, labels: { "multiscale.io/tenant": tenantName, "app.kubernetes.io/component": "archiver" } },
  status: { startTime: iso(NOW - 120_000), failed: 3, conditions: [{ type: "Failed", status: "True", lastTransitionTime: iso(NOW - 60_000) }] },
});

/** A Job of another component that succeeded after the archiver failed: it says nothing about archiving. */
const installJob = (tenantName: string) => ({
  metadata: { name: "matomo-install", namespace: `mt-${tenantName}`, labels: { "multiscale.io/tenant": tenantName, "app.kubernetes.io/component": "install" } },
  status: { startTime: iso(NOW - 50_000), succeeded: 1, completionTime: iso(NOW - 10_000) },
});

function fleet(leading: () => boolean, depths = new Map([["acme", 7]])) {
  const cache = new FleetCache();
  for (const p of BUILT_IN_PLANS) cache.plan("SYNC", p);
  const metrics = createMetrics({ facts: () => (leading() ? cache.facts() : undefined), queueDepths: () => Promise.resolve(depths) });
  return { cache, scrape: () => metrics.registry.metrics() };
}

const samples = (text: string) => text.split("\n").filter((l) => /^mms_tenant_/.test(l));

test("the leader reports each tenant from its cache at scrape time; a deleted tenant is gone from the next scrape", async () => {
  const { cache, scrape } = fleet(() => true);
  cache.tenant("ADDED", tenant("acme"));
  cache.tenant("ADDED", tenant("globex"));
  cache.job("ADDED", failedJob("archiver-29000000", "acme"));
  cache.job("ADDED", installJob("acme"));
  const first = await scrape();
  assert.match(first, /^mms_tenant_info\{tenant="acme",plan="small",version="5\.2\.1",pool="p1"\} 1$/m);
  assert.match(first, /^mms_tenant_condition\{tenant="globex",condition="Ready",status="True"\} 1$/m);
  assert.match(first, /^mms_tenant_ready\{tenant="acme"\} 1$/m);
  assert.match(first, /^mms_tenant_last_backup_size_bytes\{tenant="acme"\} 2048$/m);
  assert.match(first, /^mms_tenant_backup_rpo_seconds\{tenant="acme"\} 3600$/m);
  assert.match(first, /^mms_tenant_archiving_last_run_failed\{tenant="acme"\} 1$/m);
  assert.doesNotMatch(first, /^mms_tenant_archiving_last_run_failed\{tenant="globex"\}/m, "no archiver run known: no sample");
  assert.match(first, /^mms_tenant_tracking_queue_depth\{tenant="acme"\} 7$/m);

  cache.tenant("DELETED", { metadata: { name: "acme" } });
  const second = await scrape();
  assert.deepEqual(samples(second).filter((l) => l.includes('tenant="acme"')), [], "no stale series of a deleted tenant");
  assert.match(second, /^mms_tenant_info\{tenant="globex",/m);
});

test("the periodic full list drops tenants whose deletion a watch missed", async () => {
  const { cache, scrape } = fleet(() => true, new Map());
  cache.tenant("SYNC", tenant("acme"));
  cache.tenant("SYNC", tenant("globex"));
  cache.replaceTenants([tenant("globex") as never]);
  const text = await scrape();
  assert.doesNotMatch(text, /tenant="acme"/);
  assert.match(text, /^mms_tenant_ready\{tenant="globex"\} 1$/m);
});

test("a replica that does not lead reports none of the per-tenant series", async () => {
  let leading = false;
  const { cache, scrape } = fleet(() => leading);
  cache.tenant("ADDED", tenant("acme"));
  assert.deepEqual(samples(await scrape()).filter((l) => l.includes("tenant=")), []);
  leading = true;
  assert.match(await scrape(), /^mms_tenant_ready\{tenant="acme"\} 1$/m);
});

test("an upgrade's end is observed by result", async () => {
  const metrics = createMetrics();
  metrics.upgradeSeconds.observe({ result: "rolled_back" }, 420);
  const text = await metrics.registry.metrics();
  assert.match(text, /^mms_tenant_upgrade_seconds_count\{result="rolled_back"\} 1$/m);
  assert.match(text, /^mms_tenant_upgrade_seconds_sum\{result="rolled_back"\} 420$/m);
});
