// `mms tenant …`: flag wiring for tenant commands; the work is in src/tenants.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import type { KubeHttp } from "../kube/http.ts";
import { condition, createTenant, deleteTenant, getTenant, listTenants, setSuspended, waitDeleted, waitReady } from "../tenants/service.ts";
import { parseDateRange, startArchiver, waitJob } from "../tenants/archive.ts";
import { rollbackTenant } from "../tenants/rollback.ts";
import { formatSeconds } from "../util/duration.ts";
import { storageOptions, storeFromFlags, type StorageFlags } from "./backup.ts";
import { durationFlag, kubeFromFlags } from "./common.ts";
import { UserError } from "../util/errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { createProgress } from "../util/progress.ts";
import { registerTenantPlan } from "./tenant-plan.ts";

const timeoutOption = () => new Option("--timeout <duration>", "how long --wait waits (e.g. 90s, 5m)")
  .argParser(durationFlag("--timeout"))
  .default(300_000, "5m");

function age(iso: string | undefined): string {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
}

function table(tenants: readonly MatomoTenant[]): string {
  return renderTable(["name", "plan", "version", "url", "ready", "reason", "age"], tenants.map((t) => {
    const ready = condition(t, "Ready");
    return [t.metadata.name, t.spec.plan, t.spec.matomoVersion, t.status?.url ?? "-", ready?.status ?? "Unknown", ready?.reason ?? "-", age(t.metadata.creationTimestamp)];
  }));
}

function print(value: MatomoTenant | MatomoTenant[], format: OutputFormat): void {
  if (format === "table") process.stdout.write(table(Array.isArray(value) ? value : [value]));
  else process.stdout.write(renderStructured(Array.isArray(value) ? { apiVersion: "v1", kind: "List", items: value } : value, format));
}

async function waitAndReport(http: KubeHttp, name: string, timeoutMs: number): Promise<MatomoTenant> {
  const result = await waitReady(http, name, timeoutMs, (t) => {
    const failing = t.status?.conditions?.find((c) => c.status !== "True");
    if (failing) process.stderr.write(`  ${name}: ${failing.type}=${failing.status} (${failing.reason}) ${failing.message}\n`);
  });
  if (!result.ok) {
    const f = result.failing;
    throw new UserError(`tenant ${name} is not Ready after ${formatSeconds(result.elapsedMs)}${f ? `: ${f.type}=${f.status}, ${f.reason}: ${f.message}` : ""}`);
  }
  process.stderr.write(`tenant ${name} is Ready after ${formatSeconds(result.elapsedMs)}\n`);
  return result.tenant as MatomoTenant;
}

