// `mms dev up|down|status|env`: brings the local cluster-in-a-box and its data services up and down.
// Everything started by one `up` is recorded at once and rolled back if that `up` fails, so an
// error never leaves a half-started environment behind.
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import { kubeClients, loadKubeConfig } from "../kube/client.ts";
import { KubeHttp } from "../kube/http.ts";
import { ensureBuilt } from "./build.ts";
import {
  ADMIN_DB_USER, applyDevObjects, COMPONENTS, componentsFor, DEV_BACKUP_BUCKET, devTimings, simFiles, type BinDirs, type Component, type ComponentName, type Context,
  type Secrets, type SystemPrograms,
} from "./components.ts";
import { buildImages, mmsImageRef } from "./images.ts";
import { chartImage, installPlatformChart } from "./platform-chart.ts";
import { ensureNodeNetwork, MAX_DEV_REAL_NODES, realNodeDirs, realNodeName, removeNodeLeftovers } from "./real-node.ts";
import { run } from "../util/exec.ts";
import { isReady, listSimulatedNodes, reconcileNodes, waitNodesReady, waitRealNodeReady } from "./nodes.ts";
import { devHome, devPaths, type DevPaths } from "./paths.ts";
import { addressPlan, CLUSTER_RANGE } from "./addresses.ts";
import { ensurePki, pkiFiles, writeKubeconfig } from "./pki.ts";
import { isPortFree, parsePortBase, portHolder, portsFrom, PORT_OFFSETS, type PortName } from "./ports.ts";
import { isOurs, startDetached, stopProcess, type ProcessSpec } from "./processes.ts";
import { ensureSecrets, readSecrets, readState, withLock, writeState, type DevState, type ProcessRecord } from "./state.ts";
import { ensureDebianPrograms, ensureSystemPrograms, IMAGE_PROGRAMS, NODE_PROGRAMS } from "./sysdeps.ts";
import { acmeEndpoints, type AcmeEndpoints } from "./acme.ts";
import { BUILDS } from "./versions.ts";

export const DEFAULT_NODES = 3;
/** The bucket of the dev environment's BackupStore "default". */
export { DEV_BACKUP_BUCKET };
export const MAX_NODES = 100;
export const DEFAULT_REAL_NODES = 1;
export { MAX_DEV_REAL_NODES };
const REAL_NODE_READY_TIMEOUT_MS = 120_000;
const HEALTH_TIMEOUT_MS = 90_000;
const NODES_READY_TIMEOUT_MS = 60_000;

export interface UpOptions {
  readonly nodes: number;
  /** Real nodes (kubelet + containerd) beside the simulated ones: 0 or 1 (DEFAULT_REAL_NODES). */
  readonly realNodes?: number;
  readonly progress: Progress;
  readonly env?: NodeJS.ProcessEnv;
}

export interface UpResult {
  readonly alreadyUp: boolean;
  readonly started: readonly ComponentName[];
  readonly seconds: number;
  readonly status: DevStatus;
}

export function currentPaths(env: NodeJS.ProcessEnv = process.env): DevPaths {
  return devPaths(devHome(env));
}

async function buildAll(progress: Progress, realNodes: number): Promise<BinDirs> {
  const bins = {
    etcd: await ensureBuilt(BUILDS.etcd, progress),
    kubernetes: await ensureBuilt(BUILDS.kubernetes, progress),
    kwok: await ensureBuilt(BUILDS.kwok, progress),
    seaweedfs: await ensureBuilt(BUILDS.seaweedfs, progress),
  };
  if (realNodes === 0) return bins;
  return {
    ...bins,
    kubernetesNode: await ensureBuilt(BUILDS.kubernetesNode, progress),
    containerd: await ensureBuilt(BUILDS.containerd, progress),
    coredns: await ensureBuilt(BUILDS.coredns, progress),
    crictl: await ensureBuilt(BUILDS.crictl, progress),
    kubeRouter: await ensureBuilt(BUILDS.kubeRouter, progress),
    pebble: await ensureBuilt(BUILDS.pebble, progress),
    // The platform is installed on the real node with its Helm chart (platform-chart.ts).
    helm: await ensureBuilt(BUILDS.helm, progress),
  };
}

/** After nsenter: the pid runs the program itself once nsenter has entered the namespace. */
async function settleExec(rec: ProcessRecord): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!isOurs(rec.pid, rec.executable) && Date.now() < deadline) await sleep(20);
}

