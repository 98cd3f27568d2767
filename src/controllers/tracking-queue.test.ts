import { test } from "node:test";
import assert from "node:assert/strict";
import type { TenantFacts } from "./fleet.ts";
import { TrackingQueueDepths, type QueueCounter } from "./tracking-queue.ts";

const facts = (name: string, pool: string, redisDatabase?: number): TenantFacts => ({
  name, plan: "small", version: "5.2.1", pool, suspended: false, deleting: false, conditions: [], ready: true, archiving: {},
  ...(redisDatabase !== undefined ? { redisDatabase } : {}),
});

/** A counter over fixed queue lengths per pool and database, recording each call. */
function counter(lengths: Record<string, Record<number, number>>, failing = new Set<string>()) {
  const calls: string[] = [];
  const count: QueueCounter = (pool, databases) => {
    calls.push(`${pool}:${databases.join(",")}`);
    if (failing.has(pool)) return Promise.reject(new Error(`${pool}'s Redis refused the connection`));
    return Promise.resolve(new Map(databases.map((d) => [d, lengths[pool]?.[d] ?? 0])));
  };
  return { calls, count };
}

test("each pool's Redis is counted once for all its tenants, and the count is reused within its time to live", async () => {
  let now = 0;
  const c = counter({ p1: { 1: 5, 2: 0 }, p2: { 1: 9 } });
  const q = new TrackingQueueDepths(c.count, { ttlMs: 15_000, now: () => now });
  const fleet = [facts("a", "p1", 1), facts("b", "p1", 2), facts("c", "p2", 1), facts("direct", "p1")];
  assert.deepEqual(Object.fromEntries(await q.depths(fleet)), { a: 5, b: 0, c: 9 }, "tenants without a Redis queue are left out");
  assert.deepEqual(c.calls.sort(), ["p1:1,2", "p2:1"]);
  now = 14_000;
  await q.depths(fleet);
  assert.equal(c.calls.length, 2, "within 15 s the count is reused");
  now = 15_000;
  await q.depths(fleet);
  assert.equal(c.calls.length, 4, "then counted again");
});

test("a pool whose Redis cannot be read leaves its tenants unknown, and is reported once until it recovers", async () => {
  let now = 0;
  const failing = new Set(["p2"]);
  const c = counter({ p1: { 1: 3 }, p2: { 1: 4 } }, failing);
  const errors: string[] = [];
  const q = new TrackingQueueDepths(c.count, { ttlMs: 1, now: () => now, onError: (pool) => errors.push(pool) });
  const fleet = [facts("a", "p1", 1), facts("c", "p2", 1)];
  assert.deepEqual(Object.fromEntries(await q.depths(fleet)), { a: 3 });
  now = 10;
  await q.depths(fleet);
  assert.deepEqual(errors, ["p2"]);
  failing.delete("p2");
  now = 20;
  assert.deepEqual(Object.fromEntries(await q.depths(fleet)), { a: 3, c: 4 });
});

test("a scrape does not wait for a Redis that hangs: it gets the previous count", async () => {
  let now = 0;
  let release: (() => void) | undefined;
  let hang = false;
  const count: QueueCounter = (_pool, databases) => {
    const result = new Map(databases.map((d) => [d, hang ? 99 : 1]));
    return hang ? new Promise((resolve) => (release = () => resolve(result))) : Promise.resolve(result);
  };
  const q = new TrackingQueueDepths(count, { ttlMs: 5, waitMs: 20, now: () => now });
  const fleet = [facts("a", "p1", 1)];
  assert.deepEqual(Object.fromEntries(await q.depths(fleet)), { a: 1 });
  hang = true;
  now = 10;
  assert.deepEqual(Object.fromEntries(await q.depths(fleet)), { a: 1 }, "the previous count, while the new one hangs");
  release?.();
  await new Promise((r) => setImmediate(r));
  now = 12;
  assert.deepEqual(Object.fromEntries(await q.depths(fleet)), { a: 99 }, "the count that finished late is used next");
});
