// Simulated nodes, shaped like an OVH Managed Kubernetes node pool (zone and pool labels,
// an OpenStack providerID, a real flavor's capacity). KWOK keeps them Ready and runs their pods.
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1Node } from "@kubernetes/client-node";
import type { KubeClients } from "../kube/client.ts";
import type { KubeHttp } from "../kube/http.ts";
import { apiStatus } from "../kube/client.ts";
import { KUBERNETES_VERSION } from "./versions.ts";
import { SIMULATED_NODE_ANNOTATION } from "./components.ts";

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
      annotations: { [SIMULATED_NODE_ANNOTATION]: "fake", "mms.dev/node-index": String(index) },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": FLAVOR.name,
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": zone,
        [POOL_LABEL]: NODE_POOL,
        [MANAGED_BY]: "mms-dev",
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

/**
 * Injects a node failure on the dev cluster. KWOK stops managing the node's status, and its Ready
 * condition turns Unknown ("heartbeat": what the node lifecycle controller reports once a kubelet
 * stops posting) or False ("not-ready": a kubelet reporting itself unwell). KWOK keeps renewing the
 * node's Lease, so a Lease-based check does not see this failure. A reboot through the sim OVH API
 * brings the node back.
 */
export async function failNode(http: KubeHttp, name: string, mode: FailureMode, now = new Date()): Promise<void> {
  const node = await http.getOrUndefined<V1Node>("v1", "Node", name);
  if (!node) throw new Error(`node ${name} does not exist`);
  if (node.metadata?.annotations?.[SIMULATED_NODE_ANNOTATION] === undefined) throw new Error(`node ${name} is not a simulated node; failures can only be injected on the dev cluster`);
  await http.mergePatch("v1", "Node", name, { metadata: { annotations: { [SIMULATED_NODE_ANNOTATION]: "failed" } } });
  const [status, reason, message] = mode === "heartbeat"
    ? ["Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status (failure injected by mms node fail)."]
    : ["False", "KubeletNotReady", "failure injected by mms node fail"];
  const setReady = async (current: V1Node) => {
    const conditions = (current.status?.conditions ?? []).map((c) => c.type === "Ready"
      ? { ...c, status, reason, message, lastTransitionTime: now.toISOString(), lastHeartbeatTime: now.toISOString() }
      : c);
    await http.request("PATCH", `/api/v1/nodes/${encodeURIComponent(name)}/status`, { status: { conditions } }, "application/merge-patch+json");
  };
  await setReady(node);
  // A status update KWOK had already in flight can land after ours and say Ready again: check twice.
  for (let i = 0; i < 2; i++) {
    await sleep(1_000);
    const current = await http.get<V1Node>("v1", "Node", name);
    if (current.status?.conditions?.find((c) => c.type === "Ready")?.status !== status) await setReady(current);
  }
}
