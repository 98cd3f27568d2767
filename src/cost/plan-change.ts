// Moving a tenant to another plan, with what it does to the monthly cost: the tenant costed on its plan and
// on the new one (same nodes, database, backups and shared costs), then the change of spec.plan, which the
// API server checks (the plan must exist) and the operator rolls out. With dryRun the API server validates
// the change without storing it.
import { API_GROUP_VERSION } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { KubeApiError, refusalDetail, resourcePath, type KubeHttp } from "../kube/http.ts";
import { UserError } from "../util/errors.ts";
import { fleetCost, steadyRequests, vmFlavorOf, type Cents, type TenantCost } from "./model.ts";
import { costReport, type CostOptions } from "./report.ts";

const FIELD_MANAGER = "mms-cli";

export interface PlanChange {
  readonly tenant: string;
  readonly from: string;
  readonly to: string;
  readonly before: TenantCost;
  readonly after: TenantCost;
  /** After less before, per month. */
  readonly delta: { readonly nodeShare: Cents; readonly total: Cents; readonly vm: Cents };
  readonly dryRun: boolean;
  /** The tenant was on that plan already: nothing was sent. */
  readonly unchanged: boolean;
  readonly notes: readonly string[];
  readonly warnings: readonly string[];
}

/** The API server's refusal as one sentence, without the Kubernetes boilerplate around it. */
function refusal(err: unknown, action: string): Error {
  if (!(err instanceof KubeApiError)) return err instanceof Error ? err : new Error(String(err));
  return new UserError(`${action}: ${refusalDetail(err)}`);
}

export async function changePlan(http: KubeHttp, name: string, plan: string, opts: Omit<CostOptions, "selector" | "only"> & { readonly dryRun: boolean }): Promise<PlanChange> {
  const tenant = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
  if (!tenant) throw new UserError(`tenant ${name} does not exist`);
  const target = await http.getOrUndefined<{ metadata: { name: string } }>(API_GROUP_VERSION, "TenantPlan", plan);
  if (!target) {
    const known = (await http.list<{ metadata: { name: string } }>(API_GROUP_VERSION, "TenantPlan")).items.map((p) => p.metadata.name).sort();
    throw new UserError(`TenantPlan "${plan}" does not exist (plans: ${known.join(", ") || "none"})`);
  }

  const report = await costReport(http, { ...opts, only: [name] });
  const current = report.input.tenants.find((t) => t.name === name);
  const facts = report.facts.get(name);
  const before = report.cost.tenants.find((t) => t.name === name);
  if (!current || !facts || !before) throw new UserError(`the cost of tenant ${name} cannot be worked out: ${report.warnings.join("; ") || "it is not in the report"}`);
  const newSpec = report.plans.get(plan);
  if (!newSpec) throw new UserError(`TenantPlan "${plan}" does not exist`);
  const moved = { ...current, plan, requests: steadyRequests(newSpec, facts), vmFlavor: vmFlavorOf(plan, opts.vmFlavor) };
  const after = fleetCost({ ...report.input, tenants: [moved] }, opts.prices).tenants[0] as TenantCost;

  const from = tenant.spec.plan;
  const unchanged = from === plan;
  if (!unchanged) {
    const q = new URLSearchParams({ fieldManager: FIELD_MANAGER });
    if (opts.dryRun) q.set("dryRun", "All");
    try {
      await http.request("PATCH", `${resourcePath(API_GROUP_VERSION, "MatomoTenant", name)}?${q.toString()}`, { spec: { plan } }, "application/merge-patch+json");
    } catch (err) {
      throw refusal(err, `cannot move tenant ${name} to plan ${plan}`);
    }
  }
  return {
    tenant: name, from, to: plan, before, after,
    delta: { nodeShare: after.nodeShare - before.nodeShare, total: after.total - before.total, vm: after.vm.total - before.vm.total },
    dryRun: opts.dryRun, unchanged, notes: report.notes, warnings: report.warnings,
  };
}
