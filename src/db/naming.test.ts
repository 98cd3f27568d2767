import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  grantDatabasePattern, isTenantName, quoteDatabase, quoteIdent, TENANT_DATABASE_PATTERN, TENANT_NAME_PATTERN, tenantDatabaseName,
} from "./naming.ts";

const tenantName = fc.stringMatching(TENANT_NAME_PATTERN);

test("a valid tenant name maps to mt_ plus the name with - replaced by _", () => {
  assert.equal(tenantDatabaseName("acme"), "mt_acme");
  assert.equal(tenantDatabaseName("acme-shop-2"), "mt_acme_shop_2");
  assert.equal(tenantDatabaseName("ab"), "mt_ab");
  assert.equal(tenantDatabaseName("a-b"), "mt_a_b");
  const longest = `a${"b".repeat(26)}c`;
  assert.equal(longest.length, 28);
  assert.equal(tenantDatabaseName(longest), `mt_${longest}`);
  assert.equal(tenantDatabaseName(longest).length, 31);
});

test("a name outside the contract is refused with a sentence that names it", () => {
  const bad = [
    "", "a", "A", "Acme", "1acme", "-acme", "acme-", "ac_me", "ac me", "acmé", "acme.shop",
    `a${"b".repeat(27)}c`, "x`; DROP DATABASE mysql; --", "a'b", "a\u0000b", "acme\n",
  ];
  for (const name of bad) {
    assert.equal(isTenantName(name), false, name);
    assert.throws(() => tenantDatabaseName(name), (e: unknown) =>
      e instanceof Error && e.message.includes("is not a valid tenant name") && e.message.includes("2 to 28 characters"), name);
  }
  assert.throws(() => tenantDatabaseName(undefined as unknown as string), /is not a valid tenant name/);
});

test("every valid name maps to a recognisable database name of at most 31 characters", () => {
  fc.assert(fc.property(tenantName, (name) => {
    const db = tenantDatabaseName(name);
    assert.ok(db.length <= 31, db);
    assert.match(db, TENANT_DATABASE_PATTERN);
    assert.equal(db.slice(3).replaceAll("_", "-"), name, "the mapping is reversible");
  }));
});

test("two different tenants never share a database or user", () => {
  fc.assert(fc.property(tenantName, tenantName, (a, b) => {
    fc.pre(a !== b);
    assert.notEqual(tenantDatabaseName(a), tenantDatabaseName(b));
  }));
  // The pair that would collide if tenant names could contain `_`.
  assert.notEqual(tenantDatabaseName("a-b"), tenantDatabaseName("axb"));
});

test("any string either maps inside the contract or is refused", () => {
  fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
    let db: string;
    try {
      db = tenantDatabaseName(s);
    } catch {
      assert.equal(TENANT_NAME_PATTERN.test(s), false);
      return;
    }
    assert.match(db, TENANT_DATABASE_PATTERN);
  }));
});

test("identifiers are backtick-quoted with backticks doubled; empty names and NUL are refused", () => {
  assert.equal(quoteIdent("mt_acme"), "`mt_acme`");
  assert.equal(quoteIdent("we`ird"), "`we``ird`");
  assert.equal(quoteIdent("`"), "````");
  assert.equal(quoteIdent("a b; DROP TABLE x"), "`a b; DROP TABLE x`");
  assert.throws(() => quoteIdent(""), /refusing to quote an empty identifier/);
  assert.throws(() => quoteIdent("a\0b"), /refusing to quote .*NUL/);
  assert.equal(quoteDatabase("mt_acme"), "`mt_acme`");
  for (const bad of ["acme", "mt_", "mt_a`b", "mt_A", "mysql", "mt_acme`.* TO x"]) {
    assert.throws(() => quoteDatabase(bad), /refusing to quote/, bad);
  }
});

test("a grant names exactly one database: _ is escaped so it is not a wildcard", () => {
  assert.equal(grantDatabasePattern("mt_a_b"), "`mt\\_a\\_b`");
  assert.equal(grantDatabasePattern("mt_acme"), "`mt\\_acme`");
});
