// `mms migrate import`: moves an existing Matomo into a new tenant. The source is read and checked in
// full before anything changes; it is then loaded into a staging database, counted, and moved into the
// tenant's database under the platform's table prefix with one RENAME TABLE. The tenant (with the old
// salt) is created only after that, so a failed import leaves no tenant and no half-filled database.
import { readFile } from "node:fs/promises";
import { API_GROUP_VERSION, parseDomain, parseVersion, tenantNameProblem, tenantNamespace } from "../api/names.ts";
import { tenantLabels } from "../api/labels.ts";
import { DEFAULT_MATOMO_VERSION } from "../api/tenant.ts";
import { AdminSession } from "../backup/admin.ts";
import { resolvePool } from "../backup/tenant-target.ts";
import { TABLES_PREFIX } from "../render/tenant.ts";
import { quoteDatabase, quoteTable, tenantDatabaseName } from "../db/naming.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import { choosePool, listPoolRoom, seedTenantSecret } from "../db/resolve.ts";
import { startArchiver, waitJob } from "../tenants/archive.ts";
import { createTempDatabase, databaseLockName, dropStaleTempDatabases, dropTempDatabase, type TempDatabase } from "../db/temp-database.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { createTenant, waitReady } from "../tenants/service.ts";
import { detectionWarnings, detectMatomo, planTables, privacyFromOptions, privacySummary, schemaNote, showPrefix, type TableMove } from "./detect.ts";
import { MigrationError } from "./errors.ts";
import { humanBytes } from "./units.ts";
import { inspectSource, loadIntoStaging, type Inspection } from "./load.ts";
import { configWarnings, parseOldConfig, type OldConfig } from "./old-config.ts";
import { openSource, type OpenedSource, type SourceSpec } from "./source.ts";
import { versionProblem } from "./version.ts";

const MANAGER = "mms-migrate";
// How long the move waits for locks on the tables involved (nothing else should be using them).
const RENAME_LOCK_WAIT_SECONDS = 60;

export interface MigrateRequest {
  readonly tenant: string;
  readonly domains: readonly string[];
  readonly source: SourceSpec;
  /** The old instance's config.ini.php. */
  readonly configFile?: string | undefined;
  /** DatabasePool to import into; default: the one with the most free capacity. */
  readonly pool?: string | undefined;
  readonly plan?: string | undefined;
  /** The tenant's Matomo version (default: the platform's). */
  readonly matomoVersion?: string | undefined;
  /** Read and check everything, change nothing. */
  readonly dryRun?: boolean | undefined;
  /** Wait until the new tenant is Ready (default true). */
  readonly wait?: boolean | undefined;
  readonly readyTimeoutMs?: number | undefined;
  /** How long the archiver run after the import may take (default 1 h). */
  readonly archiveTimeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** A new step has begun. */
  readonly onStep?: ((text: string) => void) | undefined;
  /** How far the current step is. */
  readonly onProgress?: ((text: string) => void) | undefined;
}

export interface MigrationReport {
  readonly tenant: string;
  readonly dryRun: boolean;
  /** The dump file, or the source URL without its password. */
  readonly source: string;
  /** The source's table prefix ("" for none). */
  readonly prefix: string;
  /** Matomo version of the source (`option.version_core`). */
  readonly sourceVersion: string;
  /** The tenant's Matomo version. */
  readonly matomoVersion: string;
  readonly pool: string;
  readonly database: string;
  readonly tables: readonly TableMove[];
  readonly rows: number;
  /** Uncompressed size of the imported tables in the dump. */
  readonly bytes: number;
  /** True when the old salt is (or would be) carried into the tenant's Secret. */
  readonly saltCarried: boolean;
  readonly warnings: readonly string[];
  readonly notes: readonly string[];
  /** After an import: every table's row count matched the source. */
  readonly verified?: boolean;
  /** After an import that waited: whether the tenant became Ready, and why not. */
  readonly ready?: { readonly ok: boolean; readonly seconds: number; readonly why?: string };
  /** The days of the imported raw data (dates and FROM,TO ranges, widened a day for time zones). */
  readonly rawDates?: readonly string[];
  /** After a Ready import: the archiver Job that built the reports of those days. */
  readonly archived?: { readonly job: string; readonly ok: boolean; readonly seconds: number };
  readonly seconds: number;
}



