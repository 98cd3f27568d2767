// Staging databases of imports: a migration loads the source here, checks it, then moves its tables into
// the tenant's database. Named `mms_import_…`, never `mt_…`, and loaded by a user of their own that can
// reach nothing else, so a dump that names another database cannot touch it.
import { createHash, randomBytes } from "node:crypto";
import type { AdminSession } from "../backup/admin.ts";
import { TENANT_DATABASE_PATTERN, TENANT_DB_PREFIX } from "../db/naming.ts";

/** `mms_import_<tenant database without mt_>_<4 hex>`, at most 44 characters. */
export const STAGING_PATTERN = /^mms_import_[a-z][a-z0-9_]{0,26}[a-z0-9]_[0-9a-f]{4}$/;

export interface Staging {
  readonly database: string;
  /** The account that loads the dump: all privileges on the staging database, none elsewhere. */
  readonly user: string;
  readonly password: string;
}

export function stagingName(database: string, random: string = randomBytes(2).toString("hex")): string {
  if (!TENANT_DATABASE_PATTERN.test(database)) throw new Error(`${JSON.stringify(database)} is not a tenant database name`);
  const name = `mms_import_${database.slice(TENANT_DB_PREFIX.length)}_${random}`;
  if (!STAGING_PATTERN.test(name)) throw new Error(`${JSON.stringify(random)} is not 4 hex digits`);
  return name;
}

/** The staging databases of imports into `database`, among `names`. */
export function stagingsOf(names: Iterable<string>, database: string): string[] {
  const stem = stagingName(database, "0000").slice(0, -4);
  return [...names].filter((n) => n.startsWith(stem) && /^[0-9a-f]{4}$/.test(n.slice(stem.length)) && STAGING_PATTERN.test(n)).sort();
}

/** Backtick-quotes a staging database name; anything else is refused so a bug cannot become an injection. */
export function quoteStaging(name: string): string {
  if (!STAGING_PATTERN.test(name)) throw new Error(`refusing to quote unexpected database name ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

/** `db`.`table` for a table name as found in a dump or information_schema (any character). */
export function qualified(quotedDatabase: string, table: string): string {
  return `${quotedDatabase}.\`${table.replaceAll("`", "``")}\``;
}

/** The loading account of a staging database: derived from its name, within MySQL's 32 characters. */
export function stagingUser(database: string): string {
  return `mms_imp_${createHash("sha256").update(database).digest("hex").slice(0, 16)}`;
}

/** Held by the session working with a staging database, from before its creation until it is dropped. */
export function stagingLockName(database: string): string {
  return `mms-import-${database}`;
}

/** Creates a staging database for `target`, its loading account, and takes its lock in this session. */
export async function createStaging(admin: AdminSession, target: string): Promise<Staging> {
  for (;;) {
    const database = stagingName(target);
    if (await admin.databaseExists(database)) continue;
    if (!(await admin.tryLock(stagingLockName(database)))) continue;
    const user = stagingUser(database);
    const password = randomBytes(24).toString("base64url");
    await admin.exec(`CREATE DATABASE ${quoteStaging(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    await admin.exec("DROP USER IF EXISTS ?@'%'", [user]);
    await admin.exec("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
    // `_` is a wildcard in a database-level grant: escaped, the grant covers this database only.
    await admin.exec(`GRANT ALL PRIVILEGES ON ${quoteStaging(database).replaceAll("_", "\\_")}.* TO ?@'%'`, [user]);
    return { database, user, password };
  }
}

/** Drops a staging database and its account, and releases its lock. */
export async function dropStaging(admin: AdminSession, database: string): Promise<void> {
  await admin.exec("DROP USER IF EXISTS ?@'%'", [stagingUser(database)]);
  await admin.exec(`DROP DATABASE IF EXISTS ${quoteStaging(database)}`);
  await admin.exec("SELECT RELEASE_LOCK(?)", [stagingLockName(database)]);
}

/** Drops the staging databases of `target` that crashed imports left behind (nobody holds their lock). */
export async function dropStaleStaging(admin: AdminSession, target: string): Promise<string[]> {
  const rows = await admin.rows("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mms!_import!_%' ESCAPE '!'");
  const dropped: string[] = [];
  for (const name of stagingsOf(rows.map((r) => String(r.name)), target)) {
    if (!(await admin.tryLock(stagingLockName(name)))) continue;
    await dropStaging(admin, name);
    dropped.push(name);
  }
  return dropped;
}

