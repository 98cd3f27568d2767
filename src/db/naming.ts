// The naming contract between tenants and database pools: which names a tenant may have, and the
// database and user name each one gets. Every identifier that reaches SQL is produced here.

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

/** Backtick-quotes an identifier; refuses anything outside the contract so a bug cannot become an injection. */
export function quoteIdentifier(name: string): string {
  if (!TENANT_DATABASE_PATTERN.test(name)) throw new Error(`refusing to quote unexpected identifier ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

/**
 * The database as written in a database-level GRANT. There `_` is a wildcard, so `mt_a_b`.* would also
 * cover tenant "axb"'s `mt_axb`; escaping it keeps each grant to exactly one database.
 */
export function grantDatabasePattern(name: string): string {
  return quoteIdentifier(name).replaceAll("_", "\\_");
}
