import { test } from "node:test";
import assert from "node:assert/strict";
import { compareMatomoVersions, parseMatomoVersion, versionProblem, type MatomoRelease } from "./version.ts";

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

test("only 4.0.0 up to the tenant's version can be carried over, with a sentence saying what to do", () => {
  assert.equal(versionProblem("5.1.0-b2", "5.2.1"), undefined);
  assert.equal(versionProblem("4.0.0", "5.2.1"), undefined);
  assert.equal(versionProblem("5.2.1", "5.2.1"), undefined);
  assert.match(versionProblem("3.14.1", "5.2.1") ?? "", /Matomo 3\.14\.1.*4\.0\.0 or later.*first upgrade the old instance to the latest 4\.x or 5\.x with its own `console core:update`, then migrate it/);
  assert.match(versionProblem("4.0.0-rc1", "5.2.1") ?? "", /4\.0\.0 or later/);
  assert.match(versionProblem("5.3.0", "5.2.1") ?? "", /newer than the tenant's Matomo 5\.2\.1.*--matomo-version 5\.3\.0/);
  assert.match(versionProblem("garbage", "5.2.1") ?? "", /not a Matomo version/);
});
