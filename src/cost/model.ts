// The cost arithmetic, pure: from what each tenant requests and stores, the nodes the platform runs on
// and a price table, to each tenant's monthly cost and the fleet's, and what the same tenant would cost
// on a VM of its own. Money is counted in whole cents: each figure of a tenant is rounded to the cent once
// (half up), shared costs are split to the cent, and every total is the sum of the rounded rows, so the
// rows of a report always add up to its totals exactly.
import type { PlanSpec } from "../api/plan.ts";
import { blockStoragePrice, controlPlanePrice, flavorPrice, objectStoragePrice, type PriceTable } from "./prices.ts";
import { addResources, NO_RESOURCES, resources, type Resources } from "./quantity.ts";

/** Storage is priced per GB of 10^9 bytes, as OVH writes its prices. */
export const GB = 1e9;
const GIB = 2 ** 30;

/** In-cluster MariaDB keeps its data on block storage; csi-cinder-high-speed is OVH's default class. */
export const DATABASE_STORAGE = "high-speed";
/** Backups go to S3 object storage of the Standard class. */
export const BACKUP_STORAGE = "standard";
/** The tenant pool's flavor when neither the nodes nor --flavor say. */
export const DEFAULT_FLAVOR = "b3-8";
export const DEFAULT_CONTROL_PLANE = "free";

/**
 * The VM a tenant of each built-in plan would run on by itself, the way Matomo was run before: Apache,
 * PHP, MariaDB and the archiver on one instance. A small tenant fits the smallest current general-purpose
 * flavor; each larger plan doubles it. Our sizing, not an OVH figure (docs/cost.md).
 */
export const VM_FLAVOR_OF_PLAN: Readonly<Record<string, string>> = { small: "b3-8", medium: "b3-16", large: "b3-32" };
export const DEFAULT_VM_FLAVOR = "b3-8";
/** Room on a VM's own disk taken by the system, Apache, PHP, Matomo's code and logs: the rest holds the database. */
export const VM_SYSTEM_GB = 10;

export type Cents = number;

/** Euros to whole cents, half up (a tiny epsilon keeps 0.125 from becoming 0.12 through binary fractions). */
export function toCents(euros: number): Cents {
  return Math.round(euros * 100 + 1e-9);
}

/** Hundredths of a GB, the precision GB figures are shown and summed at. */
function toCentiGB(bytes: number): number {
  return Math.round((bytes / GB) * 100);
}

/**
 * What a tenant runs all the time, from its plan: tracker and web at their minimum replicas, and the queue
 * worker where it has one; nothing while suspended. Archiving, scheduled tasks, backups and Matomo's update
 * Jobs come and go, so they are not counted (docs/cost.md).
 */
export function steadyRequests(plan: PlanSpec, t: { readonly suspended: boolean; readonly queueWorker: boolean }): Resources {
  if (t.suspended) return NO_RESOURCES;
  let r = addResources(NO_RESOURCES, resources(plan.tracker.requests), plan.tracker.minReplicas);
  r = addResources(r, resources(plan.web.requests), plan.web.minReplicas);
  return t.queueWorker ? addResources(r, resources(plan.jobs.requests)) : r;
}

export function vmFlavorOf(plan: string, override?: string): string {
  return override ?? VM_FLAVOR_OF_PLAN[plan] ?? DEFAULT_VM_FLAVOR;
}

export interface Allocatable {
  readonly resources: Resources;
  /** "nodes": what the cluster's nodes of that flavor report; "reservation-formula": OVH's documented reservation. */
  readonly from: "nodes" | "reservation-formula";
}

/** What pods may request on one node of a flavor: measured on the cluster's nodes when it has some, else OVH's formula. */
export function allocatableOf(prices: PriceTable, flavor: string, measured?: ReadonlyMap<string, Resources>): Allocatable {
  const seen = measured?.get(flavor);
  if (seen) return { resources: seen, from: "nodes" };
  const f = flavorPrice(prices, flavor);
  const r = prices.kubeletReservation;
  const cpu = f.vcpu - (r.cpuCores.base + r.cpuCores.perCore * f.vcpu);
  const mem = f.ramGiB - (r.memoryGiB.base + r.memoryGiB.fraction * f.ramGiB);
  return { resources: { cpuMillis: Math.round(cpu * 1000), memoryBytes: Math.round(mem * GIB) }, from: "reservation-formula" };
}

