// Retries of cloud API calls: exponential backoff with full jitter on retryable errors, a bounded
// number of attempts, and an injectable clock so tests run instantly.
import { setTimeout as sleepMs } from "node:timers/promises";
import { CloudApiError } from "./driver.ts";

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** In [0, 1); full jitter spreads the retries of many callers so they do not hit the API together. */
  readonly random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  sleep: (ms) => sleepMs(ms),
  random: Math.random,
};

/** The wait before attempt `attempt + 1`, after `attempt` failed attempts. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(policy.random() * cap);
}

/**
 * Runs `call` until it succeeds, fails with an error that is not retryable, or has been tried
 * `maxAttempts` times. The error of the last attempt is rethrown, carrying the attempt count.
 */
export async function withRetries<T>(policy: RetryPolicy, call: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      if (!(err instanceof CloudApiError) || !err.retryable) throw err;
      if (attempt >= policy.maxAttempts) {
        throw new CloudApiError(err.status, err.method, err.path,
          `${err.message}; gave up after ${attempt} attempts`, attempt);
      }
      await policy.sleep(backoffDelay(policy, attempt));
    }
  }
}
