// Renders one tenant's Matomo configuration: the settings for common.config.ini.php (a ConfigMap) and,
// separately, only the secrets for config.ini.php (a Secret). Pure: same input, same bytes.

import { activePlugins, installedPlugins } from "./matomo-plugins.ts";

export interface MatomoDatabase {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly user: string;
  /** May be empty: Matomo then uses unprefixed table names. */
  readonly tablesPrefix: string;
  /**
   * The server's kind, when known: it picks Matomo's SQL dialect (`schema`), and MariaDB needs its own
   * form of the query time limits archiving relies on. Unknown leaves Matomo's default, MySQL's.
   */
  readonly engine?: "mariadb" | "mysql" | undefined;
}

/** A read replica of the same database, reached with the same name and user. */
export interface MatomoReader {
  readonly host: string;
  readonly port: number;
}

/**
 * The privacy choices Matomo reads from its INI files. Do Not Track, IP anonymisation and the like are
 * not among them: Matomo keeps those in its database (`PrivacyManager.*` options), so they are applied
 * through Matomo's API, not rendered here.
 */
export interface MatomoPrivacy {
  /** Recognise one device as the same visitor across the tenant's websites (weaker privacy). */
  readonly fingerprintAcrossWebsites: boolean;
  /** Also keep the visitor id in a cookie on the tenant's analytics domain (weaker privacy). */
  readonly thirdPartyCookie: boolean;
  /** Derive the visitor id from the User ID, linking one user's devices into one visitor. */
  readonly userIdOverwritesVisitorId: boolean;
}

/**
 * QueuedTracking with its MySQL backend: queued requests wait in tables of the tenant's own database
 * (`<prefix>queuedtracking_list_*`), so tenants never share a queue and no Redis is needed.
 * `process`: whether tracking requests also process the queue (false: they only enqueue, as during an
 * upgrade while the database is being migrated).
 */
export interface MatomoQueue {
  readonly process: boolean;
  /**
   * QueuedTracking's Redis backend instead (the pool's Redis, the tenant's own database number); its
   * password goes to config.ini.php. Without it, the MySQL backend in the tenant's own database.
   */
  readonly redis?: { readonly host: string; readonly port: number; readonly database: number } | undefined;
}

export interface MatomoConfigInput {
  /** Validated lower-case hostnames; the first is the primary one. */
  readonly domains: readonly string[];
  readonly database: MatomoDatabase;
  readonly reader?: MatomoReader;
  readonly privacy: MatomoPrivacy;
  /** Absent: tracking requests write to the database directly. */
  readonly queue?: MatomoQueue | undefined;
}

export interface MatomoSecrets {
  readonly databasePassword: string;
  /** Matomo's `[General] salt`: generated once per tenant, identical on every pod, never rotated. */
  readonly salt: string;
  /** The password of the queue's Redis, when it has one. */
  readonly redisPassword?: string | undefined;
}

