// `mms backup run|list|restore|verify|prune`: flag wiring for tenant backups; the work is in src/backup.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { API_GROUP_VERSION } from "../api/names.ts";
import { PlanSpec, type TenantPlan } from "../api/plan.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { runBackup } from "../backup/backup.ts";
import { BackupError } from "../backup/errors.ts";
import { listBackups } from "../backup/list.ts";
import { restoreBackup } from "../backup/restore.ts";
import { applyRetention, RetentionError, type RetentionReport } from "../backup/retention.ts";
import { createS3Client } from "../backup/storage.ts";
import { ObjectStore, openStore, resolveStore, resolveStoreOfPool } from "../backup/store.ts";
import { backupTenant, readTenantRecord, takeVerifiedBackup, verifyTenant } from "../backup/tenant-backup.ts";
import { isBackupId, newBackupId } from "../backup/layout.ts";
import { resolveTenantTarget } from "../backup/tenant-target.ts";
import { DEFAULT_BACKUP_STORE } from "../api/backup-store.ts";
import { isTenantName, tenantDatabaseName } from "../db/naming.ts";
import type { KubeHttp } from "../kube/http.ts";
import { formatSeconds } from "../util/duration.ts";
import { createRestoredTenant } from "../tenants/service.ts";
import { kubeFromFlags } from "./common.ts";
import { UserError } from "../util/errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { createProgress } from "../util/progress.ts";

export interface StorageFlags {
  store?: string;
  bucket?: string;
  prefix?: string;
  s3Endpoint?: string;
  s3Region: string;
  s3PathStyle: boolean;
}

export function storageOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--store <name>", "BackupStore to use (default: the one of the tenant's pool, else \"default\")"))
    .addOption(new Option("--bucket <bucket>", "use this bucket instead of a BackupStore (with the --s3-* flags)").env("MMS_BACKUP_BUCKET"))
    .addOption(new Option("--prefix <prefix>", "with --bucket: key prefix inside the bucket, e.g. prod/").env("MMS_BACKUP_PREFIX"))
    .addOption(new Option("--s3-endpoint <url>", "with --bucket: S3 endpoint, e.g. https://s3.gra.io.cloud.ovh.net").env("MMS_S3_ENDPOINT"))
    .addOption(new Option("--s3-region <region>", "with --bucket: S3 region").env("MMS_S3_REGION").default("us-east-1"))
    .addOption(new Option("--no-s3-path-style", "with --bucket: address the bucket by host name instead of path"));
}

export function tenantName(value: string): string {
  if (!isTenantName(value)) throw new InvalidArgumentError(`"${value}" is not a tenant name (lower-case letters, digits and '-', 2-28 characters)`);
  return value;
}

/**
 * Where backups are: --bucket (and the --s3-* flags, credentials from MMS_S3_* or the AWS SDK's usual
 * sources) when given; otherwise --store, the store of the given pool, or the store "default".
 */
export async function storeFromFlags(flags: StorageFlags, http: KubeHttp, poolName?: string): Promise<ObjectStore> {
  if (flags.bucket) {
    const settings = {
      endpoint: flags.s3Endpoint, region: flags.s3Region, forcePathStyle: flags.s3PathStyle,
      accessKeyId: process.env.MMS_S3_ACCESS_KEY_ID, secretAccessKey: process.env.MMS_S3_SECRET_ACCESS_KEY,
    };
    return new ObjectStore(createS3Client(settings), flags.bucket, flags.prefix);
  }
  if (flags.store) return openStore(await resolveStore(http, flags.store));
  if (poolName) return openStore(await resolveStoreOfPool(http, poolName));
  return openStore(await resolveStore(http, DEFAULT_BACKUP_STORE));
}

