// Temporary databases on a pool: where a restore drill loads a backup, where a replacing restore stages
// new tables and parks replaced ones, where an import loads its source. Each is created under a named
// lock, with an account of its own when asked, dropped on every path, and dropped by the next run of the
// same kind for the same tenant when a crashed run left it behind. Names: `tempDatabaseName` in naming.ts.
import { createHash, randomBytes } from "node:crypto";
import { grantDatabasePattern, quoteDatabase, TEMP_DATABASE_PATTERN, tempDatabaseName, type TempPurpose } from "./naming.ts";

export type { TempPurpose } from "./naming.ts";

type SqlValue = string | number;

/** The admin session the lifecycle needs (backup's AdminSession is one). */
export interface SqlSession {
  rows(sql: string, values?: readonly SqlValue[]): Promise<ReadonlyArray<Record<string, unknown>>>;
  exec(sql: string, values?: readonly SqlValue[]): Promise<void>;
  /** Takes a server-wide named lock without waiting; false when another session holds it. */
  tryLock(name: string): Promise<boolean>;
  databaseExists(database: string): Promise<boolean>;
}

export interface TempDatabase {
  readonly database: string;
  /** The account that works in it, when asked for: all privileges on this database, none elsewhere. */
  readonly account?: { readonly user: string; readonly password: string };
}

/** The temporary databases of one purpose that belong to tenant database `database`, among `names`. */
export function tempDatabasesOf(names: Iterable<string>, purpose: TempPurpose, database: string): string[] {
  const stem = tempDatabaseName(purpose, database, "0000").slice(0, -4);
  return [...names].filter((n) => n.startsWith(stem) && /^[0-9a-f]{4}$/.test(n.slice(stem.length)) && TEMP_DATABASE_PATTERN.test(n)).sort();
}

/**
 * The named lock that marks a database as in use: a tenant database being restored or imported into, or
 * a temporary database, held by the session that works with it until it has dropped it or finished.
 */
export function databaseLockName(database: string): string {
  return `mms-restore-${database}`;
}

/**
 * The account of a temporary database: derived from its name, so a crashed run's is found again, and
 * within MySQL's 32 characters (`mms_imp_…` for an import's).
 */
export function tempAccountName(database: string): string {
  const purpose = /^mms_([a-z]+)_/.exec(database)?.[1] ?? "tmp";
  return `mms_${purpose.slice(0, 3)}_${createHash("sha256").update(database).digest("hex").slice(0, 16)}`;
}

/** A temporary database name of `purpose` for `database` that no database on the pool has yet. */
export async function freeTempName(session: SqlSession, purpose: TempPurpose, database: string): Promise<string> {
  for (;;) {
    const name = tempDatabaseName(purpose, database, randomBytes(2).toString("hex"));
    if (!(await session.databaseExists(name))) return name;
  }
}

/**
 * Creates a temporary database for work on tenant database `database` and takes its lock in this
 * session, which keeps it from being taken for stale until the session ends. With `account`, also an
 * account that can reach this database only (a dump that names another database cannot touch it).
 */
export async function createTempDatabase(session: SqlSession, purpose: TempPurpose, database: string, opts: { readonly account: true }): Promise<Required<TempDatabase>>;
export async function createTempDatabase(session: SqlSession, purpose: TempPurpose, database: string, opts?: { readonly account?: boolean }): Promise<TempDatabase>;
export async function createTempDatabase(
  session: SqlSession, purpose: TempPurpose, database: string, opts: { readonly account?: boolean } = {},
): Promise<TempDatabase> {
  for (;;) {
    const name = await freeTempName(session, purpose, database);
    if (!(await session.tryLock(databaseLockName(name)))) continue;
    await session.exec(`CREATE DATABASE ${quoteDatabase(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    if (!opts.account) return { database: name };
    const user = tempAccountName(name);
    const password = randomBytes(24).toString("base64url");
    await session.exec("DROP USER IF EXISTS ?@'%'", [user]);
    await session.exec("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
    await session.exec(`GRANT ALL PRIVILEGES ON ${grantDatabasePattern(name)}.* TO ?@'%'`, [user]);
    return { database: name, account: { user, password } };
  }
}

/**
 * Drops a temporary database and its account (derived from its name, so found whether or not this
 * session made it), and releases its lock.
 */
export async function dropTempDatabase(session: SqlSession, database: string): Promise<void> {
  await session.exec("DROP USER IF EXISTS ?@'%'", [tempAccountName(database)]);
  await session.exec(`DROP DATABASE IF EXISTS ${quoteDatabase(database)}`);
  await session.exec("SELECT RELEASE_LOCK(?)", [databaseLockName(database)]);
}

/**
 * Drops the temporary databases of `purpose` for `database` that crashed runs left behind, with their
 * accounts: those whose lock nobody holds (a running one holds it from before its creation).
 */
export async function dropStaleTempDatabases(session: SqlSession, purpose: TempPurpose, database: string): Promise<string[]> {
  // `!` as LIKE escape works whatever the server's NO_BACKSLASH_ESCAPES; tempDatabasesOf decides.
  const rows = await session.rows("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ? ESCAPE '!'", [`mms!_${purpose}!_%`]);
  const dropped: string[] = [];
  for (const name of tempDatabasesOf(rows.map((r) => String(r.name)), purpose, database)) {
    if (!(await session.tryLock(databaseLockName(name)))) continue;
    try {
      await dropTempDatabase(session, name);
    } finally {
      await session.exec("SELECT RELEASE_LOCK(?)", [databaseLockName(name)]).catch(() => undefined);
    }
    dropped.push(name);
  }
  return dropped;
}
