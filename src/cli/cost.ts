// `mms cost`: flag wiring and output of what tenants cost per month; the work is in src/cost.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_CONTROL_PLANE, DEFAULT_FLAVOR, DEFAULT_VM_FLAVOR, formatHundredths as fmt, fromHundredths as num, VM_FLAVOR_OF_PLAN, VM_SYSTEM_GB, type FleetCost, type NodeGroup, type TenantCost } from "../cost/model.ts";
import { DEFAULT_PRICES_FILE, loadPrices, type PriceTable } from "../cost/prices.ts";
import { formatResources } from "../cost/quantity.ts";
import { costReport, type CostOptions, type CostReport } from "../cost/report.ts";
import { kubeFromFlags } from "./common.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";

const COLUMNS = `
Columns (€ per month, excluding VAT):
  NODE-SHARE  the tenant's share of one tenant-pool node: the larger of the CPU and memory fractions of the
              node's allocatable that its steady pods request (tracker and web at their plan's minReplicas,
              the queue worker if it has one; nothing while suspended), times the flavor's monthly price.
              The flavor is --flavor if given, else the node.kubernetes.io/instance-type label of the
              nodes its pods run on (OVH sets it to the flavor name), else ${DEFAULT_FLAVOR}.
  DB-GB, DB   its database's data + index size, measured on its DatabasePool, times the price of block
              storage (in-cluster MariaDB's volumes: high-speed).
  BACKUP-GB, BACKUPS
              the stored size of its retained backups, from their manifests in its pool's BackupStore, times
              the price of S3 object storage (Standard).
  SHARED      the system pool's nodes (those running the platform and no tenant, or --system-pool) and the
              Managed Kubernetes control plane, split equally over every tenant of the fleet.
  TOTAL       NODE-SHARE + DB + BACKUPS + SHARED.
  AS-VM       the same tenant on a VM of its own, as Matomo was run before: the VM of its plan
              (${Object.entries(VM_FLAVOR_OF_PLAN).map(([p, f]) => `${p} ${f}`).join(", ")}, any other ${DEFAULT_VM_FLAVOR}; --vm-flavor for all), block
              storage for the database beyond the VM's own disk less ${VM_SYSTEM_GB} GB for the system, and the
              same backups.
  SAVING      AS-VM - TOTAL.
Each figure is rounded to the cent once; the TOTAL row is the sum of the rows above it. Prices come from
the price file (its date, region and sources are in it); docs/cost.md says what is not included.
`;

function systemPoolFlag(value: string): NodeGroup[] {
  return value.split(",").map((part) => {
    const m = /^\s*(\d{1,4})x([a-z0-9][a-z0-9.-]*)\s*$/.exec(part);
    if (!m?.[1] || !m[2]) throw new InvalidArgumentError(`--system-pool takes COUNTxFLAVOR, comma-separated, such as 2xb3-8 or 1xb3-8,1xb3-16, not "${value}"`);
    return { count: Number(m[1]), flavor: m[2] };
  });
}

export interface PriceFlags {
  prices?: string;
  flavor?: string;
  vmFlavor?: string;
  systemPool?: NodeGroup[];
  controlPlane: string;
}

/** The flags that say how to price, shared by `mms cost` and `mms tenant set-plan`. */
export function priceOptions(cmd: Command): Command {
  return cmd
    .option("--flavor <flavor>", `price the tenant pool as this OVH flavor, whatever its nodes' instance-type label says (used anyway when they have none: ${DEFAULT_FLAVOR})`)
    .option("--system-pool <nodes>", "count these system nodes as shared costs instead of those found, e.g. 2xb3-8 or 1xb3-8,1xb3-16", systemPoolFlag)
    .addOption(new Option("--control-plane <plan>", "the Managed Kubernetes plan, whose control plane is a shared cost").choices(["free", "standard"]).default(DEFAULT_CONTROL_PLANE))
    .option("--vm-flavor <flavor>", "compare every tenant with a VM of this flavor instead of its plan's")
    .option("--prices <file>", "a price file shaped like the shipped src/cost/ovh-prices.json (e.g. your negotiated prices)");
}

export function costOptions(flags: PriceFlags): CostOptions {
  const file = flags.prices ?? DEFAULT_PRICES_FILE;
  return { prices: loadPrices(file), pricesFile: file, flavor: flags.flavor, vmFlavor: flags.vmFlavor, systemPool: flags.systemPool, controlPlane: flags.controlPlane };
}

/** One tenant's figures as scripts read them: euros and GB as numbers. */
export function tenantView(t: TenantCost) {
  return {
    name: t.name, plan: t.plan, flavor: t.flavor,
    requests: formatResources(t.requests), nodeFraction: Math.round(t.nodeFraction * 10000) / 10000,
    nodeShare: num(t.nodeShare),
    databaseGB: num(t.databaseCentiGB), databaseBytes: t.databaseBytes, database: num(t.database),
    backupGB: num(t.backupCentiGB), backupBytes: t.backupBytes, backupCount: t.backupCount, backups: num(t.backups),
    shared: num(t.shared), total: num(t.total),
    asVm: { flavor: t.vm.flavor, instance: num(t.vm.instance), extraDiskGB: num(t.vm.extraDiskCentiGB), extraDisk: num(t.vm.extraDisk), backups: num(t.vm.backups), total: num(t.vm.total) },
    saving: num(t.saving),
  };
}

