// The readers behind a cost report: the cluster (tenants, plans, pools, nodes, where pods run), the size
// of each tenant database measured on its pool, and the stored size of each tenant's retained backups from
// its backup manifests. What cannot be read becomes a warning, not a failure, so one unreachable pool does
// not hide the rest of the fleet.
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { COMPONENT_LABEL, TENANT_LABEL } from "../api/labels.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import { PlanSpec, type TenantPlan } from "../api/plan.ts";
import { PoolSpec, type DatabasePool } from "../api/pool.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { AdminSession } from "../backup/admin.ts";
import { listBackups } from "../backup/list.ts";
import { openStore, resolveStoreOfPool, type ObjectStore } from "../backup/store.ts";
import { tenantDatabaseName } from "../db/naming.ts";
import { resolvePool } from "../db/resolve.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { UserError } from "../util/errors.ts";
import { INSTANCE_TYPE_LABEL, NODE_POOL_LABEL, type NodeInfo, type PodPlacement } from "./placement.ts";
import { cpuMillis, memoryBytes } from "./quantity.ts";

/** The components a tenant runs all the time (see steadyRequests). */
const STEADY_COMPONENTS = ["tracker", "web", "queue-worker"];
const LISTINGS_AT_ONCE = 8;

interface KNode {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { allocatable?: Record<string, string> };
}

interface KPod {
  metadata: { labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string };
}

export interface ClusterSnapshot {
  /** Every tenant, by name. */
  readonly tenants: readonly MatomoTenant[];
  /** The names of the tenants to report (all, or those matching the selector). */
  readonly selected: readonly string[];
  readonly plans: ReadonlyMap<string, PlanSpec>;
  readonly pools: ReadonlyMap<string, PoolSpec>;
  readonly nodes: readonly NodeInfo[];
  readonly tenantPods: readonly PodPlacement[];
  readonly platformPods: readonly PodPlacement[];
}

function nodeInfo(n: KNode): NodeInfo {
  const a = n.status?.allocatable;
  let allocatable: NodeInfo["allocatable"];
  try {
    allocatable = a?.cpu && a.memory ? { cpuMillis: cpuMillis(a.cpu), memoryBytes: memoryBytes(a.memory) } : undefined;
  } catch {
    allocatable = undefined;
  }
  return {
    name: n.metadata.name,
    flavor: n.metadata.labels?.[INSTANCE_TYPE_LABEL] || undefined,
    // Nodes outside any OVH node pool form one pool, as the node doctor counts them.
    pool: n.metadata.labels?.[NODE_POOL_LABEL] ?? "default",
    allocatable,
  };
}

const placed = (pods: readonly KPod[], owner: (p: KPod) => string): PodPlacement[] =>
  pods.filter((p) => !p.metadata.deletionTimestamp).map((p) => ({ owner: owner(p), nodeName: p.spec?.nodeName }));

async function selectTenants(http: KubeHttp, selector: string): Promise<{ items: MatomoTenant[] }> {
  try {
    return await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", undefined, selector);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 400) throw new UserError(`"${selector}" is not a label selector such as team=blue or tier in (gold,silver): ${err.message}`);
    throw err;
  }
}

export async function readCluster(http: KubeHttp, opts: { readonly selector?: string | undefined; readonly only?: readonly string[] | undefined } = {}): Promise<ClusterSnapshot> {
  const [tenants, selected, plans, pools, nodes, tenantPods, platformPods] = await Promise.all([
    http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant"),
    opts.selector ? selectTenants(http, opts.selector) : undefined,
    http.list<TenantPlan>(API_GROUP_VERSION, "TenantPlan"),
    http.list<DatabasePool>(API_GROUP_VERSION, "DatabasePool"),
    http.list<KNode>("v1", "Node"),
    http.list<KPod>("v1", "Pod", undefined, `${TENANT_LABEL},${COMPONENT_LABEL} in (${STEADY_COMPONENTS.join(",")})`),
    http.list<KPod>("v1", "Pod", SYSTEM_NAMESPACE),
  ]);
  const all = tenants.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  let names = (selected?.items ?? all).map((t) => t.metadata.name);
  if (opts.only) names = names.filter((n) => opts.only?.includes(n));
  return {
    tenants: all,
    selected: names.sort(),
    plans: new Map(plans.items.map((p) => [p.metadata.name, PlanSpec.parse(p.spec)])),
    pools: new Map(pools.items.map((p) => [p.metadata.name, PoolSpec.parse(p.spec)])),
    nodes: nodes.items.map(nodeInfo),
    tenantPods: placed(tenantPods.items, (p) => p.metadata.labels?.[TENANT_LABEL] ?? ""),
    platformPods: placed(platformPods.items, () => SYSTEM_NAMESPACE),
  };
}

