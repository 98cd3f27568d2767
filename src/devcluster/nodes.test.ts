import { test } from "node:test";
import assert from "node:assert/strict";
import { simulatedNode, ZONES } from "./nodes.ts";

test("simulated nodes look like an OVH node pool and keep their identity", () => {
  const nodes = [0, 1, 2, 3].map(simulatedNode);
  const names = nodes.map((n) => n.metadata?.name);
  assert.equal(new Set(names).size, 4, "names are unique");
  for (const n of nodes) {
    assert.match(n.metadata?.name ?? "", /^default-pool-node-[0-9a-f]{6}$/);
    assert.match(n.spec?.providerID ?? "", /^openstack:\/\/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(n.metadata?.labels?.nodepool, "default-pool");
    assert.equal(n.metadata?.annotations?.["kwok.x-k8s.io/node"], "fake");
  }
  assert.deepEqual(nodes.slice(0, 3).map((n) => n.metadata?.labels?.["topology.kubernetes.io/zone"]), [...ZONES]);
  assert.deepEqual(simulatedNode(2), nodes[2], "the same index gives the same node");
});
