// Benchmark: what the log pipeline (deploy/observability/otel) ships compared with what the containers
// wrote, in bytes and lines, and whether any error line is lost on the way. Two measures in one run:
//   fixtures: Matomo's access-log samples (../shared/fixtures/access-logs) in the container log format,
//     read by the agent configuration with the collector built here and sent to a receiver on loopback;
//   cluster: the running dev environment's real node under tracking load (bench/tracking.lua through wrk,
//     plus requests the tracker refuses): the bytes appended to the tenant pods' log files (what the agent
//     reads) against the bytes the local OTLP receiver wrote meanwhile (everything it got, all namespaces:
//     the conservative figure) and the tenant's share of them.
// Error lines (failed requests, errors and warnings) are counted on both sides. Goal: >= 80 % fewer
// bytes, 0 error lines lost. Prints one JSON object as its last line.
// Usage: scripts/node bench/log-cost.ts [--seconds 60] [--connections 4] [--refused 20] [--fixtures-only]
// The reduction depends on the share of failed requests (each is shipped whole, in OTLP's JSON several times
// its own size): --refused sets how many the tracker refuses on top of the load.
// The cluster part needs `mms dev up` with a real node and a Matomo release archive (docs/dev-environment.md).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, open, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { setTimeout as sleep } from "node:timers/promises";
import { tenantNamespace } from "../src/api/names.ts";
import { REAL_NODE_PLAN } from "../src/devcluster/components.ts";
import { currentPaths } from "../src/devcluster/environment.ts";
import { archiveVersion, locateMatomoArchive } from "../src/devcluster/images.ts";
import { ensureOtelcol } from "../src/devcluster/otelcol.ts";
import { realNodeDirs } from "../src/devcluster/real-node.ts";
import { ensureDebianPrograms, type DebianProgramSet } from "../src/devcluster/sysdeps.ts";
import type { KubeHttp } from "../src/kube/http.ts";
import { matomoRequest } from "../src/matomo/client.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { createProgress } from "../src/util/progress.ts";
import {
  accessLogFixtures, countedSum, fateOf, missing, parseReceived, readReceived, receivedWhen, runtimeLines, startPipeline, writePodLogs,
  type PodLog, type Received,
} from "../test/support/log-pipeline.ts";
import { matomoBed, NEWER, removeMatomoTenant } from "../test/support/matomo.ts";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    connections: { type: "string", default: "4" },
    // About 1 % of the hits this machine's tracker serves in a minute: more failures than production sees.
    refused: { type: "string", default: "20" },
    "fixtures-only": { type: "boolean", default: false },
  },
});
const WRK: DebianProgramSet<"wrk"> = { what: "the HTTP load generator wrk", programs: { wrk: ["/usr/bin/wrk"] }, packages: ["wrk"] };
const progress = createProgress(process.stderr);
const ratio = (out: number, inn: number) => (inn === 0 ? 0 : Math.round((1 - out / inn) * 1000) / 1000);

/** Lines in and what came out of them: the figures both measures report. */
interface Measure {
  readonly bytesIn: number;
  readonly linesIn: number;
  readonly bytesOut: number;
  /** bytesOut gzip-compressed, as the agent's OTLP/HTTP exporter sends it (protobuf is smaller still). */
  readonly bytesOutGzip: number;
  readonly linesOut: number;
  readonly countPointsOut: number;
  readonly countedRequestsIn: number;
  readonly countedRequestsOut: number;
  readonly errorLinesIn: number;
  readonly errorLinesOut: number;
  readonly errorLinesLost: number;
  readonly reduction: number;
  readonly reductionGzip: number;
}

/** Compares the lines in with what the receiver holds; `out` is what the caller counts as shipped. */
function measure(lines: readonly string[], bytesIn: number, got: Received, out: Buffer): Measure {
  const fates = lines.map((text) => ({ text, fate: fateOf(text) }));
  const errors = fates.filter((l) => l.fate.fate === "kept" && (l.fate.severity === "ERROR" || l.fate.severity === "WARN")).map((l) => l.text);
  const lost = missing(errors, got.records.map((r) => r.body));
  const gzipped = gzipSync(out).length;
  return {
    bytesIn, linesIn: lines.length, bytesOut: out.length, bytesOutGzip: gzipped, linesOut: got.records.length, countPointsOut: got.counts.length,
    countedRequestsIn: fates.filter((l) => l.fate.fate === "counted").length, countedRequestsOut: countedSum(got.counts),
    errorLinesIn: errors.length, errorLinesOut: errors.length - lost.length, errorLinesLost: lost.length,
    reduction: ratio(out.length, bytesIn),
    reductionGzip: ratio(gzipped, bytesIn),
  };
}

