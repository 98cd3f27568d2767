import { test } from "node:test";
import assert from "node:assert/strict";
import { humanBytes } from "./units.ts";

test("sizes read at a glance", () => {
  assert.equal(humanBytes(0), "0 B");
  assert.equal(humanBytes(1023), "1023 B");
  assert.equal(humanBytes(1536), "1.5 KiB");
  assert.equal(humanBytes(1_638_571), "1.6 MiB");
  assert.equal(humanBytes(210 * 1024 ** 3), "210.0 GiB");
});
