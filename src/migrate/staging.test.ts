import { test } from "node:test";
import assert from "node:assert/strict";
import { qualified, quoteStaging, STAGING_PATTERN, stagingName, stagingsOf, stagingUser } from "./staging.ts";

test("staging databases are named after the tenant database and never look like one", () => {
  assert.equal(stagingName("mt_acme_corp", "1a2b"), "mms_import_acme_corp_1a2b");
  assert.match(stagingName("mt_" + "a".repeat(28)), STAGING_PATTERN);
  assert.throws(() => stagingName("matomo"), /not a tenant database name/);
  assert.throws(() => stagingName("mt_acme", "xyz!"), /not 4 hex digits/);
  assert.throws(() => quoteStaging("mt_acme"), /refusing/);
  assert.equal(qualified(quoteStaging("mms_import_a1_0000"), "we`ird"), "`mms_import_a1_0000`.`we``ird`");
});

test("a tenant's staging databases are told apart from those of a tenant whose name extends it", () => {
  const names = ["mms_import_ab_0001", "mms_import_ab_c_0002", "mms_import_ab_zzzz", "mms_verify_ab_0003", "mms_import_ab_00041"];
  assert.deepEqual(stagingsOf(names, "mt_ab"), ["mms_import_ab_0001"]);
  assert.deepEqual(stagingsOf(names, "mt_ab_c"), ["mms_import_ab_c_0002"]);
});

test("the loading account fits MySQL's 32 characters and is the same for the same staging database", () => {
  const user = stagingUser("mms_import_" + "a".repeat(28) + "_ffff");
  assert.ok(user.length <= 32);
  assert.equal(user, stagingUser("mms_import_" + "a".repeat(28) + "_ffff"));
  assert.notEqual(user, stagingUser("mms_import_ab_0000"));
});