interface Checked {
  readonly domains: string[];
  readonly matomoVersion: string;
  readonly database: string;
  readonly config: OldConfig | undefined;
}

async function checkRequest(req: MigrateRequest): Promise<Checked> {
  const problem = tenantNameProblem(req.tenant);
  if (problem) throw new MigrationError("InvalidRequest", `tenant name "${req.tenant}" ${problem}`);
  if (req.domains.length === 0) throw new MigrationError("InvalidRequest", "a tenant needs at least one --domain");
  let domains: string[];
  let matomoVersion: string;
  try {
    domains = req.domains.map((d) => parseDomain(d));
    matomoVersion = req.matomoVersion ?? DEFAULT_MATOMO_VERSION;
    parseVersion(matomoVersion);
  } catch (err) {
    throw new MigrationError("InvalidRequest", (err as Error).message);
  }
  let config: OldConfig | undefined;
  if (req.configFile !== undefined) {
    let text: string;
    try {
      text = await readFile(req.configFile, "utf8");
    } catch (err) {
      throw new MigrationError("InvalidRequest", `cannot read --config ${req.configFile}: ${(err as Error).message}`);
    }
    config = parseOldConfig(text);
  }
  return { domains, matomoVersion, database: tenantDatabaseName(req.tenant), config };
}

/** The cluster side of the checks: no such tenant or namespace yet, a pool, and a spec the API server accepts. */
async function checkCluster(http: KubeHttp, req: MigrateRequest, c: Checked): Promise<{ poolName: string; pool: PoolEndpoint; warnings: string[] }> {
  const warnings: string[] = [];
  if (await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", req.tenant)) {
    throw new MigrationError("TargetExists", `tenant ${req.tenant} already exists; migrate into a new tenant name (or delete that tenant first)`);
  }
  const ns = tenantNamespace(req.tenant);
  if (await http.getOrUndefined("v1", "Namespace", ns)) {
    throw new MigrationError("TargetExists", `namespace ${ns} already exists although tenant ${req.tenant} does not (a deleted tenant still being cleaned up?); wait for it to go, or use another name`);
  }
  let poolName = req.pool;
  if (poolName === undefined) {
    const chosen = await choosePool(http);
    if (!chosen) throw new MigrationError("InvalidRequest", "no DatabasePool has free capacity; add a pool or raise a pool's capacity, or name one with --pool");
    poolName = chosen.name;
  }
  let pool: PoolEndpoint;
  try {
    pool = await resolvePool(http, poolName);
  } catch (err) {
    throw new MigrationError("InvalidRequest", `cannot use pool ${poolName}: ${(err as Error).message}`);
  }
  if (req.pool !== undefined && ((await listPoolRoom(http)).find((p) => p.name === poolName)?.free ?? 0) <= 0) {
    warnings.push(`pool ${poolName} is at or over its capacity; the tenant is placed there because --pool says so`);
  }
  // The API server validates the spec (domains already taken, plan, version) before anything is read.
  try {
    await createTenant(http, { name: req.tenant, domains: c.domains, plan: req.plan, matomoVersion: c.matomoVersion, pool: poolName }, true);
  } catch (err) {
    throw new MigrationError("InvalidRequest", (err as Error).message);
  }
  return { poolName, pool, warnings };
}

