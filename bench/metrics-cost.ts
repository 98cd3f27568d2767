// Benchmark: what the platform's metric relabelling (deploy/observability/prometheus/relabelling.yaml) saves.
// 20 real-Matomo tenants on the real node take tracking hits through the ingress while two Prometheus servers
// scrape the same targets side by side, both started afresh at the same moment: the chart's own (with the
// relabelling) and a twin rendered from the same chart with monitoring.stack.metricRelabelling=false. Measured
// on each: active series (prometheus_tsdb_head_series) and samples scraped per second. Then every selector of
// every rule (deploy/observability/rules) and every dashboard query (deploy/observability/dashboards) is asked
// of both: what returns data without the relabelling must return data with it. Goal: >= 75 % fewer series.
// Prints one JSON object as its last line.
// Usage: scripts/node bench/metrics-cost.ts [--tenants 20] [--minutes 5] [--rate 10] [--port-base 29400]
//        [--reuse] (the current dev environment, MMS_DEV_HOME, kept afterwards; its bench tenants too)
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, parseAllDocuments, stringify } from "yaml";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { REAL_NODE_PLAN } from "../src/devcluster/components.ts";
import { currentPaths, down, endpoints, up } from "../src/devcluster/environment.ts";
import { buildImages, locateMatomoArchive, archiveVersion } from "../src/devcluster/images.ts";
import { platformValuesFile, runHelm } from "../src/devcluster/platform-chart.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { CHART_DIR, PLATFORM_RELEASE } from "../src/platform/release.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { parseDuration } from "../src/util/duration.ts";
import { createProgress } from "../src/util/progress.ts";
import { runMms } from "../test/helpers.ts";
import { runArchiver } from "../test/support/matomo.ts";
import { DASHBOARDS_DIR, dashboardQueries, promQuery, trackThroughIngress, withVariables } from "../test/support/monitoring.ts";

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "20" },
    minutes: { type: "string", default: "5" },
    rate: { type: "string", default: "10" },
    "port-base": { type: "string", default: "29400" },
    reuse: { type: "boolean", default: false },
  },
});
const TENANTS = Number(values.tenants);
const progress = createProgress(process.stderr);
const scratch = values.reuse ? undefined : await mkdtemp(join(tmpdir(), "mms-bench-metrics-"));
if (scratch) Object.assign(process.env, { MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"] });
const RULES_DIR = join(import.meta.dirname, "..", "deploy", "observability", "rules");
const FIELD_MANAGER = "mms-bench-metrics-cost";
const MAIN = `${PLATFORM_RELEASE}-prometheus`;
const TWIN = `${PLATFORM_RELEASE}-prometheus-unreduced`;

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const names = Array.from({ length: TENANTS }, (_, i) => `bench-m${String(i + 1).padStart(2, "0")}`);
const domain = (t: string) => `analytics.${t}.test`;

/** The tenants, made (or found, with --reuse) and Ready; the first has a Redis queue, as some tenants do. */
async function ensureTenants(http: KubeHttp, version: string): Promise<void> {
  for (let i = 0; i < names.length; i += 5) {
    const batch = names.slice(i, i + 5);
    progress.step(`tenants ${i + 1}-${i + batch.length} of ${names.length}: creating and waiting for Ready`);
    await Promise.all(batch.map(async (name) => {
      const exists = await http.getOrUndefined("multiscale.io/v1alpha1", "MatomoTenant", name);
      if (!exists) await createTenant(http, { name, domains: [domain(name)], plan: REAL_NODE_PLAN, matomoVersion: version, queuedTracking: name === names[0] });
      const ready = await waitReady(http, name, 20 * 60_000);
      if (!ready.ok) throw new Error(`tenant ${name} is not Ready: ${ready.failing?.message ?? ""}`);
    }));
  }
}

/**
 * The twin: the chart's Prometheus rendered with monitoring.stack.metricRelabelling=false, under other names,
 * its pods labelled as another instance (the main Service does not send to them; the NetworkPolicies, which
 * admit Prometheus by name and component, do). Same rules; no Alertmanager (its alerts would double).
 */
type Rendered = KubeObject & {
  data?: Record<string, string>;
  spec?: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { volumes: { name: string; configMap?: { name: string } }[] } };
  };
};

