import { test } from "node:test";
import assert from "node:assert/strict";
import { CloudApiError } from "./driver.ts";
import { backoffDelay, withRetries, type RetryPolicy } from "./retry.ts";

function policy(slept: number[], random = () => 0.999): RetryPolicy {
  return { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000, random, sleep: (ms) => { slept.push(ms); return Promise.resolve(); } };
}

test("the backoff doubles per attempt up to the cap, and jitter scales it down", () => {
  const slept: number[] = [];
  const p = policy(slept);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(p, a)), [99, 199, 399, 799, 999, 999]);
  assert.equal(backoffDelay({ ...p, random: () => 0.5 }, 3), 200);
  assert.equal(backoffDelay({ ...p, random: () => 0 }, 3), 0);
});

test("429 and 5xx are retried until the call succeeds", async () => {
  const slept: number[] = [];
  const statuses = [429, 503, 429];
  const result = await withRetries(policy(slept), (attempt) => {
    const s = statuses[attempt - 1];
    return s ? Promise.reject(new CloudApiError(s, "GET", "/x", `status ${s}`)) : Promise.resolve(`ok after ${attempt}`);
  });
  assert.equal(result, "ok after 4");
  assert.equal(slept.length, 3);
});

test("a retryable error that persists fails after maxAttempts, saying how many", async () => {
  const slept: number[] = [];
  let calls = 0;
  await assert.rejects(withRetries(policy(slept), () => {
    calls++;
    return Promise.reject(new CloudApiError(500, "POST", "/x", "the OVH API failed on POST /x (500)"));
  }), (err: unknown) => {
    assert.ok(err instanceof CloudApiError);
    assert.equal(err.status, 500);
    assert.equal(err.attempts, 5);
    assert.match(err.message, /gave up after 5 attempts/);
    return true;
  });
  assert.equal(calls, 5);
  assert.equal(slept.length, 4, "no wait after the last attempt");
});

test("401, 403 and errors that are not API errors are not retried", async () => {
  for (const err of [new CloudApiError(401, "GET", "/x", "a"), new CloudApiError(403, "GET", "/x", "b"), new TypeError("bug")]) {
    const slept: number[] = [];
    let calls = 0;
    await assert.rejects(withRetries(policy(slept), () => {
      calls++;
      return Promise.reject(err);
    }), (e: unknown) => e === err);
    assert.equal(calls, 1);
    assert.equal(slept.length, 0);
  }
});
