// `mms dr restore-all`: rebuild every tenant of a backup store on this cluster, from object storage alone.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { restoreAll } from "../tenants/disaster-recovery.ts";
import { normalizePrefix } from "../backup/layout.ts";
import { ObjectStore } from "../backup/store.ts";
import { formatSeconds } from "../util/duration.ts";
import { durationFlag, kubeFromFlags } from "./common.ts";
import { UserError } from "../util/errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { storeFromFlags, tenantName, type StorageFlags } from "./backup.ts";
import { createProgress } from "../util/progress.ts";

function parseFrom(value: string): { bucket: string; prefix: string } {
  const [bucket, ...rest] = value.replace(/^s3:\/\//, "").split("/");
  if (!bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new InvalidArgumentError(`"${value}" is not BUCKET or BUCKET/PREFIX (a bucket name is 3-63 lower-case letters, digits, '.' and '-')`);
  }
  try {
    return { bucket, prefix: normalizePrefix(rest.join("/")) };
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidArgumentError(`"${value}" is not a whole number from 1 to 32`);
  return n;
}

export function registerDr(program: Command): void {
  const dr = program.command("dr").description("disaster recovery: rebuild tenants from object storage");
  dr.command("restore-all")
    .description("restore every tenant found in a backup bucket onto this cluster: database from its newest restorable backup (checked against its manifest), then the tenant itself, until Ready")
    .requiredOption("--from <bucket[/prefix]>", "where the backups are, e.g. mms-backups or mms-backups/prod", parseFrom)
    .addOption(new Option("--store <name>", "BackupStore whose endpoint and credentials to use (default: \"default\"); its bucket and prefix are replaced by --from"))
    .addOption(new Option("--s3-endpoint <url>", "S3 endpoint instead of a BackupStore's (credentials from MMS_S3_ACCESS_KEY_ID/MMS_S3_SECRET_ACCESS_KEY)").env("MMS_S3_ENDPOINT"))
    .addOption(new Option("--s3-region <region>", "with --s3-endpoint: S3 region").env("MMS_S3_REGION").default("us-east-1"))
    .addOption(new Option("--no-s3-path-style", "with --s3-endpoint: address the bucket by host name instead of path"))
    .option("--pool <name>", "restore every tenant onto this DatabasePool instead of the one it was on")
    .option("--tenant <name...>", "only these tenants", (v: string, prev: string[] = []) => [...prev, tenantName(v)])
    .option("--parallel <n>", "tenants restored at once", positive, 2)
    .option("--ready-timeout <duration>", "how long to wait for each tenant to become Ready", durationFlag("--ready-timeout"), 600_000)
    .addOption(outputOption())
    .action(async (opts: Omit<StorageFlags, "bucket" | "prefix"> & { from: { bucket: string; prefix: string }; pool?: string; tenant?: string[]; parallel: number; readyTimeout: number; output: OutputFormat }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const base = opts.s3Endpoint
        ? await storeFromFlags({ ...opts, bucket: opts.from.bucket, prefix: opts.from.prefix }, http)
        : await storeFromFlags({ ...opts, bucket: undefined }, http);
      const store = new ObjectStore(base.s3, opts.from.bucket, opts.from.prefix, base.name);
      const progress = createProgress();
      progress.step(`restoring tenants from ${store.url(store.prefix)}`);
      try {
        const report = await restoreAll(http, store, {
          pool: opts.pool, only: opts.tenant, parallel: opts.parallel, readyTimeoutMs: opts.readyTimeout,
          onEvent: (tenant, text) => progress.info(`${tenant}: ${text}`),
        });
        progress.done();
        const restored = report.tenants.filter((t) => t.outcome === "restored");
        process.stdout.write(opts.output === "table" ? renderTable(
          ["tenant", "result", "backup", "pool", "tables", "restore", "to-ready", "total", "message"],
          report.tenants.map((t) => [t.tenant, t.outcome, t.backupId ?? "-", t.pool ?? "-", String(t.tables ?? "-"),
            t.restoreMs !== undefined ? formatSeconds(t.restoreMs) : "-", t.readyMs !== undefined ? formatSeconds(t.readyMs) : "-", formatSeconds(t.totalMs), t.message ?? ""]),
        ) : renderStructured(report, opts.output));
        process.stderr.write(`${restored.length} of ${report.tenants.length} tenant(s) restored and Ready in ${formatSeconds(report.totalMs)} (the measured RTO)\n`);
        const failed = report.tenants.filter((t) => t.outcome === "failed");
        if (failed.length > 0) throw new UserError(`${failed.length} tenant(s) could not be restored: ${failed.map((t) => `${t.tenant} (${t.message ?? "failed"})`).join("; ")}`);
      } finally {
        store.s3.destroy();
      }
    });
}
