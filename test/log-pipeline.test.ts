// The log pipeline's collector configurations (deploy/observability/otel) as the collector built here
// (ocb, src/devcluster/otelcol.ts) reads them: `validate` accepts both and rejects broken ones, and a real
// run without the cluster: the agent tails a folder laid out like the kubelet's pod logs (Matomo's
// access-log samples, the tenant image's own access and error lines, pino lines, probes), sends to a
// receiver on loopback, and what the receiver wrote is compared with what went in, line by line.
// No dev environment is needed; the first run builds the collector (minutes).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureOtelcol } from "../src/devcluster/otelcol.ts";
import { run } from "../src/util/exec.ts";
import { createProgress } from "../src/util/progress.ts";
import {
  accessLogFixtures, countedSum, fateOf, missing, OTEL_DIR, readReceived, receivedWhen, startPipeline, writePodLogs,
  type InLine, type PodLog, type PipelineRun, type Received,
} from "./support/log-pipeline.ts";

let otelcol: string;
let work: string;

before(async () => {
  otelcol = await ensureOtelcol(createProgress());
  work = await mkdtemp(join(tmpdir(), "mms-log-pipeline-"));
}, { timeout: 60 * 60_000 });
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** `otelcol validate` of a configuration file, with the environment the chart gives the agent. */
async function validate(config: string, env: Record<string, string> = { MMS_LOGS_ENDPOINT: "https://in-otel.example.test" }): Promise<{ code: number; output: string }> {
  const r = await run(otelcol, ["validate", `--config=${config}`], { env: { ...process.env, ...env } });
  return { code: r.code, output: r.stdout + r.stderrTail };
}

