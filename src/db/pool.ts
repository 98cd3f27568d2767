// The database-pool client: gives each tenant its own database and user on a MariaDB/MySQL server,
// with exactly the privileges Matomo needs on that database and nothing else. Every step is idempotent.
import { createHash } from "node:crypto";
import { createConnection } from "mysql2/promise";
import type { Connection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { toPoolError } from "./errors.ts";
import { grantDatabasePattern, quoteDatabase, TENANT_DATABASE_PATTERN, tenantDatabaseName } from "./naming.ts";

export { PoolError } from "./errors.ts";
export type { PoolErrorReason } from "./errors.ts";
export { isTenantName, tenantDatabaseName, TENANT_NAME_PATTERN } from "./naming.ts";

export interface PoolEndpoint {
  readonly host: string;
  readonly port: number;
  readonly adminUser: string;
  readonly adminPassword: string;
}

export interface TenantDatabase {
  /** Database name; the user has the same name. */
  readonly database: string;
  readonly user: string;
  /** True when this call created the database, false when it was already there. */
  readonly created: boolean;
}

export type TenantDatabaseChange = "database" | "user" | "password" | "grants";

/**
 * The privileges Matomo documents for its database user (matomo.org/faq/faq_23484 and "How do I check if
 * my MySQL user has all required grants"). The optional global FILE privilege (for LOAD DATA INFILE) is
 * deliberately left out: it is server-wide and lets a user read the server's files.
 */
export const MATOMO_PRIVILEGES: readonly string[] = [
  "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "INDEX", "DROP", "ALTER", "CREATE TEMPORARY TABLES", "LOCK TABLES",
];

// Tenant users connect from pods whose addresses change, so the account cannot be tied to a host;
// NetworkPolicy and the pool's own firewall are what restrict where connections come from.
const USER_HOST = "%";
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
// Dropping a large tenant database can take minutes on a busy server.
const STATEMENT_TIMEOUT_MS = 10 * 60_000;

function endpointOf(pool: PoolEndpoint): string {
  return pool.host.includes(":") ? `[${pool.host}]:${pool.port}` : `${pool.host}:${pool.port}`;
}

interface QueryOptions {
  /** The statement carries a password: keep the server's text, which may quote the statement, out of errors. */
  readonly secret?: string;
}

// Only names and passwords are ever bound: nothing else comes from outside.
type SqlValue = string | number;

interface Admin {
  rows(sql: string, values?: readonly SqlValue[]): Promise<RowDataPacket[]>;
  exec(sql: string, values?: readonly SqlValue[], opts?: QueryOptions): Promise<ResultSetHeader>;
}

interface SessionOptions {
  readonly connectTimeoutMs?: number;
  /** When set, every statement must also finish by this time (ms since the epoch). */
  readonly deadline?: number;
}

/** Runs `work` on a fresh admin connection that is closed on every path; driver errors become PoolError. */
async function withAdmin<T>(
  pool: PoolEndpoint,
  action: string,
  work: (admin: Admin) => Promise<T>,
  opts: SessionOptions = {},
): Promise<T> {
  const base = { endpoint: endpointOf(pool), action, secrets: [pool.adminPassword] };
  let conn: Connection;
  try {
    conn = await createConnection({
      host: pool.host, port: pool.port, user: pool.adminUser, password: pool.adminPassword,
      connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, multipleStatements: false,
    });
  } catch (err) {
    throw toPoolError(err, base);
  }
  // A connection dropped between statements is reported by the next statement; without a listener the
  // driver's 'error' event would instead crash the process.
  conn.on("error", () => undefined);
  const run = async <R>(sql: string, values: readonly SqlValue[], q: QueryOptions = {}): Promise<R> => {
    const timeout = opts.deadline === undefined ? STATEMENT_TIMEOUT_MS : Math.max(1, opts.deadline - Date.now());
    try {
      const [result] = await conn.query({ sql, values: [...values], timeout });
      return result as R;
    } catch (err) {
      const secrets = q.secret === undefined ? base.secrets : [...base.secrets, q.secret];
      throw toPoolError(err, { ...base, secrets, sensitive: q.secret !== undefined });
    }
  };
  try {
    return await work({
      rows: (sql, values = []) => run<RowDataPacket[]>(sql, values),
      exec: (sql, values = [], q) => run<ResultSetHeader>(sql, values, q),
    });
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

async function databaseExists(admin: Admin, database: string): Promise<boolean> {
  const rows = await admin.rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [database]);
  return rows.length > 0;
}

interface GrantRow { readonly level: "global" | "schema" | "table" | "column"; readonly schema: string; readonly privilege: string }

/** Every privilege the account holds, at every level, as information_schema reports it. */
async function currentGrants(admin: Admin, user: string): Promise<GrantRow[]> {
  const grantee = `'${user}'@'${USER_HOST}'`;
  const rows = await admin.rows(
    "SELECT 'global' AS grant_level, '' AS schema_name, PRIVILEGE_TYPE AS privilege FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? " +
    "UNION ALL SELECT 'schema', TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? " +
    "UNION ALL SELECT 'table', TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? " +
    "UNION ALL SELECT 'column', TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = ?",
    [grantee, grantee, grantee, grantee],
  );
  return rows.map((r) => ({ level: r.grant_level as GrantRow["level"], schema: String(r.schema_name), privilege: String(r.privilege) }));
}

/** True when the account holds exactly MATOMO_PRIVILEGES on its own database and nothing anywhere else. */
function grantsAreExact(grants: readonly GrantRow[], database: string): boolean {
  // information_schema shows the database as written in the GRANT, wildcards escaped.
  const pattern = grantDatabasePattern(database).slice(1, -1);
  const onOwn = new Set<string>();
  for (const g of grants) {
    if (g.level === "global" && g.privilege === "USAGE") continue;
    if (g.level !== "schema" || g.schema !== pattern) return false;
    onOwn.add(g.privilege);
  }
  return onOwn.size === MATOMO_PRIVILEGES.length && MATOMO_PRIVILEGES.every((p) => onOwn.has(p));
}

/**
 * Creates the tenant's database and user when missing, converges the user's password to `password` and
 * its privileges to exactly MATOMO_PRIVILEGES on its own database. Safe to interrupt and run again.
 */
export async function ensureTenantDatabase(
  pool: PoolEndpoint, tenant: string, password: string,
  /** Told each thing this call had to change (never when everything already matched and no DDL ran). */
  opts: { onChange?: (change: TenantDatabaseChange) => void } = {},
): Promise<TenantDatabase> {
  const name = tenantDatabaseName(tenant);
  if (typeof password !== "string" || password.length === 0) {
    throw new Error(`the database password of tenant ${tenant} must not be empty`);
  }
  const db = quoteDatabase(name);
  const privileges = MATOMO_PRIVILEGES.join(", ");
  return withAdmin(pool, `provision the database of tenant ${tenant}`, async (admin) => {
    // Everything is read first and changed only where it differs: a reconcile of a tenant whose
    // database, user, password and grants are right issues no DDL at all.
    const changed = { push: (c: TenantDatabaseChange) => opts.onChange?.(c) };
    // MySQL reports one affected row whether or not the database existed, MariaDB zero when it did:
    // checking first makes `created` right on both, the row count keeps MariaDB right under a race.
    const existed = await databaseExists(admin, name);
    let created = false;
    if (!existed) {
      const header = await admin.exec(`CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
      created = header.affectedRows > 0;
      changed.push("database");
    }

    const account = await userAccount(admin, name);
    if (!account) {
      await admin.exec(`CREATE USER IF NOT EXISTS ?@'${USER_HOST}' IDENTIFIED BY ?`, [name, password], { secret: password });
    }
    // An existing account whose stored hash does not provably match gets the password set again.
    if (!account || !passwordMatches(account, password)) {
      await admin.exec(`ALTER USER ?@'${USER_HOST}' IDENTIFIED BY ?`, [name, password], { secret: password });
      changed.push(account ? "password" : "user");
    }

    const grantTo = `${grantDatabasePattern(name)}.* TO ?@'${USER_HOST}'`;
    const grants = await currentGrants(admin, name);
    if (!grantsAreExact(grants, name)) {
      const own = grantDatabasePattern(name).slice(1, -1);
      const foreign = grants.some((g) => !(g.level === "global" && g.privilege === "USAGE") && !(g.level === "schema" && g.schema === own && MATOMO_PRIVILEGES.includes(g.privilege)));
      if (foreign) {
        // Something else was granted (by hand, or by an older version): start from nothing. This briefly
        // leaves the tenant without access, which is why it only happens when the grants have drifted.
        await admin.exec(`REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@'${USER_HOST}'`, [name]);
      }
      await admin.exec(`GRANT ${privileges} ON ${grantTo}`, [name]);
      changed.push("grants");
    }
    return { database: name, user: name, created };
  });
}

interface UserAccount { readonly plugin: string; readonly hash: string }

async function userAccount(admin: Admin, user: string): Promise<UserAccount | undefined> {
  const rows = await admin.rows("SELECT plugin, authentication_string AS hash FROM mysql.user WHERE User = ? AND Host = ?", [user, USER_HOST]);
  const r = rows[0];
  return r ? { plugin: String(r.plugin ?? ""), hash: String(r.hash ?? "") } : undefined;
}

/**
 * Whether the stored hash is that of `password`. Only mysql_native_password's hash (`*` + SHA1(SHA1(pw)),
 * unsalted) can be checked without sending the password anywhere; any other plugin counts as "differs",
 * which costs one ALTER USER per reconcile there, never a wrong password.
 */
export function passwordMatches(account: UserAccount, password: string): boolean {
  if (account.plugin !== "mysql_native_password" && account.plugin !== "") return false;
  const inner = createHash("sha1").update(password, "utf8").digest();
  const expected = `*${createHash("sha1").update(inner).digest("hex").toUpperCase()}`;
  return account.hash.toUpperCase() === expected;
}

export async function tenantDatabaseExists(pool: PoolEndpoint, tenant: string): Promise<boolean> {
  const name = tenantDatabaseName(tenant);
  return withAdmin(pool, `look up the database of tenant ${tenant}`, (admin) => databaseExists(admin, name));
}

/** Drops the tenant's user, then its database. Data is gone: callers check backups and deletion policy first. */
export async function dropTenantDatabase(pool: PoolEndpoint, tenant: string): Promise<void> {
  const name = tenantDatabaseName(tenant);
  await withAdmin(pool, `drop the database of tenant ${tenant}`, async (admin) => {
    // The user goes first so that no new session can start writing into a database about to vanish.
    await admin.exec(`DROP USER IF EXISTS ?@'${USER_HOST}'`, [name]);
    await admin.exec(`DROP DATABASE IF EXISTS ${quoteDatabase(name)}`);
  });
}

/** Drops only the tenant's user, so nothing can write to its database any more; the data stays. */
export async function dropTenantUser(pool: PoolEndpoint, tenant: string): Promise<void> {
  const name = tenantDatabaseName(tenant);
  await withAdmin(pool, `lock out the database user of tenant ${tenant}`, async (admin) => {
    await admin.exec(`DROP USER IF EXISTS ?@'${USER_HOST}'`, [name]);
  });
}

/** How many tenant databases the pool holds, for placing new tenants by capacity. */
export async function countTenantDatabases(pool: PoolEndpoint): Promise<number> {
  return withAdmin(pool, "count tenant databases", async (admin) => {
    // `!` as LIKE escape works whatever the server's NO_BACKSLASH_ESCAPES setting; the pattern narrows
    // the scan and the contract's own pattern decides.
    const rows = await admin.rows("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mt!_%' ESCAPE '!'");
    return rows.filter((r) => TENANT_DATABASE_PATTERN.test(String(r.name))).length;
  });
}

/** Connects and runs SELECT 1, failing with PoolError when that does not finish within `timeoutMs`. */
export async function checkPool(pool: PoolEndpoint, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await withAdmin(pool, "check the database pool", async (admin) => {
    await admin.rows("SELECT 1 AS ok");
  }, { connectTimeoutMs: timeoutMs, deadline });
}