/** Everything the source says, checked: refuses what cannot be carried over. */
function understand(inspection: Inspection, c: Checked): { prefix: string; version: string; moves: readonly TableMove[]; warnings: string[]; notes: string[]; privacy: ReturnType<typeof privacyFromOptions> } {
  const { inspector, scanner } = inspection;
  const later = scanner.databaseStatements.filter((s) => !s.beforeFirstTable);
  const named = new Set(scanner.databaseStatements.map((s) => s.database ?? s.text));
  if (later.length > 0 || named.size > 1) {
    throw new MigrationError("UnsupportedSource",
      `the dump holds more than one database (${[...named].slice(0, 5).join(", ")}); dump the Matomo database alone, e.g. \`mariadb-dump --single-transaction DBNAME\``);
  }
  const tables = scanner.tables;
  const detection = detectMatomo(tables, scanner.options);
  const problem = versionProblem(detection.version, c.matomoVersion);
  if (problem) throw new MigrationError("UnsupportedVersion", problem);
  const plan = planTables(tables, inspector.rows, detection.prefix);
  const warnings = detectionWarnings(detection, plan);
  if (c.config) warnings.push(...configWarnings(c.config, c.domains, detection.prefix));
  else warnings.push("no --config given, so the tenant gets a new salt: the old API tokens (token_auth) stop working and users must log in again; pass the old config.ini.php to keep them");
  const notes = [privacySummary(scanner.options.get(detection.optionTable))];
  const schema = schemaNote(detection.version, c.matomoVersion);
  if (schema) notes.push(schema);
  if (named.size === 1) notes.push(`the dump's own CREATE DATABASE/USE statements for ${[...named][0]} are left out; its tables go to the tenant's database`);
  // The tenant's Jobs write spec.privacy into the database: it starts as the source's own settings.
  return { prefix: detection.prefix, version: detection.version, moves: plan.moves, warnings, notes, privacy: privacyFromOptions(scanner.options.get(detection.optionTable)) };
}

/**
 * Runs a migration, or with `dryRun` only its checks. Refusals and failures throw MigrationError after
 * undoing everything this run created; a tenant that was created but is not Ready in time is reported
 * in `ready`, since its data is in place.
 */
