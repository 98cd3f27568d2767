// A cost report of the fleet or some of its tenants: read the cluster, measure databases and backups,
// decide where everything runs, then the arithmetic of model.ts on the price table.
import type { PlanSpec } from "../api/plan.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import type { KubeHttp } from "../kube/http.ts";
import { measureBackups, measureDatabases, poolOf, readCluster, type ClusterSnapshot } from "./measure.ts";
import {
  BACKUP_STORAGE, DATABASE_STORAGE, DEFAULT_CONTROL_PLANE, DEFAULT_FLAVOR, fleetCost, steadyRequests, vmFlavorOf,
  type Allocatable, type FleetCost, type FleetInput, type NodeGroup, type TenantInput,
} from "./model.ts";
import { INSTANCE_TYPE_LABEL, placeTenants, type FlavorSource, type Placement } from "./placement.ts";
import { flavorPrice, type PriceTable } from "./prices.ts";

export interface CostOptions {
  readonly prices: PriceTable;
  /** The price file's path, for the report. */
  readonly pricesFile: string;
  /** --flavor: price the tenant pool as this flavor whatever its nodes say. */
  readonly flavor?: string | undefined;
  /** A label selector on MatomoTenant objects: which tenants get a row. */
  readonly selector?: string | undefined;
  /** Only these tenants get a row (shared costs are still split over the whole fleet). */
  readonly only?: readonly string[] | undefined;
  /** --system-pool: the system nodes to count instead of those measured. */
  readonly systemPool?: readonly NodeGroup[] | undefined;
  readonly controlPlane?: string | undefined;
  /** --vm-flavor: the VM every tenant is compared with, instead of its plan's. */
  readonly vmFlavor?: string | undefined;
}

export interface TenantFacts {
  readonly plan: PlanSpec;
  readonly suspended: boolean;
  readonly queueWorker: boolean;
  readonly flavorFrom: FlavorSource;
}

export interface CostReport {
  readonly cost: FleetCost;
  /** What the arithmetic was given, so that a variant (another plan) can be costed the same way. */
  readonly input: FleetInput;
  readonly facts: ReadonlyMap<string, TenantFacts>;
  /** Every TenantPlan, by name. */
  readonly plans: ReadonlyMap<string, PlanSpec>;
  readonly placement: Placement;
  readonly systemPoolFrom: "nodes" | "flag";
  /** What a reader needs to know to trust the figures. */
  readonly notes: readonly string[];
  /** What could not be measured. */
  readonly warnings: readonly string[];
}

function queueWorker(t: MatomoTenant, snap: ClusterSnapshot): boolean {
  const pool = poolOf(t);
  return t.spec.tracking?.queuedTracking === true && pool !== undefined && snap.pools.get(pool)?.queue?.redis !== undefined;
}

function flavorSources(inputs: readonly TenantInput[], facts: ReadonlyMap<string, TenantFacts>): Map<string, Set<FlavorSource>> {
  const out = new Map<string, Set<FlavorSource>>();
  for (const i of [...inputs].sort((a, b) => a.flavor.localeCompare(b.flavor))) {
    const from = facts.get(i.name)?.flavorFrom;
    if (from) out.set(i.flavor, (out.get(i.flavor) ?? new Set()).add(from));
  }
  return out;
}

function flavorNote(prices: PriceTable, flavor: string, from: ReadonlySet<FlavorSource>, a: Allocatable | undefined): string {
  const why = from.has("flag") ? "--flavor"
    : from.has("nodes") || from.has("tenant-pool") ? `the ${INSTANCE_TYPE_LABEL} label of the nodes tenants run on`
      : "the default: no node where tenants run has that label (--flavor sets it)";
  const alloc = a ? `; allocatable ${(a.resources.cpuMillis / 1000).toFixed(2)} CPU and ${(a.resources.memoryBytes / 2 ** 30).toFixed(2)} GiB per node, ${a.from === "nodes" ? "as the nodes report it" : "by OVH's reservation formula"}` : "";
  return `tenant pool flavor ${flavor} (€${flavorPrice(prices, flavor).monthly}/month) from ${why}${alloc}`;
}

