// The dashboards as data (deploy/observability/dashboards/*.json, Grafana's JSON model) against the dev
// environment's Prometheus: every panel's query, with the tenant variable set to a real tenant, returns data.
// The tenant lives as a production tenant does: tracking hits through the ingress, a verified backup, an
// archiver run, a Redis tracking queue.
// Run alone: scripts/test test/dashboards.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { endpoints } from "../src/devcluster/environment.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { createMatomoTenant, domainOf, mms, NEWER, removeMatomoTenant, runArchiver, type MatomoBed } from "./support/matomo.ts";
import {
  DASHBOARDS_DIR, dashboardQueries, monitoringBed, promQuery, trackThroughIngress, withVariables, type MonitoringUrls,
} from "./support/monitoring.ts";

let bed: MatomoBed | undefined;
let urls: MonitoringUrls | undefined;
let skip: string | undefined;
const tenant = uniqueName("dash");
let stopTraffic = false;
let traffic: Promise<void> | undefined;
const statuses = new Map<number, number>();

/** Node doctor metrics come from its pods (nodeDoctor.enabled); the dev environment runs it as a local process. */
const FROM_NODE_DOCTOR = /\bmms_node_/;

before(async () => {
  const b = await monitoringBed([NEWER]);
  if ("skip" in b) {
    skip = b.skip;
    return;
  }
  ({ bed, urls } = b);
  const created = await createMatomoTenant(tenant, NEWER, ["--queued-tracking"]);
  assert.equal(created.code, 0, created.stderr);
  // A website's visitors, two hits a second through the ingress, for as long as the queries are checked.
  const ingress = (await endpoints()).acme?.ingressAddress;
  assert.ok(ingress, "the environment's ingress address");
  traffic = (async () => {
    while (!stopTraffic) {
      const status = await trackThroughIngress(ingress, domainOf(tenant)).catch(() => 0);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      await sleep(500);
    }
  })();
  // A backup proven by a restore drill, and an archiver run, as the schedules would make them.
  const backup = await mms(["backup", "run", "--tenant", tenant, "--verify"]);
  assert.equal(backup.code, 0, backup.stderr);
  await runArchiver(b.bed, tenant);
});

after(async () => {
  stopTraffic = true;
  await traffic;
  if (bed) await removeMatomoTenant(bed.http, tenant);
});

const files = (await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith(".json")).sort();

describe("dashboards: every panel's query returns data from the local Prometheus", () => {
  test("the fleet and tenant dashboards are there", () => {
    assert.deepEqual(files, ["fleet.json", "tenant.json"]);
  });
  for (const file of files) {
    test(file, async (t) => {
      if (!urls) return t.skip(skip);
      const queries = await dashboardQueries(file);
      assert.ok(queries.length > 0, `${file} has PromQL targets`);
      const nodeDoctor = await promQuery(urls.prometheus, 'up{job="mms-node-doctor"}');
      for (const q of queries) {
        const expr = withVariables(q.expr, { tenant });
        await t.test(`${q.panel} (${q.refId}): ${expr}`, async (st) => {
          if (FROM_NODE_DOCTOR.test(expr) && nodeDoctor.length === 0) {
            return st.skip("no node doctor target: the dev environment runs the node doctor as a local process, outside Prometheus's reach");
          }
          // The slowest sources: the 1-minute rule group, and two Traefik scrapes after the first hits.
          const result = await eventually(`data for ${expr}`, async () => {
            const r = await promQuery(urls!.prometheus, expr);
            return r.length > 0 ? r : undefined;
          }, 4 * 60_000);
          // Across the fleet an idle tenant's ratios are 0/0 (NaN); the chosen tenant, which takes hits, has numbers.
          const numbers = result.filter((s) => s.value[1] !== "NaN");
          if (expr.includes(tenant)) {
            assert.equal(numbers.length, result.length, `${expr} returns numbers, not NaN: ${JSON.stringify(result)}`);
            assert.ok(result.every((s) => !s.metric.tenant || s.metric.tenant === tenant), `${expr} returns the chosen tenant's series only`);
          } else {
            assert.ok(numbers.length > 0, `${expr} returns at least one number: ${JSON.stringify(result)}`);
          }
        });
      }
      assert.ok((statuses.get(200) ?? 0) + (statuses.get(204) ?? 0) > 0, `tracking hits through the ingress were answered: ${JSON.stringify([...statuses])}`);
    });
  }
});
