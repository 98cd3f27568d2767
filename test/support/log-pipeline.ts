// The log pipeline without a cluster, for test/log-pipeline.test.ts and bench/log-cost.ts: a folder laid
// out like the kubelet's pod logs (/var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log, lines in the
// container runtime's format), the agent configuration (deploy/observability/otel/agent.yaml) reading it
// and a receiver (receiver.yaml) on loopback writing what it gets to a file, and what that file holds.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream, readFileSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const OTEL_DIR = resolve(import.meta.dirname, "../../deploy/observability/otel");
/** Matomo's log-analytics samples, used from where they are (never copied into the project). */
export const ACCESS_LOG_FIXTURES = resolve(import.meta.dirname, "../../../shared/fixtures/access-logs");

// ---------------------------------------------------------------------------------------------------
// What goes in

/** One line a container wrote. */
export interface InLine {
  readonly text: string;
  /** What the pipeline must do with it, when the test says so itself (else fateOf's judgement). */
  readonly expect?: Fate;
  readonly stream?: "stdout" | "stderr";
  /** Split by the runtime into partial records of this size (the container parser must join them). */
  readonly partialAt?: number;
}

export interface PodLog {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly lines: readonly InLine[];
}

/** What the pipeline must do with a line: ship it whole, count it, or drop it. */
export type Fate =
  | { readonly fate: "kept"; readonly severity: "ERROR" | "WARN" | "INFO" | "" }
  | { readonly fate: "counted"; readonly kind: "tracking" | "page" | "static"; readonly status: number }
  | { readonly fate: "dropped" };

/** The request of an access line in any of the fixtures' formats: status and path, or undefined. */
export function accessRequest(line: string): { status: number; path: string; userAgent: string } | undefined {
  const m = /\[[^\]]+\] (?:(\d{3}) )?"(?:[A-Z]+ ([^\s?"]*))?(?:[^"\\]|\\.)*"(?: (\d{3})\b)?(?: \S+)?(?: "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)")?/.exec(line);
  const status = m?.[3] ?? m?.[1];
  return m && status ? { status: Number(status), path: m[2] ?? "", userAgent: m[4] ?? "" } : undefined;
}

/**
 * The fate the platform's rules give a line (docs/observability.md): blank lines and successful probes
 * are dropped, successful requests are counted by kind, everything else arrives whole. `pino` lines are
 * judged by their level (debug and trace dropped).
 */
export function fateOf(line: string): Fate {
  if (line.trim() === "") return { fate: "dropped" };
  if (line.startsWith("{")) {
    const level = (JSON.parse(line) as { level?: number }).level ?? 30;
    if (level < 30) return { fate: "dropped" };
    return { fate: "kept", severity: level >= 50 ? "ERROR" : level >= 40 ? "WARN" : "INFO" };
  }
  const req = accessRequest(line);
  if (req) {
    const probe = /^\/(healthz|readyz|livez|ping)(\.php)?$/.test(req.path) || /^kube-probe\/|blackbox/i.test(req.userAgent);
    if (req.status < 400) {
      if (probe) return { fate: "dropped" };
      const kind = /(^|\/)(matomo|piwik)\.php$/.test(req.path) ? "tracking" : /\.(js|css|png|jpe?g|gif|svg|ico|webp|woff2?|ttf|eot|map|txt|pdf)$/i.test(req.path) ? "static" : "page";
      return { fate: "counted", kind, status: req.status };
    }
    return { fate: "kept", severity: req.status >= 500 ? "ERROR" : "WARN" };
  }
  // A level the line states (Apache's "[php:error]", Traefik's "ERR", logfmt's "level=warn"), else its words.
  const stated = /\[(?:\w+:)?(emerg|alert|crit|error|warn|notice|info|debug|trace\d)\]|^\S+ (ERR|FTL|PNC|WRN|INF|DBG|TRC) |\blevel="?(error|fatal|panic|crit|warn|info|debug|trace)/i.exec(line)?.slice(1).find(Boolean)?.toLowerCase();
  if (stated) {
    if (/^(debug|trace|dbg|trc)/.test(stated)) return { fate: "dropped" };
    return { fate: "kept", severity: /^(emerg|alert|crit|err|ftl|pnc|fatal|panic)/.test(stated) ? "ERROR" : /^(warn|wrn)/.test(stated) ? "WARN" : "INFO" };
  }
  if (/\b(error|fatal|panic|exception)\b/i.test(line)) return { fate: "kept", severity: "ERROR" };
  if (/\bwarn(ing)?\b/i.test(line)) return { fate: "kept", severity: "WARN" };
  return { fate: "kept", severity: "" };
}

/** The lines of every access-log fixture (Matomo's log-analytics samples), by file name. */
export function accessLogFixtures(): Map<string, string[]> {
  const files = readdirSync(ACCESS_LOG_FIXTURES).filter((f) => f.endsWith(".log")).sort();
  return new Map(files.map((f) => [f, readFileSync(join(ACCESS_LOG_FIXTURES, f), "utf8").replace(/\n$/, "").split("\n")]));
}

/** A pod's log folder name: <namespace>_<pod>_<uid>, as the kubelet names it. */
function podFolder(p: PodLog): string {
  return `${p.namespace}_${p.pod}_${randomUUID()}`;
}

/** One line in the container runtime's format, cut into partial records when asked. */
function runtimeRecords(l: InLine, at: Date): string {
  const stream = l.stream ?? "stdout";
  const t = at.toISOString().replace("Z", "000000Z");
  const size = l.partialAt ?? 0;
  if (size <= 0 || l.text.length <= size) return `${t} ${stream} F ${l.text}\n`;
  const parts: string[] = [];
  for (let i = 0; i < l.text.length; i += size) parts.push(l.text.slice(i, i + size));
  return parts.map((part, i) => `${t} ${stream} ${i === parts.length - 1 ? "F" : "P"} ${part}\n`).join("");
}

/** Writes each pod's log file under `podsDir`; returns the bytes and lines written (runtime format). */
export async function writePodLogs(podsDir: string, pods: readonly PodLog[]): Promise<{ bytes: number; lines: number }> {
  let bytes = 0;
  let lines = 0;
  const at = new Date();
  for (const p of pods) {
    const dir = join(podsDir, podFolder(p), p.container);
    await mkdir(dir, { recursive: true });
    const text = p.lines.map((l) => runtimeRecords(l, at)).join("");
    await writeFile(join(dir, "0.log"), text);
    bytes += Buffer.byteLength(text);
    lines += p.lines.length;
  }
  return { bytes, lines };
}

// ---------------------------------------------------------------------------------------------------
// The two collectors

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolvePort(addr.port) : reject(new Error("no port"))));
    });
  });
}

