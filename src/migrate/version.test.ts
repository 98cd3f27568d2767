import { test } from "node:test";
import assert from "node:assert/strict";
import { compareMatomoVersions, parseMatomoVersion, parseSourceVersion, versionProblem, type MatomoRelease } from "./version.ts";

const v = (s: string) => parseMatomoVersion(s) as MatomoRelease;

test("Matomo's version strings parse, pre-releases included", () => {
  assert.deepEqual(parseMatomoVersion("5.1.0-b2"), { major: 5, minor: 1, patch: 0, pre: "b2" });
  assert.deepEqual(parseMatomoVersion("4.16.1"), { major: 4, minor: 16, patch: 1, pre: undefined });
  assert.equal(parseMatomoVersion("5.0.0-rc3")?.pre, "rc3");
  for (const bad of ["", "5", "5.1", "v5.1.0", "5.1.0 beta", "five"]) assert.equal(parseMatomoVersion(bad), undefined, bad);
});

test("versions order as Matomo's updater orders them", () => {
  const ordered = ["3.14.1", "4.0.0-b1", "4.0.0-rc1", "4.0.0", "4.16.1", "5.0.0-alpha", "5.0.0-b3", "5.0.0-b10", "5.0.0-rc1", "5.0.0", "5.1.0-b2", "5.1.0", "5.2.1", "10.0.0"];
  for (let i = 0; i < ordered.length - 1; i++) {
    const a = ordered[i] as string;
    const b = ordered[i + 1] as string;
    assert.ok(compareMatomoVersions(v(a), v(b)) < 0, `${a} < ${b}`);
    assert.ok(compareMatomoVersions(v(b), v(a)) > 0, `${b} > ${a}`);
  }
  assert.equal(compareMatomoVersions(v("5.2.1"), v("5.2.1")), 0);
});

test("Piwik's version strings parse too: no patch, pre-releases with or without a dash", () => {
  assert.deepEqual(parseSourceVersion("2.16.0"), { major: 2, minor: 16, patch: 0, pre: undefined });
  assert.deepEqual(parseSourceVersion("3.0.0-b1"), { major: 3, minor: 0, patch: 0, pre: "b1" });
  assert.deepEqual(parseSourceVersion("1.12"), { major: 1, minor: 12, patch: 0, pre: undefined });
  assert.deepEqual(parseSourceVersion("2.0-a7"), { major: 2, minor: 0, patch: 0, pre: "a7" });
  assert.deepEqual(parseSourceVersion("1.9.3b5"), { major: 1, minor: 9, patch: 3, pre: "b5" });
  assert.deepEqual(parseSourceVersion(" 5.1.0-b2 "), parseMatomoVersion("5.1.0-b2"));
  for (const bad of ["", "5", "v5.1.0", "5.1.0 beta", "five", "2.16.0.1"]) assert.equal(parseSourceVersion(bad), undefined, bad);
});

test("4.0.0 up to the tenant's version can be carried over", () => {
  assert.equal(versionProblem("5.1.0-b2", "5.2.1"), undefined);
  assert.equal(versionProblem("4.0.0", "5.2.1"), undefined);
  assert.equal(versionProblem("5.2.1", "5.2.1"), undefined);
});

test("an old Piwik or Matomo is refused as too old, with its own upgrade path, never as \"not a version\"", () => {
  const cases: [string, RegExp][] = [
    ["2.16.0", /^Piwik 2\.16\.0 is older than Matomo 4\.0, the oldest this import takes .*: upgrade it to Matomo 4\.x first \(update it step by step to Matomo 3\.14\.1 \(the last 3\.x\), then the latest Matomo 4\.x, each with its own `console core:update`/],
    ["3.0.0-b1", /^Piwik 3\.0\.0-b1 is older than Matomo 4\.0.*to Matomo 3\.14\.1 \(the last 3\.x\), then the latest Matomo 4\.x/],
    ["1.12", /^Piwik 1\.12 is older than Matomo 4\.0.*to Piwik 2\.16\.5 \(the last 2\.x\), then Matomo 3\.14\.1 \(the last 3\.x\), then the latest Matomo 4\.x/],
    ["3.14.1", /^Matomo 3\.14\.1 is older than Matomo 4\.0.*to the latest Matomo 4\.x, each/],
    ["4.0.0-rc1", /^Matomo 4\.0\.0-rc1 is older than Matomo 4\.0.*to the latest Matomo 4\.x/],
  ];
  for (const [version, pattern] of cases) {
    const problem = versionProblem(version, "5.2.1") ?? "";
    assert.match(problem, pattern, version);
    assert.doesNotMatch(problem, /not a version/, version);
  }
});

test("a newer release, a future major, an empty or a garbled version row each name that problem", () => {
  assert.match(versionProblem("5.3.0", "5.2.1") ?? "", /newer than the tenant's Matomo 5\.2\.1.*--matomo-version 5\.3\.0/);
  assert.match(versionProblem("6.0.0-b1", "5.2.1") ?? "", /Matomo 6\.0\.0-b1, a newer major version than the platform's Matomo 5 .*cannot downgrade.*once the platform offers Matomo 6/);
  assert.match(versionProblem("", "5.2.1") ?? "", /empty version_core row/);
  assert.match(versionProblem("garbage", "5.2.1") ?? "", /gives its version as "garbage", which is not a version Piwik or Matomo writes/);
});
