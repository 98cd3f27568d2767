import { test } from "node:test";
import assert from "node:assert/strict";
import { kwokNodeStages } from "./kwok.ts";
import { simulatedNode, ZONES } from "./nodes.ts";

test("simulated nodes look like an OVH node pool and keep their identity", () => {
  const nodes = [0, 1, 2, 3].map(simulatedNode);
  const names = nodes.map((n) => n.metadata?.name);
  assert.equal(new Set(names).size, 4, "names are unique");
  for (const n of nodes) {
    assert.match(n.metadata?.name ?? "", /^default-pool-node-[0-9a-f]{6}$/);
    assert.match(n.spec?.providerID ?? "", /^openstack:\/\/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(n.metadata?.labels?.nodepool, "default-pool");
    assert.equal(n.metadata?.labels?.["mms.dev/sim-kubelet"], "running", "KWOK plays its kubelet");
  }
  assert.deepEqual(nodes.slice(0, 3).map((n) => n.metadata?.labels?.["topology.kubernetes.io/zone"]), [...ZONES]);
  assert.deepEqual(simulatedNode(2), nodes[2], "the same index gives the same node");
});

test("KWOK's node stages: a start, a heartbeat and a NotReady kubelet, keyed on our labels", () => {
  const text = kwokNodeStages();
  const names = [...text.matchAll(/^ {2}name: (\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(names, ["mms-node-start", "mms-node-heartbeat", "mms-node-not-ready"]);
  assert.equal(text.split("\n---\n").length, 3, "three YAML documents");
  assert.ok(!text.includes("\t"), "no tabs in YAML");
  assert.match(text, /\.metadata\.labels\["mms\.dev\/sim-condition"\]/);
});