async function twinObjects(): Promise<KubeObject[]> {
  const paths = currentPaths();
  const r = await runHelm(paths, ["template", PLATFORM_RELEASE, CHART_DIR, "--namespace", SYSTEM_NAMESPACE, "--values", platformValuesFile(paths),
    "--set", "monitoring.stack.metricRelabelling=false", "--show-only", "templates/monitoring-stack/prometheus-config.yaml", "--show-only", "templates/monitoring-stack/prometheus.yaml"]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderrTail}`);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Rendered | null).filter((d): d is Rendered => d !== null);
  const config = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === `${MAIN}-config`);
  const deployment = docs.find((d) => d.kind === "Deployment" && d.metadata.name === MAIN);
  if (!config?.data || !deployment?.spec) throw new Error("the chart renders no Prometheus: is monitoring.stack.enabled on in the environment's values?");
  const prom = parse(config.data["prometheus.yml"] ?? "") as Record<string, unknown>;
  delete prom.alerting;
  config.metadata = { ...config.metadata, name: `${TWIN}-config` };
  config.data = { "prometheus.yml": stringify(prom) };
  const instance = `${PLATFORM_RELEASE}-unreduced`;
  deployment.metadata = { ...deployment.metadata, name: TWIN };
  deployment.spec.selector.matchLabels["app.kubernetes.io/instance"] = instance;
  deployment.spec.template.metadata.labels["app.kubernetes.io/instance"] = instance;
  for (const v of deployment.spec.template.spec.volumes) {
    if (v.name === "config" && v.configMap) v.configMap.name = `${TWIN}-config`;
  }
  return [config, deployment];
}

async function podIp(http: KubeHttp, instance: string): Promise<string> {
  for (let i = 0; i < 240; i++) {
    const pods = (await http.list<{ metadata: { deletionTimestamp?: string }; status?: { podIP?: string; containerStatuses?: { ready?: boolean }[] } }>(
      "v1", "Pod", SYSTEM_NAMESPACE, `app.kubernetes.io/component=prometheus,app.kubernetes.io/instance=${instance}`)).items;
    const ready = pods.find((p) => !p.metadata.deletionTimestamp && p.status?.containerStatuses?.every((c) => c.ready) && p.status.podIP);
    if (ready && pods.length === 1) return ready.status!.podIP!;
    await sleep(1000);
  }
  throw new Error(`no Ready Prometheus pod of instance ${instance}`);
}

/** One of Prometheus's own metrics (its /metrics page), summed over its series (e.g. float and histogram samples). */
async function selfMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const lines = text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (lines.length === 0) throw new Error(`${url}/metrics has no ${name}`);
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

const scalar = async (url: string, expr: string) => Number((await promQuery(url, expr))[0]?.value[1] ?? NaN);

/** Series per job, as each Prometheus stores them. */
async function seriesByJob(url: string): Promise<Record<string, number>> {
  const r = await promQuery(url, 'count by (job) ({__name__=~".+", job!=""})');
  const pairs: [string, number][] = r.map((s) => [s.metric.job ?? "", Number(s.value[1])]);
  return Object.fromEntries(pairs.sort(([a], [b]) => a.localeCompare(b)));
}

interface Matcher { type: string; name: string; value: string }
type AstNode = { type: string; name?: string; matchers?: Matcher[] } & Record<string, unknown>;

/** Every series selector of a PromQL expression, as Prometheus itself parses it (/api/v1/parse_query). */
async function selectors(url: string, expr: string): Promise<string[]> {
  const res = await fetch(`${url}/api/v1/parse_query?${new URLSearchParams({ query: expr }).toString()}`, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json() as { status: string; data?: AstNode; error?: string };
  if (body.status !== "success" || !body.data) throw new Error(`Prometheus cannot parse ${expr}: ${body.error ?? res.status}`);
  const out = new Set<string>();
  const walk = (n: unknown): void => {
    if (!n || typeof n !== "object") return;
    const node = n as AstNode;
    if ((node.type === "vectorSelector" || node.type === "matrixSelector") && node.matchers) {
      out.add(`{${node.matchers.map((m) => `${m.name}${m.type}${JSON.stringify(m.value)}`).join(", ")}}`);
      return;
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(walk);
      else walk(v);
    }
  };
  walk(body.data);
  return [...out];
}

interface Check { what: string; expr: string }

/** The rules' expressions and selectors, and the dashboards' queries (tenant variable set). */
async function checks(url: string, tenant: string): Promise<Check[]> {
  const out: Check[] = [];
  for (const file of (await readdir(RULES_DIR)).filter((f) => f.endsWith(".yaml")).sort()) {
    const doc = parse(await readFile(join(RULES_DIR, file), "utf8")) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] };
    for (const rule of doc.groups.flatMap((g) => g.rules)) {
      const name = rule.record ?? rule.alert ?? "?";
      if (rule.record) out.push({ what: `${file} ${name}`, expr: rule.expr });
      for (const s of await selectors(url, rule.expr)) out.push({ what: `${file} ${name} selector`, expr: s });
    }
  }
  for (const file of (await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith(".json")).sort()) {
    for (const q of await dashboardQueries(file)) out.push({ what: `${file} ${q.panel} (${q.refId})`, expr: withVariables(q.expr, { tenant }) });
  }
  return out;
}

let load: { stop: boolean; sent: number; ok: number; done?: Promise<void> } | undefined;
try {
  const archive = await locateMatomoArchive({});
  if (!archive) throw new Error("no Matomo release archive in the cache: bench/metrics-cost needs real Matomo");
  const version = await archiveVersion(archive);
  if (!values.reuse) await up({ nodes: 1, realNodes: 1, progress });
  await buildImages({ allVersions: true, progress });
  const e = await endpoints();
  const ingress = e.acme?.ingressAddress;
  if (!ingress) throw new Error("the environment has no real node, hence no ingress and no monitoring stack");
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  await ensureTenants(http, version);

  // Tracking load, spread evenly over the tenants, at --rate hits a second in all.
  progress.step(`tracking load: ${values.rate} hits/s over ${TENANTS} tenants through the ingress`);
  const l: NonNullable<typeof load> = { stop: false, sent: 0, ok: 0 };
  load = l;
  const interval = 1000 / Number(values.rate);
  l.done = (async () => {
    for (let i = 0; !l.stop; i++) {
      const t0 = Date.now();
      void trackThroughIngress(ingress, domain(names[i % names.length]!)).then((s) => { if (s >= 200 && s < 300) l.ok++; }, () => undefined);
      l.sent++;
      await sleep(Math.max(0, interval - (Date.now() - t0)));
    }
  })();
  // What the dashboards draw for one tenant: a verified backup and an archiver run, as the schedules make them.
  progress.step(`${names[0]}: a verified backup and an archiver run`);
  const backup = await runMms(["backup", "run", "--tenant", names[0]!, "--verify"], { KUBECONFIG: e.kubeconfig });
  if (backup.code !== 0) throw new Error(`mms backup run failed: ${backup.stderr}`);
  await runArchiver({ http, kubeconfig: e.kubeconfig, kubectl: join(e.kubectlDir, "kubectl") }, names[0]!);

  // Both servers from an empty TSDB at the same moment: the main one's pod replaced (its TSDB is an emptyDir
  // in the dev values), the twin applied afresh.
  progress.step("starting both Prometheus servers afresh: the chart's (relabelled) and its unrelabelled twin");
  await http.delete("apps/v1", "Deployment", TWIN, SYSTEM_NAMESPACE).catch(() => undefined);
  for (const p of (await http.list<KubeObject>("v1", "Pod", SYSTEM_NAMESPACE, `app.kubernetes.io/component=prometheus`)).items) {
    await http.delete("v1", "Pod", p.metadata.name, SYSTEM_NAMESPACE);
  }
  for (const o of await twinObjects()) await http.apply(o, { fieldManager: FIELD_MANAGER });
  const main = `http://${await podIp(http, PLATFORM_RELEASE)}:9090`;
  const twin = `http://${await podIp(http, `${PLATFORM_RELEASE}-unreduced`)}:9090`;
  const started = Date.now();

  // Series settle once every target was scraped a few times and every rule group ran; then the window.
  const minutes = Number(values.minutes);
  const warmup = Math.min(2, minutes / 2);
  progress.step(`warming up for ${warmup} min`);
  await sleep(warmup * 60_000);
  const first = { main: await selfMetric(main, "prometheus_tsdb_head_samples_appended_total"), twin: await selfMetric(twin, "prometheus_tsdb_head_samples_appended_total"), at: Date.now() };
  progress.step(`measuring for ${minutes - warmup} min`);
  await sleep((minutes - warmup) * 60_000);
  const seconds = (Date.now() - first.at) / 1000;
  const appended = {
    main: (await selfMetric(main, "prometheus_tsdb_head_samples_appended_total") - first.main) / seconds,
    twin: (await selfMetric(twin, "prometheus_tsdb_head_samples_appended_total") - first.twin) / seconds,
  };
  const series = { main: await selfMetric(main, "prometheus_tsdb_head_series"), twin: await selfMetric(twin, "prometheus_tsdb_head_series") };
  const devValues = parse(await readFile(platformValuesFile(currentPaths()), "utf8")) as { monitoring: { stack: { scrapeInterval: string } } };
  const scrapeSeconds = parseDuration(devValues.monitoring.stack.scrapeInterval) / 1000;
  const scraped = {
    // Samples a scrape returns (before relabelling) and what the relabelling keeps of them, per second.
    main: await scalar(main, "sum(scrape_samples_post_metric_relabeling)") / scrapeSeconds,
    mainBeforeRelabelling: await scalar(main, "sum(scrape_samples_scraped)") / scrapeSeconds,
    twin: await scalar(twin, "sum(scrape_samples_post_metric_relabeling)") / scrapeSeconds,
  };
  const byJob = { relabelled: await seriesByJob(main), unrelabelled: await seriesByJob(twin) };

  progress.step("asking both servers every rule selector and dashboard query");
  const lost: string[] = [];
  const noDataEither: string[] = [];
  const all = await checks(main, names[0]!);
  let kept = 0;
  for (const c of all) {
    const [withRelabelling, without] = await Promise.all([promQuery(main, c.expr), promQuery(twin, c.expr)]);
    if (withRelabelling.length > 0) kept++;
    else if (without.length > 0) lost.push(`${c.what}: ${c.expr}`);
    else noDataEither.push(`${c.what}: ${c.expr}`);
  }
  for (const l of lost) process.stderr.write(`LOST with the relabelling: ${l}\n`);
  for (const n of noDataEither) process.stderr.write(`no data on either server (nothing to lose here): ${n}\n`);

  l.stop = true;
  await l.done;
  const fewer = 1 - series.main / series.twin;
  console.log(JSON.stringify({
    benchmark: "metrics-cost", tenants: TENANTS, matomoVersion: version, scrapeIntervalSeconds: scrapeSeconds,
    minutes: round((Date.now() - started) / 60_000), trackingHits: { sent: l.sent, answered2xx: l.ok, perSecond: Number(values.rate) },
    activeSeries: { withoutRelabelling: series.twin, withRelabelling: series.main, fewer: round(fewer * 100) },
    samplesScrapedPerSecond: {
      withoutRelabelling: round(scraped.twin), withRelabelling: round(scraped.main),
      fewer: round((1 - scraped.main / scraped.twin) * 100), sameTargetsBeforeRelabelling: round(scraped.mainBeforeRelabelling),
    },
    samplesAppendedPerSecond: { withoutRelabelling: round(appended.twin), withRelabelling: round(appended.main), note: "scraped samples plus rule results" },
    seriesByJob: byJob,
    queries: { checked: all.length, withData: kept, lost: lost.length, noDataOnEither: noDataEither.length },
    goal: { fewerSeriesPercent: 75, met: fewer >= 0.75 && lost.length === 0 },
  }));
  if (lost.length > 0) process.exitCode = 1;
} finally {
  if (load) {
    load.stop = true;
    await load.done;
  }
  if (values.reuse) {
    const e = await endpoints().catch(() => undefined);
    if (e) await new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig })).delete("apps/v1", "Deployment", TWIN, SYSTEM_NAMESPACE).catch(() => undefined);
  } else {
    await down().catch(() => undefined);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}
