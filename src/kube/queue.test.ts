import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { WorkQueue } from "./queue.ts";

test("one key is never processed by two workers at once, and a key added meanwhile runs again", async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let runs = 0;
  const q = new WorkQueue(async () => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    runs++;
    await sleep(20);
    inFlight--;
  }, { concurrency: 4 });
  q.add("a");
  await sleep(5);
  q.add("a");
  q.add("a");
  await sleep(100);
  await q.idle();
  assert.equal(maxInFlight, 1);
  assert.equal(runs, 2, "adds during processing collapse into one more run");
});

test("different keys run in parallel up to the concurrency", async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const q = new WorkQueue(async () => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await sleep(20);
    inFlight--;
  }, { concurrency: 3 });
  for (const k of ["a", "b", "c", "d", "e"]) q.add(k);
  await q.idle();
  assert.equal(maxInFlight, 3);
});

test("a failing key is retried with backoff until it succeeds", async () => {
  let attempts = 0;
  const errors: number[] = [];
  const q = new WorkQueue(() => {
    attempts++;
    return attempts < 3 ? Promise.reject(new Error("not yet")) : Promise.resolve();
  }, { concurrency: 1, baseDelayMs: 5, maxDelayMs: 20, onError: (_k, _e, n) => errors.push(n) });
  q.add("k");
  for (let i = 0; i < 100 && attempts < 3; i++) await sleep(10);
  q.stop();
  assert.equal(attempts, 3);
  assert.deepEqual(errors, [1, 2]);
});
