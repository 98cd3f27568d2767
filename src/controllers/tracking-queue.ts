// How many tracking requests wait in each queued tenant's Redis queue (QueuedTracking's lists
// `trackingQueueV1`, `trackingQueueV1_1`… in the tenant's own database number of its pool's Redis). Read for
// the metrics when Prometheus scrapes, so bounded: one connection per pool, counted at most every
// `ttlMs`, and a scrape waits at most `waitMs` for a count (else it reports the previous one).
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "redis";
import { resolvePool, type RedisQueue } from "../db/resolve.ts";
import type { KubeHttp } from "../kube/http.ts";
import type { TenantFacts } from "./fleet.ts";

const QUEUE_KEYS = "trackingQueueV1*";

/** Counts the queued requests of some databases of one pool's Redis: database number → requests. */
export type QueueCounter = (pool: string, databases: readonly number[]) => Promise<ReadonlyMap<number, number>>;

export interface QueueDepthOptions {
  /** How long a count is reused (default 15 s). */
  readonly ttlMs?: number;
  /** How long a scrape waits for a fresh count (default 2 s). */
  readonly waitMs?: number;
  /** Called when a pool's Redis cannot be counted, once until it can be again. */
  readonly onError?: (pool: string, err: unknown) => void;
  readonly now?: () => number;
}

export class TrackingQueueDepths {
  private readonly count: QueueCounter;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly onError: (pool: string, err: unknown) => void;
  private readonly now: () => number;
  private last: { at: number; depths: ReadonlyMap<string, number> } | undefined;
  private refreshing: Promise<ReadonlyMap<string, number>> | undefined;
  private readonly failing = new Set<string>();

  constructor(count: QueueCounter, opts: QueueDepthOptions = {}) {
    this.count = count;
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.waitMs = opts.waitMs ?? 2_000;
    this.onError = opts.onError ?? (() => undefined);
    this.now = opts.now ?? Date.now;
  }

  /**
   * Queued requests by tenant, for the tenants with a Redis queue. A pool whose Redis cannot be read
   * leaves its tenants out (unknown, not 0).
   */
  async depths(facts: readonly TenantFacts[]): Promise<ReadonlyMap<string, number>> {
    const queued = facts.filter((f) => f.redisDatabase !== undefined && f.pool !== "");
    if (queued.length === 0) return new Map();
    const fresh = this.last && this.now() - this.last.at < this.ttlMs ? this.last.depths : undefined;
    let depths = fresh;
    if (!depths) {
      this.refreshing ??= this.refresh(queued).finally(() => (this.refreshing = undefined));
      depths = await Promise.race([this.refreshing, sleep(this.waitMs, undefined, { ref: false })]) ?? this.last?.depths ?? new Map();
    }
    const names = new Set(queued.map((f) => f.name));
    return new Map([...depths].filter(([t]) => names.has(t)));
  }

  private async refresh(queued: readonly TenantFacts[]): Promise<ReadonlyMap<string, number>> {
    const byPool = new Map<string, TenantFacts[]>();
    for (const f of queued) byPool.set(f.pool, [...(byPool.get(f.pool) ?? []), f]);
    const depths = new Map<string, number>();
    await Promise.all([...byPool].map(async ([pool, tenants]) => {
      try {
        const counts = await this.count(pool, tenants.map((t) => t.redisDatabase ?? 0));
        for (const t of tenants) {
          const n = counts.get(t.redisDatabase ?? 0);
          if (n !== undefined) depths.set(t.name, n);
        }
        this.failing.delete(pool);
      } catch (err) {
        if (!this.failing.has(pool)) this.onError(pool, err);
        this.failing.add(pool);
      }
    }));
    this.last = { at: this.now(), depths };
    return depths;
  }
}

/** Sums the lengths of QueuedTracking's lists in each database, over one connection to the pool's Redis. */
export async function countRedisQueues(redis: RedisQueue, databases: readonly number[], timeoutMs: number): Promise<ReadonlyMap<number, number>> {
  const client = createClient({ socket: { host: redis.host, port: redis.port, connectTimeout: timeoutMs, reconnectStrategy: false }, password: redis.password });
  client.on("error", () => undefined);
  // A Redis that stops answering must not hold the count forever: past the deadline, the connection goes.
  const deadline = setTimeout(() => client.destroy(), timeoutMs);
  deadline.unref();
  try {
    await client.connect();
    const counts = new Map<number, number>();
    for (const db of databases) {
      await client.select(db);
      let n = 0;
      for await (const keys of client.scanIterator({ MATCH: QUEUE_KEYS, TYPE: "list", COUNT: 100 })) {
        for (const key of keys) n += await client.lLen(key);
      }
      counts.set(db, n);
    }
    return counts;
  } finally {
    clearTimeout(deadline);
    if (client.isOpen) await client.quit().catch(() => undefined);
  }
}

/** The counter the operator uses: each pool's Redis (and its password) as its DatabasePool names them. */
export function poolQueueCounter(http: KubeHttp, timeoutMs = 10_000): QueueCounter {
  return async (pool, databases) => {
    const resolved = await resolvePool(http, pool);
    if (!resolved.redis) return new Map();
    return countRedisQueues(resolved.redis, databases, timeoutMs);
  };
}
