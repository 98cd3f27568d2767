import { test } from "node:test";
import assert from "node:assert/strict";
import { detectMatomo, planTables, privacyFromOptions, privacySummary, schemaNote } from "./detect.ts";
import type { ScannedTable } from "./dump-scanner.ts";
import { MigrationError } from "./errors.ts";

const OPTION_COLUMNS = ["option_name", "option_value", "autoload"];
const table = (name: string, columns: string[] = ["id"], bytes = 10): ScannedTable => ({ name, columns, bytes });
const versions = (entries: Record<string, string>) => new Map(Object.entries(entries).map(([t, v]) => [t, new Map([["version_core", v]])]));

function refusal(reason: string, pattern: RegExp): (err: unknown) => boolean {
  return (err) => err instanceof MigrationError && err.reason === reason && pattern.test(err.message);
}

test("Piwik's option tables (piwik_ prefix, old version strings) are found as they are", () => {
  for (const version of ["2.16.0", "3.0.0-b1", "1.12"]) {
    const tables = [table("piwik_option", OPTION_COLUMNS), table("piwik_log_visit")];
    assert.deepEqual(detectMatomo(tables, versions({ piwik_option: version })), { prefix: "piwik_", version, optionTable: "piwik_option" });
  }
});

test("the prefix is whatever precedes `option` in the option table's name", () => {
  for (const prefix of ["", "matomo_", "piwik_", "analytics2024_"]) {
    const tables = [table(`${prefix}access`), table(`${prefix}option`, OPTION_COLUMNS), table(`${prefix}log_visit`)];
    assert.deepEqual(detectMatomo(tables, versions({ [`${prefix}option`]: "5.2.1" })), { prefix, version: "5.2.1", optionTable: `${prefix}option` });
  }
});

test("a table merely named like the option table does not count; two installations are refused", () => {
  const tables = [table("my_option", ["a", "b"]), table("piwik_option", OPTION_COLUMNS), table("piwik_site")];
  assert.equal(detectMatomo(tables, versions({ piwik_option: "4.16.1" })).prefix, "piwik_");
  const two = [table("a_option", OPTION_COLUMNS), table("b_option", OPTION_COLUMNS)];
  assert.throws(() => detectMatomo(two, versions({ a_option: "5.0.0", b_option: "4.1.0" })), refusal("AmbiguousSource", /2 Matomo installations.*`a_`, `b_`/));
  assert.equal(detectMatomo(two, versions({ b_option: "4.1.0" })).prefix, "b_", "an option table without a version is not an installation");
});

test("a source that is not Matomo, or has no version, is refused with a sentence", () => {
  assert.throws(() => detectMatomo([table("customers"), table("orders")], new Map()), refusal("NotMatomo", /not a Matomo database: it has no option table/));
  assert.throws(() => detectMatomo([], new Map()), refusal("EmptySource", /the source holds no tables: the database is empty/));
  const noOption = [table("piwik_access"), table("piwik_log_visit"), table("piwik_archive_numeric_2016_01"), table("piwik_site")];
  assert.throws(() => detectMatomo(noOption, new Map()),
    refusal("IncompleteSource", /has Matomo's tables \(piwik_access, piwik_log_visit, piwik_archive_numeric_2016_01, …\) but not its option table piwik_option.*dump the whole database/));
  assert.throws(() => detectMatomo([table("archive_blob_2024_03")], new Map()), refusal("IncompleteSource", /not its option table option,/));
  assert.throws(() => detectMatomo([table("option", OPTION_COLUMNS)], new Map()), refusal("NotMatomo", /option table option has no version_core row/));
});

test("the plan renames the prefixed tables to matomo_ and leaves the others out", () => {
  const tables = [table("piwik_option", OPTION_COLUMNS, 100), table("piwik_log_visit", ["idvisit"], 5000), table("wp_posts")];
  const plan = planTables(tables, new Map([["piwik_log_visit", 42]]), "piwik_");
  assert.deepEqual(plan.moves, [
    { source: "piwik_option", target: "matomo_option", rows: 0, bytes: 100 },
    { source: "piwik_log_visit", target: "matomo_log_visit", rows: 42, bytes: 5000 },
  ]);
  assert.deepEqual(plan.skipped, ["wp_posts"]);
  assert.deepEqual(planTables([table("option")], new Map(), "").moves.map((m) => m.target), ["matomo_option"]);
  assert.throws(() => planTables([table("x".repeat(60))], new Map(), ""), refusal("UnsupportedSource", /longer than the 64 characters/));
});

test("privacy settings and the schema step are reported as found", () => {
  const opts = new Map([["PrivacyManager.ipAnonymizerEnabled", "1"], ["PrivacyManager.ipAddressMaskLength", "2"], ["PrivacyManager.doNotTrackEnabled", "0"]]);
  assert.match(privacySummary(opts), /come with it: IP anonymisation on \(2 byte\(s\) masked\), Do Not Track ignored/);
  assert.match(privacySummary(undefined), /IP anonymisation not set.*Do Not Track not set/);
  assert.equal(schemaNote("5.2.1", "5.2.1"), undefined);
  assert.match(schemaNote("4.16.1", "5.2.1") ?? "", /schema is at Matomo 4\.16\.1 and the tenant runs 5\.2\.1/);
});

test("the imported tenant's spec.privacy is the source's own privacy settings, Matomo's defaults where unset", () => {
  const opts = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [`PrivacyManager.${k}`, v]));
  assert.deepEqual(privacyFromOptions(opts({ ipAnonymizerEnabled: "1", ipAddressMaskLength: "3", doNotTrackEnabled: "1" })), { anonymizeIpBytes: 3, respectDoNotTrack: true });
  assert.deepEqual(privacyFromOptions(opts({ ipAnonymizerEnabled: "0", ipAddressMaskLength: "2", doNotTrackEnabled: "0" })), { anonymizeIpBytes: 0, respectDoNotTrack: false });
  assert.deepEqual(privacyFromOptions(undefined), { anonymizeIpBytes: 2, respectDoNotTrack: false }, "Matomo's defaults: 2 bytes, Do Not Track ignored");
  assert.deepEqual(privacyFromOptions(opts({ ipAddressMaskLength: "4" })), { anonymizeIpBytes: 3, respectDoNotTrack: false });
});