/** agent.yaml with one text replaced, written to the work folder. */
async function brokenAgent(from: string, to: string): Promise<string> {
  const text = await readFile(join(OTEL_DIR, "agent.yaml"), "utf8");
  assert.ok(text.includes(from), `agent.yaml no longer contains ${JSON.stringify(from)}: update this test`);
  const file = join(work, `broken-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, text.replace(from, to));
  return file;
}

describe("the collector's own check (otelcol validate)", () => {
  test("accepts the agent's and the receiver's configurations", async () => {
    for (const [file, env] of [["agent.yaml", undefined], ["receiver.yaml", {}]] as const) {
      const r = await validate(join(OTEL_DIR, file), env);
      assert.equal(r.code, 0, `${file}: ${r.output}`);
    }
  });

  test("rejects a pipeline naming a processor that is not defined, an OTTL statement that does not parse, and a missing endpoint", async () => {
    const unknown = await validate(await brokenAgent("processors: [memory_limiter, transform/classify, filter/noise, filter/whole-lines,", "processors: [memory_limiter, transform/clasify, filter/noise, filter/whole-lines,"));
    assert.notEqual(unknown.code, 0, unknown.output);
    assert.match(unknown.output, /transform\/clasify/);
    const ottl = await validate(await brokenAgent("- delete_key(log.attributes, \"logtag\")", "- delete_kye(log.attributes, \"logtag\")"));
    assert.notEqual(ottl.code, 0, ottl.output);
    assert.match(ottl.output, /delete_kye/);
    const noEndpoint = await validate(join(OTEL_DIR, "agent.yaml"), { MMS_LOGS_ENDPOINT: "" });
    assert.notEqual(noEndpoint.code, 0, `an agent with no endpoint must not pass: ${noEndpoint.output}`);
  });
});

// ---------------------------------------------------------------------------------------------------
// A real run

const TIME = "01/Dec/2026:10:00:00 +0000";
/** The tenant image's access format (deploy/images/matomo/apache.conf): no client, no query string. */
const tenantAccess = (method: string, path: string, status: number) => `[${TIME}] "${method} ${path} HTTP/1.1" ${status} 0 812us`;
const combined = (path: string, status: number, ua: string) => `10.2.0.1 - - [${TIME}] "GET ${path} HTTP/1.1" ${status} 2 "-" "${ua}"`;
const pino = (level: number, msg: string) => JSON.stringify({ level, time: 1764583200000, pid: 1, hostname: "mms-operator-0", component: "operator", msg });

const HITS = 120;
const TRACKER: InLine[] = [
  ...Array.from({ length: HITS }, (_, i) => ({ text: tenantAccess("GET", "/matomo.php", i % 3 === 0 ? 200 : 204) })),
  { text: tenantAccess("POST", "/piwik.php", 204) },
  { text: tenantAccess("GET", "/matomo.js", 200) },
  { text: tenantAccess("GET", "/matomo.php", 400) },
  { text: tenantAccess("POST", "/matomo.php", 503) },
  { text: "matomo tracker: warning: config not mounted; /healthz.php will answer 503", stream: "stderr" },
  // A PHP error longer than the runtime's record: written as partial records, it must arrive as one line.
  { text: `[Tue Dec 01 10:00:01.123456 2026] [php:error] [pid 42] PHP Fatal error:  Uncaught Exception: ${"x".repeat(300)} in /var/www/html/core/Tracker.php:77`, stream: "stderr", partialAt: 120 },
];
const WEB: InLine[] = [
  { text: tenantAccess("GET", "/index.php", 200) },
  { text: tenantAccess("GET", "/plugins/Morpheus/images/logo.svg", 200) },
  { text: tenantAccess("GET", "/index.php", 302) },
  { text: tenantAccess("GET", "/index.php", 500) },
  { text: "" },
];
/** Probes: every successful one is noise; a failing one is an error like any other. */
const PROBES: InLine[] = [
  { text: combined("/healthz", 200, "kube-probe/1.34") },
  { text: combined("/readyz", 200, "kube-probe/1.34") },
  { text: combined("/healthz.php", 200, "mms-operator") },
  { text: combined("/matomo.php", 200, "Blackbox Exporter/0.28.0") },
  { text: combined("/ping", 204, "Go-http-client/1.1") },
  { text: combined("/healthz.php", 503, "kube-probe/1.34") },
];
const KEPT = (severity: "ERROR" | "WARN" | "INFO" | "") => ({ fate: "kept", severity }) as const;
const DROPPED = { fate: "dropped" } as const;
/** The platform's pino lines, judged by their level. */
const OPERATOR: InLine[] = [
  { text: pino(30, "tenant acme reconciled"), expect: KEPT("INFO") },
  { text: pino(20, "watch event MODIFIED"), expect: DROPPED },
  { text: pino(10, "queue length 0"), expect: DROPPED },
  { text: pino(40, "tenant acme: backup older than its RPO"), expect: KEPT("WARN") },
  { text: pino(50, "tenant acme: database pool unreachable"), expect: KEPT("ERROR") },
  { text: pino(60, "lost the leader lease"), expect: KEPT("ERROR") },
];
/** Other programs' own formats: a level the line states wins over the words in it. */
const OTHERS: InLine[] = [
  { text: "2026-12-01T10:00:00Z INF Starting provider *acme.Provider", expect: KEPT("INFO") },
  { text: "2026-12-01T10:00:00Z DBG Configuration received config={} providerName=kubernetes", expect: DROPPED },
  { text: "2026-12-01T10:00:00Z ERR Cannot retrieve the ACME challenge for analytics.acme.test error=\"timeout\"", expect: KEPT("ERROR") },
  { text: "time=2026-12-01T10:00:00Z level=INFO source=main.go:12 msg=\"no error in the last scrape\"", expect: KEPT("INFO") },
  { text: "time=2026-12-01T10:00:00Z level=DEBUG msg=\"scrape done\"", expect: DROPPED },
  { text: "time=2026-12-01T10:00:00Z level=WARN msg=\"rule group slow\"", expect: KEPT("WARN") },
];

function pods(): PodLog[] {
  const out: PodLog[] = [
    { namespace: "mt-acme", pod: "tracker-6f7d9c4b8-x2k9q", container: "matomo", lines: TRACKER },
    { namespace: "mt-acme", pod: "web-5c8d7b6f4-p8r2n", container: "matomo", lines: [...WEB, ...PROBES] },
    { namespace: "mms-system", pod: "mms-operator-6b9f8c7d5-q4w7e", container: "operator", lines: OPERATOR },
    { namespace: "traefik", pod: "traefik-5bdc7bcb78-smrp5", container: "traefik", lines: OTHERS },
  ];
  let i = 0;
  for (const [file, lines] of accessLogFixtures()) {
    out.push({ namespace: `mt-fixture-${i++}`, pod: `web-${file.replace(/[^a-z0-9]/g, "")}-0`, container: "matomo", lines: lines.map((text) => ({ text })) });
  }
  return out;
}

describe("a real run: the agent tails pod log files and sends to a receiver on loopback", () => {
  const input = pods();
  const all = input.flatMap((p) => p.lines.map((l) => ({ namespace: p.namespace, text: l.text, fate: l.expect ?? fateOf(l.text) })));
  const kept = all.filter((l) => l.fate.fate === "kept");
  const counted = all.filter((l) => l.fate.fate === "counted");
  const dropped = all.filter((l) => l.fate.fate === "dropped");
  let pipeline: PipelineRun | undefined;
  let got: Received;

  before(async () => {
    const podsDir = join(work, "pods");
    await writePodLogs(podsDir, input);
    pipeline = await startPipeline(otelcol, podsDir, work);
    // Everything is in once every kept line and every counted request has arrived; a run that loses some
    // stops waiting after a minute and the assertions say what is missing.
    got = await receivedWhen(pipeline.outFile, (r) => r.records.length >= kept.length && countedSum(r.counts) >= counted.length, 60_000);
    // A little longer: whatever should not arrive (probes, successful requests) would have by now.
    await new Promise((r) => setTimeout(r, 3_000));
    got = await readReceived(pipeline.outFile);
  }, { timeout: 120_000 });
  after(async () => {
    await pipeline?.stop();
  });

  test("the input has every kind of line (a test of the test)", () => {
    assert.ok(kept.length >= 20 && counted.length >= HITS && dropped.length >= 5, `kept ${kept.length}, counted ${counted.length}, dropped ${dropped.length}`);
    assert.ok(kept.some((l) => l.fate.fate === "kept" && l.fate.severity === "ERROR") && kept.some((l) => l.fate.fate === "kept" && l.fate.severity === "WARN"));
  });

  test("every error, warning, failed request and other line arrives whole, once, and nothing else arrives as a line", () => {
    const bodies = got.records.map((r) => r.body);
    const lost = missing(kept.map((l) => l.text), bodies);
    const extra = missing(bodies, kept.map((l) => l.text));
    assert.deepEqual(lost, [], `${lost.length} of ${kept.length} lines that must arrive whole did not`);
    assert.deepEqual(extra, [], `${extra.length} lines arrived that should have been counted or dropped`);
    assert.equal(got.records.length, kept.length);
  });

  test("every line arrives with its severity (none when it states none), and with its namespace, pod and container", () => {
    for (const l of kept) {
      if (l.fate.fate !== "kept") continue;
      const r = got.records.find((x) => x.body === l.text);
      assert.ok(r, `not received: ${l.text}`);
      assert.equal(r.severity === "FATAL" ? "ERROR" : r.severity, l.fate.severity, `severity of ${l.text.slice(0, 80)}`);
      assert.equal(r.resource["k8s.namespace.name"], l.namespace);
      assert.ok(r.resource["k8s.pod.name"] && r.resource["k8s.container.name"], JSON.stringify(r.resource));
    }
    const hit503 = got.records.find((r) => r.body === tenantAccess("POST", "/matomo.php", 503));
    assert.equal(hit503?.resource["mms.tenant"], "acme");
    assert.equal(hit503?.attributes["http.response.status_code"], "503");
  });

  test("health checks and probes that succeeded are gone; debug and trace lines and blank lines too", () => {
    const bodies = new Set(got.records.map((r) => r.body));
    for (const l of dropped) assert.ok(!bodies.has(l.text), `dropped line arrived: ${l.text}`);
    assert.ok(!got.records.some((r) => /kube-probe|Blackbox/.test(r.body) && !/ 503 /.test(r.body)));
  });

  test("successful requests arrive as counts whose sum is the number of request lines in, per tenant and kind", () => {
    assert.equal(countedSum(got.counts), counted.length, "all successful requests");
    const trackingIn = counted.filter((l) => l.namespace === "mt-acme" && l.fate.fate === "counted" && l.fate.kind === "tracking").length;
    assert.equal(trackingIn, HITS + 1);
    assert.equal(countedSum(got.counts, { namespace: "mt-acme", kind: "tracking" }), trackingIn, "acme's tracking hits");
    for (const ns of new Set(counted.map((l) => l.namespace))) {
      assert.equal(countedSum(got.counts, { namespace: ns }), counted.filter((l) => l.namespace === ns).length, `requests of ${ns}`);
    }
    // Counted by status too: acme's tracker answered 200 to a third of the hits, 204 to the rest.
    const by = (status: number) => got.counts.filter((c) => c.resource["k8s.namespace.name"] === "mt-acme" && c.kind === "tracking" && c.status === status).reduce((n, c) => n + c.value, 0);
    assert.equal(by(200), HITS / 3);
    assert.equal(by(204), HITS - HITS / 3 + 1);
  });
});
