// Real nodes of the dev environment: a kubelet with its own containerd, runc and CNI bridge, beside the
// simulated (KWOK) nodes. Each real node lives in a network namespace of its own, joined to the host by
// a veth on the environment's bridge, so its kube-proxy rules, its pods' bridge and its addresses never
// touch the host's or another environment's; `dev down` deletes the namespace and with it every rule.
//
//   host: bridge mmsb<slot> (hostIp/24) ─ veth ─ netns mms<slot>-n1: eth0 nodeIp/24 ─ cni bridge ─ pods
//   host routes: pod /24 and the Service /22 via the node; 198.18.0.0/15 unreachable (nothing leaves)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import { run } from "../util/exec.ts";
import { CLUSTER_RANGE, type AddressPlan } from "./addresses.ts";
import { builtDir } from "./build.ts";
import { devHome, devPaths, type DevPaths } from "./paths.ts";
import { BUILDS, KUBERNETES_VERSION } from "./versions.ts";

/** A dev environment runs at most this many real nodes (see docs/dev-environment.md for why). */
export const MAX_DEV_REAL_NODES = 1;
/** Kubernetes' pause image, which containerd's CRI plugin uses as every pod's sandbox. */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1";
/** Real nodes carry this label and taint: only pods that ask for a real node land on one. */
export const REAL_NODE_LABEL = "mms.dev/real-node";
export const REAL_NODE_POOL = "real-pool";
export const REAL_NODE_TAINT = { key: REAL_NODE_LABEL, value: "true", effect: "NoSchedule" } as const;

/** Kubernetes name of real node `n` (1-based). */
export function realNodeName(n: number): string {
  return `mms-real-${n}`;
}

export interface RealNodeDirs {
  readonly root: string;
  /** containerd's persistent root (images, snapshots). */
  readonly containerdRoot: string;
  /** containerd's state (sockets, shims), removed at `dev down`. */
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly containerdConfig: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletKubeconfig: string;
  readonly kubeProxyConfig: string;
  readonly kubeProxyKubeconfig: string;
  readonly kubeRouterKubeconfig: string;
  readonly cniConf: string;
  readonly cniData: string;
  /** containerd's registry host folder (certs.d layout): every registry is sent to a closed port. */
  readonly registryHosts: string;
}

export function realNodeDirs(paths: DevPaths, n: number): RealNodeDirs {
  const root = join(paths.home, "nodes", realNodeName(n));
  return {
    root,
    containerdRoot: join(root, "containerd"),
    containerdState: join(root, "run"),
    containerdSocket: join(root, "run", "containerd.sock"),
    containerdConfig: join(root, "containerd.toml"),
    registryHosts: join(root, "registry-hosts"),
    kubeletRoot: join(root, "kubelet"),
    kubeletConfig: join(root, "kubelet.yaml"),
    kubeletKubeconfig: join(root, "kubelet.kubeconfig"),
    kubeProxyConfig: join(root, "kube-proxy.yaml"),
    kubeProxyKubeconfig: join(root, "kube-proxy.kubeconfig"),
    kubeRouterKubeconfig: join(root, "kube-router.kubeconfig"),
    cniConf: join(root, "cni", "net.d"),
    cniData: join(root, "cni", "data"),
  };
}

/** Names of the links and the namespace of one environment (by its address slot); at most 15 characters. */
export function netNames(plan: Pick<AddressPlan, "slot">, n = 1): { bridge: string; netns: string; veth: string; peer: string; podBridge: string } {
  return {
    bridge: `mmsb${plan.slot}`,
    netns: `mms${plan.slot}-n${n}`,
    veth: `mmsv${plan.slot}n${n}`,
    peer: `mmsp${plan.slot}n${n}`,
    podBridge: `mmsc${plan.slot}n${n}`,
  };
}

/** What `ctr` needs to reach one real node's containerd (image loads, tests). */
export interface NodeRuntime {
  readonly node: string;
  /** The `ctr` program built with containerd. */
  readonly ctr: string;
  readonly socket: string;
  /** containerd namespace the kubelet's images live in. */
  readonly namespace: "k8s.io";
}

/** The runtimes of the environment's real nodes whose containerd is running (its socket exists). */
export function realNodeRuntimes(env: NodeJS.ProcessEnv = process.env, maxNodes = MAX_DEV_REAL_NODES): NodeRuntime[] {
  const paths = devPaths(devHome(env));
  const ctr = join(builtDir(BUILDS.containerd, env), "ctr");
  const out: NodeRuntime[] = [];
  for (let n = 1; n <= maxNodes; n++) {
    const d = realNodeDirs(paths, n);
    if (existsSync(d.containerdSocket)) out.push({ node: realNodeName(n), ctr, socket: d.containerdSocket, namespace: "k8s.io" });
  }
  return out;
}

