import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import { parseNodeCount } from "./dev.ts";

test("--nodes accepts 1 to 100 and refuses anything else with the accepted range", () => {
  assert.equal(parseNodeCount("1"), 1);
  assert.equal(parseNodeCount("100"), 100);
  for (const bad of ["0", "101", "abc", "-1", "2.5", ""]) {
    assert.throws(() => parseNodeCount(bad), InvalidArgumentError, `"${bad}" must be refused`);
  }
});
