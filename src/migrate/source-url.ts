// The `--from-mysql` address of a live source database, `mysql://user:password@host:port/database`.
// Parsed once here; the password never appears in any message, log line or report.

export interface MysqlSource {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

const FORM = "mysql://user:password@host:port/database";

/** Parses a source URL; errors never quote it, since it may hold a password. */
export function parseMysqlUrl(text: string, passwordFallback?: string): MysqlSource {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error(`--from-mysql is not a URL of the form ${FORM}`);
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") {
    throw new Error(`--from-mysql must start with mysql:// or mariadb:// (${FORM})`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new Error(`--from-mysql names no host (${FORM})`);
  const user = decode(url.username, "user name");
  if (!user) throw new Error(`--from-mysql names no user (${FORM})`);
  const database = decode(url.pathname.replace(/^\//, ""), "database");
  if (!database || database.includes("/")) throw new Error(`--from-mysql must name exactly one database after the host (${FORM})`);
  if (url.search || url.hash) throw new Error("--from-mysql takes no query parameters or fragment");
  const port = url.port === "" ? 3306 : Number(url.port);
  const password = url.password === "" ? (passwordFallback ?? "") : decode(url.password, "password");
  return { host, port, user, password, database };
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new Error(`--from-mysql has a badly percent-encoded ${what}`);
  }
}

/** The source as it may be shown: `mysql://user@host:port/database`, never with the password. */
export function describeSource(s: MysqlSource): string {
  const host = s.host.includes(":") ? `[${s.host}]` : s.host;
  return `mysql://${encodeURIComponent(s.user)}@${host}:${s.port}/${encodeURIComponent(s.database)}`;
}

/** Replaces every occurrence of the password in a text (e.g. a tool's error output) with `***`. */
export function maskPassword(text: string, s: MysqlSource): string {
  if (s.password.length === 0) return text;
  let out = text.replaceAll(s.password, "***");
  const encoded = encodeURIComponent(s.password);
  if (encoded !== s.password) out = out.replaceAll(encoded, "***");
  return out;
}
