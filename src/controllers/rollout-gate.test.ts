import { test } from "node:test";
import assert from "node:assert/strict";
import { RolloutGate } from "./rollout-gate.ts";

test("at most `limit` tenants hold a slot; a holder asking again keeps it; a release frees one", () => {
  const gate = new RolloutGate(2);
  assert.equal(gate.acquire("a"), true);
  assert.equal(gate.acquire("b"), true);
  assert.equal(gate.acquire("c"), false);
  assert.equal(gate.acquire("a"), true, "a holder is admitted again");
  gate.release("a");
  assert.equal(gate.acquire("c"), true);
  assert.equal(gate.rolling, 2);
});

test("a slot never given back expires", () => {
  let now = 0;
  const gate = new RolloutGate(1, { now: () => now, expiryMs: 1000 });
  assert.equal(gate.acquire("gone"), true);
  assert.equal(gate.acquire("next"), false);
  now = 1001;
  assert.equal(gate.acquire("next"), true);
});

test("a limit below 1 is refused", () => {
  assert.throws(() => new RolloutGate(0), /at least 1/);
});

/** A probe answering from a set of tenants that still roll, counting the questions. */
function probe(rolling: Set<string>) {
  const asked: string[] = [];
  return { asked, stillRolling: (t: string) => { asked.push(t); return Promise.resolve(rolling.has(t)); } };
}

test("a full gate asks the cluster about its holders and frees the slots held in vain", async () => {
  // Ten holders whose reconciles never came back to give their slots (plan deleted, pool gone, deleted
  // tenants, a stuck rollout): the eleventh tenant is refused once, then admitted.
  const rolling = new Set(["t0", "t1"]);
  const p = probe(rolling);
  const gate = new RolloutGate(10, { probe: p, recheckMs: 0 });
  for (let i = 0; i < 10; i++) assert.equal(gate.acquire(`t${i}`), true);
  assert.equal(gate.acquire("new"), false, "the gate is full");
  await gate.recheck();
  assert.deepEqual(p.asked.sort(), ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]);
  assert.equal(gate.rolling, 2, "only the two still rolling keep their slots");
  assert.equal(gate.acquire("new"), true);
  assert.equal(gate.holds("t0"), true);
  assert.equal(gate.holds("t5"), false);
});

test("without a probe, or when the probe fails, holders keep their slots", async () => {
  const gate = new RolloutGate(1);
  assert.equal(gate.acquire("a"), true);
  assert.equal(gate.acquire("b"), false);
  await gate.recheck();
  assert.equal(gate.acquire("b"), false);
  const failing = new RolloutGate(1, { probe: { stillRolling: () => Promise.reject(new Error("API server unavailable")) }, recheckMs: 0 });
  assert.equal(failing.acquire("a"), true);
  assert.equal(failing.acquire("b"), false);
  await failing.recheck();
  assert.equal(failing.holds("a"), true, "an unanswered question frees nothing");
});

test("rechecks are spaced out and never overlap", async () => {
  let now = 0;
  const p = probe(new Set(["a"]));
  const gate = new RolloutGate(1, { probe: p, now: () => now, recheckMs: 2000 });
  gate.acquire("a");
  gate.acquire("b");
  gate.acquire("c");
  await gate.recheck();
  assert.equal(p.asked.length, 1, "two refusals in the same moment ask once");
  now = 2500;
  gate.acquire("b");
  await gate.recheck();
  assert.equal(p.asked.length, 2);
});

test("a holder that gave its slot back and took a new one during a recheck keeps the new one", async () => {
  let answer: (v: boolean) => void = () => undefined;
  let now = 0;
  const gate = new RolloutGate(1, { now: () => now, recheckMs: 0, probe: { stillRolling: () => new Promise<boolean>((r) => { answer = r; }) } });
  gate.acquire("a");
  gate.acquire("b");
  const done = gate.recheck();
  gate.release("a");
  now = 1;
  gate.acquire("a");
  answer(false);
  await done;
  assert.equal(gate.holds("a"), true);
});

test("tenants found rolling at start hold slots: a restart does not let a second batch through", () => {
  const gate = new RolloutGate(2);
  gate.adopt(["x", "y"]);
  assert.equal(gate.acquire("z"), false);
  assert.equal(gate.acquire("x"), true);
});
