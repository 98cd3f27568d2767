import { test } from "node:test";
import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { parseDateRange } from "./archive.ts";

test("--dates takes FROM,TO of real calendar dates, FROM not after TO; anything else is one sentence", () => {
  assert.equal(parseDateRange("2024-01-01,2024-03-31"), "2024-01-01,2024-03-31");
  assert.equal(parseDateRange("2024-02-29,2024-02-29"), "2024-02-29,2024-02-29");
  for (const [bad, why] of [["2024-01-01", /FROM,TO/], ["2024-02-30,2024-03-01", /FROM,TO/], ["2024-03-01,2024-01-01", /FROM is after TO/], ["yesterday,today", /FROM,TO/]] as const) {
    assert.throws(() => parseDateRange(bad), (e: unknown) => e instanceof UserError && why.test(e.message), bad);
  }
});
