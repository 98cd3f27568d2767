// Simulated nodes, shaped like an OVH Managed Kubernetes node pool (zone and pool labels,
// an OpenStack providerID, a real flavor's capacity). KWOK plays their kubelets (see kwok.ts); failures
// are injected by stopping a kubelet or making it report NotReady.
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1Node } from "@kubernetes/client-node";
import type { KubeClients } from "../kube/client.ts";
import { KubeHttp } from "../kube/http.ts";
import { apiStatus } from "../kube/client.ts";
import { KUBERNETES_VERSION } from "./versions.ts";
import { CONDITION_LABEL, KUBELET_LABEL, NOT_READY, type SimKubelet } from "./kwok.ts";

export const NODE_POOL = "default-pool";
export const REGION = "eu-west-par";
export const ZONES = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"] as const;
export const FLAVOR = { name: "b3-16", cpu: "4", memory: "15Gi", pods: "110" } as const;
export const POOL_LABEL = "nodepool";
const MANAGED_BY = "app.kubernetes.io/managed-by";

function hex(seed: string, n: number): string {
  return createHash("sha256").update(seed).digest("hex").slice(0, n);
}

/** Node i of the pool: the same name and identity every time, so reconciling is idempotent. */
export function simulatedNode(index: number): V1Node {
  const name = `${NODE_POOL}-node-${hex(`${NODE_POOL}/${index}`, 6)}`;
  const id = hex(`instance/${name}`, 32);
  const uuid = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
  const zone = ZONES[index % ZONES.length] ?? ZONES[0];
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "mms.dev/node-index": String(index) },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": FLAVOR.name,
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": zone,
        [POOL_LABEL]: NODE_POOL,
        [MANAGED_BY]: "mms-dev",
        [KUBELET_LABEL]: "running" satisfies SimKubelet,
      },
    },
    spec: { providerID: `openstack:///${uuid}` },
    status: {
      capacity: { cpu: FLAVOR.cpu, memory: FLAVOR.memory, pods: FLAVOR.pods },
      allocatable: { cpu: FLAVOR.cpu, memory: FLAVOR.memory, pods: FLAVOR.pods },
      nodeInfo: {
        architecture: "amd64", operatingSystem: "linux", kubeletVersion: `v${KUBERNETES_VERSION}`,
        kubeProxyVersion: "", osImage: "Ubuntu 22.04 (simulated by KWOK)", kernelVersion: "", machineID: id,
        systemUUID: uuid, bootID: "", containerRuntimeVersion: "kwok",
      },
    },
  };
}

export async function listSimulatedNodes(kube: KubeClients): Promise<V1Node[]> {
  const list = await kube.core.listNode({ labelSelector: `${MANAGED_BY}=mms-dev` });
  return list.items;
}

/** Makes the pool exactly `count` nodes: creates the missing ones, deletes those above the count. */
export async function reconcileNodes(kube: KubeClients, count: number): Promise<void> {
  const wanted = new Map(Array.from({ length: count }, (_, i) => simulatedNode(i)).map((n) => [n.metadata?.name ?? "", n]));
  const existing = await listSimulatedNodes(kube);
  for (const node of existing) {
    const name = node.metadata?.name ?? "";
    if (!wanted.has(name)) await kube.core.deleteNode({ name }).catch(ignoreStatus(404));
  }
  const have = new Set(existing.map((n) => n.metadata?.name));
  // Nodes made before KWOK was selected by label: give them the label, or KWOK would leave them alone.
  for (const node of existing) {
    const name = node.metadata?.name ?? "";
    if (wanted.has(name) && node.metadata?.labels?.[KUBELET_LABEL] === undefined) {
      await new KubeHttp(kube.config).mergePatch("v1", "Node", name, { metadata: { labels: { [KUBELET_LABEL]: "running" } } });
    }
  }
  for (const [name, node] of wanted) {
    if (!have.has(name)) await kube.core.createNode({ body: node }).catch(ignoreStatus(409));
  }
}

function ignoreStatus(code: number) {
  return (err: unknown) => {
    if (apiStatus(err) !== code) throw err;
  };
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Waits until `count` simulated nodes report Ready; returns how many are Ready at the end. */
export async function waitNodesReady(kube: KubeClients, count: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let ready = 0;
  while (Date.now() < deadline) {
    ready = (await listSimulatedNodes(kube)).filter(isReady).length;
    if (ready >= count) return ready;
    await sleep(250);
  }
  return ready;
}

export type FailureMode = "heartbeat" | "not-ready";

/** On a node, makes reboots ineffective (it stays down), so that only a replacement brings the pool back. */
export const BROKEN_ANNOTATION = "mms.dev/sim-broken";

function assertSimulated(node: V1Node | undefined, name: string): asserts node is V1Node {
  if (!node) throw new Error(`node ${name} does not exist`);
  if (node.metadata?.labels?.[KUBELET_LABEL] === undefined) throw new Error(`node ${name} is not a simulated node; failures can only be injected on the dev cluster`);
}

const readyOf = (n: V1Node | undefined) => n?.status?.conditions?.find((c) => c.type === "Ready")?.status;

/**
 * Injects a node failure on the dev cluster.
 * - "heartbeat": the node's kubelet stops. KWOK no longer renews its Lease nor posts its status, so the
 *   Lease goes stale at once and the node lifecycle controller marks the node Unknown after its grace
 *   period (50 s), exactly as when a machine dies or loses its network. Its pods are left as they are.
 * - "not-ready": the kubelet runs (its Lease is renewed) but reports Ready=False.
 * The failure stays until a reboot through the sim OVH API (or `recoverNode`) undoes it; with `permanent`,
 * reboots do not help and only a replacement does.
 */
export async function failNode(http: KubeHttp, name: string, mode: FailureMode, opts: { permanent?: boolean; timeoutMs?: number } = {}): Promise<void> {
  assertSimulated(await http.getOrUndefined<V1Node>("v1", "Node", name), name);
  const patch = mode === "heartbeat"
    ? { labels: { [KUBELET_LABEL]: "stopped" satisfies SimKubelet } }
    : { labels: { [CONDITION_LABEL]: NOT_READY } };
  await http.mergePatch("v1", "Node", name, { metadata: { ...patch, ...(opts.permanent ? { annotations: { [BROKEN_ANNOTATION]: "true" } } : {}) } });
  if (mode === "heartbeat") return;
  // KWOK's not-ready stage plays within a second or so; wait for it, so the caller sees the failure.
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (readyOf(await http.getOrUndefined<V1Node>("v1", "Node", name)) !== "False") {
    if (Date.now() > deadline) throw new Error(`node ${name} did not report NotReady within ${(opts.timeoutMs ?? 30_000) / 1000} s; is KWOK running?`);
    await sleep(200);
  }
}

/** Undoes an injected failure: the node's kubelet runs and reports Ready again, as after a good reboot. */
export async function recoverNode(http: KubeHttp, name: string): Promise<void> {
  assertSimulated(await http.getOrUndefined<V1Node>("v1", "Node", name), name);
  await http.mergePatch("v1", "Node", name, {
    metadata: { labels: { [KUBELET_LABEL]: "running" satisfies SimKubelet, [CONDITION_LABEL]: null }, annotations: { [BROKEN_ANNOTATION]: null } },
  });
}

/** Waits until the named node (a real one) is Ready; false when the time runs out. */
export async function waitRealNodeReady(kube: KubeClients, name: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const node = await kube.core.readNode({ name }).catch(() => undefined);
    if (node && isReady(node)) return true;
    await sleep(500);
  }
  return false;
}