// ---------------------------------------------------------------------------------------------------
// (a) the access-log fixtures

async function fixtures(): Promise<Measure & { files: number; fixtureBytes: number; countInterval: string }> {
  const otelcol = await ensureOtelcol(progress);
  const work = await mkdtemp(join(tmpdir(), "mms-bench-log-cost-"));
  const countInterval = "5s";
  try {
    const pods: PodLog[] = [...accessLogFixtures()].map(([file, lines], i) => ({
      namespace: `mt-fixture-${i}`, pod: `web-${file.replace(/[^a-z0-9]/g, "")}-0`, container: "matomo", lines: lines.map((text) => ({ text })),
    }));
    const lines = pods.flatMap((p) => p.lines.map((l) => l.text));
    const written = await writePodLogs(join(work, "pods"), pods);
    progress.step(`fixtures: ${lines.length} lines through the agent and the receiver`);
    const pipeline = await startPipeline(otelcol, join(work, "pods"), work, countInterval);
    try {
      const counted = lines.filter((l) => fateOf(l).fate === "counted").length;
      const kept = lines.filter((l) => fateOf(l).fate === "kept").length;
      await receivedWhen(pipeline.outFile, (r) => r.records.length >= kept && countedSum(r.counts) >= counted, 60_000);
    } finally {
      await pipeline.stop();
    }
    const got = await readReceived(pipeline.outFile);
    // The fixtures as they are, and (bytesIn) as a container runtime writes them: what the agent reads.
    const fixtureBytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    return { files: pods.length, fixtureBytes, countInterval, ...measure(lines, written.bytes, got, await readFile(pipeline.outFile)) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// (b) the dev environment's real node under tracking load

/** Bytes of a file from `offset` on (what was appended since it was that long). */
async function tail(file: string, offset: number): Promise<Buffer> {
  const f = await open(file, "r");
  try {
    const size = (await f.stat()).size;
    const from = size >= offset ? offset : 0; // shorter: rotated meanwhile, all of it is new
    const buf = Buffer.alloc(size - from);
    await f.read(buf, 0, buf.length, from);
    return buf;
  } finally {
    await f.close();
  }
}

/** Every log file of the namespace's pods on the node (<pod logs>/<ns>_<pod>_<uid>/<container>/N.log) with its size. */
async function podLogFiles(podLogs: string, namespace: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const pod of (await readdir(podLogs)).filter((d) => d.startsWith(`${namespace}_`))) {
    for (const container of await readdir(join(podLogs, pod))) {
      for (const f of (await readdir(join(podLogs, pod, container))).filter((n) => n.endsWith(".log"))) {
        const path = join(podLogs, pod, container, f);
        out.set(path, (await stat(path)).size);
      }
    }
  }
  return out;
}

/** The local receiver's output file, in its pod's emptyDir on the node. */
async function receiverFile(http: KubeHttp, kubeletRoot: string): Promise<string> {
  const pods = (await http.list<{ metadata: { uid: string }; status?: { phase?: string } }>("v1", "Pod", "mms-logs", "app.kubernetes.io/name=otel-receiver")).items;
  const pod = pods.find((p) => p.status?.phase === "Running");
  if (!pod) throw new Error("no running otel-receiver pod in mms-logs: the dev environment's chart has no log pipeline (run bin/mms dev up with this checkout)");
  const file = join(kubeletRoot, "pods", pod.metadata.uid, "volumes", "kubernetes.io~empty-dir", "data", "otlp.jsonl");
  for (let i = 0; i < 60 && !existsSync(file); i++) await sleep(1000);
  if (!existsSync(file)) throw new Error(`the receiver has written nothing yet (${file})`);
  return file;
}

async function cluster(): Promise<Measure & Record<string, unknown>> {
  const bed = await matomoBed([NEWER]);
  if ("skip" in bed) throw new Error(`the cluster measure cannot run: ${bed.skip} (--fixtures-only runs the fixtures alone)`);
  const { wrk } = await ensureDebianPrograms(WRK, progress);
  const archive = await locateMatomoArchive({});
  const version = archive ? await archiveVersion(archive) : NEWER;
  const node = realNodeDirs(currentPaths(), 1);
  const podLogs = join(node.root, "pod-logs");
  const outFile = await receiverFile(bed.http, node.kubeletRoot);
  const name = `logb-${Date.now().toString(36).slice(-5)}`;
  const ns = tenantNamespace(name);
  const host = `analytics.${name}.test`;
  try {
    progress.step(`creating tenant ${name} (Matomo ${version}) on the real node`);
    await createTenant(bed.http, { name, domains: [host], plan: REAL_NODE_PLAN, matomoVersion: version });
    const ready = await waitReady(bed.http, name, 600_000);
    if (!ready.ok) throw new Error(`tenant ${name} is not Ready: ${ready.failing?.message ?? ""}`);
    const svc = await bed.http.get<{ spec: { clusterIP: string } }>("v1", "Service", "tracker", ns);
    const tracker = { address: svc.spec.clusterIP, port: 80, host };
    // Let start-up lines reach the receiver before the window opens.
    await sleep(20_000);
    const before = await podLogFiles(podLogs, ns);
    const receiverBefore = (await stat(outFile)).size;

    progress.step(`tracking load: wrk for ${values.seconds} s with ${values.connections} connections, and ${values.refused} refused requests`);
    const load = await exec(wrk, ["-t", "2", "-c", values.connections, "-d", `${values.seconds}s`, "--timeout", "10s", "-s", join(import.meta.dirname, "tracking.lua"), `http://${tracker.address}:${tracker.port}`],
      { env: { ...process.env, MMS_BENCH_HOST: host } });
    const wrkResult = JSON.parse(load.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "{}") as { requests?: number; non2xx?: number };
    // Requests the tracker role refuses (404): failed requests, whose lines must all arrive whole.
    for (let i = 0; i < Number(values.refused); i++) await matomoRequest(tracker, `/no-such-page-${i}`, { timeoutMs: 5_000 }).catch(() => undefined);

    // What the tenant's containers wrote in the window.
    const after = await podLogFiles(podLogs, ns);
    let bytesIn = 0;
    const lines: string[] = [];
    for (const [file] of after) {
      const added = await tail(file, before.get(file) ?? 0);
      bytesIn += added.length;
      lines.push(...runtimeLines(added.toString("utf8")));
    }
    const counted = lines.filter((l) => fateOf(l).fate === "counted").length;
    const kept = lines.filter((l) => fateOf(l).fate === "kept");
    progress.step(`waiting for the agent to ship ${kept.length} lines and count ${counted} requests`);
    const tenantShare = async () => parseReceived((await tail(outFile, receiverBefore)).toString("utf8"), (resource) => resource["k8s.namespace.name"] === ns);
    const deadline = Date.now() + 180_000;
    let got = await tenantShare();
    while (Date.now() < deadline && !(got.records.length >= kept.length && countedSum(got.counts) >= counted)) {
      await sleep(2_000);
      got = await tenantShare();
    }
    const written = await tail(outFile, receiverBefore);
    return {
      tenant: name, matomoVersion: version, seconds: Number(values.seconds), connections: Number(values.connections),
      trackingRequests: wrkResult.requests ?? 0, trackingNon2xx: wrkResult.non2xx ?? 0, refusedRequests: Number(values.refused),
      ...measure(lines, bytesIn, got, written),
      tenantBytesOut: got.bytes, tenantReduction: ratio(got.bytes, bytesIn),
      note: "bytesOut: everything the receiver wrote during the window (all namespaces, OTLP JSON); tenantBytesOut: the tenant's resources alone",
    };
  } finally {
    await removeMatomoTenant(bed.http, name).catch(() => undefined);
  }
}

const a = await fixtures();
process.stderr.write(`fixtures: ${JSON.stringify(a)}\n`);
const b = values["fixtures-only"] ? undefined : await cluster();
console.log(JSON.stringify({
  benchmark: "log-cost",
  goal: { reduction: 0.8, errorLinesLost: 0 },
  fixtures: a,
  ...(b ? { cluster: b } : {}),
  metGoal: [a, ...(b ? [b] : [])].every((m) => m.errorLinesLost === 0) && (b ? b.reduction >= 0.8 : a.reduction >= 0.8),
}));