async function poolOfTenant(http: KubeHttp, name: string): Promise<string | undefined> {
  const t = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
  return t?.status?.database?.pool ?? t?.spec.database?.pool;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function print(value: unknown, format: OutputFormat, table: () => string): void {
  process.stdout.write(format === "table" ? table() : renderStructured(value, format));
}

async function retentionOf(http: KubeHttp, tenant: string) {
  const t = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
  const planName = t?.spec.plan ?? "small";
  const plan = await http.getOrUndefined<TenantPlan>(API_GROUP_VERSION, "TenantPlan", planName);
  if (!plan) throw new UserError(`TenantPlan ${planName} of tenant ${tenant} does not exist, so its retention is unknown`);
  return PlanSpec.parse(plan.spec).backup.retention;
}

function retentionLine(r: RetentionReport): string {
  const parts = [`${r.kept.length} kept`, `${r.removed.length} ${r.dryRun ? "would be " : ""}removed`];
  if (r.incompleteRemoved.length > 0) parts.push(`${r.incompleteRemoved.length} interrupted ${r.dryRun ? "would be " : ""}cleaned up`);
  if (r.uploadsAborted > 0) parts.push(`${r.uploadsAborted} abandoned upload(s) aborted`);
  return `retention of tenant ${r.tenant}: ${parts.join(", ")}`;
}

export function registerBackup(program: Command): void {
  const backup = program.command("backup").description("back up, restore and verify tenant databases (object storage)");

  storageOptions(backup
    .command("run")
    .description("dump the tenant's database to object storage, then apply its plan's retention; the backup exists once its manifest is written")
    .requiredOption("--tenant <name>", "tenant to back up", tenantName)
    .option("--no-checksums", "skip CHECKSUM TABLE, which holds off the tenant's writes while it reads every table")
    .option("--no-retention", "do not apply the plan's retention afterwards")
    .option("--verify", "prove the backup by a restore drill right away; fails unless it passes")
    .option("--id <id>", "with --verify: the backup's id (e.g. pre-upgrade-g7); run again, it takes and verifies that backup only once")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; checksums: boolean; retention: boolean; verify?: boolean; id?: string; output: OutputFormat }, cmd: Command) => {
      if (opts.id && !opts.verify) throw new UserError("--id needs --verify: a backup with a chosen id is one that a step waits for, proven by a restore drill");
      if (opts.id && !isBackupId(opts.id)) throw new UserError(`"${opts.id}" is not a backup id: use e.g. pre-upgrade-g7, final-3f2a9c1d or 20261126T151200Z-1a2b`);
      const http = kubeFromFlags(cmd);
      const store = await storeFromFlags(opts, http, await poolOfTenant(http, opts.tenant));
      const progress = createProgress();
      if (opts.verify) {
        try {
          const r = await takeVerifiedBackup(http, opts.tenant, {
            store, tableChecksums: opts.checksums, backupId: opts.id ?? newBackupId(),
            onStep: (_step, message) => progress.step(message),
            onProgress: (p) => progress.update(`${mib(p.dumpBytes)} dumped, ${mib(p.uploadedBytes)} uploaded`),
          });
          progress.done();
          process.stderr.write(`backup ${r.backupId} of tenant ${opts.tenant} ${r.taken ? "written and" : "was already written and"} verified: ${r.tables} tables match its manifest\n`);
          let retention: RetentionReport | undefined;
          if (opts.retention) {
            try {
              retention = await applyRetention(store, opts.tenant, await retentionOf(http, opts.tenant));
            } catch (err) {
              throw new UserError(`backup ${r.backupId} was written and verified, but ${err instanceof RetentionError ? err.message : `retention failed: ${(err as Error).message}`}`);
            }
            process.stderr.write(retentionLine(retention) + "\n");
          }
          print({ ...r, retention }, opts.output, () => renderTable(["backup", "taken", "verified", "tables"], [[r.backupId, r.taken ? "now" : "earlier", r.verifiedAt, String(r.tables)]]));
        } finally {
          store.s3.destroy();
        }
        return;
      }
      try {
        const { manifest } = await backupTenant(http, opts.tenant, {
          store, tableChecksums: opts.checksums,
          onStart: (target) => progress.step(`backing up database ${target.database} of tenant ${opts.tenant} (pool ${target.poolName}) to ${store.url(store.prefix)}`),
          onProgress: (p) => progress.update(`${mib(p.dumpBytes)} dumped, ${mib(p.uploadedBytes)} uploaded`),
        });
        progress.done();
        process.stderr.write(`backup ${manifest.backupId} of tenant ${opts.tenant} written in ${formatSeconds(manifest.timings.totalMs)}\n`);
        let retention: RetentionReport | undefined;
        if (opts.retention) {
          try {
            retention = await applyRetention(store, opts.tenant, await retentionOf(http, opts.tenant));
          } catch (err) {
            // The backup stands; the failed clean-up still fails the command so a scheduler notices.
            throw new UserError(`backup ${manifest.backupId} was written, but ${err instanceof RetentionError ? err.message : `retention failed: ${(err as Error).message}`}`);
          }
          process.stderr.write(retentionLine(retention) + "\n");
        }
        print({ ...manifest, retention }, opts.output, () => renderTable(
          ["backup", "size", "tables", "rows", "matomo", "duration"],
          [[manifest.backupId, mib(manifest.object.bytes), String(manifest.tables.length),
            String(manifest.tables.reduce((n, t) => n + t.rows, 0)), manifest.matomo.version ?? "-", formatSeconds(manifest.timings.totalMs)]],
        ));
      } finally {
        store.s3.destroy();
      }
    });

  storageOptions(backup
    .command("list")
    .description("list the tenant's backups, newest first, with their last restore drill; incomplete ones are shown apart")
    .requiredOption("--tenant <name>", "tenant whose backups to list (it may have been deleted)", tenantName)
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; output: OutputFormat }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const store = await storeFromFlags(opts, http, opts.bucket ? undefined : await poolOfTenant(http, opts.tenant));
      try {
        const listing = await listBackups(store, opts.tenant);
        print(listing, opts.output, () => {
          let out = renderTable(
            ["backup", "created", "size", "tables", "rows", "matomo", "verified"],
            listing.backups.map((b) => [b.backupId, b.createdAt, mib(b.bytes), String(b.tables), String(b.rows), b.matomoVersion ?? "-",
              b.verified ? `${b.verified.ok ? "ok" : "FAILED"} ${b.verified.at}` : "-"]),
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
        store.s3.destroy();
      }
    });

  storageOptions(backup
    .command("restore")
    .description("restore a backup into a new tenant's database (--into), or over the tenant's own database (--replace, after a safety backup)")
    .requiredOption("--tenant <name>", "tenant the backup belongs to", tenantName)
    .requiredOption("--backup <id>", "backup id, as `mms backup list` shows it")
    .option("--into <name>", "new tenant name: restore into its (new, empty) database on the same pool", tenantName)
    .option("--domain <domain...>", "with --into: also create the new tenant, answering on these domains, with the source's plan and version")
    .option("--replace", "replace the tenant's own non-empty database: a safety backup is taken first, and the tables are swapped only once the restored copy matches the manifest")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; backup: string; into?: string; domain?: string[]; replace?: boolean; output: OutputFormat }, cmd: Command) => {
      if (opts.into && opts.replace) throw new UserError("--into and --replace do not go together: --replace is for the tenant's own database");
      if (opts.domain && !opts.into) throw new UserError("--domain needs --into: it names the domains of the new tenant");
      const http = kubeFromFlags(cmd);
      const source = await resolveTenantTarget(http, opts.tenant);
      const database = opts.into ? tenantDatabaseName(opts.into) : source.database;
      const store = await storeFromFlags(opts, http, source.poolName);
      const progress = createProgress();
      progress.step(`restoring backup ${opts.backup} of tenant ${opts.tenant} into database ${database} (pool ${source.poolName})`);
      try {
        const result = await restoreBackup({
          pool: source.pool, store, tenant: opts.tenant, backupId: opts.backup, database,
          ...(opts.replace ? {
            replace: {
              safetyBackup: async (db: string) => {
                progress.step(`taking a safety backup of database ${db} before replacing it`);
                const { manifest } = await runBackup({ pool: source.pool, tenant: opts.tenant, database: db, store });
                progress.info(`safety backup ${manifest.backupId} written; restore it the same way to undo this`);
                progress.step(`loading backup ${opts.backup} into a staging database`);
                return manifest.backupId;
              },
            },
          } : {}),
        });
        progress.done();
        process.stderr.write(`restored ${result.tables.length} tables into ${database} in ${formatSeconds(result.timings.totalMs)}; row counts and checksums match the manifest\n`);
        if (result.safetyBackupId) process.stderr.write(`the replaced data is in safety backup ${result.safetyBackupId}\n`);
        if (opts.into && opts.domain) {
          const from = await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", opts.tenant);
          const salt = await readTenantRecord(store, opts.tenant).then((r) => r.salt ?? undefined, () => undefined);
          await createRestoredTenant(http, {
            name: opts.into, domains: opts.domain, plan: from.spec.plan, matomoVersion: from.spec.matomoVersion, pool: source.poolName,
            privacy: from.spec.privacy, queuedTracking: from.spec.tracking.queuedTracking, from: opts.tenant, salt,
          });
          process.stderr.write(`created tenant ${opts.into} on pool ${source.poolName}; \`mms tenant get ${opts.into}\` shows when it is Ready\n`);
        } else if (opts.into) {
          process.stderr.write(`create the tenant with \`mms tenant create ${opts.into} --pool ${source.poolName} --domain …\` to serve it\n`);
        }
        print(result, opts.output, () => renderTable(
          ["table", "rows", "checksum", "ok"],
          result.tables.map((t) => [t.name, String(t.actualRows ?? "-"), String(t.actualChecksum ?? "-"), t.ok ? "yes" : "NO"]),
        ));
      } finally {
        store.s3.destroy();
      }
    });

  storageOptions(backup
    .command("verify")
    .description("restore drill: restore a backup into a scratch database, compare every table with its manifest, drop it, and record the result (BackupHealthy)")
    .option("--tenant <name>", "tenant to verify (its newest backup unless --backup)", tenantName)
    .option("--backup <id>", "with --tenant: this backup instead of the newest")
    .option("--pool <name>", "verify the newest backup of every tenant on this pool, one after another")
    .option("--all", "verify the newest backup of every tenant, one after another")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant?: string; backup?: string; pool?: string; all?: boolean; output: OutputFormat }, cmd: Command) => {
      const chosen = [opts.tenant, opts.pool, opts.all].filter((x) => x !== undefined && x !== false).length;
      if (chosen !== 1) throw new UserError("say what to verify: exactly one of --tenant NAME, --pool NAME or --all");
      if (opts.backup && !opts.tenant) throw new UserError("--backup needs --tenant");
      const http = kubeFromFlags(cmd);
      let names: string[];
      if (opts.tenant) names = [opts.tenant];
      else {
        const all = (await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant")).items;
        names = all.filter((t) => !t.metadata.deletionTimestamp && (opts.all || t.status?.database?.pool === opts.pool)).map((t) => t.metadata.name).sort();
        if (names.length === 0) process.stderr.write(opts.all ? "no tenants\n" : `no tenants on pool ${opts.pool}\n`);
      }
      const progress = createProgress();
      const rows: { tenant: string; backupId: string; ok: boolean; tables: number; seconds: number; message: string }[] = [];
      for (const name of names) {
        const started = Date.now();
        progress.step(`restore drill of tenant ${name}${opts.backup ? ` (backup ${opts.backup})` : ""}`);
        let store: ObjectStore | undefined;
        try {
          store = await storeFromFlags(opts, http, await poolOfTenant(http, name));
          const v = await verifyTenant(http, name, { store, backupId: opts.backup });
          rows.push({ tenant: name, backupId: v.backupId, ok: v.ok, tables: v.tablesChecked, seconds: (Date.now() - started) / 1000, message: v.ok ? "" : (v.message ?? v.reason ?? "") });
        } catch (err) {
          const message = err instanceof BackupError || err instanceof UserError ? err.message : (err as Error).message;
          rows.push({ tenant: name, backupId: opts.backup ?? "-", ok: false, tables: 0, seconds: (Date.now() - started) / 1000, message });
        } finally {
          store?.s3.destroy();
        }
      }
      progress.done();
      print(rows, opts.output, () => renderTable(
        ["tenant", "backup", "result", "tables", "duration", "message"],
        rows.map((r) => [r.tenant, r.backupId, r.ok ? "ok" : "FAILED", String(r.tables), `${r.seconds.toFixed(1)}s`, r.message]),
      ));
      const failed = rows.filter((r) => !r.ok);
      if (failed.length > 0) {
        throw new UserError(failed.length === 1 && rows.length === 1
          ? `the restore drill of tenant ${failed[0]?.tenant} failed: ${failed[0]?.message}`
          : `${failed.length} of ${rows.length} restore drills failed: ${failed.map((r) => r.tenant).join(", ")}`);
      }
    });

  storageOptions(backup
    .command("prune")
    .description("apply the plan's retention to the tenant's backups and clean up interrupted ones (also done after every `backup run`)")
    .requiredOption("--tenant <name>", "tenant whose backups to prune", tenantName)
    .option("--dry-run", "only show what would be deleted")
    .addOption(outputOption()))
    .action(async (opts: StorageFlags & { tenant: string; dryRun?: boolean; output: OutputFormat }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const store = await storeFromFlags(opts, http, opts.bucket ? undefined : await poolOfTenant(http, opts.tenant));
      try {
        const report = await applyRetention(store, opts.tenant, await retentionOf(http, opts.tenant), { dryRun: opts.dryRun });
        process.stderr.write(retentionLine(report) + "\n");
        print(report, opts.output, () => renderTable(
          ["backup", opts.dryRun ? "would be" : "result", "why"],
          [
            ...report.kept.map((k) => [k.backupId, "kept", k.reasons.join(", ")]),
            ...report.removed.map((id) => [id, "removed", "outside the retention policy"]),
            ...report.incompleteRemoved.map((id) => [id, "removed", "interrupted backup"]),
          ],
        ));
      } catch (err) {
        if (err instanceof RetentionError) throw new UserError(err.message);
        throw err;
      } finally {
        store.s3.destroy();
      }
    });
}
