// `mms operator`: runs the tenant operator against the selected cluster until stopped.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { runOperator } from "../controllers/operator.ts";
import { DEFAULT_PLATFORM } from "../render/tenant.ts";
import { kubeConfigFromFlags } from "./common.ts";

function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a whole number of at least 1`);
    return n;
  };
}

export function registerOperator(program: Command): void {
  program
    .command("operator")
    .description("run the tenant operator (reconciles MatomoTenant objects) until stopped")
    .addOption(new Option("--concurrency <n>", "tenants reconciled in parallel").argParser((v) => Number.parseInt(v, 10)).default(8))
    .addOption(new Option("--health-port <port>", "serve /healthz and /readyz on 127.0.0.1:PORT").argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option("--resync <seconds>", "re-check every tenant this often").argParser((v) => Number.parseInt(v, 10)).default(300))
    .addOption(new Option("--max-rolling-tenants <n>", "tenants whose pods may roll at the same moment (plan changes, upgrades)").argParser(positiveInt("--max-rolling-tenants")).default(10))
    .option("--no-install-api", "do not install or update the CRDs, plans and admission policy at start")
    .option("--run-jobs-locally", "dev environment only: label backup and drill pods for the local Job runner (mms dev job-runner)")
    .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]).default("info"))
    .action(async (opts: { concurrency: number; healthPort?: number; resync: number; installApi: boolean; runJobsLocally?: boolean; logLevel: string; maxRollingTenants: number }, cmd: Command) => {
      const log = pino({ level: opts.logLevel, base: { component: "operator" } }, pino.destination(2));
      const operator = await runOperator({
        kubeconfig: kubeConfigFromFlags(cmd),
        log,
        concurrency: opts.concurrency,
        healthPort: opts.healthPort,
        resyncMs: opts.resync * 1000,
        installApi: opts.installApi,
        maxRollingTenants: opts.maxRollingTenants,
        ...(opts.runJobsLocally ? { platform: { ...DEFAULT_PLATFORM, runJobsLocally: true } } : {}),
      });
      await new Promise<void>((resolve) => {
        const shutdown = (sig: string) => {
          log.info({ signal: sig }, "stopping");
          void operator.stop().then(resolve);
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
    });
}
