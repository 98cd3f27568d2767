import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { iniSettings, parseIni } from "./ini.ts";

const GLOBAL_INI = resolve(import.meta.dirname, "../../../shared/fixtures/matomo/global.ini.php");

test("Matomo's global.ini.php reads as Matomo reads it", () => {
  const doc = parseIni(readFileSync(GLOBAL_INI, "utf8"));
  const settings = iniSettings(doc);
  assert.ok(["database", "database_reader", "General", "Tracker", "Plugins"].every((s) => doc.sections.includes(s)));
  assert.equal(settings.get("database")?.get("adapter"), "PDO\\MYSQL");
  assert.equal(settings.get("General")?.get("enabled_periods_UI"), "day,week,month,year,range");
  assert.equal(settings.get("General")?.get("allowed_outgoing_protocols"), "http,https", "single quotes");
  assert.equal(settings.get("General")?.get("currencies[BTC]"), "Bitcoin", "named array index");
  assert.equal(settings.get("Tracker")?.get("cookie_expire"), "33955200", "a bare value ends at ;");
  assert.equal(settings.get("mail")?.get("transport"), "", "an empty value before a comment");
  assert.deepEqual(settings.get("ChainedCache")?.get("backends"), ["array", "file"]);
  assert.equal(doc.entries.filter((e) => e.section === undefined).length, 0);
});

test("keys documented only as commented-out examples are reported with their section", () => {
  const doc = parseIni(readFileSync(GLOBAL_INI, "utf8"));
  const trusted = doc.commented.filter((e) => e.key === "trusted_hosts");
  assert.ok(trusted.length > 0);
  assert.ok(trusted.every((e) => e.section === "General" && e.array));
  assert.equal(doc.entries.some((e) => e.key === "trusted_hosts"), false, "no default to merge with");
});

test("double-quoted values follow PHP's escapes and Matomo's entity decoding", () => {
  const s = iniSettings(parseIni([
    "[a]",
    String.raw`esc = "q\"b\\d\$e\n"`,
    'ent = "&amp;&#36;&quot;&lt;&gt;&#x41;"',
    'apos = "&#39;"',
    'once = "&amp;amp;"',
    'unknown = "&nbsp;"',
    'semi = "a;b" ; comment',
  ].join("\n"))).get("a");
  assert.equal(s?.get("esc"), String.raw`q"b\d$e\n`);
  assert.equal(s?.get("ent"), '&$"<>A');
  assert.equal(s?.get("apos"), "&#39;", "ENT_COMPAT leaves single-quote entities");
  assert.equal(s?.get("once"), "&amp;", "decoded once, like html_entity_decode");
  assert.equal(s?.get("unknown"), "&nbsp;");
  assert.equal(s?.get("semi"), "a;b");
});

test("bare words become PHP's booleans and null", () => {
  const s = iniSettings(parseIni("[a]\nt = On\nf = no\nn = null\nx = 12 ; twelve\n")).get("a");
  assert.deepEqual([s?.get("t"), s?.get("f"), s?.get("n"), s?.get("x")], ["1", "", "", "12"]);
});

test("later scalars win and array lines append", () => {
  const s = iniSettings(parseIni("[a]\nk = \"1\"\nk = \"2\"\nl[] = \"x\"\nl[] = \"y\"\n[a]\nl[] = \"z\"\n"));
  assert.equal(s.get("a")?.get("k"), "2");
  assert.deepEqual(s.get("a")?.get("l"), ["x", "y", "z"]);
});

test("a key before any section is kept without a section", () => {
  const doc = parseIni("k = v\n[s]\n");
  assert.equal(doc.entries[0]?.section, undefined);
  assert.deepEqual(doc.sections, ["s"]);
});

test("lines Matomo could misread are errors that name the line", () => {
  assert.throws(() => parseIni("[a]\nnot a key line\n"), /line 2: not a section, key or comment/);
  assert.throws(() => parseIni('[a]\nk = "open\nrest"\n'), /line 2: unterminated double-quoted value/);
  assert.throws(() => parseIni('[a]\nk = "${HOME}"\n'), /line 2: .*expanded by PHP/);
  assert.throws(() => parseIni('[a]\nk = "a" b\n'), /line 2: unexpected text after a quoted value/);
});