async function ip(args: string[], okIf?: RegExp): Promise<void> {
  const r = await run("ip", args);
  if (r.code !== 0 && !(okIf && okIf.test(r.stderrTail))) {
    throw new UserError(`setting up the real node's network failed at \`ip ${args.join(" ")}\`: ${r.stderrTail.trim().split("\n").at(-1) ?? ""}`);
  }
}

async function ipOut(args: string[]): Promise<string> {
  const r = await run("ip", args);
  return r.code === 0 ? r.stdout : "";
}

const EXISTS = /File exists|already exists|already assigned/;

/**
 * The host bridge, the node's namespace and veth, and the host's routes for real node `n`. Idempotent:
 * each piece is made only when missing, so a crash half-way is mended by the next `dev up`.
 */
export async function ensureNodeNetwork(plan: AddressPlan, n: number): Promise<void> {
  const names = netNames(plan, n);
  const prefix = plan.nodeSubnet.split("/")[1];
  if (!(await ipOut(["-o", "link", "show", "dev", names.bridge])).trim()) await ip(["link", "add", names.bridge, "type", "bridge"], EXISTS);
  await ip(["addr", "add", `${plan.hostIp}/${prefix}`, "dev", names.bridge], EXISTS);
  await ip(["link", "set", names.bridge, "up"]);
  // No packet for the cluster range ever leaves the machine: more specific routes (the bridge's, the
  // nodes') win, everything else in the range is unreachable.
  await ip(["route", "add", "unreachable", CLUSTER_RANGE], EXISTS);

  if (!(await ipOut(["netns", "list"])).split("\n").some((l) => l.split(" ")[0] === names.netns)) await ip(["netns", "add", names.netns], EXISTS);
  const inNs = (args: string[], okIf?: RegExp) => ip(["-n", names.netns, ...args], okIf);
  if (!(await ipOut(["-n", names.netns, "-o", "link", "show", "dev", "eth0"])).trim()) {
    await ip(["link", "del", names.veth], /Cannot find device/);
    await ip(["link", "add", names.veth, "type", "veth", "peer", "name", names.peer, "netns", names.netns]);
    await inNs(["link", "set", names.peer, "name", "eth0"]);
  }
  await ip(["link", "set", names.veth, "master", names.bridge]);
  await ip(["link", "set", names.veth, "up"]);
  await inNs(["link", "set", "lo", "up"]);
  await inNs(["addr", "add", `${plan.nodeIp(n)}/${prefix}`, "dev", "eth0"], EXISTS);
  await inNs(["link", "set", "eth0", "up"]);
  await inNs(["route", "replace", "default", "via", plan.hostIp]);
  await ip(["route", "replace", plan.podSubnet(n), "via", plan.nodeIp(n), "dev", names.bridge]);
  // Services are answered by the node's kube-proxy: from the host, their addresses go through the node.
  if (n === 1) await ip(["route", "replace", plan.serviceCidr, "via", plan.nodeIp(n), "dev", names.bridge]);
  // The node forwards between its pods and the host; pods on its bridge see each other's Service
  // traffic through iptables (kube-proxy needs it), both per namespace.
  for (const [key, value] of [["net.ipv4.ip_forward", "1"], ["net.bridge.bridge-nf-call-iptables", "1"]] as const) {
    const r = await run("ip", ["netns", "exec", names.netns, "sysctl", "-q", "-w", `${key}=${value}`]);
    if (r.code !== 0) throw new UserError(`setting ${key} in the real node's network namespace failed: ${r.stderrTail.trim()}`);
  }
}

/** The file path of a network namespace made by `ip netns add`. */
export function netnsPath(plan: Pick<AddressPlan, "slot">, n = 1): string {
  return join("/run/netns", netNames(plan, n).netns);
}

/** containerd 2.x configuration (version 3) for real node `n`. */
export function containerdConfig(d: RealNodeDirs, plan: AddressPlan, runc: string, cniBinDir: string): string {
  const q = JSON.stringify;
  return `version = 3
root = ${q(d.containerdRoot)}
state = ${q(d.containerdState)}

[grpc]
  address = ${q(d.containerdSocket)}

[plugins."io.containerd.grpc.v1.cri"]
  # kubectl logs/exec/port-forward stream through here, on the node's address.
  stream_server_address = ${q(plan.nodeIp(1))}
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  # Images come from \`mms images build\`; nothing is pulled from the internet.
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = ${q(PAUSE_IMAGE)}
  # A pod whose image was not loaded must fail at once, never reach out: every registry resolves to a
  # closed port on the node's loopback (registryHostsToml), so no name is looked up and nothing leaves.
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = ${q(d.registryHosts)}

[plugins."io.containerd.cri.v1.runtime"]
  # This VM forbids lowering oom_score_adj, even for root; without this every sandbox fails.
  restrict_oom_score_adj = true
  # Pods' network namespaces are mounted under the node's state folder, so \`dev down\` finds them all.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [${q(cniBinDir)}]
    conf_dir = ${q(d.cniConf)}
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      BinaryName = ${q(runc)}
      # PID 1 of this machine is not systemd.
      SystemdCgroup = false
`;
}

