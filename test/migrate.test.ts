// Migrating existing Matomo instances onto the platform, through the CLI on the dev environment: Matomo's
// OmniFixture (no table prefix) from a dump, the same data with a `piwik_` prefix and the old config's
// salt, a live database, a dry run, and the sources that must be refused without leaving anything behind.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip, gzipSync } from "node:zlib";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import type { MigrationReport } from "../src/migrate/import.ts";
import { type Run, runMms, uniqueName } from "./helpers.ts";
import { loadGzipDump, OMNI_FIXTURE } from "./support/fixture.ts";

const FIXTURE = OMNI_FIXTURE;


let http: KubeHttp;
let db: Connection;
let kubeEnv: NodeJS.ProcessEnv;
let mariadb: { host: string; port: number; user: string; password: string };
let dir: string;
/** The fixture loaded as is: the live source, and the reference row count of every table. */
let sourceDb: string;
let reference: Map<string, number>;
const tenants: string[] = [];
const users: string[] = [];

const dbName = (t: string) => `mt_${t.replaceAll("-", "_")}`;
const mms = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runMms(args, { ...kubeEnv, ...env });

async function rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await db.query<RowDataPacket[]>(sql, values);
  return r;
}

async function rowCounts(database: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const { t } of await rows("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", [database])) {
    const [c] = await rows(`SELECT COUNT(*) AS n FROM \`${database}\`.\`${String(t)}\``);
    out.set(String(t), Number(c?.n));
  }
  return out;
}

/** Loads a gzip dump into a new database with the mariadb client. */
async function loadGzip(database: string, file: string): Promise<void> {
  await loadGzipDump(mariadb, database, file);
}

/** Writes a copy of the fixture, line by line through `edit`, gzip-compressed unless `plain`; `cut` keeps only that share of it. */
async function derive(name: string, edit: (line: string) => string, opts: { plain?: boolean; cut?: number } = {}): Promise<string> {
  const file = join(dir, name);
  const out: string[] = [];
  for await (const line of createInterface({ input: createReadStream(FIXTURE).pipe(createGunzip()), crlfDelay: Infinity })) out.push(`${edit(line)}\n`);
  const sql = Buffer.from(out.join(""));
  const whole = opts.plain ? sql : gzipSync(sql);
  await writeFile(file, whole.subarray(0, Math.floor(whole.length * (opts.cut ?? 1))));
  return file;
}

const PIWIK_TABLE_LINE = /^((?:CREATE TABLE|INSERT INTO|DROP TABLE IF EXISTS|LOCK TABLES|\/\*!40000 ALTER TABLE) `)/;

/** Asserts that nothing of tenant `name` exists: no tenant, namespace, database, staging database or loading account. */
async function assertNothingLeft(name: string): Promise<void> {
  assert.equal(await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", name), undefined, "no tenant");
  assert.equal(await http.getOrUndefined("v1", "Namespace", tenantNamespace(name)), undefined, "no namespace");
  const schemas = (await rows("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA")).map((r) => String(r.s));
  const stem = dbName(name).slice(3);
  assert.deepEqual(schemas.filter((s) => s === dbName(name) || s.startsWith(`mms_import_${stem}_`)), [], "no database and no staging database");
  assert.deepEqual(await rows("SELECT User FROM mysql.user WHERE User LIKE 'mms!_imp!_%' ESCAPE '!'"), [], "no loading account");
}

async function assertMigrated(name: string, report: MigrationReport): Promise<void> {
  const t = await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
  assert.equal(t.status?.conditions?.find((c) => c.type === "Ready")?.status, "True", "the tenant is Ready");
  assert.equal(report.verified, true);
  assert.equal(report.ready?.ok, true);
  const expected = new Map([...reference].map(([table, n]) => [`matomo_${table}`, n]));
  assert.deepEqual(await rowCounts(dbName(name)), expected, "every table is there under the matomo_ prefix with the dump's row count");
  assert.equal(report.tables.length, reference.size);
  for (const m of report.tables) assert.equal(m.rows, reference.get(m.source.replace(/^piwik_/, "")), `the report's rows of ${m.source}`);
}

/** The refusal is one `error:` sentence, the exit code is 1, and nothing is left behind. */
async function assertRefused(name: string, r: Run, pattern: RegExp): Promise<void> {
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0] as string, pattern);
  await assertNothingLeft(name);
}

function migrated(r: Run): MigrationReport {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as MigrationReport;
}

function newTenant(prefix: string): string {
  const name = uniqueName(prefix);
  tenants.push(name);
  return name;
}

before(async () => {
  const e = await endpoints();
  kubeEnv = { KUBECONFIG: e.kubeconfig };
  mariadb = e.mariadb;
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  db = await createConnection({ ...e.mariadb });
  dir = await mkdtemp(join(tmpdir(), "mms-migrate-test-"));
  sourceDb = `mig_src_${randomBytes(3).toString("hex")}`;
  await loadGzip(sourceDb, FIXTURE);
  reference = await rowCounts(sourceDb);
  assert.equal(reference.size, 42);
});

