// A Redis database number per queued tenant of a pool: QueuedTracking keeps its queue under fixed key
// names, so tenants sharing the pool's Redis are kept apart by database number. The numbers are claimed
// in a registry ConfigMap per pool (`mms-system/mms-redis-<pool>`, number → tenant) with optimistic
// concurrency, so two reconciles never take the same one; a number is emptied (FLUSHDB) when claimed, so a
// tenant never sees what a deleted one left, and recorded in the tenant's status before anything uses it.
import { createClient } from "redis";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { PoolError } from "../db/pool.ts";
import type { RedisQueue } from "../db/resolve.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";

/** The registry of a pool's Redis database numbers. */
export function redisRegistryName(pool: string): string {
  return `mms-redis-${pool}`;
}

/** A claim whose database has not been emptied yet. */
const NEW = " (new)";

interface RegistryObject {
  metadata: { resourceVersion?: string };
  data?: Record<string, string>;
}

/** The smallest number in 1..databases-1 that is free or held by a tenant that no longer exists. */
export function freeDatabase(data: Readonly<Record<string, string>>, databases: number, tenants: ReadonlySet<string>): number | undefined {
  for (let n = 1; n < databases; n++) {
    const owner = data[String(n)]?.replace(NEW, "");
    if (owner === undefined || !tenants.has(owner)) return n;
  }
  return undefined;
}

async function flush(redis: RedisQueue, database: number): Promise<void> {
  const client = createClient({ socket: { host: redis.host, port: redis.port, connectTimeout: 5_000, reconnectStrategy: false }, password: redis.password, database });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.flushDb();
  } catch (err) {
    throw new PoolError("QueueUnreachable", `${redis.host}:${redis.port}`, `cannot empty database ${database} of the pool's Redis ${redis.host}:${redis.port} for the tenant's queue: ${(err as Error).message}`);
  } finally {
    await client.quit().catch(() => undefined);
  }
}

/** The tenant's database number on the pool's Redis, claiming (and emptying) one when it has none. */
export async function claimRedisDatabase(http: KubeHttp, pool: string, tenant: string, redis: RedisQueue): Promise<number> {
  const name = redisRegistryName(pool);
  for (let attempt = 0; attempt < 20; attempt++) {
    const cm = await http.getOrUndefined<RegistryObject>("v1", "ConfigMap", name, SYSTEM_NAMESPACE);
    const data = cm?.data ?? {};
    const mine = Object.entries(data).find(([, owner]) => owner === tenant || owner === tenant + NEW);
    try {
      if (mine && mine[1] === tenant) return Number(mine[0]);
      let n: number;
      let rv = cm?.metadata.resourceVersion;
      if (mine) {
        n = Number(mine[0]);
      } else {
        const tenants = new Set((await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant")).items.map((t) => t.metadata.name));
        const free = freeDatabase(data, redis.databases, tenants);
        if (free === undefined) throw new PoolError("QueueFull", `${redis.host}:${redis.port}`, `every database of pool ${pool}'s Redis (1-${redis.databases - 1}) holds a tenant's queue; raise the server's \`databases\` and spec.queue.redis.databases`);
        n = free;
        const claimed = { ...data, [String(n)]: tenant + NEW };
        const written = cm
          ? await http.request<RegistryObject>("PUT", `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${name}`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: SYSTEM_NAMESPACE, resourceVersion: rv }, data: claimed })
          : await http.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: SYSTEM_NAMESPACE }, data: claimed }, { fieldManager: "mms-operator" }) as unknown as RegistryObject;
        rv = written.metadata.resourceVersion;
      }
      // Claimed: empty it (whatever a deleted tenant left), then mark the claim done.
      await flush(redis, n);
      const current = await http.get<RegistryObject>("v1", "ConfigMap", name, SYSTEM_NAMESPACE);
      if (current.data?.[String(n)] !== tenant + NEW) continue;
      await http.request("PUT", `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${name}`, {
        apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: SYSTEM_NAMESPACE, resourceVersion: current.metadata.resourceVersion }, data: { ...current.data, [String(n)]: tenant },
      });
      return n;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) continue; // someone else wrote the registry: read it again
      throw err;
    }
  }
  throw new PoolError("QueueUnreachable", `${redis.host}:${redis.port}`, `could not claim a Redis database for tenant ${tenant} on pool ${pool}: the registry ${SYSTEM_NAMESPACE}/${name} kept changing`);
}
