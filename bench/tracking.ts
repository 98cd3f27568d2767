// Benchmark: tracking requests per second and p50/p95 latency of one tenant's real Matomo, through its
// tracker Service on the real node, against the same image run directly on the same machine outside
// Kubernetes (`ctr run` on the node's containerd: same image, same mounted config, same CPU and memory
// limits, same database), measured by wrk in the same run, rounds interleaved. Goal: platform / direct
// >= 0.9. Then a queued tenant (Redis queue): hits accepted per second with its queue worker stopped, and
// how fast the worker then works the backlog off. Prints one JSON object as its last line.
// Usage: scripts/node bench/tracking.ts [--seconds 20] [--connections 8] [--rounds 2] [--port-base 29200]
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "redis";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import { addressPlan } from "../src/devcluster/addresses.ts";
import { REAL_NODE_PLAN } from "../src/devcluster/components.ts";
import { down, endpoints, up } from "../src/devcluster/environment.ts";
import { archiveVersion, buildImages, locateMatomoArchive, matomoImageRef } from "../src/devcluster/images.ts";
import { cgroupRootName, realNodeRuntimes } from "../src/devcluster/real-node.ts";
import { ensureDebianPrograms, type DebianProgramSet } from "../src/devcluster/sysdeps.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { matomoRequest, type MatomoEndpoint } from "../src/matomo/client.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { createProgress } from "../src/util/progress.ts";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    connections: { type: "string", default: "8" },
    rounds: { type: "string", default: "2" },
    "port-base": { type: "string", default: "29200" },
  },
});
const WRK: DebianProgramSet<"wrk"> = { what: "the HTTP load generator wrk", programs: { wrk: ["/usr/bin/wrk"] }, packages: ["wrk"] };
const progress = createProgress(process.stderr);
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-tracking-"));
const portBase = Number(values["port-base"]);
const env: NodeJS.ProcessEnv = { ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: String(portBase) };
Object.assign(process.env, { MMS_DEV_HOME: env.MMS_DEV_HOME, MMS_DEV_PORT_BASE: env.MMS_DEV_PORT_BASE });
const DIRECT_PORT = 8080;
const CONTAINER = "mms-bench-direct-tracker";

interface Run { requests: number; seconds: number; non2xx: number; socketErrors: number; p50us: number; p95us: number; p99us: number }

