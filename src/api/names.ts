// Value types for the names that cross system boundaries (Kubernetes, DNS, SQL): parsed once at
// the edge, then passed around typed. The same patterns feed the CRD schemas.

export const API_GROUP = "multiscale.io";
export const API_VERSION = "v1alpha1";
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/**
 * Tenant names end up as a namespace (mt-NAME), a database and a user (mt_NAME): 28 characters keeps
 * the SQL user within MySQL 8's 32-character limit, and the character set is safe in DNS and SQL.
 */
export const TENANT_NAME_MAX = 28;
export const TENANT_NAME_PATTERN = "^[a-z]([a-z0-9-]*[a-z0-9])?$";
const TENANT_NAME_RE = new RegExp(TENANT_NAME_PATTERN);

/** A lower-case DNS name of at least two labels, each 1-63 characters, no leading or trailing '-'. */
export const DOMAIN_PATTERN = "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";
const DOMAIN_RE = new RegExp(DOMAIN_PATTERN);

export const VERSION_PATTERN = "^(0|[1-9][0-9]{0,3})\\.(0|[1-9][0-9]{0,3})\\.(0|[1-9][0-9]{0,3})$";
const VERSION_RE = new RegExp(VERSION_PATTERN);

/** An RFC 1123 DNS label, the shape of plan and pool names. */
export const DNS_LABEL_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

export type TenantName = string & { readonly __brand: "TenantName" };
export type Domain = string & { readonly __brand: "Domain" };

export function tenantNameProblem(name: string): string | undefined {
  if (name.length < 2 || name.length > TENANT_NAME_MAX) return `must be 2 to ${TENANT_NAME_MAX} characters long (it becomes the tenant's namespace, database and user name)`;
  if (!TENANT_NAME_RE.test(name)) return "may hold only lower-case letters, digits and '-', must start with a letter and end with a letter or digit";
  return undefined;
}

export function parseTenantName(name: string): TenantName {
  const problem = tenantNameProblem(name);
  if (problem) throw new Error(`tenant name "${name}" ${problem}`);
  return name as TenantName;
}

export function parseDomain(raw: string): Domain {
  const d = raw.trim().toLowerCase().replace(/\.$/, "");
  if (d.length > 253 || !DOMAIN_RE.test(d)) throw new Error(`"${raw}" is not a valid domain name (expected something like analytics.example.com)`);
  return d as Domain;
}

export interface MatomoVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export function parseVersion(raw: string): MatomoVersion {
  if (!VERSION_RE.test(raw)) throw new Error(`"${raw}" is not a Matomo version of the form MAJOR.MINOR.PATCH, e.g. 5.2.1`);
  const [major, minor, patch] = raw.split(".").map(Number) as [number, number, number];
  return { major, minor, patch };
}

export function compareVersions(a: MatomoVersion, b: MatomoVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export const tenantNamespace = (tenant: TenantName | string): string => `mt-${tenant}`;
