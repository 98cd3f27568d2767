// Finds where a tenant's data lives, from the Kubernetes API: its database and pool as the tenant
// controller recorded them in the tenant's status, and the pool's address and admin credentials.
import { API_GROUP_VERSION } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { tenantDatabaseName, type PoolEndpoint } from "../db/pool.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { BackupError } from "./errors.ts";
import { PoolLookupError, resolvePool as resolvePoolRef } from "../db/resolve.ts";

export interface TenantTarget {
  readonly tenant: string;
  readonly database: string;
  readonly poolName: string;
  readonly pool: PoolEndpoint;
}

async function get<T>(http: KubeHttp, apiVersion: string, kind: string, name: string, what: string, namespace?: string): Promise<T> {
  try {
    const obj = await http.getOrUndefined<T>(apiVersion, kind, name, namespace);
    if (obj === undefined) throw new BackupError("DatabaseNotFound", `${what} does not exist`);
    return obj;
  } catch (err) {
    if (err instanceof BackupError) throw err;
    const why = err instanceof KubeApiError ? err.message : (err as Error).message;
    throw new BackupError("DatabaseNotFound", `cannot read ${what}: ${why.replace(/[.\s]+$/, "")}`, { cause: err });
  }
}

/** The pool's address and admin account, from the Secret its spec names (src/db/resolve.ts). */
export async function resolvePool(http: KubeHttp, poolName: string): Promise<PoolEndpoint> {
  try {
    return (await resolvePoolRef(http, poolName)).endpoint;
  } catch (err) {
    if (err instanceof PoolLookupError) throw new BackupError("DatabaseNotFound", err.message, { cause: err });
    throw new BackupError("DatabaseNotFound", `cannot read DatabasePool ${poolName}: ${(err as Error).message.replace(/[.\s]+$/, "")}`, { cause: err });
  }
}

/** The tenant's database and pool; the tenant must have been placed on a pool already. */
export async function resolveTenantTarget(http: KubeHttp, tenant: string): Promise<TenantTarget> {
  const database = tenantDatabaseName(tenant);
  const t = await get<MatomoTenant>(http, API_GROUP_VERSION, "MatomoTenant", tenant, `tenant ${tenant}`);
  const placed = t.status?.database;
  const poolName = placed?.pool ?? t.spec.database?.pool;
  if (!poolName) throw new BackupError("DatabaseNotFound", `tenant ${tenant} has not been placed on a database pool yet`);
  if (placed?.name && placed.name !== database) {
    throw new BackupError("DatabaseNotFound", `tenant ${tenant} records database ${placed.name}, not the expected ${database}`);
  }
  return { tenant, database, poolName, pool: await resolvePool(http, poolName) };
}