function alive(state: DevState | undefined, c: Component): ProcessRecord | undefined {
  const rec = state?.processes[c.name];
  return rec && isOurs(rec.pid, rec.executable) ? rec : undefined;
}

/** Identifies a command line, to see whether a running component was started with the current one. */
function specKey(spec: ProcessSpec): string {
  return createHash("sha256").update(JSON.stringify([spec.command, spec.args, spec.env ?? {}, spec.cwd ?? ""])).digest("hex").slice(0, 16);
}

async function logTail(paths: DevPaths, name: string, lines = 3): Promise<string> {
  const text = await readFile(join(paths.logs, `${name}.log`), "utf8").catch(() => "");
  return text.trim().split("\n").slice(-lines).join(" | ");
}

async function waitHealthy(ctx: Context, c: Component, rec: ProcessRecord): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let reason = "no answer yet";
  while (Date.now() < deadline) {
    if (!isOurs(rec.pid, rec.executable)) {
      throw new UserError(`${c.name} exited during start-up (${await logTail(ctx.paths, c.name)}); its log is ${join(ctx.paths.logs, `${c.name}.log`)}`);
    }
    try {
      await c.health(ctx);
      return;
    } catch (err) {
      reason = (err as Error).message;
    }
    await sleep(200);
  }
  throw new UserError(`${c.name} did not become healthy within ${HEALTH_TIMEOUT_MS / 1000} s (${reason}); its log is ${join(ctx.paths.logs, `${c.name}.log`)}`);
}

/** Checks every port the given components need, before anything is started. */
async function checkPorts(components: readonly Component[], ports: Record<PortName, number>, graceMs = 0): Promise<void> {
  for (const c of components) {
    for (const p of c.ports) {
      if (!(await portFreeWithin(ports[p], graceMs))) {
        const holder = await portHolder(ports[p]);
        throw new UserError(
          `port ${ports[p]} on 127.0.0.1, needed by ${c.name}, is already in use${holder ? ` by ${holder}` : " by another program"}; ` +
          "stop that program or move the dev environment with MMS_DEV_PORT_BASE",
        );
      }
    }
  }
}

/**
 * A process of ours that just died may hold its sockets a moment longer: a multi-threaded process's
 * main thread is already a zombie (so it no longer counts as running) while its other threads close
 * the files. Ports we used ourselves therefore get a short grace period before being called taken.
 */
