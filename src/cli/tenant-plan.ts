// `mms tenant set-plan`: flag wiring and output of moving a tenant to another plan, with its cost before
// and after; the work is in src/cost/plan-change.ts.
import type { Command } from "commander";
import { changePlan } from "../cost/plan-change.ts";
import { formatHundredths as fmt, fromHundredths as num, type Cents } from "../cost/model.ts";
import { formatResources } from "../cost/quantity.ts";
import { costOptions, priceOptions, printWarnings, tenantView, type PriceFlags } from "./cost.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { kubeFromFlags } from "./common.ts";

const signed = (c: Cents) => (c > 0 ? `+${fmt(c)}` : fmt(c));

export function registerTenantPlan(tenant: Command): void {
  priceOptions(tenant
    .command("set-plan")
    .description("move a tenant to another TenantPlan and show its monthly cost before and after; the operator then resizes its pods")
    .argument("<name>", "tenant")
    .argument("<plan>", "TenantPlan to move it to (small, medium, large or your own)")
    .option("--dry-run", "show the cost before and after, and let the API server validate the change, without making it")
    .addOption(outputOption()))
    .action(async (name: string, plan: string, opts: PriceFlags & { dryRun?: boolean; output: OutputFormat }, cmd: Command) => {
      const c = await changePlan(kubeFromFlags(cmd), name, plan, { ...costOptions(opts), dryRun: opts.dryRun === true });
      printWarnings(c.warnings);
      process.stderr.write(c.unchanged ? `tenant ${name} is on plan ${plan} already: nothing to change\n`
        : c.dryRun ? `dry run: tenant ${name} can move from plan ${c.from} to ${plan} (the API server accepts it); nothing changed\n`
          : `tenant ${name} moved from plan ${c.from} to ${plan}; the operator rolls its pods out with the new sizes\n`);
      if (opts.output !== "table") {
        process.stdout.write(renderStructured({
          kind: "PlanChange", tenant: name, from: c.from, to: c.to, dryRun: c.dryRun, changed: !c.unchanged && !c.dryRun,
          before: tenantView(c.before), after: tenantView(c.after),
          delta: { nodeShare: num(c.delta.nodeShare), total: num(c.delta.total), asVm: num(c.delta.vm) },
          notes: c.notes, warnings: c.warnings,
        }, opts.output));
        return;
      }
      const { before: b, after: a } = c;
      const req = (r: typeof b.requests) => { const f = formatResources(r); return `${f.cpu} CPU, ${f.memory}`; };
      process.stdout.write(renderTable(["€ per month", "before", "after", "delta"], [
        ["plan", c.from, c.to, ""],
        ["steady requests", req(b.requests), req(a.requests), ""],
        ["node share", fmt(b.nodeShare), fmt(a.nodeShare), signed(c.delta.nodeShare)],
        ["database", fmt(b.database), fmt(a.database), signed(a.database - b.database)],
        ["backups", fmt(b.backups), fmt(a.backups), signed(a.backups - b.backups)],
        ["shared", fmt(b.shared), fmt(a.shared), signed(a.shared - b.shared)],
        ["total", fmt(b.total), fmt(a.total), signed(c.delta.total)],
        [`as VM (${b.vm.flavor} → ${a.vm.flavor})`, fmt(b.vm.total), fmt(a.vm.total), signed(c.delta.vm)],
      ]));
    });
}
