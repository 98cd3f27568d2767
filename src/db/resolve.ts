// The one place references to database pools and tenant Secrets are resolved: a pool by name → its spec
// and endpoint with admin credentials, the pool a new tenant goes to, and the tenant's Secret (read,
// and seeded once). The operator, backups, imports and disaster recovery all go through here.
import { tenantLabels } from "../api/labels.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import { PoolSpec, type DatabasePool } from "../api/pool.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { secretValue } from "../kube/secrets.ts";
import type { PoolEndpoint } from "./pool.ts";

/** Why a pool reference could not be resolved; the reason becomes a status condition's reason. */
export type PoolLookupReason = "PoolNotFound" | "PoolCredentialsMissing";

export class PoolLookupError extends Error {
  readonly reason: PoolLookupReason;
  constructor(reason: PoolLookupReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PoolLookupError";
    this.reason = reason;
  }
}

export interface ResolvedPool {
  readonly name: string;
  readonly spec: PoolSpec;
  readonly endpoint: PoolEndpoint;
  /** The pool's tracking queue (spec.queue.redis) with its password, when it has one. */
  readonly redis?: RedisQueue | undefined;
}

export interface RedisQueue {
  readonly host: string;
  readonly port: number;
  readonly databases: number;
  readonly password?: string | undefined;
}

type SecretObject = { data?: Record<string, string> };

/** The pool's endpoint from its spec and the admin Secret the spec names (undefined when that Secret is absent). */
export function poolEndpointOf(name: string, spec: PoolSpec, secret: SecretObject | undefined): PoolEndpoint {
  const ref = spec.adminSecretRef;
  const adminUser = secretValue(secret?.data, ref.usernameKey);
  const adminPassword = secretValue(secret?.data, ref.passwordKey);
  if (!adminUser || !adminPassword) {
    throw new PoolLookupError("PoolCredentialsMissing",
      `Secret ${ref.namespace}/${ref.name} of pool ${name} ${secret ? `lacks the keys ${ref.usernameKey} and ${ref.passwordKey}` : "does not exist"}`);
  }
  return { host: spec.host, port: spec.port, adminUser, adminPassword };
}

async function read<T>(what: string, reason: PoolLookupReason, get: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await get();
  } catch (err) {
    // A refused read (403) is a lookup problem a person must fix; an API server that is down is not.
    if (err instanceof KubeApiError && err.status < 500 && err.status !== 429) {
      throw new PoolLookupError(reason, `cannot read ${what}: ${err.message.replace(/[.\s]+$/, "")}`, { cause: err });
    }
    throw err;
  }
}

/** A DatabasePool by name: its parsed spec and its endpoint with the admin credentials of its Secret. */
export async function resolvePool(http: KubeHttp, name: string): Promise<ResolvedPool> {
  const pool = await read(`DatabasePool ${name}`, "PoolNotFound", () => http.getOrUndefined<DatabasePool>(API_GROUP_VERSION, "DatabasePool", name));
  if (!pool) throw new PoolLookupError("PoolNotFound", `DatabasePool "${name}" does not exist`);
  const spec = PoolSpec.parse(pool.spec);
  const ref = spec.adminSecretRef;
  const secret = await read(`Secret ${ref.namespace}/${ref.name} of pool ${name}`, "PoolCredentialsMissing",
    () => http.getOrUndefined<SecretObject>("v1", "Secret", ref.name, ref.namespace));
  const endpoint = poolEndpointOf(name, spec, secret);
  const r = spec.queue?.redis;
  if (!r) return { name, spec, endpoint };
  let password: string | undefined;
  if (r.passwordSecretRef) {
    const ref = r.passwordSecretRef;
    const s = await read(`Secret ${ref.namespace}/${ref.name} of pool ${name}`, "PoolCredentialsMissing",
      () => http.getOrUndefined<SecretObject>("v1", "Secret", ref.name, ref.namespace));
    password = secretValue(s?.data, ref.key);
    if (!password) throw new PoolLookupError("PoolCredentialsMissing", `Secret ${ref.namespace}/${ref.name} of pool ${name} ${s ? `lacks the key ${ref.key} (the Redis password)` : "does not exist"}`);
  }
  return { name, spec, endpoint, redis: { host: r.host, port: r.port, databases: r.databases, password } };
}

export interface PoolRoom {
  readonly name: string;
  /** Capacity less the tenants placed on the pool or asking for it. */
  readonly free: number;
}

type TenantPlacement = Pick<MatomoTenant, "spec" | "status"> & { metadata: { name: string } };

/**
 * Free room per pool. The one capacity rule: a tenant counts against a pool once it is placed there
 * (status.database.pool) OR asks for it (spec.database.pool), so tenants created at the same moment with
 * an explicit pool are counted before the operator has placed them. Each tenant counts once.
 */