/** What a reader needs to know to trust the figures: the prices used, where the flavor comes from, what is shared. */
function reportNotes(opts: CostOptions, input: FleetInput, facts: ReadonlyMap<string, TenantFacts>, placement: Placement, cost: FleetCost): string[] {
  const { prices } = opts;
  const system = opts.systemPool ? "system pool from --system-pool"
    : placement.systemPools.length > 0 ? `system pool(s) ${placement.systemPools.join(", ")} (nodes running the platform and no tenant)`
      : "no system pool found (no node runs the platform apart from tenants; --system-pool counts one)";
  return [
    `prices: ${opts.pricesFile}, OVH public prices as of ${prices.date}, ${prices.currency} excluding VAT, ${prices.region}`,
    ...[...flavorSources(input.tenants, facts).entries()].map(([f, from]) => flavorNote(prices, f, from, cost.allocatable[f])),
    `database storage: block storage ${DATABASE_STORAGE} (€${prices.blockStorage[DATABASE_STORAGE]?.perGBMonth}/GB-month), in-cluster MariaDB's volumes; measured as data + index size`,
    `backup storage: object storage ${BACKUP_STORAGE} (€${prices.objectStorage[BACKUP_STORAGE]?.perGBMonth}/GB-month), the retained backups' stored size`,
    `shared: ${system} and the ${input.controlPlane} Managed Kubernetes control plane, split equally over ${cost.shared.tenants} tenant(s)`,
    ...(placement.otherPools.length > 0 ? [`not counted: node pool(s) ${placement.otherPools.join(", ")}, which run neither tenants nor the platform`] : []),
  ];
}

export async function costReport(http: KubeHttp, opts: CostOptions): Promise<CostReport> {
  const { prices } = opts;
  // Unknown flavors given on the command line fail before anything is read.
  for (const f of [opts.flavor, opts.vmFlavor, ...(opts.systemPool ?? []).map((g) => g.flavor)]) if (f) flavorPrice(prices, f);
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);

  const snap = await readCluster(http, { selector: opts.selector, only: opts.only });
  const byName = new Map(snap.tenants.map((t) => [t.metadata.name, t]));
  const rows = snap.selected.map((n) => byName.get(n)).filter((t): t is MatomoTenant => t !== undefined);
  const placement = placeTenants({
    nodes: snap.nodes, tenantPods: snap.tenantPods, platformPods: snap.platformPods,
    tenants: rows.map((t) => t.metadata.name), flavor: opts.flavor, defaultFlavor: DEFAULT_FLAVOR,
  });
  const [databases, backups] = await Promise.all([measureDatabases(http, rows, warn), measureBackups(http, rows, warn)]);

  const facts = new Map<string, TenantFacts>();
  const inputs: TenantInput[] = [];
  for (const t of rows) {
    const name = t.metadata.name;
    const plan = snap.plans.get(t.spec.plan);
    if (!plan) {
      warn(`tenant ${name} is left out: its TenantPlan "${t.spec.plan}" does not exist, so what it requests is unknown`);
      continue;
    }
    const place = placement.flavors.get(name) ?? { flavor: DEFAULT_FLAVOR, from: "default" as const };
    const f: TenantFacts = { plan, suspended: t.spec.suspended === true, queueWorker: queueWorker(t, snap), flavorFrom: place.from };
    facts.set(name, f);
    inputs.push({
      name, plan: t.spec.plan, requests: steadyRequests(plan, f), flavor: place.flavor,
      databaseBytes: databases.get(name) ?? 0, backupBytes: backups.get(name)?.bytes ?? 0, backupCount: backups.get(name)?.count ?? 0,
      vmFlavor: vmFlavorOf(t.spec.plan, opts.vmFlavor),
    });
  }

  const input: FleetInput = {
    tenants: inputs,
    fleet: snap.tenants.map((t) => t.metadata.name),
    systemNodes: opts.systemPool ?? placement.systemNodes,
    tenantPoolNodes: placement.tenantPoolNodes,
    controlPlane: opts.controlPlane ?? DEFAULT_CONTROL_PLANE,
    allocatable: placement.allocatable,
  };
  const cost = fleetCost(input, prices);

  if (!opts.systemPool && placement.unpricedNodes.length > 0) {
    warn(`system node(s) ${placement.unpricedNodes.join(", ")} have no ${INSTANCE_TYPE_LABEL} label and are left out of the shared costs; --system-pool counts them`);
  }
  const notes = reportNotes(opts, input, facts, placement, cost);
  return { cost, input, facts, plans: snap.plans, placement, systemPoolFrom: opts.systemPool ? "flag" : "nodes", notes, warnings };
}