export interface Collector {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
  readonly healthPort: number;
}

/** Starts `otelcol --config <file>` with the given environment; its output goes to `<work>/<name>.log`. */
export async function startCollector(otelcol: string, name: string, config: string, env: Record<string, string>, work: string, healthPort: number): Promise<Collector> {
  const log = join(work, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(otelcol, [`--config=${config}`], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const c = { name, child, log, healthPort };
  await waitHealthy(c);
  return c;
}

async function waitHealthy(c: Collector): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (c.child.exitCode !== null) break;
    const ok = await fetch(`http://127.0.0.1:${c.healthPort}/`).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`the ${c.name} collector did not become healthy (exit code ${c.child.exitCode ?? "none"}): ${(await readFile(c.log, "utf8").catch(() => "")).slice(-2000)}`);
}

/** Stops a collector this process started (SIGTERM: it flushes what it holds first). */
export async function stopCollector(c: Collector): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise((r) => c.child.once("exit", r));
  c.child.kill("SIGTERM");
  await Promise.race([exited, sleep(15_000)]);
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
}

export interface PipelineRun {
  readonly agent: Collector;
  readonly receiver: Collector;
  /** The receiver's output: one JSON line per OTLP request. */
  readonly outFile: string;
  stop(): Promise<void>;
}

/**
 * The receiver on loopback, then the agent reading `podsDir` from the beginning and sending to it, with
 * counts every `countInterval` (the production default is a minute; a test need not wait that long).
 */
export async function startPipeline(otelcol: string, podsDir: string, work: string, countInterval = "1s"): Promise<PipelineRun> {
  const [otlp, rHealth, rMetrics, aHealth, aMetrics] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const outFile = join(work, "received.jsonl");
  const receiver = await startCollector(otelcol, "receiver", join(OTEL_DIR, "receiver.yaml"), {
    MMS_RECEIVER_ENDPOINT: `127.0.0.1:${otlp}`,
    MMS_RECEIVER_FILE: outFile,
    MMS_RECEIVER_HEALTH_ENDPOINT: `127.0.0.1:${rHealth}`,
    MMS_RECEIVER_METRICS_PORT: String(rMetrics),
  }, work, rHealth);
  const agent = await startCollector(otelcol, "agent", join(OTEL_DIR, "agent.yaml"), {
    MMS_LOGS_ENDPOINT: `http://127.0.0.1:${otlp}`,
    MMS_LOGS_PODS_DIR: podsDir,
    MMS_LOGS_STATE_DIR: join(work, "agent-state"),
    MMS_LOGS_START_AT: "beginning",
    MMS_LOGS_COUNT_INTERVAL: countInterval,
    MMS_LOGS_HEALTH_ENDPOINT: `127.0.0.1:${aHealth}`,
    MMS_LOGS_METRICS_PORT: String(aMetrics),
  }, work, aHealth).catch(async (err: unknown) => {
    await stopCollector(receiver);
    throw err;
  });
  return {
    agent, receiver, outFile,
    async stop() {
      await stopCollector(agent);
      await stopCollector(receiver);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// What came out

type Attr = { key: string; value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean } };
type OtlpLine = {
  resourceLogs?: { resource?: { attributes?: Attr[] }; scopeLogs?: { logRecords?: { severityText?: string; body?: { stringValue?: string }; attributes?: Attr[] }[] }[] }[];
  resourceMetrics?: { resource?: { attributes?: Attr[] }; scopeMetrics?: { metrics?: { name: string; sum?: { dataPoints?: { attributes?: Attr[]; asInt?: string }[] } }[] }[] }[];
};

function attrs(list: Attr[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, String(a.value.stringValue ?? a.value.intValue ?? a.value.doubleValue ?? a.value.boolValue ?? "")]));
}

