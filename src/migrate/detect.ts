// What a scanned dump holds: which of its tables are Matomo's, under which table prefix, at which Matomo
// version, and the table renames that normalise the prefix to the platform's.
import { TABLES_PREFIX } from "../render/tenant.ts";
import type { ScannedTable } from "./dump-scanner.ts";
import { MigrationError } from "./errors.ts";
import { compareMatomoVersions, parseMatomoVersion, parseSourceVersion } from "./version.ts";

/** MySQL's and MariaDB's limit on a table name. */
const MAX_TABLE_NAME = 64;

export interface Detection {
  /** `matomo_`, `piwik_`, anything, or "" (Matomo's test fixtures). */
  readonly prefix: string;
  /** `option.version_core`, e.g. 5.1.0-b2. */
  readonly version: string;
  readonly optionTable: string;
}

export interface TableMove {
  readonly source: string;
  readonly target: string;
  /** Rows in the dump. */
  readonly rows: number;
  /** Bytes of the dump this table takes up (uncompressed SQL). */
  readonly bytes: number;
}

export interface TablePlan {
  readonly moves: readonly TableMove[];
  /** Tables of the dump without the prefix: not Matomo's, not imported. */
  readonly skipped: readonly string[];
}

export function showPrefix(prefix: string): string {
  return prefix === "" ? "none" : `\`${prefix}\``;
}

/**
 * Finds Matomo's option table: a table whose name ends in `option` with option_name and option_value
 * columns. Its name without `option` is the prefix; its version_core row the version.
 */
export function detectMatomo(tables: readonly ScannedTable[], options: ReadonlyMap<string, ReadonlyMap<string, string>>): Detection {
  if (tables.length === 0) {
    throw new MigrationError("EmptySource",
      "the source holds no tables: the database is empty (or the dump is of another, empty database); dump the database the old Matomo writes to");
  }
  const candidates = tables.filter((t) => t.name.endsWith("option") && t.columns.includes("option_name") && t.columns.includes("option_value"));
  if (candidates.length === 0) {
    const prefix = matomoShapedPrefix(tables);
    if (prefix !== undefined) {
      const seen = tables.filter((t) => t.name.startsWith(prefix)).slice(0, 3).map((t) => t.name).join(", ");
      throw new MigrationError("IncompleteSource",
        `the source has Matomo's tables (${seen}, …) but not its option table ${prefix}option, which holds the version and settings: ` +
        "the dump is incomplete (made with a list of tables or --ignore-table?); dump the whole database");
    }
    throw new MigrationError("NotMatomo",
      "the source is not a Matomo database: it has no option table (a table named like `matomo_option` with option_name and option_value columns); " +
      "check that the dump or URL is the Matomo database");
  }
  const versioned = candidates.filter((t) => options.get(t.name)?.has("version_core"));
  if (versioned.length > 1) {
    throw new MigrationError("AmbiguousSource",
      `the source holds ${versioned.length} Matomo installations (table prefixes ${versioned.map((t) => showPrefix(prefixOf(t.name))).join(", ")}); ` +
      "dump the tables of one installation only");
  }
  const found = versioned[0];
  if (!found) {
    throw new MigrationError("NotMatomo",
      `the source is not a complete Matomo database: its option table ${candidates[0]?.name} has no version_core row, so its Matomo version is unknown; ` +
      "dump the database of a working Matomo instance");
  }
  return { prefix: prefixOf(found.name), version: options.get(found.name)?.get("version_core") ?? "", optionTable: found.name };
}

// Tables every Matomo (and Piwik) has, by their name after the prefix; archive tables are per month.
const CORE_TABLES = /^(.*?)(log_visit|log_link_visit_action|log_action|archive_(?:numeric|blob)_\d{4}_\d{2})$/;

/** The prefix of tables that are Matomo's by their names, when the option table itself is missing. */
function matomoShapedPrefix(tables: readonly ScannedTable[]): string | undefined {
  for (const t of tables) {
    const m = CORE_TABLES.exec(t.name);
    if (m) return m[1];
  }
  return undefined;
}

