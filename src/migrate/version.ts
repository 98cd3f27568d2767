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
 * Why the database of Matomo `source` cannot become a tenant on Matomo `target`, as a sentence saying
 * what to do instead; undefined when it can.
 */
export function versionProblem(source: string, target: string): string | undefined {
  const s = parseMatomoVersion(source);
  const t = parseMatomoVersion(target);
  if (!t) throw new Error(`"${target}" is not a Matomo version`);
  if (!s) return `the source's option table says it runs Matomo ${JSON.stringify(source)}, which is not a Matomo version, so it cannot be migrated safely; check the version_core row of the old instance`;
  const min = parseMatomoVersion(MIN_SOURCE_VERSION) as MatomoRelease;
  if (compareMatomoVersions(s, min) < 0) {
    return `the source runs Matomo ${source}, and only Matomo ${MIN_SOURCE_VERSION} or later can be migrated: ` +
      "first upgrade the old instance to the latest 4.x or 5.x with its own `console core:update`, then migrate it";
  }
  if (compareMatomoVersions(s, t) > 0) {
    return `the source runs Matomo ${source}, newer than the tenant's Matomo ${target}, and Matomo cannot downgrade a database: ` +
      `migrate with --matomo-version ${s.major}.${s.minor}.${s.patch} or later, once the platform's image has that version`;
  }
  return undefined;
}