/** A record that arrived: its resource's attributes, its own, its severity and its body. */
export interface OutRecord {
  readonly resource: Record<string, string>;
  readonly attributes: Record<string, string>;
  readonly severity: string;
  readonly body: string;
}

/** A data point of the counts of successful requests. */
export interface OutCount {
  readonly resource: Record<string, string>;
  readonly kind: string;
  readonly status: number;
  readonly value: number;
}

export interface Received {
  readonly records: OutRecord[];
  readonly counts: OutCount[];
  /** Bytes of the receiver's file (the JSON lines as written), or of the share kept. */
  readonly bytes: number;
  /** Its lines (one per OTLP request received). */
  readonly requests: number;
}

export const COUNT_METRIC = "mms.http.requests";

/**
 * What the receiver wrote (OTLP's JSON encoding, one request per line), keeping the resources `keep`
 * accepts; `bytes` is then their share: each line whose resources all count, and the JSON of the kept
 * resources of the others.
 */
export function parseReceived(text: string, keep: (resource: Record<string, string>) => boolean = () => true): Received {
  const records: OutRecord[] = [];
  const counts: OutCount[] = [];
  let bytes = 0;
  let requests = 0;
  // Only whole lines: the receiver may be writing the last one.
  for (const line of text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l.trim() !== "")) {
    const o = JSON.parse(line) as OtlpLine;
    const logs = (o.resourceLogs ?? []).filter((rl) => keep(attrs(rl.resource?.attributes)));
    const metrics = (o.resourceMetrics ?? []).filter((rm) => keep(attrs(rm.resource?.attributes)));
    if (logs.length + metrics.length === 0) continue;
    requests++;
    const whole = logs.length === (o.resourceLogs ?? []).length && metrics.length === (o.resourceMetrics ?? []).length;
    bytes += Buffer.byteLength(whole ? line : JSON.stringify({ resourceLogs: logs, resourceMetrics: metrics })) + 1;
    for (const rl of logs) {
      const resource = attrs(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const r of sl.logRecords ?? []) records.push({ resource, attributes: attrs(r.attributes), severity: r.severityText ?? "", body: r.body?.stringValue ?? "" });
      }
    }
    for (const rm of metrics) {
      const resource = attrs(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          if (m.name !== COUNT_METRIC) continue;
          for (const dp of m.sum?.dataPoints ?? []) {
            const a = attrs(dp.attributes);
            counts.push({ resource, kind: a["mms.request"] ?? "", status: Number(a["http.response.status_code"]), value: Number(dp.asInt ?? 0) });
          }
        }
      }
    }
  }
  return { records, counts, bytes, requests };
}

/** The receiver's whole file. */
export async function readReceived(outFile: string): Promise<Received> {
  return parseReceived(await readFile(outFile, "utf8").catch(() => ""));
}

/** The lines of a container log file's text (runtime format), partial records joined. */
export function runtimeLines(text: string): string[] {
  const out: string[] = [];
  let partial = "";
  for (const record of text.split("\n")) {
    const m = /^\S+ (?:stdout|stderr) ([PF]) ?(.*)$/.exec(record);
    if (!m) continue;
    partial += m[2] ?? "";
    if (m[1] === "F") {
      out.push(partial);
      partial = "";
    }
  }
  return out;
}

/** Sum of the counted requests, optionally of one namespace and kind. */
export function countedSum(counts: readonly OutCount[], filter: { namespace?: string; kind?: string } = {}): number {
  return counts
    .filter((c) => (filter.namespace === undefined || c.resource["k8s.namespace.name"] === filter.namespace) && (filter.kind === undefined || c.kind === filter.kind))
    .reduce((n, c) => n + c.value, 0);
}

/** Waits until `done(received)` or the timeout; resolves with the last reading either way. */
export async function receivedWhen(outFile: string, done: (r: Received) => boolean, timeoutMs: number): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await readReceived(outFile);
    if (done(r) || Date.now() > deadline) return r;
    await sleep(500);
  }
}

/** Multiset difference: the items of `want` that `have` lacks (as many times as they are missing). */
export function missing(want: readonly string[], have: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const h of have) left.set(h, (left.get(h) ?? 0) + 1);
  const out: string[] = [];
  for (const w of want) {
    const n = left.get(w) ?? 0;
    if (n > 0) left.set(w, n - 1);
    else out.push(w);
  }
  return out;
}
