// The old instance's config.ini.php: the salt that must come along (Matomo hashes token_auth values and
// visitor fingerprints with it), and what to tell the operator about the rest of it.
import { iniSettings, parseIni, type IniSettings } from "../render/ini.ts";
import { activePlugins } from "../render/matomo-plugins.ts";
import { MigrationError } from "./errors.ts";

export interface OldConfig {
  /** `[General] salt`; undefined when the file has none. */
  readonly salt: string | undefined;
  /** `[General] trusted_hosts[]`, as written. */
  readonly trustedHosts: readonly string[];
  /** `[Plugins] Plugins[]`: the plugins active on the old instance. */
  readonly plugins: readonly string[];
  /** `[database] tables_prefix`, when set. */
  readonly tablesPrefix: string | undefined;
  /** `[section] key` of every other setting: the platform renders its own config, so these are not carried. */
  readonly notCarried: readonly string[];
}

// Settings the migration uses, or that the platform always renders itself for the tenant.
const HANDLED: Readonly<Record<string, readonly string[] | "all">> = {
  General: ["salt", "trusted_hosts"],
  database: "all",
  database_reader: "all",
  Plugins: "all",
  PluginsInstalled: "all",
};

// A salt is written into the tenant's rendered config.ini.php, which takes printable ASCII without
// double quotes or backslashes (and no single quote at either end); Matomo's own salts are hex.
const SALT = /^(?!')[\x21\x23-\x5b\x5d-\x7e]{16,256}(?<!')$/;

/** Parses the text of a config.ini.php (which starts with `; <?php exit; ?>`, an INI comment). */
export function parseOldConfig(text: string): OldConfig {
  let settings: IniSettings;
  try {
    settings = iniSettings(parseIni(text));
  } catch (err) {
    throw new MigrationError("InvalidRequest", `--config is not a Matomo config.ini.php: ${(err as Error).message}`);
  }
  if (settings.size === 0) throw new MigrationError("InvalidRequest", "--config holds no settings: it is not a Matomo config.ini.php");
  const general = settings.get("General");
  const salt = scalar(general?.get("salt"));
  if (salt !== undefined && !SALT.test(salt)) {
    throw new MigrationError("InvalidRequest", "the [General] salt of --config is not 16 to 256 printable ASCII characters without spaces, quotes or backslashes, so the platform cannot carry it");
  }
  const notCarried: string[] = [];
  for (const [section, keys] of settings) {
    const handled = HANDLED[section];
    if (handled === "all") continue;
    for (const key of keys.keys()) if (!handled?.includes(key)) notCarried.push(`[${section}] ${key}`);
  }
  const prefix = settings.get("database")?.get("tables_prefix");
  return {
    salt: salt === "" ? undefined : salt,
    trustedHosts: list(general?.get("trusted_hosts")),
    plugins: list(settings.get("Plugins")?.get("Plugins")),
    tablesPrefix: typeof prefix === "string" ? prefix : undefined,
    notCarried,
  };
}

function scalar(v: string | readonly string[] | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function list(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return (typeof v === "string" ? [v] : [...v]).filter((s) => s !== "");
}

/** `https://Stats.Example.com:8443/path` → `stats.example.com`: the host name a trusted host stands for. */
export function trustedHostName(entry: string): string {
  return entry.trim().toLowerCase().replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "").replace(/:\d+$/, "").replace(/\.$/, "");
}

/** What the operator should know about the old config, as sentences. */
export function configWarnings(cfg: OldConfig, domains: readonly string[], detectedPrefix: string): string[] {
  const out: string[] = [];
  if (cfg.salt === undefined) {
    out.push("the old config has no [General] salt, so the tenant gets a new one: the old API tokens (token_auth) stop working and users must log in again");
  }
  const wanted = new Set(domains.map((d) => d.toLowerCase()));
  const uncovered = [...new Set(cfg.trustedHosts.map(trustedHostName))].filter((h) => h !== "" && !wanted.has(h));
  if (uncovered.length > 0) {
    out.push(`trusted hosts of the old instance that are not a --domain of the tenant: ${uncovered.join(", ")}; ` +
      "add them with --domain if they should keep reaching Matomo (their DNS must then point at the platform)");
  }
  const platform = new Set(activePlugins());
  const missing = cfg.plugins.filter((p) => !platform.has(p));
  if (missing.length > 0) {
    out.push(`plugins active on the old instance that the platform's image lacks: ${missing.join(", ")}; ` +
      "their tables are imported, but their reports and features are unavailable until the image includes them");
  }
  if (cfg.tablesPrefix !== undefined && cfg.tablesPrefix !== detectedPrefix) {
    out.push(`the old config's [database] tables_prefix is "${cfg.tablesPrefix}", but the source's Matomo tables use "${detectedPrefix}": check that the config belongs to this database`);
  }
  if (cfg.notCarried.length > 0) {
    const shown = cfg.notCarried.slice(0, 10).join(", ") + (cfg.notCarried.length > 10 ? `, and ${cfg.notCarried.length - 10} more` : "");
    out.push(`settings of the old config that are not carried (the platform renders the tenant's config; set what you need through the platform): ${shown}`);
  }
  return out;
}
