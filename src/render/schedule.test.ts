import { test } from "node:test";
import assert from "node:assert/strict";
import { spreadSchedule } from "./schedule.ts";

test("H becomes a stable per-key value and other fields are kept", () => {
  const a = spreadSchedule("H * * * *", "acme");
  assert.equal(a, spreadSchedule("H * * * *", "acme"));
  assert.match(a, /^([0-9]|[1-5][0-9]) \* \* \* \*$/);
  assert.equal(spreadSchedule("15 2 * * *", "acme"), "15 2 * * *");
  const nightly = spreadSchedule("H H * * *", "pool-a").split(" ").map(Number);
  assert.ok((nightly[0] ?? -1) >= 0 && (nightly[0] ?? 99) <= 59 && (nightly[1] ?? -1) >= 0 && (nightly[1] ?? 99) <= 23);
});

test("200 tenants on an hourly plan are spread over the hour", () => {
  const minutes = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const m = spreadSchedule("H * * * *", `tenant-${i}`).split(" ")[0] ?? "";
    minutes.set(m, (minutes.get(m) ?? 0) + 1);
  }
  assert.ok(minutes.size >= 45, `only ${minutes.size} distinct minutes`);
  assert.ok(Math.max(...minutes.values()) <= 10, "no minute carries more than 10 of 200 tenants");
});

test("H mixed with other syntax in one field is refused", () => {
  assert.throws(() => spreadSchedule("H/15 * * * *", "x"), /H must stand alone/);
  assert.throws(() => spreadSchedule("H * * *", "x"), /five-field/);
});
