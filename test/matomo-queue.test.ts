// Real Matomo, a database outage: a tenant with spec.tracking.queuedTracking queues its tracking requests in
// its pool's Redis (a database number of its own) and a queue worker Deployment works them off. The pool's
// MariaDB is stopped for 60 s under a numbered load: the tracker keeps answering 2xx, and once MariaDB is
// back every accepted hit is stored exactly once.
// Run alone: scripts/test test/matomo-*.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "redis";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { currentPaths, endpoints } from "../src/devcluster/environment.ts";
import { readState } from "../src/devcluster/state.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { accountLoad, startLoad, type LoadResult } from "./support/load.ts";
import { createMatomoTenant, matomoBed, mms, NEWER, removeMatomoTenant, tenantDatabase, tenantMatomo, type MatomoBed } from "./support/matomo.ts";

let bed: MatomoBed | undefined;
let skip: string | undefined;
const tenant = uniqueName("mq");
const RATE = 8;
const OUTAGE_MS = 60_000;

before(async () => {
  const b = await matomoBed([NEWER]);
  if ("skip" in b) skip = b.skip;
  else bed = b;
});

after(async () => {
  if (bed) await removeMatomoTenant(bed.http, tenant);
});

/** Stops the dev pool's MariaDB (SIGTERM: a clean shutdown) and waits until it is gone. */
async function stopMariaDb(): Promise<void> {
  const pid = (await readState(currentPaths()))?.processes.mariadb?.pid;
  if (!pid) throw new Error("the dev environment's MariaDB has no pid");
  process.kill(pid, "SIGTERM");
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await eventually("MariaDB to stop", () => Promise.resolve(alive() ? undefined : true), 60_000);
}

describe("matomo: a database outage with the Redis queue", () => {
  test(`the pool's MariaDB stopped for ${OUTAGE_MS / 1000} s under load: the tracker keeps answering 2xx, and afterwards every hit is stored exactly once`, async (t) => {
    if (!bed) return t.skip(skip);
    const created = await createMatomoTenant(tenant, NEWER, ["--queued-tracking"]);
    assert.equal(created.code, 0, created.stderr);
    const obj = await bed.http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
    const database = obj.status?.tracking?.redisDatabase;
    assert.ok(database !== undefined && database >= 1, "the tenant has a Redis database of its own");
    const ns = tenantNamespace(tenant);
    const config = (await bed.http.get<{ data: Record<string, string> }>("v1", "ConfigMap", "matomo-config", ns)).data["common.config.ini.php"] ?? "";
    assert.match(config, new RegExp(`backend = "redis"[\\s\\S]*redisDatabase = "${database}"[\\s\\S]*processDuringTrackingRequest = "0"`));
    assert.doesNotMatch(config, /redisPassword/, "the Redis password is in the Secret's config.ini.php, not the ConfigMap");
    await eventually("the queue worker to run", async () => {
      const d = await bed!.http.get<{ status?: { readyReplicas?: number } }>("apps/v1", "Deployment", "queue-worker", ns);
      return (d.status?.readyReplicas ?? 0) >= 1 ? true : undefined;
    }, 120_000);

    const m = await tenantMatomo(bed.http, tenant);
    const load = startLoad(m.tracker, RATE, { label: "dbdown" });
    let result: LoadResult;
    let outage: { from: number; to: number };
    try {
      await sleep(10_000);
      const from = Date.now();
      await stopMariaDb();
      await sleep(OUTAGE_MS);
      const restarted = await mms(["dev", "up"]);
      assert.equal(restarted.code, 0, `mms dev up (restarting MariaDB): ${restarted.stderr}`);
      outage = { from, to: Date.now() };
      await sleep(10_000);
    } finally {
      result = await load.stop();
    }
    const during = [...result.sentAt].filter(([, at]) => at >= outage.from && at <= outage.to).map(([n]) => n);
    const refusedDuring = during.filter((n) => result.refused.has(n));
    t.diagnostic(`outage ${((outage.to - outage.from) / 1000).toFixed(0)} s: ${during.length} hits sent, ${refusedDuring.length} refused` +
      (refusedDuring.length ? ` (e.g. ${result.refused.get(refusedDuring[0] ?? 0)})` : ""));
    assert.ok(during.length > RATE * 30, "the load ran through the outage");
    assert.deepEqual(refusedDuring.map((n) => `${n}: ${result.refused.get(n)}`), [], "the tracker answered 2xx while MariaDB was down");

    // The worker catches up once MariaDB is back: the tenant's queue in Redis empties.
    const e = await endpoints();
    const redis = createClient({ socket: { host: e.redis.host, port: e.redis.port, reconnectStrategy: false }, password: e.redis.password, database });
    await redis.connect();
    try {
      await eventually("the Redis queue to be worked off", async () => {
        const keys = await redis.keys("trackingQueueV1*");
        let n = 0;
        for (const k of keys) if ((await redis.type(k)) === "list") n += await redis.lLen(k);
        return n === 0 ? true : undefined;
      }, 300_000);
    } finally {
      await redis.quit();
    }
    const db = await tenantDatabase(tenant);
    try {
      const account = await eventually("every accepted hit to be stored", async () => {
        const a = await accountLoad(db, result);
        return a.lost === 0 ? a : undefined;
      }, 120_000).catch(async () => accountLoad(db, result));
      t.diagnostic(`hits: ${JSON.stringify(account)}`);
      assert.equal(account.lost, 0, `accepted but not stored: ${account.lostExamples.join(", ")}`);
      assert.equal(account.duplicated, 0, "no hit stored twice");
    } finally {
      await db.end();
    }
  });
});