/** Content of config/common.config.ini.php: everything but secrets. */
export function renderCommonConfig(input: MatomoConfigInput): string {
  if (input.domains.length === 0) throw new Error("cannot render [General] trusted_hosts: a tenant needs at least one domain");
  const db = input.database;
  const sections: Section[] = [
    ["database", [
      ["host", db.host],
      ["port", port("database", "port", db.port)],
      ["dbname", db.name],
      ["username", db.user],
      ["tables_prefix", db.tablesPrefix],
      ["adapter", PDO_MYSQL],
      ...(db.engine ? [["schema", db.engine === "mariadb" ? "Mariadb" : "Mysql"] as const] : []),
      ["charset", "utf8mb4"],
      // Matomo 5.2's updater writes a detected collation into config.ini.php when none is set, which a
      // rendered, read-only config cannot take; this one matches what MariaDB and MySQL create for utf8mb4.
      ["collation", "utf8mb4_general_ci"],
    ]],
  ];
  if (input.reader) {
    // Matomo takes adapter, schema, charset, collation and prefix for the reader from [database].
    sections.push(["database_reader", [
      ["host", input.reader.host],
      ["port", port("database_reader", "port", input.reader.port)],
      ["dbname", db.name],
      ["username", db.user],
    ]]);
  }
  sections.push(
    ["General", [
      // Tells Matomo its files are shared by many pods: no plugin installs from the UI, no config writes.
      ["multi_server_environment", true],
      // The archiver CronJob builds reports; page views must not, and segments must not sneak it back in.
      ["enable_browser_archiving_triggering", false],
      ["browser_archiving_disabled_enforce", true],
      // Otherwise a UI toggle stored in the database overrides the line above, and the trusted-host
      // and e-mail forms would try to write the read-only config.
      ["enable_general_settings_admin", false],
      // The platform owns the plugin list; activating a plugin from the UI would write the config.
      ["enable_plugins_admin", false],
      // Installs and upgrades are Jobs run by the platform, never a page anyone can reach.
      ["enable_installer", false],
      ["enable_auto_update", false],
      // Tenant database users have no FILE privilege (it would reach the server's files), so bulk
      // loads must use plain INSERTs.
      ["enable_load_data_infile", false],
      // TLS ends at the ingress, which forwards the client's address and the requested host.
      ["assume_secure_protocol", true],
      ["force_ssl", true],
      ["proxy_client_headers", ["HTTP_X_FORWARDED_FOR"]],
      ["proxy_host_headers", ["HTTP_X_FORWARDED_HOST"]],
      ["trusted_hosts", input.domains],
    ]],
    ["Tracker", [
      ["enable_fingerprinting_across_websites", input.privacy.fingerprintAcrossWebsites],
      ["use_third_party_id_cookie", input.privacy.thirdPartyCookie],
      ["enable_userid_overwrites_visitorid", input.privacy.userIdOverwritesVisitorId],
      // Scheduled tasks have their own CronJob; tracking requests must never run them.
      ["scheduled_tasks_min_interval", 0],
    ]],
    // Matomo records active and installed plugins in its config, and would try to write them to the
    // read-only config.ini.php on the first request if any were missing.
    ["Plugins", [["Plugins", activePlugins()]]],
    ["PluginsInstalled", [["PluginsInstalled", installedPlugins()]]],
  );
  // QueuedTracking takes its system settings from this section, key by key, over the database's. Its
  // installer writes the alert threshold here when none is set (into a config the pods cannot write).
  const queue: (readonly [string, Value])[] = [["notify_queue_threshold_single_queue", 250_000]];
  const redis = input.queue?.redis;
  if (input.queue && redis) {
    queue.push(
      ["backend", "redis"],
      ["useWhatRedisBackendType", 1],
      ["redisHost", redis.host],
      ["redisPort", port("QueuedTracking", "redisPort", redis.port)],
      ["redisDatabase", redis.database],
      ["redisTimeout", { encoded: '"2.0"' }],
      ["queueEnabled", true],
      ["numQueueWorkers", 1],
      ["processDuringTrackingRequest", input.queue.process],
    );
  } else if (input.queue) {
    queue.push(
      ["backend", "mysql"],
      ["queueEnabled", true],
      ["numQueueWorkers", 1],
      ["processDuringTrackingRequest", input.queue.process],
    );
  }
  sections.push(["QueuedTracking", queue]);
  return render("Non-secret settings; the secrets are in config.ini.php.", sections);
}

