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
