import { test } from "node:test";
import assert from "node:assert/strict";
import { backupIdTime, backupKeys, isBackupId, newBackupId, normalizePrefix } from "./layout.ts";

test("backup ids sort by time and encode it to the second", () => {
  const a = newBackupId(new Date("2026-11-26T15:12:00.123Z"), "00ff");
  const b = newBackupId(new Date("2026-11-26T15:12:01Z"), "0000");
  const c = newBackupId(new Date("2027-01-02T03:04:05Z"), "abcd");
  assert.equal(a, "20261126T151200Z-00ff");
  assert.ok(isBackupId(a) && isBackupId(b) && isBackupId(c));
  assert.deepEqual([c, a, b].sort(), [a, b, c]);
  assert.equal(backupIdTime(c).toISOString(), "2027-01-02T03:04:05.000Z");
  assert.match(newBackupId(), /^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
});

test("keys put the dump and its manifest in one folder per backup", () => {
  assert.deepEqual(backupKeys("acme", "20261126T151200Z-00ff"), {
    folder: "tenants/acme/20261126T151200Z-00ff/",
    dump: "tenants/acme/20261126T151200Z-00ff/dump.sql.gz",
    manifest: "tenants/acme/20261126T151200Z-00ff/manifest.json",
    verification: "tenants/acme/20261126T151200Z-00ff/verification.json",
  });
  assert.equal(backupKeys("acme", "20261126T151200Z-00ff", "prod").dump, "prod/tenants/acme/20261126T151200Z-00ff/dump.sql.gz");
});

test("names that could escape a tenant's folder are refused", () => {
  assert.throws(() => backupKeys("../x", "20261126T151200Z-00ff"), /not a valid tenant name/);
  assert.throws(() => backupKeys("acme", "../../other"), /not a backup id/);
  assert.throws(() => normalizePrefix("/abs"), /not a usable key prefix/);
  assert.throws(() => normalizePrefix("a//b"), /not a usable key prefix/);
  assert.equal(normalizePrefix(undefined), "");
  assert.equal(normalizePrefix("a/b/"), "a/b/");
});
