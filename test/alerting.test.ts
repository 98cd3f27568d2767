// The availability alert end to end, on the dev environment's monitoring stack (the chart's monitoring.stack on
// the real node): a real-Matomo tenant's tracker is stopped (the operator first, so that it does not repair it)
// and MmsTenantTrackerDown becomes active in Alertmanager (API v2) within the alert's `for` plus a scrape and
// an evaluation; started again, the alert resolves.
// Run alone: scripts/test test/alerting.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { tenantNamespace } from "../src/api/names.ts";
import { currentPaths } from "../src/devcluster/environment.ts";
import { platformValuesFile } from "../src/devcluster/platform-chart.ts";
import { parseDuration } from "../src/util/duration.ts";
import { PLATFORM_RELEASE } from "../src/platform/release.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { createMatomoTenant, NEWER, removeMatomoTenant, type MatomoBed } from "./support/matomo.ts";
import { activeAlerts, monitoringBed, promQuery, type MonitoringUrls } from "./support/monitoring.ts";

const ALERT = "MmsTenantTrackerDown";
const RULES = join(import.meta.dirname, "..", "deploy", "observability", "rules");

let bed: MatomoBed | undefined;
let urls: MonitoringUrls | undefined;
let skip: string | undefined;
const tenant = uniqueName("al");
const ns = tenantNamespace(tenant);
const OPERATOR = `${PLATFORM_RELEASE}-operator`;
/** What to give back after the test, whatever happened: Deployment → replicas it had. */
const restore = new Map<string, { namespace: string; replicas: number }>();

interface Deployment { spec: { replicas?: number }; status?: { readyReplicas?: number } }

before(async () => {
  const b = await monitoringBed([NEWER]);
  if ("skip" in b) skip = b.skip;
  else ({ bed, urls } = b);
});

after(async () => {
  if (!bed) return;
  for (const [name, { namespace, replicas }] of restore) await scale(bed, name, namespace, replicas).catch(() => undefined);
  await removeMatomoTenant(bed.http, tenant);
});

async function scale(b: MatomoBed, name: string, namespace: string, replicas: number): Promise<void> {
  await b.http.mergePatch("apps/v1", "Deployment", name, { spec: { replicas } }, namespace);
}

/** Scales a Deployment, remembering what it had for after(), and waits until its pods are gone or Ready. */
async function scaleAndWait(b: MatomoBed, name: string, namespace: string, replicas: number): Promise<void> {
  const before = await b.http.get<Deployment>("apps/v1", "Deployment", name, namespace);
  if (!restore.has(name)) restore.set(name, { namespace, replicas: before.spec.replicas ?? 1 });
  await scale(b, name, namespace, replicas);
  const selector = `app.kubernetes.io/component=${name === OPERATOR ? "operator" : name}`;
  await eventually(`${namespace}/${name} at ${replicas} replica(s)`, async () => {
    const pods = (await b.http.list<{ status?: { containerStatuses?: { ready?: boolean }[] } }>("v1", "Pod", namespace, selector)).items;
    const ready = pods.filter((p) => p.status?.containerStatuses?.every((c) => c.ready)).length;
    return (replicas === 0 ? pods.length === 0 : ready >= replicas) ? true : undefined;
  }, 180_000);
}

/** The alert's `for`, from its rule file (the one source the chart's Prometheus loads). */
async function alertFor(name: string): Promise<number> {
  const rules = parse(await readFile(join(RULES, "slo.yaml"), "utf8")) as { groups: { rules: { alert?: string; for?: string }[] }[] };
  const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
  assert.ok(rule?.for, `${name} has a 'for' in deploy/observability/rules/slo.yaml`);
  return parseDuration(rule.for);
}

/** The scrape and evaluation intervals the dev environment installed the chart with. */
async function intervals(): Promise<number> {
  const values = parse(await readFile(platformValuesFile(currentPaths()), "utf8")) as { monitoring: { stack: { scrapeInterval: string; evaluationInterval: string } } };
  return parseDuration(values.monitoring.stack.scrapeInterval) + parseDuration(values.monitoring.stack.evaluationInterval);
}

const trackerAlerts = () => activeAlerts(urls!.alertmanager, { alertname: ALERT, tenant });

describe("alerting: a tenant's tracker stops and starts", () => {
  test(`${ALERT} fires in Alertmanager within its 'for' plus a scrape and an evaluation, and resolves once the tracker answers again`, async (t) => {
    if (!bed || !urls) return t.skip(skip);
    const created = await createMatomoTenant(tenant, NEWER);
    assert.equal(created.code, 0, created.stderr);

    // The probe target follows the tenant: discovered from its tracker Service, and it succeeds.
    await eventually(`probe_success{tenant="${tenant}"} to be 1`, async () => {
      const r = await promQuery(urls!.prometheus, `probe_success{job="tenant-tracker-probe", tenant="${tenant}"}`);
      return r[0]?.value[1] === "1" ? true : undefined;
    }, 120_000);
    assert.deepEqual(await trackerAlerts(), [], "no alert while the tracker answers");

    // Stopped as an outage would stop it: the operator first (it would scale the tracker back), then the tracker.
    await scaleAndWait(bed, OPERATOR, SYSTEM_NAMESPACE, 0);
    await scaleAndWait(bed, "tracker", ns, 0);
    // From the moment nothing answers: the alert's `for`, plus up to one scrape and one evaluation for the
    // failed probe to be seen, and one more of each to see it stay failed; then Prometheus sends at once.
    const deadline = (await alertFor(ALERT)) + 2 * (await intervals()) + 15_000;
    const [fired] = await eventually(`${ALERT} for ${tenant} to be active in Alertmanager`, async () => {
      const a = await trackerAlerts();
      return a.length > 0 ? a : undefined;
    }, deadline);
    assert.equal(fired!.status.state, "active");
    assert.equal(fired!.labels.severity, "page");
    assert.match(fired!.annotations.summary ?? "", new RegExp(tenant));
    assert.match(fired!.annotations.runbook_url ?? "", new RegExp(`docs/runbooks/${ALERT}\\.md$`));
    const others = (await activeAlerts(urls.alertmanager, { alertname: ALERT })).filter((a) => a.labels.tenant !== tenant);
    assert.deepEqual(others.map((a) => a.labels.tenant), [], "only the stopped tenant's tracker is down");

    // Started again: the tracker first, then the operator, as they were.
    await scaleAndWait(bed, "tracker", ns, restore.get("tracker")!.replicas);
    await scaleAndWait(bed, OPERATOR, SYSTEM_NAMESPACE, restore.get(OPERATOR)!.replicas);
    await eventually(`${ALERT} for ${tenant} to resolve`, async () => ((await trackerAlerts()).length === 0 ? true : undefined), 5 * 60_000);
    const probe = await promQuery(urls.prometheus, `probe_success{job="tenant-tracker-probe", tenant="${tenant}"}`);
    assert.equal(probe[0]?.value[1], "1", "the tracker answers the probe again");
  });
});