async function portFreeWithin(port: number, graceMs: number): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    if (await isPortFree(port)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

export async function up(opts: UpOptions): Promise<UpResult> {
  const env = opts.env ?? process.env;
  const paths = currentPaths(env);
  const t0 = Date.now();
  const progress = opts.progress;
  const timings = devTimings(env);
  return withLock(paths, async () => {
    const previous = await readState(paths);
    // Unsaid, the environment keeps the real nodes it has (the CLI always says: its default is 1).
    const realNodes = opts.realNodes ?? previous?.realNodes ?? DEFAULT_REAL_NODES;
    if (realNodes > 0 && process.getuid?.() !== 0) {
      throw new UserError("a real node needs root (it makes a network namespace, mounts and cgroups); run as root, or pass --real-nodes 0 for simulated nodes only");
    }
    const components = componentsFor(realNodes);
    const anyAlive = COMPONENTS.some((c) => alive(previous, c));
    const portBase = anyAlive && previous ? previous.portBase : parsePortBase(env.MMS_DEV_PORT_BASE);
    const ports = portsFrom(portBase);
    const addresses = addressPlan(portBase);
    // A running component whose command line changed (a newer checkout, other timings) is restarted.
    const previousSecrets = await readSecrets(paths);
    const changed = previous?.bins && previous.system && previousSecrets
      ? components.filter((c) => {
        const rec = alive(previous, c);
        if (rec === undefined) return false;
        try {
          const now = c.spec({
            paths, ports, bins: previous.bins as BinDirs, system: previous.system as SystemPrograms, secrets: previousSecrets, pki: pkiFiles(paths.pki),
            timings, addresses, realNodes, nodePrograms: previous.nodePrograms,
          });
          return rec.spec !== specKey(now);
        } catch {
          return true; // started by an older checkout whose programs (e.g. its S3 server) have no entry now
        }
      })
      : [];
    const toStart = components.filter((c) => !alive(previous, c) || changed.includes(c));
    // Running pieces this environment no longer wants (a real node, when --real-nodes went to 0).
    const unwanted = COMPONENTS.filter((c) => !components.includes(c) && alive(previous, c));

    if (toStart.length === 0 && unwanted.length === 0 && previous?.nodes === opts.nodes && (previous.realNodes ?? 0) === realNodes && previous.bins && previous.system) {
      const status = await readStatus(env);
      const secrets = await readSecrets(paths);
      if (status.healthy && secrets) {
        await ensureBucket(ports.s3, secrets, DEV_BACKUP_BUCKET);
        if (realNodes > 0) await platformOnRealNode({ paths, ports, secrets, realNodes, addresses, timings, pki: pkiFiles(paths.pki) }, env, progress);
        return { alreadyUp: true, started: [], seconds: (Date.now() - t0) / 1000, status };
      }
    }

    // Components this environment ran before (a pid in its state) may have died a moment ago.
    const ranBefore = (c: Component) => previous?.processes[c.name] !== undefined;
    const fresh = toStart.filter((c) => !changed.includes(c));
    await checkPorts(fresh.filter((c) => !ranBefore(c)), ports);
    await checkPorts(fresh.filter(ranBefore), ports, 5_000);
    const system = await ensureSystemPrograms(progress);
    const nodePrograms = realNodes > 0
      ? { ...await ensureDebianPrograms(NODE_PROGRAMS, progress), buildah: (await ensureDebianPrograms(IMAGE_PROGRAMS, progress)).buildah }
      : undefined;
    const bins = await buildAll(progress, realNodes);
    if (unwanted.length > 0 && previous) {
      progress.step(`stopping ${unwanted.map((c) => c.name).join(", ")}: not wanted with --real-nodes ${realNodes}`);
      await stopComponents(previous, unwanted, paths);
    }
    for (const c of [...changed].reverse()) {
      const rec = previous?.processes[c.name];
      progress.step(`restarting ${c.name}: its command line changed`);
      if (rec) await stopProcess(rec.pid, rec.executable);
    }
    await checkPorts(toStart, ports, 5_000); // the first build takes minutes; check again just before starting

    progress.step("preparing certificates, credentials and kubeconfig");
    await mkdir(paths.logs, { recursive: true });
    await mkdir(paths.data, { recursive: true });
    const pki = await ensurePki(paths.pki, addresses.apiServiceIp, realNodes > 0 ? addresses.hostIp : undefined);
    await writeKubeconfig(paths.kubeconfig, `https://127.0.0.1:${ports.apiserver}`, pki);
    const secrets = await ensureSecrets(paths);
    const ctx: Context = { paths, ports, bins, pki, secrets, system, timings, addresses, realNodes, nodePrograms };

    const processes: Partial<Record<ComponentName, ProcessRecord>> = {};
    for (const c of components) {
      const rec = alive(previous, c);
      if (rec) processes[c.name] = rec;
    }
    let state: DevState = { version: 1, portBase, nodes: opts.nodes, realNodes, bins, system, ...(nodePrograms ? { nodePrograms } : {}), processes };
    const startedNow: ComponentName[] = [];
    const rollback = async () => {
      const started = components.filter((c) => startedNow.includes(c.name));
      await stopComponents(state, started, paths, 5000);
      // The node's network went up before anything started: it goes when no node piece runs.
      if (realNodes > 0 && !components.some((c) => c.only === "real" && processes[c.name] && !startedNow.includes(c.name))) {
        await removeNodeLeftovers(paths, addresses, 1);
      }
      for (const name of startedNow) delete processes[name];
      state = { ...state, processes: { ...processes } };
      await writeState(paths, state);
    };
    const onSignal = () => {
      for (const name of startedNow) {
        const rec = processes[name];
        if (rec) try { process.kill(-rec.pid, "SIGKILL"); } catch { /* gone */ }
      }
      process.exit(130);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);

    try {
      // With real nodes, the data services listen on the host's bridge address too: it comes first.
      if (realNodes > 0) await ensureNodeNetwork(addresses, 1);
      // Start in waves: everything whose prerequisites are healthy starts together.
      const healthy = new Set<ComponentName>(components.filter((c) => processes[c.name]).map((c) => c.name));
      for (const c of components) if (processes[c.name]) await waitHealthy(ctx, c, processes[c.name] as ProcessRecord);
      let pending = toStart.slice();
      while (pending.length > 0) {
        // A prerequisite this environment does not run (the local operator, with a real node) is no prerequisite.
        const wave = pending.filter((c) => c.after.every((d) => healthy.has(d) || !components.some((x) => x.name === d)));
        if (wave.length === 0) throw new Error(`cannot order start of ${pending.map((c) => c.name).join(", ")}`);
        progress.step(`starting ${wave.map((c) => c.name).join(", ")}`);
        for (const c of wave) {
          await c.prepare?.(ctx);
          const spec = c.spec(ctx);
          const pid = startDetached(spec, join(paths.logs, `${c.name}.log`));
          processes[c.name] = { pid, executable: spec.command, startedAt: new Date().toISOString(), spec: specKey(spec) };
          if (spec.netns) await settleExec(processes[c.name] as ProcessRecord);
          startedNow.push(c.name);
          state = { ...state, processes: { ...processes } };
          await writeState(paths, state);
        }
        await Promise.all(wave.map((c) => waitHealthy(ctx, c, processes[c.name] as ProcessRecord)));
        for (const c of wave) await c.started?.(ctx);
        for (const c of wave) healthy.add(c.name);
        pending = pending.filter((c) => !wave.includes(c));
      }

      progress.step(`making ${opts.nodes} simulated node${opts.nodes === 1 ? "" : "s"} Ready`);
      const kube = kubeClients(loadKubeConfig({ kubeconfig: paths.kubeconfig }));
      await reconcileNodes(kube, opts.nodes);
      const ready = await waitNodesReady(kube, opts.nodes, NODES_READY_TIMEOUT_MS);
      if (ready < opts.nodes) {
        throw new UserError(`only ${ready} of ${opts.nodes} simulated nodes became Ready within ${NODES_READY_TIMEOUT_MS / 1000} s; see ${join(paths.logs, "kwok.log")}`);
      }
      if (realNodes > 0) {
        progress.step(`making the real node ${realNodeName(1)} Ready`);
        if (!(await waitRealNodeReady(kube, realNodeName(1), REAL_NODE_READY_TIMEOUT_MS))) {
          throw new UserError(`the real node ${realNodeName(1)} did not become Ready within ${REAL_NODE_READY_TIMEOUT_MS / 1000} s; see ${join(paths.logs, "kubelet.log")}`);
        }
        await platformOnRealNode(ctx, env, progress);
      }
      await ensureBucket(ctx.ports.s3, ctx.secrets, DEV_BACKUP_BUCKET);
      const services = await serviceRange(new KubeHttp(kube.config));
      if (services && services !== addresses.serviceCidr) {
        progress.info(`this environment's Services still take addresses from ${services}, as environments made before ` +
          `cluster addresses moved into ${CLUSTER_RANGE}; \`mms dev reset\` (which deletes its data) moves them to ${addresses.serviceCidr}`);
      }
    } catch (err) {
      progress.info(`start-up failed; stopping the ${startedNow.length} process(es) this command started`);
      await rollback();
      throw err;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    progress.done();
    return { alreadyUp: false, started: startedNow, seconds: (Date.now() - t0) / 1000, status: await readStatus(env) };
  });
}

/**
 * The platform on the real node, as production installs it. The images first: the control-plane image built
 * from this checkout (the operator's replicas, backup and drill pods), a tenant image per Matomo archive of
 * the cache, the ingress controller's (deploy/images/traefik), the monitoring stack's (Prometheus,
 * Alertmanager, blackbox_exporter, kube-state-metrics); cached by content (seconds when nothing
 * changed) and loaded into the node. Then the platform's chart (platform-chart.ts), then the environment's
 * own pool, store and plan.
 */
async function platformOnRealNode(ctx: Parameters<typeof applyDevObjects>[0] & Pick<Context, "timings" | "pki">, env: NodeJS.ProcessEnv, progress: Progress): Promise<void> {
  const built = await buildImages({ allVersions: true, withTraefik: true, withMonitoring: true, progress, env });
  const mms = built.images.find((i) => i.name === "mms");
  await installPlatformChart(ctx, chartImage(mmsImageRef(), mms?.digest), progress);
  await applyDevObjects(ctx);
}

export interface DownResult {
  readonly stopped: readonly ComponentName[];
}

export async function down(env: NodeJS.ProcessEnv = process.env): Promise<DownResult> {
  const paths = currentPaths(env);
  if (!existsSync(paths.state)) return { stopped: [] };
  return withLock(paths, async () => {
    const state = await readState(paths);
    if (!state) return { stopped: [] };
    const stopped = await stopComponents(state, COMPONENTS, paths);
    await writeState(paths, { ...state, processes: {} });
    const ports = portsFrom(state.portBase);
    for (const c of COMPONENTS) for (const p of c.ports) await portFreeWithin(ports[p], 5_000);
    return { stopped };
  });
}

/**
 * Stops the given components of a state, in reverse start order. A real node's pods are removed before
 * its containerd stops, and what the node leaves (shims, mounts, its network namespace, links, routes,
 * cgroups) is removed after, so nothing of it remains on the machine.
 */
async function stopComponents(state: DevState, which: readonly Component[], paths: DevPaths, graceMs?: number): Promise<ComponentName[]> {
  const stopped: ComponentName[] = [];
  const plan = addressPlan(state.portBase);
  for (const c of [...which].reverse()) {
    const rec = state.processes[c.name];
    if (c.name === "containerd" && rec && isOurs(rec.pid, rec.executable) && state.bins?.crictl) {
      // The kubelet is stopped by now: nothing restarts the pods removed here.
      await run(join(state.bins.crictl, "crictl"), ["--runtime-endpoint", `unix://${realNodeDirs(paths, 1).containerdSocket}`, "--timeout", "30s", "rmp", "--all", "--force"]);
    }
    if (rec && isOurs(rec.pid, rec.executable)) {
      await stopProcess(rec.pid, rec.executable, graceMs);
      stopped.push(c.name);
    }
  }
  if (which.some((c) => c.name === "containerd") && (existsSync(realNodeDirs(paths, 1).root) || (state.realNodes ?? 0) > 0)) {
    await removeNodeLeftovers(paths, plan, 1);
  }
  return stopped;
}

/** Stops everything and deletes the environment's data; built binaries stay cached. */
export async function reset(env: NodeJS.ProcessEnv = process.env): Promise<DownResult> {
  const result = await down(env);
  await rm(currentPaths(env).home, { recursive: true, force: true });
  return result;
}

export interface ComponentStatus {
  readonly name: ComponentName;
  readonly running: boolean;
  readonly healthy: boolean;
  readonly pid: number | null;
  readonly endpoint: string;
  readonly reason?: string;
}

export interface DevStatus {
  readonly home: string;
  readonly up: boolean;
  readonly healthy: boolean;
  readonly kubeconfig: string;
  readonly components: readonly ComponentStatus[];
  readonly nodes: { readonly desired: number; readonly ready: number; readonly names: readonly string[] };
  /** Real nodes (kubelet + containerd): how many were asked for, how many are Ready. */
  readonly realNodes: { readonly desired: number; readonly ready: number; readonly names: readonly string[] };
  /** With a real node: the ACME directory, Pebble's root file (`curl --cacert`), the ingress address. */
  readonly acme?: AcmeEndpoints;
}

export async function readStatus(env: NodeJS.ProcessEnv = process.env): Promise<DevStatus> {
  const paths = currentPaths(env);
  const state = await readState(paths);
  const secrets = await readSecrets(paths);
  const portBase = state?.portBase ?? parsePortBase(env.MMS_DEV_PORT_BASE);
  const ports = portsFrom(portBase);
  const realNodes = state?.realNodes ?? 0;
  const ctx: Context | undefined = state?.bins && state.system && secrets
    ? {
      paths, ports, bins: state.bins, system: state.system, secrets, pki: pkiFiles(paths.pki), timings: devTimings({}), addresses: addressPlan(portBase),
      realNodes, nodePrograms: state.nodePrograms,
    }
    : undefined;
  const components = await Promise.all(componentsFor(realNodes).map(async (c): Promise<ComponentStatus> => {
    const rec = alive(state, c);
    const endpoint = ctx ? c.endpoint(ctx) : `127.0.0.1:${ports[c.ports[0] ?? "apiserver"]}`;
    if (!rec || !ctx) return { name: c.name, running: false, healthy: false, pid: null, endpoint, reason: "not running" };
    try {
      await c.health(ctx);
      return { name: c.name, running: true, healthy: true, pid: rec.pid, endpoint };
    } catch (err) {
      return { name: c.name, running: true, healthy: false, pid: rec.pid, endpoint, reason: (err as Error).message };
    }
  }));
  let names: string[] = [];
  let ready = 0;
  const real = { desired: realNodes, ready: 0, names: [] as string[] };
  if (components.find((c) => c.name === "kube-apiserver")?.healthy) {
    try {
      const kube = kubeClients(loadKubeConfig({ kubeconfig: paths.kubeconfig }));
      const nodes = await listSimulatedNodes(kube);
      names = nodes.map((n) => n.metadata?.name ?? "").sort();
      ready = nodes.filter(isReady).length;
      for (let n = 1; n <= realNodes; n++) {
        const node = await kube.core.readNode({ name: realNodeName(n) }).catch(() => undefined);
        if (!node) continue;
        real.names.push(realNodeName(n));
        if (isReady(node)) real.ready++;
      }
    } catch {
      /* reported as zero ready nodes */
    }
  }
  const desired = state?.nodes ?? 0;
  const up = components.some((c) => c.running);
  return {
    home: paths.home,
    up,
    healthy: components.every((c) => c.healthy) && ready >= desired && desired > 0 && real.ready >= real.desired,
    kubeconfig: paths.kubeconfig,
    components,
    nodes: { desired, ready, names },
    realNodes: real,
    ...(realNodes > 0 ? { acme: acmeEndpoints(paths, pkiFiles(paths.pki).caCert, addressPlan(portBase), ports) } : {}),
  };
}

export interface Endpoints {
  readonly kubeconfig: string;
  readonly kubectlDir: string;
  readonly mariadb: { host: string; port: number; user: string; password: string };
  readonly redis: { host: string; port: number; password: string; url: string };
  readonly s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** The sim OVH API's connection file (for `mms node-doctor --sim-connection` and SimControl). */
  readonly simOvhApi: { connectionFile: string };
  /** The node doctor's /healthz, /readyz and /metrics. */
  readonly nodeDoctor: { url: string };
  /** With a real node: Pebble (the ACME server), challtestsrv and the ingress controller's address. */
  readonly acme?: AcmeEndpoints;
}

/** Connection details of a running environment, for `dev env`, the tests and the benchmarks. */
export async function endpoints(env: NodeJS.ProcessEnv = process.env): Promise<Endpoints> {
  const paths = currentPaths(env);
  const state = await readState(paths);
  const secrets: Secrets | undefined = await readSecrets(paths);
  if (!state?.bins || !secrets) {
    throw new UserError(`there is no dev environment in ${paths.home} yet; run \`mms dev up\` first`);
  }
  const ports = portsFrom(state.portBase);
  return {
    kubeconfig: paths.kubeconfig,
    kubectlDir: state.bins.kubernetes,
    mariadb: { host: "127.0.0.1", port: ports.mariadb, user: ADMIN_DB_USER, password: secrets.mariadbAdminPassword },
    redis: {
      host: "127.0.0.1", port: ports.redis, password: secrets.redisPassword,
      url: `redis://:${encodeURIComponent(secrets.redisPassword)}@127.0.0.1:${ports.redis}`,
    },
    s3: {
      endpoint: `http://127.0.0.1:${ports.s3}`, region: "us-east-1",
      accessKeyId: secrets.s3AccessKey, secretAccessKey: secrets.s3SecretKey,
    },
    simOvhApi: { connectionFile: simFiles({ paths }).connection },
    nodeDoctor: { url: `http://127.0.0.1:${ports.nodeDoctor}` },
    ...((state.realNodes ?? 0) > 0 ? { acme: acmeEndpoints(paths, pkiFiles(paths.pki).caCert, addressPlan(state.portBase), ports) } : {}),
  };
}

export const PORT_TABLE = PORT_OFFSETS;

async function ensureBucket(port: number, secrets: Secrets, bucket: string): Promise<void> {
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", forcePathStyle: true,
    credentials: { accessKeyId: secrets.s3AccessKey, secretAccessKey: secrets.s3SecretKey },
  });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
  } finally {
    s3.destroy();
  }
}

/** The CIDR of the cluster's default ServiceCIDR, which the API server keeps from its first start. */
async function serviceRange(http: KubeHttp): Promise<string | undefined> {
  try {
    const cidr = await http.request<{ spec?: { cidrs?: string[] } }>("GET", "/apis/networking.k8s.io/v1/servicecidrs/kubernetes");
    return cidr.spec?.cidrs?.[0];
  } catch {
    return undefined; // not made yet: the API server makes it from its flags
  }
}
