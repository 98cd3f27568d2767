// `mms upgrade`: roll a Matomo version out over the fleet in waves; `mms tenant rollback` is in tenant.ts.
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { parseVersion } from "../api/names.ts";
import { parseWaveSize, upgradeFleet, type FleetReport } from "../tenants/upgrade.ts";
import { formatSeconds } from "../util/duration.ts";
import { durationFlag, kubeFromFlags } from "./common.ts";
import { UserError } from "../util/errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { createProgress } from "../util/progress.ts";

function version(raw: string): string {
  try {
    parseVersion(raw);
    return raw;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function count(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new InvalidArgumentError(`"${raw}" is not a whole number`);
  return Number(raw);
}

function waveSize(raw: string): { count?: number; percent?: number } {
  try {
    return parseWaveSize(raw);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function table(report: FleetReport): string {
  return renderTable(["wave", "tenant", "result"], report.waves.flatMap((w) => w.tenants.map((t) => [String(w.index), t.name, t.result])));
}

export function registerUpgrade(program: Command): void {
  program
    .command("upgrade")
    .description("upgrade the selected tenants to a Matomo version: canary tenants first, then waves, each only once the previous one is all upgraded and Ready; stops at the first failure, and running it again resumes")
    .requiredOption("--to <version>", "Matomo version to upgrade to, e.g. 5.3.0", version)
    .option("--selector <labels>", "only tenants matching this label selector, e.g. tier=free")
    .option("--canary <n>", "tenants upgraded first, alone (those annotated multiscale.io/canary=true come first)", count, 1)
    .option("--wave-size <n|p%>", "tenants per wave after the canaries: a number or a share of the selected tenants", waveSize, { percent: 25 })
    .option("--pause-between <duration>", "wait between waves, e.g. 10m", durationFlag("--pause-between"), 0)
    .option("--wave-timeout <duration>", "stop when a wave takes longer than this", durationFlag("--wave-timeout"), 30 * 60_000)
    .option("--retry-failed", "run the update again for tenants whose upgrade to this version failed (after fixing the cause)")
    .option("--dry-run", "show the waves and where each tenant stands; change nothing")
    .addOption(outputOption())
    .action(async (opts: { to: string; selector?: string; canary: number; waveSize: { count?: number; percent?: number }; pauseBetween: number; waveTimeout: number; retryFailed?: boolean; dryRun?: boolean; output: OutputFormat }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const progress = createProgress();
      const started = Date.now();
      let report: FleetReport;
      try {
        report = await upgradeFleet(http, {
          version: opts.to, selector: opts.selector, canary: opts.canary, waveSize: opts.waveSize, pauseBetweenMs: opts.pauseBetween,
          waveTimeoutMs: opts.waveTimeout, dryRun: opts.dryRun, retryFailed: opts.retryFailed, onEvent: (text) => progress.step(text),
        });
      } catch (err) {
        if (err instanceof Error && !(err instanceof UserError) && /Matomo cannot downgrade|not MAJOR/.test(err.message)) throw new UserError(err.message);
        throw err;
      }
      progress.done();
      process.stdout.write(opts.output === "table" ? table(report) : renderStructured(report, opts.output));
      const tenants = report.waves.reduce((n, w) => n + w.tenants.length, 0);
      if (report.dryRun) {
        process.stderr.write(`dry run: ${tenants} tenant(s) in ${report.waves.length} wave(s); nothing changed\n`);
        return;
      }
      if (report.stopped) {
        throw new UserError(`the rollout to ${opts.to} stopped at wave ${report.stopped.wave}: ${report.stopped.reason} (${report.stopped.failed.join(", ")}); ` +
          "see `mms tenant get NAME`, roll back with `mms tenant rollback NAME` or fix and rerun with --retry-failed; rerunning resumes from this wave");
      }
      process.stderr.write(`${tenants} tenant(s) on ${opts.to} in ${formatSeconds(Date.now() - started)}\n`);
    });
}
