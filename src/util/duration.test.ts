import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

test("durations accept seconds, minutes, hours and combinations", () => {
  assert.equal(parseDuration("90"), 90_000);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("250ms"), 250);
  for (const bad of ["", "5x", "m5", "1.5m", "5 m"]) assert.throws(() => parseDuration(bad), /not a duration/, bad);
});