after(async () => {
  for (const t of tenants) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    await db.query(`DROP DATABASE IF EXISTS \`${dbName(t)}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [dbName(t)]);
  }
  for (const u of users) await db.query("DROP USER IF EXISTS ?@'%'", [u]);
  await db.query(`DROP DATABASE IF EXISTS \`${sourceDb}\``);
  await db.end();
  await rm(dir, { recursive: true, force: true });
});

describe("migrating an existing Matomo into a new tenant", () => {
  test("--dry-run reports the version, prefix and tables, and changes nothing", async () => {
    const name = newTenant("mig-dry");
    const r = await mms(["migrate", "import", name, "--domain", `${name}.example.test`, "--dump", FIXTURE, "--dry-run", "-o", "json"]);
    const report = migrated(r);
    assert.equal(report.dryRun, true);
    assert.equal(report.sourceVersion, "5.1.0-b2");
    assert.equal(report.prefix, "");
    assert.equal(report.database, dbName(name));
    assert.deepEqual(new Map(report.tables.map((t) => [t.source, t.rows])), reference);
    assert.ok(report.tables.every((t) => t.target === `matomo_${t.source}` && t.bytes > 0));
    assert.match(r.stderr, /Matomo 5\.1\.0-b2, table prefix none, 42 tables/);
    assert.match(r.stderr, /dry run: nothing was changed/);
    await assertNothingLeft(name);
  });

  test("Matomo's OmniFixture (no table prefix) becomes a Ready tenant with every table's rows", async () => {
    const name = newTenant("mig-omni");
    const report = migrated(await mms(["migrate", "import", name, "--domain", `${name}.example.test`, "--dump", FIXTURE, "-o", "json"]));
    await assertMigrated(name, report);
    assert.equal(report.saltCarried, false);
    assert.ok(report.warnings.some((w) => /no --config given/.test(w)));

    const again = await mms(["migrate", "import", name, "--domain", `${name}2.example.test`, "--dump", FIXTURE]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: tenant .* already exists/m);
  });

  test("the same data with a piwik_ prefix migrates, and --config carries the old salt", async () => {
    const name = newTenant("mig-piwik");
    const domain = `${name}.example.test`;
    const dump = await derive("piwik.sql.gz", (line) => line.replace(PIWIK_TABLE_LINE, "$1piwik_"));
    const salt = randomBytes(16).toString("hex");
    const config = join(dir, "config.ini.php");
    await writeFile(config, [
      "; <?php exit; ?> DO NOT REMOVE THIS LINE", "[database]", 'host = "old-db.internal"', 'password = "old-db-secret"', 'tables_prefix = "piwik_"',
      "[General]", `salt = "${salt}"`, `trusted_hosts[] = "${domain}"`, 'trusted_hosts[] = "old-stats.example.org"',
      "[Plugins]", 'Plugins[] = "CoreHome"', 'Plugins[] = "TagManager"', "",
    ].join("\n"));
    const r = await mms(["migrate", "import", name, "--domain", domain, "--dump", dump, "--config", config, "-o", "json"]);
    const report = migrated(r);
    assert.equal(report.prefix, "piwik_");
    await assertMigrated(name, report);
    assert.equal(report.saltCarried, true);
    const secret = await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(name));
    assert.equal(Buffer.from(secret.data.salt ?? "", "base64").toString(), salt, "the old salt is the tenant's");
    assert.ok(secret.data["database-password"], "the operator completed the Secret");
    assert.ok(report.warnings.some((w) => /old-stats\.example\.org/.test(w)), "the uncovered trusted host is reported");
    assert.ok(report.warnings.some((w) => /lacks: TagManager/.test(w)), "the missing plugin is reported");
    assert.ok(!r.stdout.includes("old-db-secret") && !r.stderr.includes("old-db-secret"));
  });

  test("--from-mysql migrates a live database and never shows its password", async () => {
    const name = newTenant("mig-live");
    const user = `mig_ro_${randomBytes(3).toString("hex")}`;
    const password = `p@ss:w/rd#${randomBytes(6).toString("hex")}`;
    users.push(user);
    await db.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
    await db.query(`GRANT SELECT, SHOW VIEW ON \`${sourceDb}\`.* TO ?@'%'`, [user]);
    const url = (pw: string) => `mysql://${user}:${encodeURIComponent(pw)}@${mariadb.host}:${mariadb.port}/${sourceDb}`;

    const wrong = `Wr0ng-${randomBytes(6).toString("hex")}`;
    const refused = await mms(["migrate", "import", name, "--domain", `${name}.example.test`, "--from-mysql", url(wrong)]);
    await assertRefused(name, refused, /cannot dump the source database mysql:\/\/mig_ro_\w+@127\.0\.0\.1:\d+\/mig_src_\w+: mariadb-dump exited .*Access denied/);
    assert.ok(!refused.stderr.includes(wrong) && !refused.stderr.includes(encodeURIComponent(wrong)));

    const r = await mms(["migrate", "import", name, "--domain", `${name}.example.test`, "--from-mysql", url(password), "-o", "json"]);
    const report = migrated(r);
    await assertMigrated(name, report);
    assert.equal(report.source, `mysql://${user}@${mariadb.host}:${mariadb.port}/${sourceDb}`);
    for (const text of [r.stdout, r.stderr]) assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), "the password is never shown");
  });

  test("an old Piwik or Matomo is refused as too old with its upgrade path; other refusals name their problem; nothing is left behind", async () => {
    const version = (v: string) => (line: string) => line.replace("'version_core','5.1.0-b2'", `'version_core','${v}'`);
    // Piwik wrote its version into the same option row, under the piwik_ prefix of its day.
    const piwik2 = await derive("piwik2.sql.gz", (line) => version("2.16.0")(line.replace(PIWIK_TABLE_LINE, "$1piwik_")));
    const piwik3 = await derive("piwik3.sql.gz", (line) => version("3.0.0-b1")(line.replace(PIWIK_TABLE_LINE, "$1piwik_")));
    const matomo3 = await derive("old.sql.gz", version("3.14.1"));
    const future = await derive("future.sql.gz", version("6.0.0"));
    // Dumped with --ignore-table for the option table: Matomo's tables without the one naming the version.
    const noOption = await derive("no-option.sql.gz", (line) => line.replaceAll("`option`", "`option_old`"));
    const cutGzip = await derive("cut.sql.gz", (line) => line, { cut: 0.5 });
    const cutPlain = await derive("cut.sql", (line) => line, { plain: true, cut: 0.6 });
    const notMatomo = join(dir, "shop.sql");
    await writeFile(notMatomo, [
      "-- MySQL dump 10.13", "CREATE TABLE `customers` (", "  `id` int NOT NULL,", "  `name` varchar(50)", ");",
      "INSERT INTO `customers` VALUES (1,'Ada'),(2,'Grace');", "-- Dump completed on 2026-01-01 10:00:00", "",
    ].join("\n"));
    const empty = join(dir, "empty.sql");
    await writeFile(empty, ["-- MySQL dump 10.13", "-- Host: old-db    Database: matomo", "-- Dump completed on 2026-01-01 10:00:00", ""].join("\n"));
    const cases: [string, RegExp][] = [
      [piwik2, /^error: Piwik 2\.16\.0 is older than Matomo 4\.0, the oldest this import takes .*: upgrade it to Matomo 4\.x first \(update it step by step to Matomo 3\.14\.1 \(the last 3\.x\), then the latest Matomo 4\.x/],
      [piwik3, /^error: Piwik 3\.0\.0-b1 is older than Matomo 4\.0, the oldest this import takes/],
      [matomo3, /^error: Matomo 3\.14\.1 is older than Matomo 4\.0, the oldest this import takes .*upgrade it to Matomo 4\.x first \(update it step by step to the latest Matomo 4\.x, each with its own `console core:update`/],
      [future, /^error: the source runs Matomo 6\.0\.0, a newer major version than the platform's Matomo 5 .*Matomo cannot downgrade a database/],
      [noOption, /^error: the source has Matomo's tables \(.*\) but not its option table option, which holds the version and settings: the dump is incomplete/],
      [empty, /^error: the source holds no tables: the database is empty/],
      [cutGzip, /is truncated: its gzip data ends early/],
      [cutPlain, /is truncated/],
      [notMatomo, /^error: the source is not a Matomo database: it has no option table/],
    ];
    for (const [dump, pattern] of cases) {
      const name = newTenant("mig-bad");
      const r = await mms(["migrate", "import", name, "--domain", `${name}.example.test`, "--dump", dump]);
      assert.doesNotMatch(r.stderr, /not a (Matomo )?version/, dump);
      await assertRefused(name, r, pattern);
    }
  });

  test("a load that fails half-way drops its staging database; an existing non-empty database is refused untouched", async () => {
    const failing = await derive("failing.sql.gz", (line) => line.startsWith("INSERT INTO `log_visit`") ? `${line}\nINSERT INTO \`no_such_table\` VALUES (1);` : line);
    const name = newTenant("mig-fail");
    await assertRefused(name, await mms(["migrate", "import", name, "--domain", `${name}.example.test`, "--dump", failing]),
      /loading the source into staging database mms_import_\w+ failed: .*no_such_table.*; nothing was left behind/);

    const taken = newTenant("mig-taken");
    await db.query(`CREATE DATABASE \`${dbName(taken)}\``);
    await db.query(`CREATE TABLE \`${dbName(taken)}\`.keep (x int)`);
    const r = await mms(["migrate", "import", taken, "--domain", `${taken}.example.test`, "--dump", FIXTURE]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: database mt_mig_taken_\w+ already exists on the pool and is not empty/m);
    assert.deepEqual([...(await rowCounts(dbName(taken))).keys()], ["keep"], "the database is untouched");
    assert.equal(await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", taken), undefined);
  });
});