/** The closed port every image pull of the dev node goes to (nothing listens on port 1). */
export const NO_REGISTRY = "http://127.0.0.1:1";

/** `_default/hosts.toml` of the registry host folder: the one upstream of every registry is NO_REGISTRY. */
export function registryHostsToml(): string {
  return `# Written by mms dev up: the dev node pulls nothing; images come from \`mms images build\`.
server = "${NO_REGISTRY}"

[host."${NO_REGISTRY}"]
  capabilities = ["pull", "resolve"]
`;
}

/** The node's pod network: a bridge with host-local addresses from its pod /24, and host ports. */
export function cniConflist(d: RealNodeDirs, plan: AddressPlan, n: number): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: "mms-dev",
    plugins: [
      {
        type: "bridge", bridge: netNames(plan, n).podBridge, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: "host-local", dataDir: d.cniData, ranges: [[{ subnet: plan.podSubnet(n) }]], routes: [{ dst: "0.0.0.0/0" }] },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  }, null, 2) + "\n";
}

export interface KubeletOptions {
  readonly caCert: string;
  readonly healthzPort: number;
  readonly dnsServiceIp: string;
}

export function kubeletConfig(d: RealNodeDirs, plan: AddressPlan, n: number, o: KubeletOptions): string {
  return JSON.stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    cgroupDriver: "cgroupfs",
    containerRuntimeEndpoint: `unix://${d.containerdSocket}`,
    address: plan.nodeIp(n),
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: plan.nodeIp(n),
    healthzPort: o.healthzPort,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.caCert } },
    authorization: { mode: "Webhook" },
    clusterDomain: "cluster.local",
    clusterDNS: [o.dnsServiceIp],
    // Pods get the cluster DNS only: nothing outside the cluster is resolved.
    resolvConf: "",
    failSwapOn: false,
    // A development VM: no reservations, no eviction on a nearly full disk of a shared machine.
    enforceNodeAllocatable: [],
    localStorageCapacityIsolation: false,
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
    imageGCHighThresholdPercent: 100,
    podCIDR: plan.podSubnet(n),
    cgroupRoot: `/${cgroupRootName(plan)}`,
    // Each environment's node keeps its pods' logs in its own folder: in the shared default /var/log/pods,
    // one environment's kubelet removes the logs of the other's pods as unknown (kubectl logs then fails).
    podLogsDir: join(d.root, "pod-logs"),
    maxPods: 110,
    serializeImagePulls: false,
    registerWithTaints: [REAL_NODE_TAINT],
  }, null, 2) + "\n";
}

export function kubeProxyConfig(d: RealNodeDirs, plan: AddressPlan, n: number, ports: { healthz: number; metrics: number }): string {
  return JSON.stringify({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "iptables",
    clientConnection: { kubeconfig: d.kubeProxyKubeconfig },
    hostnameOverride: realNodeName(n),
    bindAddress: plan.nodeIp(n),
    healthzBindAddress: `${plan.nodeIp(n)}:${ports.healthz}`,
    metricsBindAddress: `${plan.nodeIp(n)}:${ports.metrics}`,
    clusterCIDR: plan.podSubnet(n),
    // Inside the node's own namespace, conntrack limits are the host's to set.
    conntrack: { maxPerCore: 0 },
  }, null, 2) + "\n";
}

/**
 * Labels of a real node: shaped like an OVH node of a pool of its own. The kubelet sets them itself,
 * so none is under kubernetes.io other than those NodeRestriction lets a kubelet set.
 */
export function realNodeLabels(n: number, zone: string, region: string): Record<string, string> {
  return {
    "nodepool": REAL_NODE_POOL,
    "node.kubernetes.io/instance-type": "b3-8",
    "topology.kubernetes.io/region": region,
    "topology.kubernetes.io/zone": zone,
    [REAL_NODE_LABEL]: "true",
  };
}

export { KUBERNETES_VERSION };

