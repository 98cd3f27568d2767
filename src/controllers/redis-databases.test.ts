import { test } from "node:test";
import assert from "node:assert/strict";
import { freeDatabase } from "./redis-databases.ts";

test("a queued tenant gets the smallest Redis database that is free or left by a deleted tenant; 0 is never given; a full server has none", () => {
  const tenants = new Set(["a", "b"]);
  assert.equal(freeDatabase({}, 16, tenants), 1);
  assert.equal(freeDatabase({ 1: "a", 2: "b" }, 16, tenants), 3);
  assert.equal(freeDatabase({ 1: "a", 2: "gone", 3: "b" }, 16, tenants), 2, "a deleted tenant's number is taken again (and emptied)");
  assert.equal(freeDatabase({ 1: "a (new)", 2: "b" }, 16, tenants), 3, "a claim not finished yet is still held");
  assert.equal(freeDatabase({ 1: "a", 2: "b" }, 3, tenants), undefined);
});
