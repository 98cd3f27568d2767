// `mms migrate import`: flag wiring for moving an existing Matomo onto the platform; the work is in src/migrate.
import type { Command } from "commander";
import { Option } from "commander";
import { migrateTenant, type MigrationReport } from "../migrate/import.ts";
import { showPrefix } from "../migrate/detect.ts";
import type { SourceSpec } from "../migrate/source.ts";
import { parseMysqlUrl } from "../migrate/source-url.ts";
import { humanBytes } from "../migrate/units.ts";
import { formatSeconds } from "../util/duration.ts";
import { durationFlag, kubeFromFlags } from "./common.ts";
import { tenantNamespace } from "../api/names.ts";
import { UserError } from "../util/errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { createProgress } from "../util/progress.ts";

interface ImportFlags {
  domain: string[];
  dump?: string;
  fromMysql?: string;
  config?: string;
  pool?: string;
  plan?: string;
  matomoVersion?: string;
  dryRun?: boolean;
  wait: boolean;
  timeout: number;
  output: OutputFormat;
}

function sourceOf(opts: ImportFlags): SourceSpec {
  if ((opts.dump === undefined) === (opts.fromMysql === undefined)) {
    throw new UserError("say where the old instance is: exactly one of --dump FILE or --from-mysql URL");
  }
  if (opts.dump !== undefined) return { kind: "dump", file: opts.dump };
  try {
    return { kind: "mysql", source: parseMysqlUrl(opts.fromMysql as string, process.env.MMS_MIGRATE_SOURCE_PASSWORD) };
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}


function summary(r: MigrationReport, domains: readonly string[]): string {
  const lines = [
    `source:   ${r.source}: Matomo ${r.sourceVersion}, table prefix ${showPrefix(r.prefix)}, ${r.tables.length} tables, ${r.rows} rows, ${humanBytes(r.bytes)}`,
    `target:   database ${r.database} on pool ${r.pool} (tables prefixed matomo_), tenant ${r.tenant} on Matomo ${r.matomoVersion} at ${domains.join(", ")}`,
    `salt:     ${r.saltCarried ? "carried from --config into the tenant's Secret" : "new (the old one is not carried)"}`,
    ...r.notes.map((n) => `note:     ${n}`),
    ...r.warnings.map((w) => `warning:  ${w}`),
  ];
  return lines.join("\n") + "\n";
}

export function registerMigrate(program: Command): void {
  const migrate = program.command("migrate").description("move existing Matomo instances onto the platform");

  migrate
    .command("import")
    .description("import an existing Matomo (a dump or a live database) into a new tenant: checks the source, loads it under the platform's table prefix, verifies every table's rows, then creates the tenant")
    .argument("<name>", "new tenant name: 2-28 lower-case letters, digits and '-'")
    .requiredOption("--domain <domain...>", "domain(s) the tenant answers on; the first is its URL")
    .option("--dump <file>", "a mysqldump/mariadb-dump of the Matomo database, plain or gzip-compressed")
    .addOption(new Option("--from-mysql <url>", "a live database, mysql://user:password@host:port/database, dumped with mariadb-dump --single-transaction " +
      "(the password may instead come from $MMS_MIGRATE_SOURCE_PASSWORD)").env("MMS_MIGRATE_FROM_MYSQL"))
    .option("--config <file>", "the old instance's config.ini.php: carries its salt (API tokens, fingerprints) and reports trusted hosts and plugins")
    .option("--pool <pool>", "DatabasePool to import into (default: the one with the most free capacity)")
    .option("--plan <plan>", "TenantPlan of the new tenant")
    .option("--matomo-version <version>", "Matomo version of the new tenant (default: the platform's); the source must not be newer")
    .option("--dry-run", "read and check the source and the cluster, print what would happen, change nothing")
    .option("--no-wait", "do not wait for the tenant to become Ready")
    .addOption(new Option("--timeout <duration>", "how long to wait for Ready (e.g. 90s, 10m)").argParser(durationFlag("--timeout")).default(600_000, "10m"))
    .addOption(outputOption())
    .action(async (name: string, opts: ImportFlags, cmd: Command) => {
      const source = sourceOf(opts);
      const http = kubeFromFlags(cmd);
      const progress = createProgress();
      const controller = new AbortController();
      const onSignal = () => {
        progress.info("cancelling…");
        controller.abort();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      let report: MigrationReport;
      try {
        report = await migrateTenant(http, {
          tenant: name, domains: opts.domain, source, configFile: opts.config, pool: opts.pool, plan: opts.plan,
          matomoVersion: opts.matomoVersion, dryRun: opts.dryRun, wait: opts.wait, readyTimeoutMs: opts.timeout, signal: controller.signal,
          onStep: (text) => progress.step(text), onProgress: (text) => progress.update(text),
        });
      } finally {
        progress.done();
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
      }
      process.stderr.write(summary(report, opts.domain));
      process.stdout.write(opts.output === "table"
        ? renderTable(["source table", "tenant table", "rows", "size"], report.tables.map((t) => [t.source, t.target, String(t.rows), humanBytes(t.bytes)]))
        : renderStructured(report, opts.output));
      if (report.dryRun) {
        process.stderr.write(`dry run: nothing was changed; without --dry-run the tables above are imported and tenant ${name} is created\n`);
        return;
      }
      process.stderr.write(`imported ${report.tables.length} tables (${report.rows} rows) into ${report.database}; every table's row count matches the source\n`);
      if (report.ready && !report.ready.ok) {
        throw new UserError(`tenant ${name} was created from the imported data but is not Ready after ${formatSeconds(report.ready.seconds * 1000)}: ${report.ready.why ?? "not Ready yet"}; \`mms tenant get ${name}\` shows its progress`);
      }
      process.stderr.write(report.ready ? `tenant ${name} is Ready after ${formatSeconds(report.ready.seconds * 1000)} (total ${formatSeconds(report.seconds * 1000)})\n`
        : `tenant ${name} created; \`mms tenant get ${name}\` shows when it is Ready\n`);
      const first = report.rawDates?.[0]?.slice(0, 10);
      const last = report.rawDates?.at(-1)?.slice(-10);
      if (report.archived?.ok) {
        process.stderr.write(`reports of the imported days (${first} to ${last}) built by archiver Job ${report.archived.job} in ${formatSeconds(report.archived.seconds * 1000)}\n`);
      } else if (report.archived) {
        throw new UserError(`tenant ${name} is Ready, but the archiver Job ${report.archived.job} that builds the reports of the imported days did not complete; ` +
          `\`kubectl logs -n ${tenantNamespace(name)} job/${report.archived.job}\` shows why, and \`mms tenant archive ${name} --dates ${first},${last}\` runs it again`);
      } else if (first && !report.ready) {
        process.stderr.write(`once it is Ready, \`mms tenant archive ${name} --dates ${first},${last}\` builds the reports of the imported days\n`);
      }
    });
}
