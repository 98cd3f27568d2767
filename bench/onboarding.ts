// Benchmark: create N tenants at once on an isolated dev environment and measure, for each, the time
// from create to Ready; plus the total and the operator's peak memory. Prints one JSON object as its
// last line. Usage: scripts/node bench/onboarding.ts [--counts 1,10,100] [--nodes 12] [--port-base 31000]
//
// --real: the tenants run real Matomo on the environment's real node (plan real-node, the newest Matomo
// archive of the cache, its image built first and not timed), and each is timed from create to its first
// tracking hit answered 2xx through its tracker Service (counts default to 1,10).
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { createProgress } from "../src/util/progress.ts";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { currentPaths, down, up } from "../src/devcluster/environment.ts";
import { readState } from "../src/devcluster/state.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { condition, createTenant } from "../src/tenants/service.ts";
import { randomBytes } from "node:crypto";
import { tenantNamespace } from "../src/api/names.ts";
import { REAL_NODE_PLAN } from "../src/devcluster/components.ts";
import { archiveVersion, buildImages, locateMatomoArchive, matomoArchivesDir } from "../src/devcluster/images.ts";
import { matomoRequest } from "../src/matomo/client.ts";

const { values } = parseArgs({
  options: {
    counts: { type: "string", default: "1,10,100" },
    nodes: { type: "string", default: "12" },
    "port-base": { type: "string", default: "31000" },
    "timeout-seconds": { type: "string", default: "600" },
    real: { type: "boolean", default: false },
  },
});
const real = values.real;
const counts = (real && process.argv.every((a) => !a.startsWith("--counts")) ? "1,10" : values.counts).split(",").map(Number);
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-onboarding-"));
const env: NodeJS.ProcessEnv = { ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"] };
// The environment module reads these from process.env too (kubeconfig fallback, paths).
Object.assign(process.env, { MMS_DEV_HOME: env.MMS_DEV_HOME, MMS_DEV_PORT_BASE: env.MMS_DEV_PORT_BASE });

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const round = (x: number) => Math.round(x * 100) / 100;

/** Peak memory of the local operator process; NaN when the operator runs as pods (a real node: the chart). */
function peakRssMb(pid: number): number {
  if (!pid) return NaN;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

const results: Record<string, unknown>[] = [];
try {
  const started = await up({ nodes: Number(values.nodes), realNodes: real ? 1 : 0, progress: createProgress(process.stderr), env });
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: started.status.kubeconfig }));
  const version = real ? await newestMatomo(env) : undefined;
  const operatorPid = (await readState(currentPaths(env)))?.processes.operator?.pid ?? 0;
  for (const [round_, n] of counts.entries()) {
    const names = Array.from({ length: n }, (_, i) => `b${round_}-t${String(i).padStart(3, "0")}`);
    const t0 = Date.now();
    const createdAt = new Map<string, number>();
    await Promise.all(names.map(async (name) => {
      createdAt.set(name, Date.now());
      await createTenant(http, { name, domains: [`analytics.${name}.bench.test`], ...(real ? { plan: REAL_NODE_PLAN, matomoVersion: version } : {}) });
    }));
    if (real) {
      const firstHit = await firstHits(http, names, t0 + Number(values["timeout-seconds"]) * 1000);
      const latencies = [...firstHit].map(([name, at]) => (at - (createdAt.get(name) ?? t0)) / 1000);
      results.push({
        tenants: n, firstHitAccepted: firstHit.size, matomoVersion: version,
        p50Seconds: round(quantile(latencies, 0.5)), p95Seconds: round(quantile(latencies, 0.95)), maxSeconds: round(Math.max(...latencies)),
        totalSeconds: round((Math.max(...firstHit.values()) - t0) / 1000), operatorPeakRssMb: peakRssMb(operatorPid),
      });
      process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
      continue;
    }
    const readyAt = new Map<string, number>();
    const deadline = t0 + Number(values["timeout-seconds"]) * 1000;
    while (readyAt.size < n && Date.now() < deadline) {
      const list = await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant");
      for (const t of list.items) {
        if (createdAt.has(t.metadata.name) && !readyAt.has(t.metadata.name) && condition(t, "Ready")?.status === "True") readyAt.set(t.metadata.name, Date.now());
      }
      await sleep(100);
    }
    const latencies = [...readyAt].map(([name, at]) => (at - (createdAt.get(name) ?? t0)) / 1000);
    results.push({
      tenants: n,
      ready: readyAt.size,
      p50Seconds: round(quantile(latencies, 0.5)),
      p95Seconds: round(quantile(latencies, 0.95)),
      maxSeconds: round(Math.max(...latencies)),
      totalSeconds: round((Math.max(...readyAt.values()) - t0) / 1000),
      operatorPeakRssMb: peakRssMb(operatorPid),
    });
    process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
  }
} finally {
  await down(env).catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
}
console.log(JSON.stringify({ benchmark: real ? "onboarding-real" : "onboarding", nodes: Number(values.nodes), ...(real ? { measure: "create → first tracking hit answered 2xx" } : {}), runs: results }));

/** The newest Matomo archive's version, its image built (and loaded into the real node) before timing. */
async function newestMatomo(e: NodeJS.ProcessEnv): Promise<string> {
  const archive = await locateMatomoArchive({}, e);
  if (!archive) throw new Error(`--real needs a Matomo release archive in ${matomoArchivesDir(e)}`);
  await buildImages({ allVersions: true, progress: createProgress(process.stderr), env: e });
  return archiveVersion(archive);
}

/** Each tenant's first tracking request answered 2xx through its tracker Service, polled every 200 ms. */
async function firstHits(http: KubeHttp, names: readonly string[], deadline: number): Promise<Map<string, number>> {
  const at = new Map<string, number>();
  await Promise.all(names.map(async (name) => {
    const visitor = randomBytes(8).toString("hex");
    while (Date.now() < deadline) {
      const svc = await http.getOrUndefined<{ spec?: { clusterIP?: string } }>("v1", "Service", "tracker", tenantNamespace(name));
      const ip = svc?.spec?.clusterIP;
      if (ip) {
        const query = new URLSearchParams({ idsite: "1", rec: "1", _id: visitor, url: "https://www.example.test/first", action_name: "first", send_image: "0" });
        const status = await matomoRequest({ address: ip, port: 80, host: `analytics.${name}.bench.test` }, `/matomo.php?${query.toString()}`, { timeoutMs: 5_000 })
          .then((r) => r.status, () => 0);
        if (status >= 200 && status < 300) {
          at.set(name, Date.now());
          return;
        }
      }
      await sleep(200);
    }
  }));
  return at;
}
