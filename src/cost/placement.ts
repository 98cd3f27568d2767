// Where tenants and the platform run, decided from the nodes and pods the cluster reports, pure: each
// tenant's flavor (the `node.kubernetes.io/instance-type` label OVH sets to the flavor name, on the nodes
// its pods run on), the tenant pool's nodes, the system pool's nodes (a shared cost), and what the nodes of
// each flavor can hold.
import type { NodeGroup } from "./model.ts";
import type { Resources } from "./quantity.ts";

export const INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type";
/** OVH Managed Kubernetes labels each node with its node pool's name. */
export const NODE_POOL_LABEL = "nodepool";

export interface NodeInfo {
  readonly name: string;
  /** The instance-type label; undefined when the node has none. */
  readonly flavor: string | undefined;
  readonly pool: string;
  readonly allocatable: Resources | undefined;
}

/** A pod of a tenant's steady components (tracker, web, queue worker), or of the platform. */
export interface PodPlacement {
  readonly owner: string;
  readonly nodeName: string | undefined;
}

/**
 * Where a flavor comes from: the nodes the tenant's pods run on, those of any tenant (its own are not
 * scheduled), --flavor, or the default.
 */
export type FlavorSource = "nodes" | "tenant-pool" | "flag" | "default";

export interface Placement {
  readonly flavors: ReadonlyMap<string, { readonly flavor: string; readonly from: FlavorSource }>;
  /** The nodes tenants run on, by their own flavor (--flavor or the default only for unlabelled ones). */
  readonly tenantPoolNodes: readonly NodeGroup[];
  readonly systemNodes: readonly NodeGroup[];
  /** Pools that run the platform and no tenant. */
  readonly systemPools: readonly string[];
  /** System nodes without an instance-type label, which cannot be priced. */
  readonly unpricedNodes: readonly string[];
  /** Pools that run neither tenants nor the platform: not counted. */
  readonly otherPools: readonly string[];
  /** The smallest allocatable among the nodes of each flavor. */
  readonly allocatable: ReadonlyMap<string, Resources>;
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
}

function groups(flavors: readonly string[]): NodeGroup[] {
  const counts = new Map<string, number>();
  for (const f of flavors) counts.set(f, (counts.get(f) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([flavor, count]) => ({ flavor, count }));
}

export function placeTenants(input: {
  readonly nodes: readonly NodeInfo[];
  readonly tenantPods: readonly PodPlacement[];
  readonly platformPods: readonly PodPlacement[];
  readonly tenants: readonly string[];
  /** --flavor: prices the tenant pool as this flavor, whatever the nodes say. */
  readonly flavor?: string | undefined;
  readonly defaultFlavor: string;
}): Placement {
  const byName = new Map(input.nodes.map((n) => [n.name, n]));
  const nodeOf = (p: PodPlacement) => (p.nodeName ? byName.get(p.nodeName) : undefined);
  const tenantPools = new Set(input.tenantPods.map((p) => nodeOf(p)?.pool).filter((p): p is string => p !== undefined));
  const labelled = (pods: readonly PodPlacement[]) => pods.map((p) => nodeOf(p)?.flavor).filter((f): f is string => f !== undefined);
  const poolFlavor = mostCommon(labelled(input.tenantPods));

  const flavors = new Map<string, { flavor: string; from: FlavorSource }>();
  for (const t of input.tenants) {
    const own = mostCommon(labelled(input.tenantPods.filter((p) => p.owner === t)));
    flavors.set(t, input.flavor ? { flavor: input.flavor, from: "flag" }
      : own ? { flavor: own, from: "nodes" }
        : poolFlavor ? { flavor: poolFlavor, from: "tenant-pool" }
          : { flavor: input.defaultFlavor, from: "default" });
  }

  const platformPools = new Set(input.platformPods.map((p) => nodeOf(p)?.pool).filter((p): p is string => p !== undefined));
  const systemPools = [...platformPools].filter((p) => !tenantPools.has(p)).sort();
  const system = input.nodes.filter((n) => systemPools.includes(n.pool));
  const pool = input.nodes.filter((n) => tenantPools.has(n.pool));
  const otherPools = [...new Set(input.nodes.map((n) => n.pool))].filter((p) => !tenantPools.has(p) && !platformPools.has(p)).sort();

  const allocatable = new Map<string, Resources>();
  for (const n of input.nodes) {
    if (!n.flavor || !n.allocatable) continue;
    const seen = allocatable.get(n.flavor);
    allocatable.set(n.flavor, seen
      ? { cpuMillis: Math.min(seen.cpuMillis, n.allocatable.cpuMillis), memoryBytes: Math.min(seen.memoryBytes, n.allocatable.memoryBytes) }
      : n.allocatable);
  }

  return {
    flavors,
    tenantPoolNodes: groups(pool.map((n) => n.flavor ?? input.flavor ?? poolFlavor ?? input.defaultFlavor)),
    systemNodes: groups(system.map((n) => n.flavor).filter((f): f is string => f !== undefined)),
    systemPools,
    unpricedNodes: system.filter((n) => !n.flavor).map((n) => n.name).sort(),
    otherPools,
    allocatable,
  };
}
