import { test } from "node:test";
import assert from "node:assert/strict";
import { isScratchDatabase, quoteDatabase, quoteTableIn, scratchDatabaseName, scratchDatabasesOf } from "./scratch.ts";

test("scratch databases are named per kind and tenant database, apart from every tenant database", () => {
  assert.equal(scratchDatabaseName("verify", "mt_acme_corp", "1a2b"), "mms_verify_acme_corp_1a2b");
  assert.equal(scratchDatabaseName("restore", "mt_acme", "0000"), "mms_restore_acme_0000");
  assert.equal(scratchDatabaseName("replaced", "mt_acme", "ffff"), "mms_replaced_acme_ffff");
  assert.match(scratchDatabaseName("verify", "mt_acme"), /^mms_verify_acme_[0-9a-f]{4}$/);
  const longest = scratchDatabaseName("replaced", `mt_${"a".repeat(28)}`, "abcd");
  assert.ok(longest.length <= 64 && `mms-restore-${longest}`.length <= 64, "fits MariaDB's limits on database and lock names");
  assert.ok(isScratchDatabase(longest));
  assert.throws(() => scratchDatabaseName("verify", "acme"), /not a tenant database name/);
  assert.throws(() => scratchDatabaseName("verify", "mt_acme", "xyz1"), /not 4 hex digits/);
  assert.equal(isScratchDatabase("mt_acme"), false);
});

test("a tenant's stale scratch databases are told apart from those of tenants whose names extend its own", () => {
  const names = [
    "mms_verify_ax_0bad", "mms_verify_ax_b_0bad", "mms_verify_ax_beef_1234", "mms_verify_ax_beef", "mms_restore_ax_0bad",
    "mms_verify_axb_0bad", "mt_ax", "mms_verify_ax_0bad_", "mms_verify_ax_BEEF",
  ];
  assert.deepEqual(scratchDatabasesOf(names, "verify", "mt_ax"), ["mms_verify_ax_0bad", "mms_verify_ax_beef"]);
  assert.deepEqual(scratchDatabasesOf(names, "verify", "mt_ax_b"), ["mms_verify_ax_b_0bad"]);
  assert.deepEqual(scratchDatabasesOf(names, "verify", "mt_ax_beef"), ["mms_verify_ax_beef_1234"]);
  assert.deepEqual(scratchDatabasesOf(names, "restore", "mt_ax"), ["mms_restore_ax_0bad"]);
});

test("only tenant and scratch database names are ever quoted", () => {
  assert.equal(quoteDatabase("mt_acme"), "`mt_acme`");
  assert.equal(quoteTableIn("mms_verify_acme_1a2b", "we`ird"), "`mms_verify_acme_1a2b`.`we``ird`");
  for (const bad of ["mysql", "mms_verify_acme", "mt_acme`; DROP DATABASE x; --", "mms_other_acme_1a2b"]) {
    assert.throws(() => quoteDatabase(bad), /refusing to quote/);
  }
});