export function registerTenant(program: Command): void {
  const tenant = program.command("tenant").description("onboard and manage Matomo tenants");

  tenant
    .command("create")
    .description("create a tenant; with --wait, wait until it is Ready")
    .argument("<name>", "tenant name: 2-28 lower-case letters, digits and '-' (becomes its namespace, database and user)")
    .requiredOption("--domain <domain...>", "domain(s) the tenant's Matomo answers on; the first is its URL")
    .option("--plan <plan>", "TenantPlan (small, medium, large or your own)")
    .option("--matomo-version <version>", "Matomo version, e.g. 5.2.1")
    .option("--pool <pool>", "DatabasePool to place it on (default: the one with the most free capacity)")
    .option("--queued-tracking", "queue tracking requests in Redis")
    .addOption(new Option("--deletion-policy <policy>", "what deleting the tenant does to its database: Retain keeps it, Delete drops it after a final verified backup").choices(["Retain", "Delete"]))
    .option("--wait", "wait until the tenant is Ready and print the elapsed time")
    .addOption(timeoutOption())
    .option("--dry-run", "let the API server validate the tenant without creating it")
    .addOption(outputOption())
    .action(async (name: string, opts: { domain: string[]; plan?: string; matomoVersion?: string; pool?: string; queuedTracking?: boolean; deletionPolicy?: "Retain" | "Delete"; wait?: boolean; timeout: number; dryRun?: boolean; output: OutputFormat }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      let t = await createTenant(http, { name, domains: opts.domain, plan: opts.plan, matomoVersion: opts.matomoVersion, pool: opts.pool, queuedTracking: opts.queuedTracking, deletionPolicy: opts.deletionPolicy }, opts.dryRun === true);
      process.stderr.write(opts.dryRun ? `tenant ${name} is valid (dry run: nothing created)\n` : `tenant ${name} created\n`);
      if (opts.wait && !opts.dryRun) t = await waitAndReport(http, name, opts.timeout);
      print(t, opts.output);
    });

  tenant
    .command("get")
    .description("show one tenant (json/yaml: the object as the API server returns it)")
    .argument("<name>")
    .addOption(outputOption())
    .action(async (name: string, opts: { output: OutputFormat }, cmd: Command) => {
      print(await getTenant(kubeFromFlags(cmd), name), opts.output);
    });

  tenant
    .command("list")
    .description("list tenants")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      print(await listTenants(kubeFromFlags(cmd)), opts.output);
    });

  tenant
    .command("delete")
    .description("delete a tenant and its Kubernetes objects; the database is kept, unless its deletionPolicy is Delete (then dropped after a final verified backup)")
    .argument("<name>")
    .option("--wait", "wait until the tenant and its namespace are gone")
    .addOption(timeoutOption())
    .action(async (name: string, opts: { wait?: boolean; timeout: number }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      await deleteTenant(http, name);
      if (opts.wait && !(await waitDeleted(http, name, tenantNamespace(name), opts.timeout))) {
        throw new UserError(`tenant ${name} is still being deleted after ${formatSeconds(opts.timeout)}`);
      }
      const policy = (await http.getOrUndefined<{ spec?: { deletionPolicy?: string } }>(API_GROUP_VERSION, "MatomoTenant", name))?.spec?.deletionPolicy;
      process.stderr.write(policy === "Delete"
        ? `tenant ${name} is being deleted; its database is dropped once a final backup is verified\n`
        : `tenant ${name} deleted${opts.wait ? "" : " (its objects go in the background)"}; its database is kept unless its deletionPolicy was Delete\n`);
    });

  storageOptions(tenant
    .command("rollback")
    .description("undo a Matomo upgrade: restore the verified backup taken before it (after a safety backup, keeping the queued hits) and return to the previous version")
    .argument("<name>")
    .option("--discard-since-upgrade", "undo an upgrade that completed: what was stored since its pre-upgrade backup is left out of the restored database (kept in the safety backup)")
    .addOption(timeoutOption()))
    .action(async (name: string, opts: StorageFlags & { timeout: number; discardSinceUpgrade?: boolean }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const t = await getTenant(http, name);
      const store = await storeFromFlags(opts, http, t.status?.database?.pool);
      const progress = createProgress();
      try {
        const r = await rollbackTenant(http, name, { store, timeoutMs: opts.timeout, discardSinceUpgrade: opts.discardSinceUpgrade, onEvent: (text) => progress.step(text) });
        progress.done();
        process.stderr.write(`tenant ${name} rolled back from ${r.from} to ${r.to} in ${r.seconds.toFixed(1)} s (backup ${r.backupId}; the replaced data is in safety backup ${r.restore.safetyBackupId ?? "-"})\n`);
      } finally {
        store.s3.destroy();
      }
    });

  tenant
    .command("archive")
    .description("run the tenant's archiver now (a Job from its archiver CronJob); with --dates, rebuild the reports of that range from the raw data first")
    .argument("<name>")
    .addOption(new Option("--dates <from,to>", "invalidate the reports of these dates first (YYYY-MM-DD,YYYY-MM-DD), e.g. after importing old raw data").argParser((v) => {
      try {
        return parseDateRange(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    }))
    .addOption(new Option("--sites <ids>", "with --dates: only these site ids (e.g. 1,2,3); default every site").argParser((v) => {
      if (!/^\d+(,\d+)*$/.test(v)) throw new InvalidArgumentError(`--sites takes site ids such as 1,2,3, not '${v}'`);
      return v.split(",").map(Number);
    }))
    .option("--no-wait", "start the Job and return")
    .addOption(timeoutOption().default(3_600_000, "1h"))
    .action(async (name: string, opts: { dates?: string; sites?: number[]; wait: boolean; timeout: number }, cmd: Command) => {
      if (opts.sites && !opts.dates) throw new UserError("--sites needs --dates: it says whose reports to rebuild");
      const http = kubeFromFlags(cmd);
      const job = await startArchiver(http, name, { dates: opts.dates ? [opts.dates] : undefined, sites: opts.sites });
      const ns = tenantNamespace(name);
      process.stderr.write(`archiver Job ${job} started in namespace ${ns}${opts.dates ? `; it rebuilds the reports of ${opts.dates}` : ""}\n`);
      if (!opts.wait) return;
      const started = Date.now();
      const outcome = await waitJob(http, name, job, opts.timeout);
      if (outcome !== "Complete") {
        throw new UserError(`archiver Job ${job} ${outcome === "Failed" ? "failed" : `is still running after ${formatSeconds(opts.timeout)}`}; \`kubectl logs -n ${ns} job/${job}\` shows why`);
      }
      process.stderr.write(`archiver Job ${job} done in ${formatSeconds(Date.now() - started)}\n`);
    });

  for (const [verb, suspended] of [["suspend", true], ["resume", false]] as const) {
    tenant
      .command(verb)
      .description(suspended ? "scale a tenant to zero; data and configuration are kept" : "run a suspended tenant again")
      .argument("<name>")
      .action(async (name: string, _opts: unknown, cmd: Command) => {
        await setSuspended(kubeFromFlags(cmd), name, suspended);
        process.stderr.write(`tenant ${name} ${suspended ? "suspended" : "resumed"}\n`);
      });
  }

  registerTenantPlan(tenant);
}