export interface TenantInput {
  readonly name: string;
  readonly plan: string;
  /** Requests of its steady pods (steadyRequests). */
  readonly requests: Resources;
  /** The flavor of the tenant pool's nodes its pods run on. */
  readonly flavor: string;
  /** Data and index size of its database. */
  readonly databaseBytes: number;
  /** Stored size of its retained backups. */
  readonly backupBytes: number;
  readonly backupCount: number;
  /** The VM it is compared with. */
  readonly vmFlavor: string;
}

export interface NodeGroup {
  readonly flavor: string;
  readonly count: number;
}

export interface FleetInput {
  /** The tenants to report, one row each. */
  readonly tenants: readonly TenantInput[];
  /** Every tenant of the fleet by name (a superset of the rows): shared costs are split equally among them. */
  readonly fleet: readonly string[];
  /** Nodes that run the platform rather than tenants (the system pool): a shared cost. */
  readonly systemNodes: readonly NodeGroup[];
  /** The nodes tenants run on, for the pool's cost beside the shares of it. */
  readonly tenantPoolNodes?: readonly NodeGroup[] | undefined;
  /** The Managed Kubernetes plan, whose control plane is a shared cost. */
  readonly controlPlane: string;
  /** Allocatable per flavor as the cluster's nodes report it. */
  readonly allocatable?: ReadonlyMap<string, Resources> | undefined;
}

export interface TenantCost {
  readonly name: string;
  readonly plan: string;
  readonly flavor: string;
  readonly requests: Resources;
  /** The larger of the CPU and memory fractions of one node's allocatable that the tenant requests. */
  readonly nodeFraction: number;
  readonly nodeShare: Cents;
  readonly databaseBytes: number;
  /** Hundredths of a GB. */
  readonly databaseCentiGB: number;
  readonly database: Cents;
  readonly backupBytes: number;
  readonly backupCentiGB: number;
  readonly backupCount: number;
  readonly backups: Cents;
  readonly shared: Cents;
  readonly total: Cents;
  readonly vm: { readonly flavor: string; readonly instance: Cents; readonly extraDiskCentiGB: number; readonly extraDisk: Cents; readonly backups: Cents; readonly total: Cents };
  /** What the tenant would cost on its own VM less what it costs here (negative: the VM is cheaper). */
  readonly saving: Cents;
}

export interface Totals {
  readonly tenants: number;
  readonly nodeShare: Cents;
  readonly databaseCentiGB: number;
  readonly database: Cents;
  readonly backupCentiGB: number;
  readonly backups: Cents;
  readonly shared: Cents;
  readonly total: Cents;
  readonly vm: Cents;
  readonly saving: Cents;
}

export interface SharedCost {
  /** Per month, for the whole fleet. */
  readonly total: Cents;
  readonly systemNodes: readonly (NodeGroup & { readonly monthly: Cents })[];
  readonly controlPlane: { readonly plan: string; readonly monthly: Cents };
  /** How many tenants it is split among. */
  readonly tenants: number;
}

/** How many nodes of a flavor the reported tenants' steady requests fill, at the least (no headroom, perfect packing). */
export interface Capacity {
  readonly flavor: string;
  readonly requests: Resources;
  readonly nodesNeeded: number;
  readonly monthly: Cents;
}

export interface FleetCost {
  readonly tenants: readonly TenantCost[];
  readonly capacity: readonly Capacity[];
  readonly total: Totals;
  readonly shared: SharedCost;
  /** The tenant pool's nodes and what share of their price the tenants' requests account for. */
  readonly tenantPool: { readonly nodes: readonly (NodeGroup & { readonly monthly: Cents })[]; readonly monthly: Cents; readonly allocated: Cents };
  readonly allocatable: Readonly<Record<string, Allocatable>>;
}

function groupsWithPrice(prices: PriceTable, groups: readonly NodeGroup[]): (NodeGroup & { monthly: Cents })[] {
  return groups.map((g) => ({ ...g, monthly: g.count * toCents(flavorPrice(prices, g.flavor).monthly) }));
}

/** Splits `total` cents equally among `names`, the leftover cents going one each to the first names in order. */
export function splitEqually(total: Cents, names: readonly string[]): Map<string, Cents> {
  const sorted = [...new Set(names)].sort();
  const out = new Map<string, Cents>();
  if (sorted.length === 0) return out;
  const base = Math.floor(total / sorted.length);
  const leftover = total - base * sorted.length;
  sorted.forEach((n, i) => out.set(n, base + (i < leftover ? 1 : 0)));
  return out;
}

const sum = <T>(rows: readonly T[], f: (r: T) => number) => rows.reduce((n, r) => n + f(r), 0);