function prefixOf(optionTable: string): string {
  return optionTable.slice(0, -"option".length);
}

/** The tables to import, renamed from the source's prefix to the platform's, with their rows and sizes. */
export function planTables(tables: readonly ScannedTable[], rows: ReadonlyMap<string, number>, prefix: string): TablePlan {
  const moves: TableMove[] = [];
  const skipped: string[] = [];
  for (const t of tables) {
    if (!t.name.startsWith(prefix)) {
      skipped.push(t.name);
      continue;
    }
    const target = TABLES_PREFIX + t.name.slice(prefix.length);
    if (target.length > MAX_TABLE_NAME) {
      throw new MigrationError("UnsupportedSource",
        `table ${t.name} would be named ${target} on the platform, longer than the ${MAX_TABLE_NAME} characters a table name may have`);
    }
    moves.push({ source: t.name, target, rows: rows.get(t.name) ?? 0, bytes: t.bytes });
  }
  return { moves, skipped };
}

/** Warnings about what was found, beyond refusals: tables left out, a pre-release version. */
export function detectionWarnings(detection: Detection, plan: TablePlan): string[] {
  const out: string[] = [];
  if (plan.skipped.length > 0) {
    const shown = plan.skipped.slice(0, 8).join(", ") + (plan.skipped.length > 8 ? `, and ${plan.skipped.length - 8} more` : "");
    out.push(`${plan.skipped.length} table(s) without the prefix ${showPrefix(detection.prefix)} are not Matomo's and are not imported: ${shown}`);
  }
  if (parseSourceVersion(detection.version)?.pre !== undefined) out.push(`the source runs a pre-release of Matomo (${detection.version})`);
  return out;
}

/** The schema step between the source's Matomo and the tenant's, as a note; undefined when they match. */
export function schemaNote(sourceVersion: string, tenantVersion: string): string | undefined {
  const s = parseSourceVersion(sourceVersion);
  const t = parseMatomoVersion(tenantVersion);
  if (!s || !t || compareMatomoVersions(s, t) === 0) return undefined;
  return `the database schema is at Matomo ${sourceVersion} and the tenant runs ${tenantVersion}: Matomo's \`core:update --yes\` must run once against it (see docs/migration.md)`;
}

/**
 * The tenant's spec.privacy that keeps the source's privacy settings as they are: the tenant's Jobs apply
 * spec.privacy to the database, so an imported tenant starts from what the old instance did. Unset options
 * are Matomo's defaults (plugins/PrivacyManager/Config.php: anonymiser on, 2 bytes, Do Not Track ignored).
 */
export function privacyFromOptions(options: ReadonlyMap<string, string> | undefined): { anonymizeIpBytes: number; respectDoNotTrack: boolean } {
  const get = (k: string) => options?.get(`PrivacyManager.${k}`);
  const length = Number.parseInt(get("ipAddressMaskLength") ?? "2", 10);
  const bytes = Number.isInteger(length) ? Math.min(3, Math.max(1, length)) : 2;
  return { anonymizeIpBytes: (get("ipAnonymizerEnabled") ?? "1") === "0" ? 0 : bytes, respectDoNotTrack: get("doNotTrackEnabled") === "1" };
}

/** The privacy settings the database carries with it (PrivacyManager's options), as one sentence. */
export function privacySummary(options: ReadonlyMap<string, string> | undefined): string {
  const get = (k: string) => options?.get(`PrivacyManager.${k}`);
  const enabled = get("ipAnonymizerEnabled");
  const bytes = get("ipAddressMaskLength");
  const dnt = get("doNotTrackEnabled");
  const ip = enabled === undefined ? "IP anonymisation not set (Matomo's default applies)"
    : enabled === "1" ? `IP anonymisation on${bytes ? ` (${bytes} byte(s) masked)` : ""}` : "IP anonymisation off";
  const track = dnt === undefined ? "Do Not Track not set (Matomo's default applies)" : dnt === "1" ? "Do Not Track respected" : "Do Not Track ignored";
  return `privacy settings live in the database and come with it: ${ip}, ${track}`;
}
