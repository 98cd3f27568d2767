// Matomo's own version strings (`5.1.0-b2`, `4.16.1`, `5.0.0-rc3`) as the option table stores them, and
// which of them a migration can carry onto the platform.

export interface MatomoRelease {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** `b2`, `rc3`, `alpha`: a pre-release of major.minor.patch; undefined for the release itself. */
  readonly pre: string | undefined;
}

/** The oldest Matomo whose database the platform's Matomo updates in place (Matomo 5 updates 4.x, not 3.x). */
export const MIN_SOURCE_VERSION = "4.0.0";

const VERSION = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:-([0-9A-Za-z.]+))?$/;

export function parseMatomoVersion(raw: string): MatomoRelease | undefined {
  const m = VERSION.exec(raw.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4]?.toLowerCase() };
}

// PHP's version_compare order of pre-release labels, which Matomo's updater uses.
const LABELS: readonly [RegExp, number][] = [[/^dev/, 0], [/^(alpha|a)/, 1], [/^(beta|b)/, 2], [/^rc/, 3]];

function preRank(pre: string): [number, number] {
  const label = LABELS.find(([re]) => re.test(pre));
  const n = /(\d+)$/.exec(pre);
  return [label ? label[1] : -1, n ? Number(n[1]) : 0];
}

/** Negative when a is older than b. A pre-release comes before its release (5.1.0-b2 < 5.1.0). */
export function compareMatomoVersions(a: MatomoRelease, b: MatomoRelease): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return core;
  if (a.pre === b.pre) return 0;
  if (a.pre === undefined) return 1;
  if (b.pre === undefined) return -1;
  const [la, na] = preRank(a.pre);
  const [lb, nb] = preRank(b.pre);
  return la - lb || na - nb;
}

/**
 * A version as Piwik and Matomo have written it into `option.version_core` over the years: Matomo's own
 * `5.1.0-b2`, and Piwik's `2.16.0`, `3.0.0-b1`, `1.12`, `2.0-a7` (no patch, or a pre-release without a dash).
 * A missing patch counts as 0.
 */
const SOURCE_VERSION = /^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?:-([0-9A-Za-z.]+)|([A-Za-z][0-9A-Za-z.]*))?$/;

export function parseSourceVersion(raw: string): MatomoRelease | undefined {
  const m = SOURCE_VERSION.exec(raw.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), pre: (m[4] ?? m[5])?.toLowerCase() };
}

/** The first Matomo release under that name: before it the product was Piwik (renamed in January 2018). */
const FIRST_MATOMO: MatomoRelease = { major: 3, minor: 3, patch: 0, pre: undefined };

/** "Piwik 2.16.0" or "Matomo 4.16.1": what the old instance called itself. */
export function productName(version: MatomoRelease, raw: string): string {
  return `${compareMatomoVersions(version, FIRST_MATOMO) < 0 ? "Piwik" : "Matomo"} ${raw.trim()}`;
}

/** The updates an instance that is too old needs before its database can be imported. */
function upgradePath(s: MatomoRelease): string {
  const steps = [];
  if (s.major < 2 || (s.major === 2 && s.minor < 16)) steps.push("Piwik 2.16.5 (the last 2.x)");
  if (s.major < 3 || (s.major === 3 && s.minor < 14)) steps.push("Matomo 3.14.1 (the last 3.x)");
  steps.push("the latest Matomo 4.x");
  return `update it step by step to ${steps.join(", then ")}, each with its own \`console core:update\` (see docs/migration.md)`;
}

/**
 * Why the database of an instance at `source` (its `version_core` option) cannot become a tenant on
 * Matomo `target`, as a sentence naming the problem and what to do; undefined when it can.
 */
export function versionProblem(source: string, target: string): string | undefined {
  const t = parseMatomoVersion(target);
  if (!t) throw new Error(`"${target}" is not a Matomo version`);
  if (source.trim() === "") {
    return "the source's option table has an empty version_core row, so the version of the old instance is unknown and the import cannot tell " +
      "whether Matomo can update its database; dump the database of a working Matomo (its version_core option holds the version, e.g. 4.16.1)";
  }
  const s = parseSourceVersion(source);
  if (!s) {
    return `the source's option table gives its version as ${JSON.stringify(source)}, which is not a version Piwik or Matomo writes (like 4.16.1 or 5.0.0-b2), ` +
      "so the import cannot tell whether Matomo can update its database; check the version_core row of the old instance";
  }
  const min = parseMatomoVersion(MIN_SOURCE_VERSION) as MatomoRelease;
  if (compareMatomoVersions(s, min) < 0) {
    return `${productName(s, source)} is older than Matomo 4.0, the oldest this import takes (Matomo 5 updates only 4.x databases): ` +
      `upgrade it to Matomo 4.x first (${upgradePath(s)}), then migrate the upgraded database`;
  }
  if (s.major > t.major) {
    return `the source runs Matomo ${source}, a newer major version than the platform's Matomo ${t.major} (the tenant would run ${target}), ` +
      `and Matomo cannot downgrade a database: it can be imported once the platform offers Matomo ${s.major}, with --matomo-version ${s.major}.${s.minor}.${s.patch} or later`;
  }
  if (compareMatomoVersions(s, t) > 0) {
    return `the source runs Matomo ${source}, newer than the tenant's Matomo ${target}, and Matomo cannot downgrade a database: ` +
      `migrate with --matomo-version ${s.major}.${s.minor}.${s.patch} or later, once the platform's image has that version`;
  }
  return undefined;
}