export function poolRoom(pools: readonly Pick<DatabasePool, "metadata" | "spec">[], tenants: readonly TenantPlacement[]): PoolRoom[] {
  const used = new Map<string, number>();
  for (const t of tenants) {
    const p = t.status?.database?.pool ?? t.spec.database?.pool;
    if (p) used.set(p, (used.get(p) ?? 0) + 1);
  }
  return pools.map((p) => ({ name: p.metadata.name, free: PoolSpec.parse(p.spec).capacity - (used.get(p.metadata.name) ?? 0) }));
}

/** The pool a new tenant goes to: the most free room, ties broken by name; undefined when none has room. */
export function pickPool(rooms: readonly PoolRoom[]): PoolRoom | undefined {
  return rooms.filter((p) => p.free > 0).sort((a, b) => b.free - a.free || a.name.localeCompare(b.name))[0];
}

/** Every pool with its free room, read from the cluster. */
export async function listPoolRoom(http: KubeHttp): Promise<PoolRoom[]> {
  const [pools, tenants] = await Promise.all([
    http.list<DatabasePool>(API_GROUP_VERSION, "DatabasePool"),
    http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant"),
  ]);
  return poolRoom(pools.items, tenants.items);
}

/** The pool the operator places a new tenant on (see poolRoom for how room is counted). */
export async function choosePool(http: KubeHttp): Promise<PoolRoom | undefined> {
  return pickPool(await listPoolRoom(http));
}

/** The Secret in each tenant's namespace holding its database password, Matomo's salt and its first admin. */
export const TENANT_SECRET_NAME = "matomo-secrets";

/** The keys of the tenant Secret that are made once and never replaced. */
export const TENANT_SECRET_KEYS = {
  databasePassword: "database-password",
  salt: "salt",
  adminUser: "admin-user",
  adminPassword: "admin-password",
  adminEmail: "admin-email",
  apiToken: "api-token",
} as const;

export type TenantSecretValues = Partial<Record<keyof typeof TENANT_SECRET_KEYS, string>>;

/** Decodes the seed-once values of a tenant Secret as the API server returns it. */
export function tenantSecretValues(secret: SecretObject | undefined): TenantSecretValues {
  const out: TenantSecretValues = {};
  for (const [field, key] of Object.entries(TENANT_SECRET_KEYS) as [keyof typeof TENANT_SECRET_KEYS, string][]) {
    const v = secretValue(secret?.data, key);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** The tenant's Secret values, or undefined when the Secret does not exist. */
export async function readTenantSecret(http: KubeHttp, tenant: string): Promise<TenantSecretValues | undefined> {
  const s = await http.getOrUndefined<SecretObject>("v1", "Secret", TENANT_SECRET_NAME, tenantNamespace(tenant));
  return s ? tenantSecretValues(s) : undefined;
}

/**
 * Adds values for keys the tenant's Secret lacks (a key introduced after the tenant was created), never
 * replacing one it has. False when the Secret changed meanwhile (the caller reads it again).
 */
export async function completeTenantSecret(http: KubeHttp, tenant: string, missing: TenantSecretValues): Promise<boolean> {
  const secret = await http.getOrUndefined<SecretObject & { metadata: { resourceVersion?: string } }>("v1", "Secret", TENANT_SECRET_NAME, tenantNamespace(tenant));
  if (!secret) return false;
  const stored = tenantSecretValues(secret);
  const stringData: Record<string, string> = {};
  for (const [field, v] of Object.entries(missing)) {
    if (v !== undefined && stored[field as keyof TenantSecretValues] === undefined) stringData[TENANT_SECRET_KEYS[field as keyof typeof TENANT_SECRET_KEYS]] = v;
  }
  if (Object.keys(stringData).length === 0) return true;
  try {
    await http.mergePatch("v1", "Secret", TENANT_SECRET_NAME, { metadata: { resourceVersion: secret.metadata.resourceVersion }, stringData }, tenantNamespace(tenant));
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 409) return false;
    throw err;
  }
}

/**
 * Creates the tenant's Secret with these values unless it exists (the namespace must exist). Values
 * already stored are never replaced: whoever created the Secret first wins, and `stored` is what it holds.
 */
export async function seedTenantSecret(http: KubeHttp, tenant: string, values: TenantSecretValues, fieldManager: string): Promise<{ created: boolean; stored: TenantSecretValues }> {
  const stringData: Record<string, string> = {};
  for (const [field, v] of Object.entries(values)) if (v !== undefined) stringData[TENANT_SECRET_KEYS[field as keyof typeof TENANT_SECRET_KEYS]] = v;
  try {
    await http.create({
      apiVersion: "v1", kind: "Secret",
      metadata: { name: TENANT_SECRET_NAME, namespace: tenantNamespace(tenant), labels: tenantLabels(tenant) },
      type: "Opaque", stringData,
    }, { fieldManager });
    return { created: true, stored: values };
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    return { created: false, stored: (await readTenantSecret(http, tenant)) ?? {} };
  }
}
