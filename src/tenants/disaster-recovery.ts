// Rebuilds tenants on a cluster from object storage alone: for each tenant folder in the store, its
// record (spec, pool, salt) and its newest restorable backup. The database is restored and checked
// against the manifest first, then the tenant is created and the operator brings it to Ready.
import { TENANT_LABEL } from "../api/labels.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import type { DatabasePool } from "../api/pool.ts";
import { tenantDatabaseName } from "../db/naming.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { waitReady } from "./service.ts";
import { BackupError } from "../backup/errors.ts";
import { listBackups } from "../backup/list.ts";
import { restoreBackup } from "../backup/restore.ts";
import type { ObjectStore } from "../backup/store.ts";
import { listStoredTenants, readTenantRecord, type TenantRecord } from "../backup/tenant-backup.ts";
import { resolvePool } from "../backup/tenant-target.ts";
import { seedTenantSecret } from "../db/resolve.ts";

const MANAGER = "mms-dr";

export interface TenantRecovery {
  readonly tenant: string;
  readonly outcome: "restored" | "skipped" | "failed";
  readonly backupId?: string;
  readonly pool?: string;
  readonly tables?: number;
  /** Download, checksum check, load and comparison with the manifest. */
  readonly restoreMs?: number;
  /** From creating the tenant to Ready. */
  readonly readyMs?: number;
  readonly totalMs: number;
  readonly message?: string;
}

export interface RecoveryReport {
  readonly tenants: readonly TenantRecovery[];
  readonly totalMs: number;
}

export interface RestoreAllOptions {
  /** Restore onto this pool instead of the one each tenant was on. */
  readonly pool?: string;
  /** Only these tenants (default: every tenant in the store). */
  readonly only?: readonly string[];
  /** Tenants restored at once (default 2). */
  readonly parallel?: number;
  /** How long to wait for each tenant to become Ready (default 10 min). */
  readonly readyTimeoutMs?: number;
  readonly onEvent?: (tenant: string, text: string) => void;
  readonly signal?: AbortSignal;
}

/** The namespace and the salt the tenant had, so that its users' tokens and sessions stay valid. */
async function seedSecret(http: KubeHttp, record: TenantRecord): Promise<void> {
  if (!record.salt) return;
  const ns = tenantNamespace(record.name);
  await http.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { [TENANT_LABEL]: record.name } } }, { fieldManager: MANAGER });
  await seedTenantSecret(http, record.name, { salt: record.salt }, MANAGER);
}

async function recoverOne(http: KubeHttp, store: ObjectStore, name: string, opts: RestoreAllOptions): Promise<TenantRecovery> {
  const t0 = Date.now();
  const say = (text: string) => opts.onEvent?.(name, text);
  const result = (r: Omit<TenantRecovery, "tenant" | "totalMs">): TenantRecovery => ({ tenant: name, totalMs: Date.now() - t0, ...r });
  try {
    if (await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", name)) {
      return result({ outcome: "skipped", message: "a tenant of that name already exists in the cluster" });
    }
    const record = await readTenantRecord(store, name);
    const listing = await listBackups(store, name);
    // The newest backup that no restore drill found broken.
    const backup = listing.backups.find((b) => b.verified?.ok !== false);
    if (!backup) return result({ outcome: "failed", message: `no restorable backup of tenant ${name} in the store` });
    const poolName = opts.pool ?? record.pool ?? undefined;
    if (!poolName) return result({ outcome: "failed", message: "the tenant record names no pool; pass --pool" });
    if (!(await http.getOrUndefined<DatabasePool>(API_GROUP_VERSION, "DatabasePool", poolName))) {
      return result({ outcome: "failed", backupId: backup.backupId, message: `DatabasePool ${poolName} does not exist in this cluster; register it, or pass --pool` });
    }
    const pool = await resolvePool(http, poolName);
    say(`restoring backup ${backup.backupId} onto pool ${poolName}`);
    const restored = await restoreBackup({
      pool, store, tenant: name, backupId: backup.backupId,
      database: tenantDatabaseName(name), signal: opts.signal,
    });
    const restoreMs = Date.now() - t0;
    say(`database restored (${restored.tables.length} tables match the manifest); creating the tenant`);
    await seedSecret(http, record);
    const spec = { ...record.spec, database: { ...(record.spec.database as object | undefined), pool: poolName } };
    const created = Date.now();
    await http.create({
      apiVersion: API_GROUP_VERSION, kind: "MatomoTenant",
      metadata: { name, labels: record.labels, annotations: { ...record.annotations, "multiscale.io/restored-from": backup.backupId } },
      spec,
    } as never, { fieldManager: MANAGER });
    const ready = await waitReady(http, name, opts.readyTimeoutMs ?? 600_000);
    const readyMs = Date.now() - created;
    if (!ready.ok) {
      const why = ready.failing ? `${ready.failing.reason}: ${ready.failing.message}` : "not Ready yet";
      return result({ outcome: "failed", backupId: backup.backupId, pool: poolName, tables: restored.tables.length, restoreMs, readyMs, message: `the database is restored but the tenant is not Ready: ${why}` });
    }
    say("Ready");
    return result({ outcome: "restored", backupId: backup.backupId, pool: poolName, tables: restored.tables.length, restoreMs, readyMs });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const message = err instanceof BackupError || err instanceof KubeApiError ? err.message : (err as Error).message;
    return result({ outcome: "failed", message });
  }
}

/** Restores every tenant of the store (or `only` those); never stops at the first failure. */
export async function restoreAll(http: KubeHttp, store: ObjectStore, opts: RestoreAllOptions = {}): Promise<RecoveryReport> {
  const t0 = Date.now();
  const stored = await listStoredTenants(store);
  const names = opts.only ? opts.only.filter((n) => stored.includes(n)) : stored;
  const missing = opts.only?.filter((n) => !stored.includes(n)) ?? [];
  const out: TenantRecovery[] = missing.map((n) => ({ tenant: n, outcome: "failed", totalMs: 0, message: `no backups of tenant ${n} in the store` }));
  const queue = [...names];
  const workers = Array.from({ length: Math.max(1, Math.min(opts.parallel ?? 2, queue.length)) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) out.push(await recoverOne(http, store, name, opts));
  });
  await Promise.all(workers);
  out.sort((a, b) => a.tenant.localeCompare(b.tenant));
  return { tenants: out, totalMs: Date.now() - t0 };
}