async function wrk(wrkPath: string, target: MatomoEndpoint): Promise<Run> {
  const r = await exec(wrkPath, ["-t", "2", "-c", values.connections, "-d", `${values.seconds}s`, "--timeout", "10s", "-s", join(import.meta.dirname, "tracking.lua"),
    `http://${target.address}:${target.port}`], { env: { ...process.env, MMS_BENCH_HOST: target.host } });
  const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (!line) throw new Error(`wrk printed no result: ${r.stdout}${r.stderr}`);
  return JSON.parse(line) as Run;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

let ctr: { ctr: string; socket: string } | undefined;
try {
  const { wrk: wrkPath } = await ensureDebianPrograms(WRK, progress);
  const archive = await locateMatomoArchive({}, env);
  if (!archive) throw new Error("no Matomo release archive in the cache: bench/tracking needs real Matomo");
  const version = await archiveVersion(archive);
  const started = await up({ nodes: 1, realNodes: 1, progress, env });
  await buildImages({ allVersions: true, progress, env });
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: started.status.kubeconfig }));
  const tenant = "bench-tracking";
  const host = `analytics.${tenant}.test`;
  progress.step(`creating tenant ${tenant} (Matomo ${version}) on the real node`);
  await createTenant(http, { name: tenant, domains: [host], plan: REAL_NODE_PLAN, matomoVersion: version });
  const ready = await waitReady(http, tenant, 600_000);
  if (!ready.ok) throw new Error(`tenant ${tenant} is not Ready: ${ready.failing?.message ?? ""}`);
  const ns = tenantNamespace(tenant);
  const svc = await http.get<{ spec: { clusterIP: string } }>("v1", "Service", "tracker", ns);
  const platform: MatomoEndpoint = { address: svc.spec.clusterIP, port: 80, host };

  // The same image, its config as the pod mounts it, run by the node's containerd outside Kubernetes with
  // the pod's limits, in the node's network namespace.
  progress.step("starting the same tracker image outside Kubernetes (ctr run on the node's containerd)");
  const cm = await http.get<{ data: Record<string, string> }>("v1", "ConfigMap", "matomo-config", ns);
  const secret = await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", ns);
  const configDir = join(scratch, "config");
  await exec("mkdir", ["-p", configDir]);
  await writeFile(join(configDir, "common.config.ini.php"), cm.data["common.config.ini.php"] ?? "", { mode: 0o644 });
  await writeFile(join(configDir, "config.ini.php"), Buffer.from(secret.data["config.ini.php"] ?? "", "base64"), { mode: 0o644 });
  const runtime = realNodeRuntimes(env)[0];
  if (!runtime) throw new Error("the environment has no real node");
  ctr = runtime;
  const limits = { cpu: 1, memoryBytes: 512 * 1024 * 1024 }; // the real-node plan's tracker limits
  const child = spawn(runtime.ctr, [
    "-a", runtime.socket, "-n", runtime.namespace, "run", "--rm", "--net-host",
    "--cgroup", `/${cgroupRootName(addressPlan(portBase))}/${CONTAINER}`,
    "--cpu-quota", String(limits.cpu * 100_000), "--cpu-period", "100000", "--memory-limit", String(limits.memoryBytes),
    "--env", "MATOMO_ROLE=tracker",
    // ctr's default spec puts a fresh tmpfs on /run: Apache's run folder goes there as in the pod (an emptyDir).
    "--mount", "type=tmpfs,src=tmpfs,dst=/run/apache2,options=nosuid:nodev:mode=1777",
    "--mount", `type=bind,src=${join(configDir, "common.config.ini.php")},dst=/var/www/html/config/common.config.ini.php,options=rbind:ro`,
    "--mount", `type=bind,src=${join(configDir, "config.ini.php")},dst=/var/www/html/config/config.ini.php,options=rbind:ro`,
    matomoImageRef(version), CONTAINER,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let childErr = "";
  child.stderr.on("data", (b: Buffer) => { childErr = (childErr + b.toString()).slice(-2000); });
  const direct: MatomoEndpoint = { address: addressPlan(portBase).nodeIp(1), port: DIRECT_PORT, host };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await matomoRequest(direct, "/matomo.js", { timeoutMs: 2_000 }).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the direct tracker did not answer on ${direct.address}:${DIRECT_PORT}: ${childErr}`);
    await sleep(500);
  }

  // Warm both up (opcache, Matomo's caches), then interleaved rounds.
  for (const target of [direct, platform]) await wrk(wrkPath, target).catch(() => undefined);
  const runs: { direct: Run[]; platform: Run[] } = { direct: [], platform: [] };
  for (let i = 0; i < Number(values.rounds); i++) {
    for (const [name, target] of [["direct", direct], ["platform", platform]] as const) {
      progress.step(`round ${i + 1}: ${name}`);
      const r = await wrk(wrkPath, target);
      runs[name].push(r);
      process.stderr.write(`${name}: ${JSON.stringify(r)}\n`);
    }
  }
  // QueuedTracking on (Redis queue): hits accepted per second with the queue worker stopped (enqueue only),
  // then how fast the worker works the backlog off.
  progress.step("creating a queued tenant (Redis queue, queue worker)");
  const queuedName = "bench-queued";
  const queuedHost = `analytics.${queuedName}.test`;
  await createTenant(http, { name: queuedName, domains: [queuedHost], plan: REAL_NODE_PLAN, matomoVersion: version, queuedTracking: true });
  const queuedReady = await waitReady(http, queuedName, 600_000);
  if (!queuedReady.ok) throw new Error(`tenant ${queuedName} is not Ready: ${queuedReady.failing?.message ?? ""}`);
  const qns = tenantNamespace(queuedName);
  const scaleWorker = async (replicas: number) => {
    await http.mergePatch("apps/v1", "Deployment", "queue-worker", { spec: { replicas } }, qns);
    for (let i = 0; i < 120; i++) {
      const pods = (await http.list<{ status?: { containerStatuses?: { ready?: boolean }[] } }>("v1", "Pod", qns, "app.kubernetes.io/component=queue-worker")).items;
      if (replicas === 0 ? pods.length === 0 : pods.some((p) => p.status?.containerStatuses?.[0]?.ready)) return;
      await sleep(500);
    }
    throw new Error(`the queue worker did not reach ${replicas} replica(s)`);
  };
  await scaleWorker(0);
  const qsvc = await http.get<{ spec: { clusterIP: string } }>("v1", "Service", "tracker", qns);
  progress.step("queued tenant: enqueue only (worker stopped)");
  const enqueued = await wrk(wrkPath, { address: qsvc.spec.clusterIP, port: 80, host: queuedHost });
  process.stderr.write(`queued: ${JSON.stringify(enqueued)}\n`);
  const tenantObj = await http.get<{ status?: { tracking?: { redisDatabase?: number } } }>(API_GROUP_VERSION, "MatomoTenant", queuedName);
  const e = await endpoints(env);
  const redis = createClient({ socket: { host: e.redis.host, port: e.redis.port, reconnectStrategy: false }, password: e.redis.password, database: tenantObj.status?.tracking?.redisDatabase ?? 0 });
  await redis.connect();
  const backlog = async () => {
    let n = 0;
    for (const k of await redis.keys("trackingQueueV1*")) if ((await redis.type(k)) === "list") n += await redis.lLen(k);
    return n;
  };
  const queuedBefore = await backlog();
  progress.step(`queued tenant: working off ${queuedBefore} queued requests`);
  const drainStart = Date.now();
  await scaleWorker(1);
  while ((await backlog()) > 0 && Date.now() - drainStart < 600_000) await sleep(500);
  const drainSeconds = (Date.now() - drainStart) / 1000;
  const left = await backlog();
  await redis.quit();

  const sum = (rs: Run[]) => ({
    rps: round(median(rs.map((r) => r.requests / r.seconds))),
    p50Ms: round(median(rs.map((r) => r.p50us)) / 1000, 2),
    p95Ms: round(median(rs.map((r) => r.p95us)) / 1000, 2),
    non2xx: rs.reduce((n, r) => n + r.non2xx + r.socketErrors, 0),
  });
  const d = sum(runs.direct);
  const p = sum(runs.platform);
  console.log(JSON.stringify({
    benchmark: "tracking", matomoVersion: version, connections: Number(values.connections), secondsPerRun: Number(values.seconds), rounds: Number(values.rounds),
    limits: { cpu: limits.cpu, memoryMiB: limits.memoryBytes / 1048576 },
    direct: d, platform: p, ratio: round(p.rps / d.rps, 3), goal: 0.9,
    queuedTracking: {
      acceptedRps: round(enqueued.requests / enqueued.seconds), p50Ms: round(enqueued.p50us / 1000, 2), p95Ms: round(enqueued.p95us / 1000, 2),
      non2xx: enqueued.non2xx + enqueued.socketErrors, backlog: queuedBefore, drainSeconds: round(drainSeconds), left,
      drainRps: round((queuedBefore - left) / drainSeconds), note: "enqueue measured with the worker stopped; drain timed from scaling the worker up (pod start included)",
    },
  }));
} finally {
  if (ctr) {
    await exec(ctr.ctr, ["-a", ctr.socket, "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", CONTAINER]).catch(() => undefined);
    await sleep(1000);
    await exec(ctr.ctr, ["-a", ctr.socket, "-n", "k8s.io", "container", "rm", CONTAINER]).catch(() => undefined);
  }
  await down(env).catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
}