/** Writes every configuration file of real node `n`. */
export async function writeNodeFiles(d: RealNodeDirs, files: { containerd: string; cni: string; kubelet: string; kubeProxy: string }): Promise<void> {
  for (const dir of [d.root, d.containerdRoot, d.kubeletRoot, d.cniConf, d.cniData, join(d.registryHosts, "_default")]) await mkdir(dir, { recursive: true });
  await writeFile(d.containerdConfig, files.containerd);
  await writeFile(join(d.registryHosts, "_default", "hosts.toml"), registryHostsToml());
  await writeFile(join(d.cniConf, "10-mms-dev.conflist"), files.cni);
  await writeFile(d.kubeletConfig, files.kubelet);
  await writeFile(d.kubeProxyConfig, files.kubeProxy);
}

// ---------------------------------------------------------------------------------------------------
// Tearing down: what `dev down` removes after the node's processes have stopped.

/** Pids whose command line mentions `needle` (containerd's shims name their containerd's socket). */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.includes(needle) && Number(entry) !== process.pid) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  const points = mountinfo.split("\n").filter(Boolean).map((l) => l.split(" ")[4]?.replace(/\\040/g, " ") ?? "");
  return points.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

/**
 * Removes what a stopped real node leaves: its containers' shims, every mount under its folder and of
 * its pods' network namespaces, its namespace (which takes its veth, pod bridge and iptables rules with
 * it), and the host's bridge and routes when no node of this environment remains.
 */
export async function removeNodeLeftovers(paths: DevPaths, plan: AddressPlan, n: number, progress?: Progress): Promise<void> {
  const d = realNodeDirs(paths, n);
  const names = netNames(plan, n);
  for (const pid of pidsMentioning(d.containerdSocket)) {
    try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  }
  for (const m of mountsUnder(d.root)) {
    const r = await run("umount", ["-l", m]);
    if (r.code !== 0) progress?.info(`could not unmount ${m}: ${r.stderrTail.trim()}`);
  }
  await removeCgroupTree(cgroupRootName(plan));
  await rm(d.containerdState, { recursive: true, force: true });
  await ip(["netns", "del", names.netns], /No such file|Cannot remove|not found/);
  await ip(["link", "del", names.veth], /Cannot find device/);
  await ip(["route", "del", plan.podSubnet(n)], /No such process|Cannot find/);
  if (n === 1) await ip(["route", "del", plan.serviceCidr], /No such process|Cannot find/);
  await ip(["link", "del", names.bridge], /Cannot find device/);
  // `ip netns add` mounts /run/netns onto itself (to share it); with no namespace left in it, that
  // mount goes too.
  if (existsSync("/run/netns") && readdirSync("/run/netns").length === 0 && mountsUnder("/run/netns").includes("/run/netns")) {
    await run("umount", ["/run/netns"]);
  }
  // The unreachable route serves every environment of this machine: it goes with the last one.
  const links = await ipOut(["-o", "link", "show", "type", "bridge"]);
  if (!/ mmsb\d+[:@]/.test(links)) await ip(["route", "del", "unreachable", CLUSTER_RANGE], /No such process|Cannot find/);
}

// ---------------------------------------------------------------------------------------------------
// cgroups: each environment's kubelet gets a cgroup root of its own in every v1 hierarchy, so two
// environments' kubelets never take each other's pods for orphans, and `dev down` can find every
// process of its containers there.

const CGROUP_FS = "/sys/fs/cgroup";

/** The kubelet's cgroupRoot for the environment of this address plan. */
export function cgroupRootName(plan: Pick<AddressPlan, "slot">): string {
  return `mms-dev-${plan.slot}`;
}

/** The v1 hierarchies mounted under /sys/fs/cgroup (this VM has a hybrid layout). */
function hierarchies(): string[] {
  if (!existsSync(CGROUP_FS)) return [];
  return readdirSync(CGROUP_FS).filter((h) => h !== "unified" && existsSync(join(CGROUP_FS, h, "cgroup.procs")));
}

export async function ensureCgroupRoot(name: string): Promise<void> {
  for (const h of hierarchies()) {
    const dir = join(CGROUP_FS, h, name);
    if (existsSync(dir)) continue;
    await mkdir(dir);
    // A new cpuset cgroup has no CPUs and no memory nodes until given its parent's.
    if (h === "cpuset") {
      for (const f of ["cpuset.cpus", "cpuset.mems"]) await writeFile(join(dir, f), readFileSync(join(CGROUP_FS, h, f), "utf8"));
    }
  }
}

/** Kills every process left in the cgroup tree `name` and removes the tree, deepest cgroups first. */
export async function removeCgroupTree(name: string): Promise<void> {
  for (const h of hierarchies()) {
    const root = join(CGROUP_FS, h, name);
    if (!existsSync(root)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    };
    walk(root);
    for (let attempt = 0; attempt < 50; attempt++) {
      const pids = dirs.flatMap((d) => readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number));
      if (pids.length === 0) break;
      for (const pid of pids) {
        try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const d of dirs.sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => undefined);
  }
}