function reportView(r: CostReport, prices: PriceTable, file: string) {
  const c: FleetCost = r.cost;
  return {
    kind: "CostReport",
    currency: prices.currency,
    prices: { file, date: prices.date, region: prices.region, vat: prices.vat },
    tenants: c.tenants.map((t) => ({ ...tenantView(t), suspended: r.facts.get(t.name)?.suspended ?? false, flavorFrom: r.facts.get(t.name)?.flavorFrom })),
    fleet: {
      tenants: c.total.tenants,
      nodeShare: num(c.total.nodeShare), databaseGB: num(c.total.databaseCentiGB), database: num(c.total.database),
      backupGB: num(c.total.backupCentiGB), backups: num(c.total.backups), shared: num(c.total.shared),
      total: num(c.total.total), asVm: num(c.total.vm), saving: num(c.total.saving),
      sharedCosts: {
        total: num(c.shared.total), splitOver: c.shared.tenants,
        systemPool: { from: r.systemPoolFrom, nodes: c.shared.systemNodes.map((g) => ({ flavor: g.flavor, count: g.count, monthly: num(g.monthly) })) },
        controlPlane: { plan: c.shared.controlPlane.plan, monthly: num(c.shared.controlPlane.monthly) },
      },
      capacity: c.capacity.map((k) => ({ flavor: k.flavor, requests: formatResources(k.requests), nodesNeeded: k.nodesNeeded, monthly: num(k.monthly) })),
      tenantPool: { nodes: c.tenantPool.nodes.map((g) => ({ flavor: g.flavor, count: g.count, monthly: num(g.monthly) })), monthly: num(c.tenantPool.monthly), requestedByTenants: num(c.tenantPool.allocated) },
    },
    notes: r.notes,
    warnings: r.warnings,
  };
}

function reportTable(r: CostReport, flavorFlag: boolean): string {
  const c = r.cost;
  const rows = c.tenants.map((t) => [
    t.name, t.plan, t.flavor, fmt(t.nodeShare), fmt(t.databaseCentiGB), fmt(t.database), fmt(t.backupCentiGB),
    fmt(t.backups), fmt(t.shared), fmt(t.total), fmt(t.vm.total), fmt(t.saving),
  ]);
  const s = c.total;
  rows.push([`TOTAL`, `${s.tenants} tenant${s.tenants === 1 ? "" : "s"}`, "", fmt(s.nodeShare), fmt(s.databaseCentiGB), fmt(s.database),
    fmt(s.backupCentiGB), fmt(s.backups), fmt(s.shared), fmt(s.total), fmt(s.vm), fmt(s.saving)]);
  const table = renderTable(["tenant", "plan", "flavor", "node-share", "db-gb", "db", "backup-gb", "backups", "shared", "total", "as-vm", "saving"], rows);
  // With --flavor the shares are priced on another flavor than the pool's nodes: comparing them says nothing.
  const pool = c.tenantPool.monthly > 0 && !flavorFlag
    ? [`tenant pool: ${c.tenantPool.nodes.map((g) => `${g.count} × ${g.flavor}`).join(" + ")} = €${fmt(c.tenantPool.monthly)}/month, of which these tenants' node shares are €${fmt(c.tenantPool.allocated)}`]
    : [];
  const capacity = c.capacity.map((k) => {
    const f = formatResources(k.requests);
    return `capacity: these tenants' steady requests on ${k.flavor} (${f.cpu} CPU, ${f.memory}) fill at least ${k.nodesNeeded} node(s), €${fmt(k.monthly)}/month`;
  });
  return `${table}\n${[...r.notes, ...pool, ...capacity].map((n) => `${n}\n`).join("")}`;
}

export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
}

export function registerCost(program: Command): void {
  priceOptions(program
    .command("cost")
    .description("monthly cost per tenant and for the fleet on OVH's public prices, and what each tenant would cost on a VM of its own")
    .option("-l, --selector <selector>", "only tenants whose labels match this selector (as kubectl -l); shared costs are still split over every tenant")
    .addOption(outputOption()))
    .addHelpText("after", COLUMNS)
    .action(async (opts: PriceFlags & { selector?: string; output: OutputFormat }, cmd: Command) => {
      const o = costOptions(opts);
      const report = await costReport(kubeFromFlags(cmd), { ...o, selector: opts.selector });
      printWarnings(report.warnings);
      process.stdout.write(opts.output === "table" ? reportTable(report, opts.flavor !== undefined) : renderStructured(reportView(report, o.prices, o.pricesFile), opts.output));
    });
}
