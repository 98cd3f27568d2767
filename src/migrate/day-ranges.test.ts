import { test } from "node:test";
import assert from "node:assert/strict";
import { dayRanges } from "./import.ts";

test("the imported days reach the archiver widened a day for time zones, runs merged into ranges", () => {
  assert.deepEqual(dayRanges([]), []);
  assert.deepEqual(dayRanges(["2012-01-05"]), ["2012-01-04,2012-01-06"]);
  assert.deepEqual(dayRanges(["2012-01-05", "2012-01-07", "2012-03-01", "2012-02-29"]), ["2012-01-04,2012-01-08", "2012-02-28,2012-03-02"], "overlaps merge, leap day included");
  assert.deepEqual(dayRanges(["2011-12-31"]), ["2011-12-30,2012-01-01"], "across a year's end");
});