export function fleetCost(input: FleetInput, prices: PriceTable): FleetCost {
  const dbPrice = blockStoragePrice(prices, DATABASE_STORAGE);
  const backupPrice = objectStoragePrice(prices, BACKUP_STORAGE);
  const systemNodes = groupsWithPrice(prices, input.systemNodes);
  const controlPlane = { plan: input.controlPlane, monthly: toCents(controlPlanePrice(prices, input.controlPlane)) };
  const sharedTotal = sum(systemNodes, (g) => g.monthly) + controlPlane.monthly;
  const fleet = new Set(input.fleet);
  for (const t of input.tenants) if (!fleet.has(t.name)) throw new Error(`tenant ${t.name} is reported but not part of the fleet it is costed in`);
  const sharedOf = splitEqually(sharedTotal, input.fleet);
  const allocatable: Record<string, Allocatable> = {};

  const tenants = [...input.tenants].sort((a, b) => a.name.localeCompare(b.name)).map((t): TenantCost => {
    const flavor = flavorPrice(prices, t.flavor);
    const alloc = (allocatable[t.flavor] ??= allocatableOf(prices, t.flavor, input.allocatable));
    const nodeFraction = Math.max(t.requests.cpuMillis / alloc.resources.cpuMillis, t.requests.memoryBytes / alloc.resources.memoryBytes);
    const nodeShare = toCents(nodeFraction * flavor.monthly);
    const database = toCents((t.databaseBytes / GB) * dbPrice);
    const backups = toCents((t.backupBytes / GB) * backupPrice);
    const shared = sharedOf.get(t.name) ?? 0;
    const total = nodeShare + database + backups + shared;

    const vmFlavor = flavorPrice(prices, t.vmFlavor);
    const roomGB = Math.max(0, vmFlavor.diskGB - VM_SYSTEM_GB);
    const extraBytes = Math.max(0, t.databaseBytes - roomGB * GB);
    const instance = toCents(vmFlavor.monthly);
    const extraDisk = toCents((extraBytes / GB) * dbPrice);
    const vmTotal = instance + extraDisk + backups;
    return {
      name: t.name, plan: t.plan, flavor: t.flavor, requests: t.requests, nodeFraction, nodeShare,
      databaseBytes: t.databaseBytes, databaseCentiGB: toCentiGB(t.databaseBytes), database,
      backupBytes: t.backupBytes, backupCentiGB: toCentiGB(t.backupBytes), backupCount: t.backupCount, backups,
      shared, total,
      vm: { flavor: t.vmFlavor, instance, extraDiskCentiGB: toCentiGB(extraBytes), extraDisk, backups, total: vmTotal },
      saving: vmTotal - total,
    };
  });

  const poolNodes = groupsWithPrice(prices, input.tenantPoolNodes ?? []);
  const total: Totals = {
    tenants: tenants.length,
    nodeShare: sum(tenants, (t) => t.nodeShare),
    databaseCentiGB: sum(tenants, (t) => t.databaseCentiGB),
    database: sum(tenants, (t) => t.database),
    backupCentiGB: sum(tenants, (t) => t.backupCentiGB),
    backups: sum(tenants, (t) => t.backups),
    shared: sum(tenants, (t) => t.shared),
    total: sum(tenants, (t) => t.total),
    vm: sum(tenants, (t) => t.vm.total),
    saving: sum(tenants, (t) => t.saving),
  };
  const capacity = [...new Set(tenants.map((t) => t.flavor))].sort().map((flavor): Capacity => {
    const on = tenants.filter((t) => t.flavor === flavor);
    const requests = on.reduce((r, t) => addResources(r, t.requests), NO_RESOURCES);
    const alloc = (allocatable[flavor] as Allocatable).resources;
    const nodesNeeded = Math.max(0, Math.ceil(Math.max(requests.cpuMillis / alloc.cpuMillis, requests.memoryBytes / alloc.memoryBytes) - 1e-9));
    return { flavor, requests, nodesNeeded, monthly: nodesNeeded * toCents(flavorPrice(prices, flavor).monthly) };
  });
  return {
    tenants, capacity, total,
    shared: { total: sharedTotal, systemNodes, controlPlane, tenants: sharedOf.size },
    tenantPool: { nodes: poolNodes, monthly: sum(poolNodes, (g) => g.monthly), allocated: total.nodeShare },
    allocatable,
  };
}

/** Hundredths (cents, or hundredths of a GB) with two decimals, e.g. 1234 → "12.34", -5 → "-0.05". */
export function formatHundredths(n: number): string {
  const sign = n < 0 ? "-" : "";
  const a = Math.abs(n);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")}`;
}

/** Hundredths as a JSON number with two decimals (cents as euros, exact to the cent). */
export function fromHundredths(n: number): number {
  return Number(formatHundredths(n));
}
