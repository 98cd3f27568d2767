// The naming contract between tenants and database pools: which names a tenant may have, the database
// and user name each one gets, and the temporary databases of work on it. Identifiers reach SQL quoted here.

/** 2–28 characters; no `_`, so mapping `-` to `_` below can never make two tenants collide. */
export const TENANT_NAME_PATTERN = /^[a-z][a-z0-9-]{0,26}[a-z0-9]$/;

export const TENANT_DB_PREFIX = "mt_";

/** Names produced by tenantDatabaseName, and only those: used to recognise tenant databases on a pool. */
export const TENANT_DATABASE_PATTERN = /^mt_[a-z][a-z0-9_]{0,26}[a-z0-9]$/;

export function isTenantName(name: string): boolean {
  return TENANT_NAME_PATTERN.test(name);
}

/** The database name, which is also the database user name, of a tenant. */
export function tenantDatabaseName(tenant: string): string {
  if (typeof tenant !== "string" || !TENANT_NAME_PATTERN.test(tenant)) {
    const shown = typeof tenant === "string" ? JSON.stringify(tenant.length > 40 ? `${tenant.slice(0, 40)}…` : tenant) : String(tenant);
    throw new Error(
      `${shown} is not a valid tenant name: use 2 to 28 characters, lower-case letters, digits and "-", ` +
      "starting with a letter and not ending with \"-\"",
    );
  }
  return TENANT_DB_PREFIX + tenant.replaceAll("-", "_");
}

/**
 * The one identifier quoting: backticks doubled, so any table name found in information_schema or a dump
 * can be written into SQL. Empty names and NUL characters, which no server accepts, are refused.
 */
export function quoteIdent(name: string): string {
  if (typeof name !== "string" || name.length === 0) throw new Error("refusing to quote an empty identifier");
  if (name.includes("\0")) throw new Error(`refusing to quote identifier ${JSON.stringify(name)}: it holds a NUL character`);
  return `\`${name.replaceAll("`", "``")}\``;
}

/** What a temporary database is for: a restore drill, a replacing restore's staging and replaced tables, an import's staging. */
export type TempPurpose = "verify" | "restore" | "replaced" | "import";

/**
 * `mms_<purpose>_<tenant database without mt_>_<4 hex>`, at most 46 characters: never `mt_…`, so none is
 * ever taken for a tenant's. The fixed-length suffix keeps tenants apart when one name extends another's.
 */
export const TEMP_DATABASE_PATTERN = /^mms_(?:verify|restore|replaced|import)_[a-z][a-z0-9_]{0,26}[a-z0-9]_[0-9a-f]{4}$/;

export function isTempDatabase(name: string): boolean {
  return TEMP_DATABASE_PATTERN.test(name);
}

/** A temporary database for work on the tenant database `database`, e.g. `mms_verify_acme_corp_1a2b` for mt_acme_corp. */
export function tempDatabaseName(purpose: TempPurpose, database: string, random: string): string {
  if (!TENANT_DATABASE_PATTERN.test(database)) throw new Error(`${JSON.stringify(database)} is not a tenant database name`);
  const name = `mms_${purpose}_${database.slice(TENANT_DB_PREFIX.length)}_${random}`;
  if (!TEMP_DATABASE_PATTERN.test(name)) throw new Error(`${JSON.stringify(random)} is not 4 hex digits`);
  return name;
}

/** Backtick-quotes a tenant or temporary database name; anything else is refused so a bug cannot become an injection. */
export function quoteDatabase(name: string): string {
  if (!TENANT_DATABASE_PATTERN.test(name) && !TEMP_DATABASE_PATTERN.test(name)) {
    throw new Error(`refusing to quote unexpected database name ${JSON.stringify(name)}`);
  }
  return quoteIdent(name);
}

/** `db`.`table` for a tenant or temporary database and a table name as found in information_schema or a dump. */
export function quoteTable(database: string, table: string): string {
  return `${quoteDatabase(database)}.${quoteIdent(table)}`;
}

/**
 * The database as written in a database-level GRANT. There `_` is a wildcard, so `mt_a_b`.* would also
 * cover tenant "axb"'s `mt_axb`; escaping it keeps each grant to exactly one database.
 */
export function grantDatabasePattern(name: string): string {
  return quoteDatabase(name).replaceAll("_", "\\_");
}
