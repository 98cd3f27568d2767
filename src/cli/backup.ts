// `mms backup run|list|restore`: flag wiring for tenant backups; the work is in src/backup.
import type { Command } from "commander";
import { Option } from "commander";
import { runBackup } from "../backup/backup.ts";
import { listBackups } from "../backup/list.ts";
import { restoreBackup } from "../backup/restore.ts";
import { createS3Client } from "../backup/storage.ts";
import { resolveTenantTarget } from "../backup/tenant-target.ts";
import { tenantDatabaseName } from "../db/naming.ts";
import { formatSeconds } from "../util/duration.ts";
import { kubeFromFlags } from "./common.ts";
import { UserError } from "./errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { createProgress } from "./progress.ts";

interface StorageFlags {
  bucket?: string;
  prefix?: string;
  s3Endpoint?: string;
  s3Region: string;
  s3PathStyle: boolean;
}

function storageOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--bucket <bucket>", "bucket holding the backups").env("MMS_BACKUP_BUCKET"))
    .addOption(new Option("--prefix <prefix>", "key prefix inside the bucket, e.g. prod/").env("MMS_BACKUP_PREFIX"))
    .addOption(new Option("--s3-endpoint <url>", "S3-compatible endpoint, e.g. https://s3.gra.io.cloud.ovh.net").env("MMS_S3_ENDPOINT"))
    .addOption(new Option("--s3-region <region>", "S3 region").env("MMS_S3_REGION").default("us-east-1"))
    .addOption(new Option("--no-s3-path-style", "address buckets by host name instead of path"));
}

function storage(flags: StorageFlags) {
  if (!flags.bucket) throw new UserError("no bucket given: pass --bucket or set MMS_BACKUP_BUCKET");
  // Credentials: MMS_S3_* when set, otherwise the AWS SDK's usual chain (AWS_ACCESS_KEY_ID, profiles…).
  const s3 = createS3Client({
    endpoint: flags.s3Endpoint, region: flags.s3Region, forcePathStyle: flags.s3PathStyle,
    accessKeyId: process.env.MMS_S3_ACCESS_KEY_ID, secretAccessKey: process.env.MMS_S3_SECRET_ACCESS_KEY,
  });
  return { s3, bucket: flags.bucket, prefix: flags.prefix };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function print(value: unknown, format: OutputFormat, table: () => string): void {
  process.stdout.write(format === "table" ? table() : renderStructured(value, format));
}

export function registerBackup(program: Command): void {
  const backup = program.command("backup").description("back up and restore tenant databases (object storage)");

  storageOptions(backup
    .command("run")
    .description("dump the tenant's database to object storage; the backup exists once its manifest is written")
    .requiredOption("--tenant <name>", "tenant to back up")
    .option("--no-checksums", "skip CHECKSUM TABLE, which holds off the tenant's writes while it reads every table")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; checksums: boolean; output: OutputFormat }, cmd: Command) => {
      const target = await resolveTenantTarget(kubeFromFlags(cmd), opts.tenant);
      const { s3, bucket, prefix } = storage(opts);
      const progress = createProgress();
      progress.step(`backing up database ${target.database} of tenant ${opts.tenant} (pool ${target.poolName})`);
      try {
        const { manifest } = await runBackup({
          pool: target.pool, tenant: opts.tenant, database: target.database, s3, bucket, prefix, tableChecksums: opts.checksums,
          onProgress: (p) => progress.update(`${mib(p.dumpBytes)} dumped, ${mib(p.uploadedBytes)} uploaded`),
        });
        progress.done();
        process.stderr.write(`backup ${manifest.backupId} of tenant ${opts.tenant} written in ${formatSeconds(manifest.timings.totalMs)}\n`);
        print(manifest, opts.output, () => renderTable(
          ["backup", "size", "tables", "rows", "matomo", "duration"],
          [[manifest.backupId, mib(manifest.object.bytes), String(manifest.tables.length),
            String(manifest.tables.reduce((n, t) => n + t.rows, 0)), manifest.matomo.version ?? "-", formatSeconds(manifest.timings.totalMs)]],
        ));
      } finally {
        s3.destroy();
      }
    });

  storageOptions(backup
    .command("list")
    .description("list the tenant's backups, newest first; incomplete ones are shown apart")
    .requiredOption("--tenant <name>", "tenant whose backups to list")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; output: OutputFormat }) => {
      const { s3, bucket, prefix } = storage(opts);
      try {
        const listing = await listBackups(s3, bucket, opts.tenant, { prefix });
        print(listing, opts.output, () => {
          let out = renderTable(
            ["backup", "created", "size", "tables", "rows", "matomo"],
            listing.backups.map((b) => [b.backupId, b.createdAt, mib(b.bytes), String(b.tables), String(b.rows), b.matomoVersion ?? "-"]),
          );
          if (listing.incomplete.length > 0) {
            out += `\n${listing.incomplete.length} incomplete (not backups):\n` + renderTable(
              ["folder", "size", "last-modified", "reason"],
              listing.incomplete.map((i) => [i.backupId, mib(i.bytes), i.lastModified ?? "-", i.reason]),
            );
          }
          return out;
        });
      } finally {
        s3.destroy();
      }
    });

  storageOptions(backup
    .command("restore")
    .description("restore a backup into a new database (--into) or into the tenant's own database when that is empty")
    .requiredOption("--tenant <name>", "tenant the backup belongs to")
    .requiredOption("--backup <id>", "backup id, as `mms backup list` shows it")
    .option("--into <name>", "new tenant name: restore into its database, on the same pool")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; backup: string; into?: string; output: OutputFormat }, cmd: Command) => {
      const source = await resolveTenantTarget(kubeFromFlags(cmd), opts.tenant);
      const database = opts.into ? tenantDatabaseName(opts.into) : source.database;
      const { s3, bucket, prefix } = storage(opts);
      const progress = createProgress();
      progress.step(`restoring backup ${opts.backup} of tenant ${opts.tenant} into database ${database} (pool ${source.poolName})`);
      try {
        const result = await restoreBackup({ pool: source.pool, s3, bucket, prefix, tenant: opts.tenant, backupId: opts.backup, database });
        progress.done();
        process.stderr.write(`restored ${result.tables.length} tables into ${database} in ${formatSeconds(result.timings.totalMs)}; row counts and checksums match the manifest\n`);
        if (opts.into) process.stderr.write(`create the tenant with \`mms tenant create ${opts.into} --pool ${source.poolName} …\` to serve it\n`);
        print(result, opts.output, () => renderTable(
          ["table", "rows", "checksum", "ok"],
          result.tables.map((t) => [t.name, String(t.actualRows ?? "-"), String(t.actualChecksum ?? "-"), t.ok ? "yes" : "NO"]),
        ));
      } finally {
        s3.destroy();
      }
    });
}
