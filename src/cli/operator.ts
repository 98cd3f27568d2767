// `mms operator`: runs the tenant operator against the selected cluster until stopped.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import type { V1Toleration } from "@kubernetes/client-node";
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

const LABEL_PART = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** `key=value`, repeatable: a node label the backup and drill pods must run on. */
export function parseNodeSelector(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([^=]+)=(.*)$/.exec(raw);
  if (!m || !LABEL_PART.test(m[1] ?? "") || !LABEL_VALUE.test(m[2] ?? "")) {
    throw new InvalidArgumentError(`--job-node-selector takes a node label as key=value (e.g. nodepool=system), not "${raw}"`);
  }
  return { ...previous, [m[1] as string]: m[2] as string };
}

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** `key[=value]:Effect`, repeatable: a taint the backup and drill pods tolerate. */
export function parseToleration(raw: string, previous: V1Toleration[] = []): V1Toleration[] {
  const m = /^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$/.exec(raw);
  if (!m || !LABEL_PART.test(m[1] ?? "") || !LABEL_VALUE.test(m[2] ?? "") || !EFFECTS.includes(m[3] ?? "")) {
    throw new InvalidArgumentError(`--job-toleration takes a taint as key[=value]:Effect with Effect one of ${EFFECTS.join(", ")}, not "${raw}"`);
  }
  const t: V1Toleration = m[2] === undefined
    ? { key: m[1], operator: "Exists", effect: m[3] }
    : { key: m[1], operator: "Equal", value: m[2], effect: m[3] };
  return [...previous, t];
}

export function registerOperator(program: Command): void {
  program
    .command("operator")
    .description("run the tenant operator (reconciles MatomoTenant objects) until stopped")
    .addOption(new Option("--concurrency <n>", "tenants reconciled in parallel").argParser((v) => Number.parseInt(v, 10)).default(8))
    .addOption(new Option("--health-port <port>", "serve /healthz, /readyz and /metrics on 127.0.0.1:PORT").argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option("--health-address <ip>", "address of the health port; 0.0.0.0 in a pod, so the kubelet's probes reach it").choices(["127.0.0.1", "0.0.0.0"]).default("127.0.0.1"))
    .addOption(new Option("--resync <seconds>", "re-check every tenant this often").argParser((v) => Number.parseInt(v, 10)).default(300))
    .addOption(new Option("--max-rolling-tenants <n>", "tenants whose pods may roll at the same moment (plan changes, upgrades)").argParser(positiveInt("--max-rolling-tenants")).default(10))
    .option("--no-install-api", "do not install or update the CRDs, plans and admission policy at start")
    .option("--run-jobs-locally", "dev environment only: label backup and drill pods for the local Job runner (mms dev job-runner)")
    .addOption(new Option("--job-node-selector <key=value>", "run backup and drill pods only on nodes with this label (repeatable)").argParser(parseNodeSelector))
    .addOption(new Option("--job-toleration <key[=value]:Effect>", "let backup and drill pods run on nodes with this taint (repeatable)").argParser(parseToleration))
    .option("--suspend-schedules", "render backup and drill CronJobs suspended: runs made by hand still run (test environments)")
    .option("--simulated-node-label <label>", "dev environment only: pods on nodes with this label are simulated (KWOK), so their tenants' Matomo is not probed before Ready")
    .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]).default("info"))
    .action(async (opts: {
      concurrency: number; healthPort?: number; healthAddress: string; resync: number; installApi: boolean; runJobsLocally?: boolean; logLevel: string; maxRollingTenants: number;
      jobNodeSelector?: Record<string, string>; jobToleration?: V1Toleration[]; suspendSchedules?: boolean; simulatedNodeLabel?: string;
    }, cmd: Command) => {
      const log = pino({ level: opts.logLevel, base: { component: "operator" } }, pino.destination(2));
      const operator = await runOperator({
        kubeconfig: kubeConfigFromFlags(cmd),
        log,
        concurrency: opts.concurrency,
        healthPort: opts.healthPort,
        healthAddress: opts.healthAddress,
        resyncMs: opts.resync * 1000,
        installApi: opts.installApi,
        maxRollingTenants: opts.maxRollingTenants,
        platform: {
          ...DEFAULT_PLATFORM,
          ...(opts.runJobsLocally ? { runJobsLocally: true } : {}),
          ...(opts.jobNodeSelector ? { jobNodeSelector: opts.jobNodeSelector } : {}),
          ...(opts.jobToleration ? { jobTolerations: opts.jobToleration } : {}),
          ...(opts.suspendSchedules ? { suspendSchedules: true } : {}),
          ...(opts.simulatedNodeLabel ? { simulatedNodeLabel: opts.simulatedNodeLabel } : {}),
        },
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