export async function migrateTenant(http: KubeHttp, req: MigrateRequest): Promise<MigrationReport> {
  const t0 = Date.now();
  const step = (text: string) => req.onStep?.(text);
  const progress = (text: string) => req.onProgress?.(text);
  const c = await checkRequest(req);
  step("checking the cluster: tenant name, pool, spec");
  const cluster = await checkCluster(http, req, c);

  if (req.source.kind === "mysql") step("dumping the live source with mariadb-dump (one consistent snapshot)");
  const source = await openSource(req.source, { signal: req.signal, onDumpProgress: (b) => progress(`${humanBytes(b)} dumped (compressed)`) });
  try {
    step(`reading ${source.description}`);
    const inspection = await inspectSource(source, { signal: req.signal, onProgress: (d, t) => progress(`${humanBytes(d)} of ${humanBytes(t)}`) });
    const found = understand(inspection, c);
    const rows = found.moves.reduce((n, m) => n + m.rows, 0);
    const bytes = found.moves.reduce((n, m) => n + m.bytes, 0);
    step(`Matomo ${found.version}, table prefix ${showPrefix(found.prefix)}: ${found.moves.length} tables, ${rows} rows, ${humanBytes(bytes)}`);
    const report = (extra: Partial<MigrationReport> = {}): MigrationReport => ({
      tenant: req.tenant, dryRun: req.dryRun === true, source: source.description, prefix: found.prefix, sourceVersion: found.version,
      matomoVersion: c.matomoVersion, pool: cluster.poolName, database: c.database, tables: found.moves, rows, bytes,
      saltCarried: c.config?.salt !== undefined, warnings: [...cluster.warnings, ...found.warnings], notes: found.notes,
      ...extra, seconds: Math.round((Date.now() - t0) / 100) / 10,
    });

    let rawDates: string[] = [];
    const admin = await AdminSession.open(cluster.pool, `import tenant ${req.tenant} into database ${c.database}`);
    try {
      await refuseNonEmpty(admin, c.database);
      if (req.dryRun) return report();
      const undo = new Undo();
      try {
        if (!(await admin.tryLock(databaseLockName(c.database)))) {
          throw new MigrationError("ImportInProgress", `an import or restore into database ${c.database} is already running`);
        }
        await refuseNonEmpty(admin, c.database);
        await dropStaleTempDatabases(admin, "import", c.database);
        await importTables(admin, source, cluster.pool, c.database, found.moves, inspection.inspector.bytes, req, undo);
        rawDates = await visitDates(admin, c.database);
        step(`creating tenant ${req.tenant} on pool ${cluster.poolName}`);
        if (c.config?.salt !== undefined) await seedSalt(http, req.tenant, c.config.salt, undo);
        req.signal?.throwIfAborted();
        await createTenant(http, { name: req.tenant, domains: c.domains, plan: req.plan, matomoVersion: c.matomoVersion, pool: cluster.poolName, privacy: found.privacy });
      } catch (err) {
        throw failure(err, req, await undo.run());
      }
    } finally {
      await admin.close();
    }

    if (req.wait === false) return report({ verified: true });
    step(`waiting for tenant ${req.tenant} to be Ready`);
    let r: Awaited<ReturnType<typeof waitReady>>;
    try {
      r = await waitReady(stopping(http, req.signal), req.tenant, req.readyTimeoutMs ?? 600_000, (t) => {
        const failing = t.status?.conditions?.find((x) => x.status !== "True");
        if (failing) progress(`${failing.type}=${failing.status} (${failing.reason}) ${failing.message}`);
      });
    } catch (err) {
      if (!req.signal?.aborted) throw err;
      throw new MigrationError("Aborted", `stopped waiting for tenant ${req.tenant}; it was created from the verified import and keeps converging (\`mms tenant get ${req.tenant}\`)`);
    }
    const why = r.ok ? undefined : r.failing ? `${r.failing.type}=${r.failing.status}, ${r.failing.reason}: ${r.failing.message}` : "not Ready yet";
    const ready = { ok: r.ok, seconds: Math.round(r.elapsedMs / 100) / 10, ...(why ? { why } : {}) };
    if (!r.ok || rawDates.length === 0) return report({ verified: true, ready, rawDates });
    // The dump brings raw data, not necessarily its reports: the archiver builds those of every imported day.
    step(`building the reports of the imported days (${rawDates.length === 1 ? rawDates[0] : `${rawDates[0]?.slice(0, 10)} to ${rawDates.at(-1)?.slice(-10)}`})`);
    const started = Date.now();
    const job = await startArchiver(http, req.tenant, { dates: rawDates });
    const outcome = await waitJob(stopping(http, req.signal), req.tenant, job, req.archiveTimeoutMs ?? 3_600_000);
    return report({ verified: true, ready, rawDates, archived: { job, ok: outcome === "Complete", seconds: Math.round((Date.now() - started) / 100) / 10 } });
  } finally {
    await source.dispose();
  }
}

/** `http` whose reads fail once `signal` has fired, so that a polling loop built on it stops there. */
function stopping(http: KubeHttp, signal: AbortSignal | undefined): KubeHttp {
  if (!signal) return http;
  const guarded = Object.create(http) as KubeHttp;
  guarded.getOrUndefined = <T>(...args: Parameters<KubeHttp["getOrUndefined"]>) => {
    signal.throwIfAborted();
    return http.getOrUndefined<T>(...args);
  };
  return guarded;
}

/** What a run has created so far, undone in reverse order when it fails. */
class Undo {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];

  push(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }

  /** Undoes everything; returns the outcome as words for the error sentence. */
  async run(): Promise<string> {
    const left: string[] = [];
    for (const s of this.steps.reverse()) {
      try {
        await s.run();
      } catch {
        left.push(s.what);
      }
    }
    if (left.length > 0) return `${left.join(" and ")} could not be removed: remove ${left.length === 1 ? "it" : "them"} by hand`;
    return this.steps.length > 0 ? "everything it had created was removed again" : "nothing was left behind";
  }
}