/** The pool a tenant is on, or asks for. */
export function poolOf(t: MatomoTenant): string | undefined {
  return t.status?.database?.pool ?? t.spec.database?.pool;
}

const why = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/[.\s]+$/, "");

/**
 * Data and index size of each tenant database, one query per pool (information_schema's figures, which
 * InnoDB estimates). A tenant whose database has no tables yet, or does not exist yet, measures 0.
 */
export async function measureDatabases(http: KubeHttp, tenants: readonly MatomoTenant[], warn: (message: string) => void): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const byPool = new Map<string, string[]>();
  for (const t of tenants) {
    const p = poolOf(t);
    if (p) byPool.set(p, [...(byPool.get(p) ?? []), t.metadata.name]);
  }
  await Promise.all([...byPool.entries()].map(async ([pool, names]) => {
    let session: AdminSession | undefined;
    try {
      session = await AdminSession.open((await resolvePool(http, pool)).endpoint, `measure the tenant databases on pool ${pool}`);
      const databases = new Map(names.map((n) => [tenantDatabaseName(n), n]));
      const rows = await session.rows(
        `SELECT TABLE_SCHEMA AS db, SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (${names.map(() => "?").join(", ")}) GROUP BY TABLE_SCHEMA`,
        [...databases.keys()],
      );
      for (const n of names) out.set(n, 0);
      for (const r of rows) {
        const name = databases.get(String(r.db));
        if (name) out.set(name, Number(r.bytes ?? 0));
      }
    } catch (err) {
      warn(`the databases of ${names.length} tenant(s) on pool ${pool} are not measured (counted as 0 GB): ${why(err)}`);
    } finally {
      await session?.close();
    }
  }));
  return out;
}

/** Stored size and number of each tenant's backups (those with a valid manifest), read from its pool's BackupStore. */
export async function measureBackups(http: KubeHttp, tenants: readonly MatomoTenant[], warn: (message: string) => void): Promise<Map<string, { bytes: number; count: number }>> {
  const out = new Map<string, { bytes: number; count: number }>();
  const stores = new Map<string, Promise<ObjectStore | undefined>>();
  const storeOf = (pool: string) => {
    let s = stores.get(pool);
    if (!s) {
      s = resolveStoreOfPool(http, pool).then(openStore, (err: unknown) => {
        warn(`the backups of tenants on pool ${pool} are not counted (0 GB): ${why(err)}`);
        return undefined;
      });
      stores.set(pool, s);
    }
    return s;
  };
  try {
    for (let i = 0; i < tenants.length; i += LISTINGS_AT_ONCE) {
      await Promise.all(tenants.slice(i, i + LISTINGS_AT_ONCE).map(async (t) => {
        const name = t.metadata.name;
        out.set(name, { bytes: 0, count: 0 });
        const pool = poolOf(t);
        const store = pool ? await storeOf(pool) : undefined;
        if (!store) return;
        try {
          const listing = await listBackups(store, name);
          out.set(name, { bytes: listing.backups.reduce((n, b) => n + b.bytes, 0), count: listing.backups.length });
        } catch (err) {
          warn(`the backups of tenant ${name} are not counted (0 GB): ${why(err)}`);
        }
      }));
    }
  } finally {
    for (const s of stores.values()) (await s)?.s3.destroy();
  }
  return out;
}
