import { test } from "node:test";
import assert from "node:assert/strict";
import { isTempDatabase, quoteDatabase, quoteTable, TEMP_DATABASE_PATTERN, tempDatabaseName } from "./naming.ts";
import { databaseLockName, tempAccountName, tempDatabasesOf } from "./temp-database.ts";

test("temporary databases are named per purpose and tenant database, apart from every tenant database", () => {
  assert.equal(tempDatabaseName("verify", "mt_acme_corp", "1a2b"), "mms_verify_acme_corp_1a2b");
  assert.equal(tempDatabaseName("restore", "mt_acme", "0000"), "mms_restore_acme_0000");
  assert.equal(tempDatabaseName("replaced", "mt_acme", "ffff"), "mms_replaced_acme_ffff");
  assert.equal(tempDatabaseName("import", "mt_acme_corp", "1a2b"), "mms_import_acme_corp_1a2b");
  const longest = tempDatabaseName("replaced", `mt_${"a".repeat(28)}`, "abcd");
  assert.ok(longest.length <= 64 && databaseLockName(longest).length <= 64, "fits MariaDB's limits on database and lock names");
  assert.ok(isTempDatabase(longest));
  assert.match(tempDatabaseName("import", `mt_${"a".repeat(28)}`, "ffff"), TEMP_DATABASE_PATTERN);
  assert.throws(() => tempDatabaseName("verify", "acme", "0000"), /not a tenant database name/);
  assert.throws(() => tempDatabaseName("import", "matomo", "0000"), /not a tenant database name/);
  assert.throws(() => tempDatabaseName("verify", "mt_acme", "xyz1"), /not 4 hex digits/);
  assert.equal(isTempDatabase("mt_acme"), false);
});

test("a tenant's stale temporary databases are told apart from those of tenants whose names extend its own", () => {
  const names = [
    "mms_verify_ax_0bad", "mms_verify_ax_b_0bad", "mms_verify_ax_beef_1234", "mms_verify_ax_beef", "mms_restore_ax_0bad",
    "mms_verify_axb_0bad", "mt_ax", "mms_verify_ax_0bad_", "mms_verify_ax_BEEF",
  ];
  assert.deepEqual(tempDatabasesOf(names, "verify", "mt_ax"), ["mms_verify_ax_0bad", "mms_verify_ax_beef"]);
  assert.deepEqual(tempDatabasesOf(names, "verify", "mt_ax_b"), ["mms_verify_ax_b_0bad"]);
  assert.deepEqual(tempDatabasesOf(names, "verify", "mt_ax_beef"), ["mms_verify_ax_beef_1234"]);
  assert.deepEqual(tempDatabasesOf(names, "restore", "mt_ax"), ["mms_restore_ax_0bad"]);
  const imports = ["mms_import_ab_0001", "mms_import_ab_c_0002", "mms_import_ab_zzzz", "mms_verify_ab_0003", "mms_import_ab_00041"];
  assert.deepEqual(tempDatabasesOf(imports, "import", "mt_ab"), ["mms_import_ab_0001"]);
  assert.deepEqual(tempDatabasesOf(imports, "import", "mt_ab_c"), ["mms_import_ab_c_0002"]);
});

test("only tenant and temporary database names are ever quoted as databases", () => {
  assert.equal(quoteDatabase("mt_acme"), "`mt_acme`");
  assert.equal(quoteTable("mms_verify_acme_1a2b", "we`ird"), "`mms_verify_acme_1a2b`.`we``ird`");
  assert.equal(quoteTable("mms_import_a1_0000", "we`ird"), "`mms_import_a1_0000`.`we``ird`");
  for (const bad of ["mysql", "mms_verify_acme", "mt_acme`; DROP DATABASE x; --", "mms_other_acme_1a2b"]) {
    assert.throws(() => quoteDatabase(bad), /refusing to quote/);
  }
});

test("a temporary database's account fits MySQL's 32 characters and is the same for the same database", () => {
  const name = "mms_import_" + "a".repeat(28) + "_ffff";
  const user = tempAccountName(name);
  assert.ok(user.length <= 32);
  assert.match(user, /^mms_imp_[0-9a-f]{16}$/);
  assert.equal(user, tempAccountName(name));
  assert.notEqual(user, tempAccountName("mms_import_ab_0000"));
});