function failure(err: unknown, req: MigrateRequest, outcome: string): MigrationError {
  if (req.signal?.aborted) return new MigrationError("Aborted", `the migration of tenant ${req.tenant} was cancelled; ${outcome}`);
  const message = (err instanceof Error ? err.message : String(err)).replace(/[.\s]+$/, "");
  return new MigrationError(err instanceof MigrationError ? err.reason : "ImportFailed", `${message}; ${outcome}`);
}

async function refuseNonEmpty(admin: AdminSession, database: string): Promise<void> {
  if (await admin.databaseExists(database) && (await admin.objectCount(database)) > 0) {
    throw new MigrationError("TargetExists",
      `database ${database} already exists on the pool and is not empty; a migration only fills a new database (drop it, or use another tenant name)`);
  }
}

/**
 * Loads the source into a staging database, compares every table's rows with the dump, and moves the
 * tables into `database` under the platform's prefix in one RENAME TABLE. Returns whether it created
 * `database`; on failure nothing of it remains (the staging database is always dropped).
 */
async function importTables(
  admin: AdminSession, source: OpenedSource, pool: PoolEndpoint, database: string, moves: readonly TableMove[], totalBytes: number,
  req: MigrateRequest, undo: Undo,
): Promise<void> {
  const staging = await createTempDatabase(admin, "import", database, { account: true });
  try {
    req.onStep?.(`loading into staging database ${staging.database}`);
    const loaded = await loadIntoStaging(source, pool, staging, totalBytes, {
      signal: req.signal, onProgress: (d, t) => req.onProgress?.(`${humanBytes(d)} of ${humanBytes(t)}`),
    });
    req.onStep?.("comparing every table's rows with the source");
    await removeUnmovable(admin, staging, req);
    await verifyStaging(admin, staging, moves, loaded.rows);
    req.signal?.throwIfAborted();

    req.onStep?.(`moving ${moves.length} tables into ${database} as ${TABLES_PREFIX}*`);
    const target = quoteDatabase(database);
    if (await admin.databaseExists(database)) {
      // Empty, as checked under the lock: only the tables moved in are this run's.
      undo.push(`the tables moved into database ${database}`, () => dropTables(admin, database, moves));
    } else {
      await admin.exec(`CREATE DATABASE ${target} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
      undo.push(`database ${database}`, () => admin.exec(`DROP DATABASE IF EXISTS ${target}`));
    }
    await admin.exec("SET SESSION lock_wait_timeout = ?", [RENAME_LOCK_WAIT_SECONDS]);
    await admin.exec(`RENAME TABLE ${moves.map((m) => `${quoteTable(staging.database, m.source)} TO ${quoteTable(database, m.target)}`).join(", ")}`);
    const present = new Set(await admin.tables(database));
    const missing = moves.filter((m) => !present.has(m.target));
    if (missing.length > 0) throw new MigrationError("VerificationFailed", `after the move, database ${database} lacks ${missing.length} table(s), e.g. ${missing[0]?.target}`);
  } finally {
    // Also on success: the moved tables left it empty. A staging database that cannot be dropped now is
    // dropped by the next import of this tenant, as nobody holds its lock then.
    await dropTempDatabase(admin, staging.database).catch(() => undefined);
  }
}

/**
 * The days that have visits in the imported raw data, as the archiver takes them: each UTC day widened by
 * one on both sides (a site's time zone moves a visit's day by at most one), runs of days as FROM,TO.
 */
async function visitDates(admin: AdminSession, database: string): Promise<string[]> {
  const table = quoteTable(database, `${TABLES_PREFIX}log_visit`);
  if (!(await admin.tables(database)).includes(`${TABLES_PREFIX}log_visit`)) return [];
  const rows = await admin.rows(`SELECT DISTINCT DATE_FORMAT(visit_last_action_time, '%Y-%m-%d') AS d FROM ${table} WHERE visit_last_action_time IS NOT NULL`);
  return dayRanges(rows.map((r) => String(r.d)));
}

/** Days (YYYY-MM-DD), each widened by one day both ways, merged into dates and FROM,TO ranges in order. */
export function dayRanges(days: readonly string[]): string[] {
  const DAY = 86_400_000;
  const all = new Set<number>();
  for (const d of days) {
    const t = Date.parse(`${d}T00:00:00Z`);
    if (Number.isNaN(t)) continue;
    for (const x of [t - DAY, t, t + DAY]) all.add(x);
  }
  const sorted = [...all].sort((a, b) => a - b);
  const out: string[] = [];
  const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] ?? 0) - (sorted[j] ?? 0) === DAY) j++;
    const from = sorted[i] ?? 0;
    const to = sorted[j] ?? 0;
    out.push(from === to ? iso(from) : `${iso(from)},${iso(to)}`);
    i = j + 1;
  }
  return out;
}

async function dropTables(admin: AdminSession, database: string, moves: readonly TableMove[]): Promise<void> {
  for (const m of moves) await admin.exec(`DROP TABLE IF EXISTS ${quoteTable(database, m.target)}`);
}

/** Triggers would stop RENAME TABLE across databases, and views and routines cannot be moved: Matomo has none. */
async function removeUnmovable(admin: AdminSession, staging: TempDatabase, req: MigrateRequest): Promise<void> {
  const db = staging.database;
  const triggers = await admin.rows("SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", [db]);
  for (const t of triggers) await admin.exec(`DROP TRIGGER ${quoteTable(db, String(t.name))}`);
  const others = await admin.rows(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'BASE TABLE' " +
    "UNION ALL SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
    [db, db],
  );
  const names = [...triggers, ...others].map((r) => String(r.name));
  if (names.length > 0) req.onProgress?.(`not carried (Matomo creates no views, triggers or routines): ${names.join(", ")}`);
}

async function verifyStaging(admin: AdminSession, staging: TempDatabase, moves: readonly TableMove[], rows: ReadonlyMap<string, number>): Promise<void> {
  const present = new Set(await admin.rows(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", [staging.database],
  ).then((r) => r.map((x) => String(x.name))));
  const bad: string[] = [];
  for (const m of moves) {
    const expected = rows.get(m.source) ?? 0;
    if (!present.has(m.source)) {
      bad.push(`${m.source} (missing)`);
      continue;
    }
    const [r] = await admin.rows(`SELECT COUNT(*) AS n FROM ${quoteTable(staging.database, m.source)}`);
    const actual = Number(r?.n ?? 0);
    if (actual !== expected || expected !== m.rows) bad.push(`${m.source} (${actual} rows loaded, ${expected} in the dump)`);
  }
  if (bad.length > 0) {
    throw new MigrationError("VerificationFailed",
      `the loaded data differs from the source in ${bad.length} table(s), e.g. ${bad.slice(0, 3).join(", ")}`);
  }
}

/**
 * The tenant's namespace and Secret with the old salt, made before the tenant so that the operator keeps
 * that salt (it never replaces a stored value).
 */
async function seedSalt(http: KubeHttp, tenant: string, salt: string, undo: Undo): Promise<void> {
  const ns = tenantNamespace(tenant);
  const labels = tenantLabels(tenant);
  try {
    await http.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels } }, { fieldManager: MANAGER });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 409) throw new MigrationError("TargetExists", `namespace ${ns} appeared while importing; another process is creating tenant ${tenant}`);
    throw err;
  }
  undo.push(`namespace ${ns}`, () => http.delete("v1", "Namespace", ns));
  await seedTenantSecret(http, tenant, { salt }, MANAGER);
}