/** Content of config/config.ini.php: only the secrets, merged by Matomo over common.config.ini.php. */
export function renderSecretConfig(input: MatomoConfigInput, secrets: MatomoSecrets): string {
  nonEmpty("database", "password", secrets.databasePassword);
  nonEmpty("General", "salt", secrets.salt);
  const sections: Section[] = [["database", [["password", secrets.databasePassword]]]];
  if (input.reader) sections.push(["database_reader", [["password", secrets.databasePassword]]]);
  if (input.queue?.redis && secrets.redisPassword) sections.push(["QueuedTracking", [["redisPassword", secrets.redisPassword]]]);
  // `salt` is the one key global.ini.php does not declare: Matomo's installer adds it to config.ini.php.
  sections.push(["General", [["salt", secrets.salt]]]);
  return render("Secrets only; every other setting is in common.config.ini.php.", sections);
}

/** A value already in INI syntax, for the platform's own constants that no validator should see. */
interface Encoded {
  readonly encoded: string;
}

type Value = string | number | boolean | readonly string[] | Encoded;
type Section = readonly [name: string, entries: readonly (readonly [key: string, value: Value])[]];

// Matomo's default, written as global.ini.php has it: PHP keeps a backslash before an ordinary letter,
// and so does Matomo's fallback reader, whereas `\\` would be read differently by the two.
const PDO_MYSQL: Encoded = { encoded: '"PDO\\MYSQL"' };

function render(purpose: string, sections: readonly Section[]): string {
  const blocks = sections.map(([name, entries]) =>
    [`[${name}]`, ...entries.flatMap(([key, value]) => lines(name, key, value))].join("\n"));
  // The first line stops PHP from ever serving this file's content if it is requested over HTTP.
  const header = `; <?php exit; ?> DO NOT REMOVE THIS LINE\n; Rendered by Matomo MultiScale; edits are overwritten. ${purpose}`;
  return [header, ...blocks].join("\n\n") + "\n";
}

function lines(section: string, key: string, value: Value): string[] {
  if (typeof value === "object" && "encoded" in value) return [`${key} = ${value.encoded}`];
  if (typeof value === "object") return value.map((v) => `${key}[] = ${quote(section, `${key}[]`, v)}`);
  if (typeof value === "boolean") return [`${key} = "${value ? 1 : 0}"`];
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`cannot write [${section}] ${key}: ${value} is not an integer`);
    return [`${key} = "${value}"`];
  }
  return [`${key} = ${quote(section, key, value)}`];
}

const SAFE_VALUE_RULE =
  "printable ASCII without \" or \\, not starting or ending with a space or a single quote";

/**
 * Quotes a value for Matomo's reader. `"` and `\` would end or escape the quoted string, so they are
 * refused; `&` and `$` are written as the HTML entities Matomo itself writes and decodes on reading, so
 * `&amp;`-like text and PHP's `${…}` expansion cannot change a value. Matomo's fallback reader (used
 * where PHP's parse_ini_string is disabled) trims spaces and single quotes at the ends of a value with
 * two `;` in it, which entities produce, so those ends are refused too.
 */
function quote(section: string, key: string, value: string): string {
  const last = value.length - 1;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const problem =
      c === 0x22 ? "a double quote" :
      c === 0x5c ? "a backslash" :
      c === 0x0a || c === 0x0d ? "a line break" :
      c < 0x20 || c === 0x7f ? "a control character" :
      c > 0x7e ? "a non-ASCII character" :
      (i === 0 || i === last) && c === 0x20 ? "a space at one end" :
      (i === 0 || i === last) && c === 0x27 ? "a single quote at one end" :
      undefined;
    // The value itself stays out of the message: it may be a password.
    if (problem) {
      throw new Error(`cannot write [${section}] ${key}: the value contains ${problem} (at character ${i + 1}); ` +
        `only ${SAFE_VALUE_RULE} can be written safely`);
    }
  }
  return `"${value.replaceAll("&", "&amp;").replaceAll("$", "&#36;")}"`;
}

function port(section: string, key: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`cannot write [${section}] ${key}: ${value} is not a TCP port (1-65535)`);
  }
  return value;
}

function nonEmpty(section: string, key: string, value: string): void {
  if (value === "") throw new Error(`cannot write [${section}] ${key}: the value is empty`);
}
