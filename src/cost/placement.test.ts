import { test } from "node:test";
import assert from "node:assert/strict";
import { placeTenants, type NodeInfo, type PodPlacement } from "./placement.ts";

const GIB = 2 ** 30;

function node(name: string, pool: string, flavor: string | undefined, cpu = 4000, mem = 15 * GIB): NodeInfo {
  return { name, pool, flavor, allocatable: { cpuMillis: cpu, memoryBytes: mem } };
}
const pod = (owner: string, nodeName?: string): PodPlacement => ({ owner, nodeName });

const NODES = [
  node("t1", "tenants", "b3-16"), node("t2", "tenants", "b3-16", 3900, 14 * GIB), node("t3", "tenants-big", "b3-32", 8000, 30 * GIB),
  node("s1", "system", "b3-8"), node("s2", "system", "b3-8"), node("s3", "system", undefined),
  node("idle", "spare", "b3-8"),
];

test("each tenant is priced on the flavor its pods run on; one without scheduled pods on the tenant pool's", () => {
  const p = placeTenants({
    nodes: NODES,
    tenantPods: [pod("a", "t1"), pod("a", "t2"), pod("b", "t3"), pod("b", "t3"), pod("b", "t1"), pod("c")],
    platformPods: [pod("mms-system", "s1")],
    tenants: ["a", "b", "c"], defaultFlavor: "b3-8",
  });
  assert.deepEqual(Object.fromEntries(p.flavors), {
    a: { flavor: "b3-16", from: "nodes" },
    b: { flavor: "b3-32", from: "nodes" },
    c: { flavor: "b3-16", from: "tenant-pool" },
  });
  assert.deepEqual(p.tenantPoolNodes, [{ flavor: "b3-16", count: 2 }, { flavor: "b3-32", count: 1 }]);
  // The system pool is where the platform runs and no tenant; its unlabelled node cannot be priced.
  assert.deepEqual(p.systemPools, ["system"]);
  assert.deepEqual(p.systemNodes, [{ flavor: "b3-8", count: 2 }]);
  assert.deepEqual(p.unpricedNodes, ["s3"]);
  assert.deepEqual(p.otherPools, ["spare"]);
  // The smallest allocatable among the nodes of a flavor.
  assert.deepEqual(p.allocatable.get("b3-16"), { cpuMillis: 3900, memoryBytes: 14 * GIB });
});

test("--flavor wins over the nodes; without labels or pods the default applies", () => {
  const flagged = placeTenants({ nodes: NODES, tenantPods: [pod("a", "t1")], platformPods: [], tenants: ["a"], flavor: "b2-15", defaultFlavor: "b3-8" });
  assert.deepEqual(flagged.flavors.get("a"), { flavor: "b2-15", from: "flag" });
  assert.deepEqual(flagged.tenantPoolNodes, [{ flavor: "b3-16", count: 2 }], "the pool's nodes stay what they are");

  const bare = placeTenants({ nodes: [node("n1", "default", undefined)], tenantPods: [pod("a", "n1")], platformPods: [], tenants: ["a", "b"], defaultFlavor: "b3-8" });
  assert.deepEqual(bare.flavors.get("a"), { flavor: "b3-8", from: "default" });
  assert.deepEqual(bare.flavors.get("b"), { flavor: "b3-8", from: "default" });
  assert.deepEqual(bare.systemNodes, [], "a pool shared by tenants and nothing else has no system nodes");
});

test("a pool that runs both the platform and tenants is the tenant pool, not a shared cost", () => {
  const p = placeTenants({ nodes: [node("n1", "one", "b3-8"), node("n2", "one", "b3-8")], tenantPods: [pod("a", "n1")], platformPods: [pod("mms-system", "n2")], tenants: ["a"], defaultFlavor: "b3-8" });
  assert.deepEqual(p.systemNodes, []);
  assert.deepEqual(p.tenantPoolNodes, [{ flavor: "b3-8", count: 2 }]);
});
