import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decide, DEFAULT_POLICY, DEFAULT_TIMEOUTS, failedSince, nextStep, type NodeObservation, type RemediationProgress } from "./policy.ts";

const NOW = 1_000_000;
const node = (name: string, pool: string, readyFor: number | "ready", extra: Partial<NodeObservation> = {}): NodeObservation => ({
  name, pool, paused: false,
  ready: readyFor === "ready" ? "True" : "Unknown",
  readySince: readyFor === "ready" ? NOW - 3_600_000 : NOW - readyFor,
  ...extra,
});

test("a node NotReady past the threshold is remediated; one not yet past it is left alone", () => {
  const d = decide([node("a", "p", 40_000), node("b", "p", 10_000), node("c", "p", "ready"), node("d", "p", "ready"), node("e", "p", "ready")], [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual(d.unhealthy, ["a"]);
  assert.deepEqual(d.start, ["a"]);
});

test("a silent heartbeat counts as unhealthy even while the Ready condition still says True", () => {
  const d = decide([node("a", "p", "ready", { lastHeartbeat: NOW - 45_000 }), node("b", "p", "ready"), node("c", "p", "ready")], [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual(d.start, ["a"]);
});

test("storm: 3 of 5 nodes down at once is a partition, not 3 broken nodes: nothing is remediated, and the reason says so", () => {
  const nodes = [node("a", "p", 60_000), node("b", "p", 60_000), node("c", "p", 60_000), node("d", "p", "ready"), node("e", "p", "ready")];
  const d = decide(nodes, [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual(d.start, []);
  assert.equal(d.blocked.length, 3);
  for (const b of d.blocked) {
    assert.equal(b.reason, "StormProtection");
    assert.match(b.message, /3 of 5 nodes in the cluster are unhealthy \(limit 40 %\)/);
  }
});

test("storm: nodes failing a second apart count together, so the first is not remediated as a lone failure", () => {
  const nodes = [node("a", "p", 31_000), node("b", "p", 29_000), node("c", "p", "ready")];
  const d = decide(nodes, [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual(d.start, []);
  assert.deepEqual(d.blocked.map((b) => [b.node, b.reason]), [["a", "StormProtection"]]);
  assert.match(d.blocked[0]?.message ?? "", /2 of 3 nodes/);
});

test("storm: kubelets that stop together go silent up to a renewal apart, and still count together", () => {
  // Leases are renewed every 10 s: "a" renewed just before the failure was 10.4 s older than "c".
  const silent = (ms: number) => ({ lastHeartbeat: NOW - ms });
  const nodes = [
    node("a", "p", "ready", silent(DEFAULT_POLICY.heartbeatSilenceMs)),
    node("b", "p", "ready", silent(DEFAULT_POLICY.heartbeatSilenceMs - 5_000)),
    node("c", "p", "ready", silent(DEFAULT_POLICY.heartbeatSilenceMs - 10_400)),
    node("d", "p", "ready", silent(9_000)), node("e", "p", "ready", silent(2_000)),
  ];
  const d = decide(nodes, [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual(d.unhealthy, ["a"]);
  assert.deepEqual(d.start, []);
  assert.deepEqual(d.blocked.map((b) => b.reason), ["StormProtection"]);
  assert.match(d.blocked[0]?.message ?? "", /3 of 5 nodes/);
});

test("a doctor-wide hold (refused cloud credentials) blocks every new remediation with its reason", () => {
  const nodes = [node("a", "p", 60_000), ...["b", "c", "d"].map((n) => node(n, "p", "ready"))];
  const d = decide(nodes, [], [], DEFAULT_POLICY, NOW, { reason: "CloudAccessDenied", message: "the cloud API refused" });
  assert.deepEqual(d.start, []);
  assert.deepEqual(d.blocked.map((b) => [b.node, b.reason, b.message]), [["a", "CloudAccessDenied", "the cloud API refused"]]);
});

test("a failure dates from the last heartbeat of a silent node, or from Ready leaving True", () => {
  assert.equal(failedSince(node("a", "p", "ready", { lastHeartbeat: NOW - 31_000 }), DEFAULT_POLICY, NOW), NOW - 31_000);
  assert.equal(failedSince(node("a", "p", 40_000, { lastHeartbeat: NOW - 3_000 }), DEFAULT_POLICY, NOW), NOW - 40_000, "a NotReady kubelet still renews its Lease");
  assert.equal(failedSince(node("a", "p", 5_000, { lastHeartbeat: NOW - 55_000 }), DEFAULT_POLICY, NOW), NOW - 55_000, "marked Unknown by Kubernetes 50 s after its last heartbeat");
  assert.equal(failedSince(node("a", "p", "ready", { lastHeartbeat: NOW - 4_000 }), DEFAULT_POLICY, NOW), NOW);
});

test("at most one node per pool in remediation; other pools proceed", () => {
  const nodes = [node("a1", "a", 60_000), node("a2", "a", 50_000), ...["a3", "a4", "a5", "a6"].map((n) => node(n, "a", "ready")), node("b1", "b", 60_000), ...["b2", "b3", "b4"].map((n) => node(n, "b", "ready"))];
  const d = decide(nodes, [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual([...d.start].sort(), ["a1", "b1"]);
  assert.deepEqual(d.blocked.map((b) => [b.node, b.reason]), [["a2", "PoolBusy"]]);
});

test("paused nodes, a paused doctor, cooldown and flapping block remediation", () => {
  const healthy = ["x", "y", "z", "w"].map((n) => node(n, "p", "ready"));
  const d1 = decide([node("a", "p", 60_000, { paused: true }), ...healthy], [], [], DEFAULT_POLICY, NOW);
  assert.deepEqual(d1.blocked.map((b) => b.reason), ["Paused"]);
  const d2 = decide([node("a", "p", 60_000), ...healthy], [], [], { ...DEFAULT_POLICY, paused: true }, NOW);
  assert.deepEqual(d2.blocked.map((b) => b.reason), ["Paused"]);
  const d3 = decide([node("a", "p", 60_000), ...healthy], [], [{ node: "a", startedAt: NOW - 200_000, endedAt: NOW - 60_000 }], DEFAULT_POLICY, NOW);
  assert.deepEqual(d3.blocked.map((b) => b.reason), ["Cooldown"]);
  const flaps = [1, 2, 3].map((i) => ({ node: "a", startedAt: NOW - i * 600_000, endedAt: NOW - i * 600_000 + 60_000 }));
  const d4 = decide([node("a", "p", 60_000), ...healthy], [], flaps, DEFAULT_POLICY, NOW);
  assert.deepEqual(d4.blocked.map((b) => b.reason), ["Flapping"]);
});

test("property: never more remediations than allowed, never any when over the storm limit", () => {
  const arb = fc.array(fc.record({ pool: fc.constantFrom("a", "b", "c"), down: fc.boolean() }), { minLength: 1, maxLength: 30 });
  fc.assert(fc.property(arb, (spec) => {
    const nodes = spec.map((s, i) => node(`n${i}`, s.pool, s.down ? 60_000 : "ready"));
    const d = decide(nodes, [], [], DEFAULT_POLICY, NOW);
    const down = spec.filter((s) => s.down).length;
    if (down / spec.length > DEFAULT_POLICY.maxUnhealthyShare) assert.equal(d.start.length, 0);
    for (const pool of ["a", "b", "c"]) {
      assert.ok(d.start.filter((n) => nodes.find((x) => x.name === n)?.pool === pool).length <= DEFAULT_POLICY.maxPerPool);
    }
    assert.equal(d.start.length + d.blocked.length, down);
  }));
});

test("escalation: cordon, soft reboot, fence once the cloud confirms the reboot, then hard reboot and replace on timeouts", () => {
  let p: RemediationProgress = { phase: "Cordon", phaseStartedAt: NOW };
  const step = (ready: boolean, instance: Parameters<typeof nextStep>[2], fenced: boolean, at: number) => {
    const r = nextStep(p, ready, instance, fenced, DEFAULT_TIMEOUTS, at);
    p = r.next;
    return r.action;
  };
  assert.deepEqual(step(false, "running", false, NOW), { kind: "cordon" });
  assert.deepEqual(step(false, "running", false, NOW), { kind: "reboot", type: "soft" });
  assert.deepEqual(step(false, "running", false, NOW + 1000), { kind: "wait" }, "no fencing before the cloud confirms");
  assert.deepEqual(step(false, "rebooting", false, NOW + 2000), { kind: "fence" });
  assert.deepEqual(step(false, "rebooting", true, NOW + DEFAULT_TIMEOUTS.softRebootMs + 1), { kind: "wait" });
  assert.equal(p.phase, "HardReboot");
  assert.deepEqual(step(false, "rebooting", true, NOW + 200_000), { kind: "reboot", type: "hard" });
  step(false, "off", true, NOW + 200_000 + DEFAULT_TIMEOUTS.hardRebootMs + 1);
  assert.equal(p.phase, "Replace");
  assert.deepEqual(step(false, "off", true, NOW + 400_000), { kind: "replace" });
  assert.deepEqual(step(false, "gone", true, NOW + 410_000), { kind: "release" });
  assert.equal(p.phase, "Succeeded");
});

test("a node that comes back after the soft reboot is released, not escalated", () => {
  let p: RemediationProgress = { phase: "AwaitReady", phaseStartedAt: NOW, awaiting: "SoftReboot" };
  const r = nextStep(p, true, "running", true, DEFAULT_TIMEOUTS, NOW + 60_000);
  p = r.next;
  assert.deepEqual(r.action, { kind: "release" });
  assert.equal(p.phase, "Succeeded");
});
