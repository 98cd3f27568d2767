import { test } from "node:test";
import assert from "node:assert/strict";
import { scheduleIntervalSeconds } from "./backup-rpo.ts";

const H = 3600;

test("the RPO of a schedule is the longest gap between two of its runs", () => {
  const cases: [string, number][] = [
    ["H * * * *", H], // the built-in plans: hourly at a per-tenant minute
    ["5 * * * *", H],
    ["0,30 * * * *", H / 2],
    ["0 */6 * * *", 6 * H],
    ["15 2 * * *", 24 * H],
    ["0 0,20 * * *", 20 * H], // 00:00 and 20:00: the long gap is from 00:00 to 20:00
    ["0 9-17 * * 1-5", 64 * H], // office hours: Friday 17:00 to Monday 09:00
    ["30 1 * * sun", 7 * 24 * H],
    ["0 0 1 * *", 31 * 24 * H],
    ["0 0 1 jan,jul *", 184 * 24 * H], // 1 July to 1 January
    // Both day fields restricted: either matches, so the 1st of the month fills in between Mondays.
    ["0 0 1 * 1", 7 * 24 * H],
    ["0 0 * * 0,7", 7 * 24 * H], // Sunday spelled both ways
  ];
  for (const [schedule, seconds] of cases) assert.equal(scheduleIntervalSeconds(schedule, "acme"), seconds, schedule);
});

test("H in the day-of-month field is spread per tenant and leaves a monthly interval", () => {
  assert.equal(scheduleIntervalSeconds("0 0 H * *", "acme"), 31 * 24 * H);
  assert.equal(scheduleIntervalSeconds("0 0 H * *", "globex"), 31 * 24 * H);
});

test("a schedule that cannot be read, or runs less than twice in two years, has no RPO", () => {
  for (const s of ["61 * * * *", "* * * *", "0 0 31 2 *", "0 0 30 2 *", "a * * * *", "5-1 * * * *", "*/0 * * * *", "0 0 1 1 * extra"]) {
    assert.equal(scheduleIntervalSeconds(s, "acme"), undefined, s);
  }
});
