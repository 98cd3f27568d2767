// `mms status`: the fleet overview in the terminal, read from the API server; the work is in
// src/controllers/fleet-status.ts.
import type { Command } from "commander";
import { readFleet, summarizeFleet, type FleetSummary } from "../controllers/fleet-status.ts";
import { UserError } from "../util/errors.ts";
import { kubeFromFlags } from "./common.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";

function ago(iso: string | null, now: number): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return `${s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`} ago`;
}

function hours(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : `${Math.round(seconds / 60)}m`;
}

const clip = (text: string, n = 100) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function section(title: string, headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return rows.length === 0 ? `${title}: none\n` : `${title}:\n${renderTable(headers, rows)}`;
}

export function renderStatus(s: FleetSummary, now: number): string {
  const { tenants, backups, archiving, nodes } = s;
  const parts = [
    `Tenants: ${tenants.total}, ${tenants.ready} Ready, ${tenants.total - tenants.ready} not Ready\n` +
      (tenants.conditions.length ? renderTable(["condition", "true", "false", "unknown"], tenants.conditions.map((c) => [c.condition, String(c.True), String(c.False), String(c.Unknown)])) : ""),
    section("Not Ready", ["tenant", "reason", "message"], tenants.notReady.map((t) => [t.tenant, t.reason, clip(t.message)])),
    section("Backups older than their RPO", ["tenant", "last backup", "rpo"], backups.olderThanRpo.map((b) => [b.tenant, ago(b.lastBackupAt, now), hours(b.rpoSeconds)])),
    section("No verified restore in 48 h", ["tenant", "last verified"], backups.noVerifiedRestore.map((b) => [b.tenant, ago(b.lastVerifiedAt, now)])),
    section("Archiving failed", ["tenant", "job", "failed", "last success"], archiving.failed.map((a) => [a.tenant, a.job, ago(a.failedAt, now), ago(a.lastSuccessAt, now)])),
    `Nodes: ${nodes.total}, ${nodes.notReady.length} not Ready${nodes.notReady.length ? ` (${nodes.notReady.join(", ")})` : ""}\n`,
    section("Nodes in remediation", ["node", "remediation", "phase", "since"], nodes.inRemediation.map((r) => [r.node, r.remediation, r.phase, ago(r.since, now)])),
    `Storm protection: ${nodes.stormProtection.engaged ? `engaged, holding back ${nodes.stormProtection.heldNodes.join(", ")}` : "not engaged"}\n`,
  ];
  return parts.join("\n");
}

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("fleet overview: tenants by condition, overdue backups and restores, failed archiving, nodes in remediation, storm protection")
    .addOption(outputOption())
    .addHelpText("after", `
Read from the Kubernetes API (not from Prometheus), with your kubeconfig's credentials.
Exit code: 0 when nothing needs attention, 1 when something does (a tenant not Ready, a backup older
than 1.5 times its plan's backup interval, no verified restore in 48 h, a failed archiver run, a node
not Ready, in remediation or held back by storm protection); the summary goes to stderr, so scripts
can use \`mms status -o json >/dev/null || alert\`.`)
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const observed = await readFleet(kubeFromFlags(cmd));
      const summary = summarizeFleet(observed);
      process.stdout.write(opts.output === "table" ? renderStatus(summary, observed.now) : renderStructured(summary, opts.output));
      if (summary.attention.length > 0) throw new UserError(`the fleet needs attention: ${summary.attention.join("; ")}`);
    });
}
