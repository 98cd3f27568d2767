// Scratch databases: where a restore drill loads a backup, and where a replacing restore stages the new
// tables and parks the replaced ones. Named `mms_…`, never `mt_…`, so none is ever taken for a tenant's.
import { randomBytes } from "node:crypto";
import { TENANT_DATABASE_PATTERN, TENANT_DB_PREFIX } from "../db/naming.ts";
import type { AdminSession } from "./admin.ts";

/** `verify`: a restore drill; `restore`: the staging of a replacing restore; `replaced`: the tables it replaced. */
export type ScratchKind = "verify" | "restore" | "replaced";

/**
 * `mms_<kind>_<tenant database without mt_>_<4 hex>`, at most 46 characters. The fixed-length suffix
 * keeps tenants apart even when one tenant's name starts with another's (`a` and `a-b`).
 */
export const SCRATCH_DATABASE_PATTERN = /^mms_(?:verify|restore|replaced)_[a-z][a-z0-9_]{0,26}[a-z0-9]_[0-9a-f]{4}$/;

export function isScratchDatabase(name: string): boolean {
  return SCRATCH_DATABASE_PATTERN.test(name);
}

/** A scratch database for work on the tenant database `database`, e.g. `mms_verify_acme_corp_1a2b` for mt_acme_corp. */
export function scratchDatabaseName(kind: ScratchKind, database: string, random: string = randomBytes(2).toString("hex")): string {
  if (!TENANT_DATABASE_PATTERN.test(database)) throw new Error(`${JSON.stringify(database)} is not a tenant database name`);
  const name = `mms_${kind}_${database.slice(TENANT_DB_PREFIX.length)}_${random}`;
  if (!SCRATCH_DATABASE_PATTERN.test(name)) throw new Error(`${JSON.stringify(random)} is not 4 hex digits`);
  return name;
}

/** The scratch databases of one kind that belong to `database`, among `names`. */
export function scratchDatabasesOf(names: Iterable<string>, kind: ScratchKind, database: string): string[] {
  const stem = scratchDatabaseName(kind, database, "0000").slice(0, -4);
  return [...names].filter((n) => n.startsWith(stem) && /^[0-9a-f]{4}$/.test(n.slice(stem.length)) && isScratchDatabase(n)).sort();
}

/** Backtick-quotes a tenant or scratch database name; anything else is refused so a bug cannot become an injection. */
export function quoteDatabase(name: string): string {
  if (!TENANT_DATABASE_PATTERN.test(name) && !SCRATCH_DATABASE_PATTERN.test(name)) {
    throw new Error(`refusing to quote unexpected database name ${JSON.stringify(name)}`);
  }
  return `\`${name}\``;
}

/** `db`.`table` for a tenant or scratch database and a table name as found in information_schema. */
export function quoteTableIn(database: string, table: string): string {
  return `${quoteDatabase(database)}.\`${table.replaceAll("`", "``")}\``;
}

/**
 * The named lock that marks a database as in use by a restore (into it, or through it as scratch).
 * Held by the session that created the scratch database until it has dropped it or has finished with it.
 */
export function restoreLockName(database: string): string {
  return `mms-restore-${database}`;
}

/**
 * Drops the scratch databases of one kind left behind for `database` by runs that crashed: those whose
 * lock nobody holds (a running restore holds the lock of its scratch database from before creating it).
 */
export async function dropStaleScratch(admin: AdminSession, kind: ScratchKind, database: string): Promise<string[]> {
  // `!` as LIKE escape works whatever the server's NO_BACKSLASH_ESCAPES; scratchDatabasesOf decides.
  const rows = await admin.rows("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ? ESCAPE '!'", [`mms!_${kind}!_%`]);
  const dropped: string[] = [];
  for (const name of scratchDatabasesOf(rows.map((r) => String(r.name)), kind, database)) {
    const lock = restoreLockName(name);
    if (!(await admin.tryLock(lock))) continue;
    try {
      await admin.exec(`DROP DATABASE IF EXISTS ${quoteDatabase(name)}`);
      dropped.push(name);
    } finally {
      await admin.exec("SELECT RELEASE_LOCK(?)", [lock]);
    }
  }
  return dropped;
}

/** A scratch database name of `kind` for `database` that no database on the pool has yet. */
export async function freeScratchName(admin: AdminSession, kind: ScratchKind, database: string): Promise<string> {
  for (;;) {
    const name = scratchDatabaseName(kind, database);
    if (!(await admin.databaseExists(name))) return name;
  }
}

/**
 * Creates a new scratch database and takes its lock in this session, which keeps it from being taken
 * for stale until the session ends.
 */
export async function createScratch(admin: AdminSession, kind: ScratchKind, database: string): Promise<string> {
  for (;;) {
    const name = await freeScratchName(admin, kind, database);
    if (!(await admin.tryLock(restoreLockName(name)))) continue;
    await admin.exec(`CREATE DATABASE ${quoteDatabase(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    return name;
  }
}
