import { test } from "node:test";
import assert from "node:assert/strict";
import { newBackupId } from "./layout.ts";
import { isoWeek, planRetention, type RetentionCandidate, type RetentionPolicy } from "./retention.ts";

const HOUR = 60 * 60 * 1000;

function backup(at: string, verified: RetentionCandidate["verified"] = null, random = "0000"): RetentionCandidate {
  const d = new Date(at);
  return { backupId: newBackupId(d, random), createdAt: d.toISOString(), verified };
}

/** Hourly backups from `from` (inclusive) to `to` (exclusive), oldest first. */
function hourly(from: string, to: string): RetentionCandidate[] {
  const out: RetentionCandidate[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += HOUR) out.push(backup(new Date(t).toISOString()));
  return out;
}

function id(at: string): string {
  return newBackupId(new Date(at), "0000");
}

const only = (p: Partial<RetentionPolicy>): RetentionPolicy => ({ keepLast: 1, daily: 0, weekly: 0, monthly: 0, ...p });

test("keepLast alone keeps the newest n backups, whatever order they come in", () => {
  const all = hourly("2026-11-01T00:00:00Z", "2026-11-01T10:00:00Z");
  const plan = planRetention([...all.slice(4), ...all.slice(0, 4).reverse()], only({ keepLast: 3 }), new Date("2026-12-01T00:00:00Z"));
  assert.deepEqual(plan.keep.map((k) => k.backupId), [id("2026-11-01T09:00:00Z"), id("2026-11-01T08:00:00Z"), id("2026-11-01T07:00:00Z")]);
  assert.deepEqual(plan.keep[0]?.reasons, ["newest", "last 3"]);
  assert.deepEqual(plan.keep[1]?.reasons, ["last 3"]);
  assert.equal(plan.remove.length, 7);
  assert.equal(plan.remove[0], id("2026-11-01T06:00:00Z"), "removals are listed newest first");
  assert.deepEqual(planRetention([...all].reverse(), only({ keepLast: 3 })), planRetention(all, only({ keepLast: 3 })));
});

test("90 days of hourly backups with 24 last, 7 daily, 4 weekly and 3 monthly keep exactly the expected set", () => {
  // 2026-09-01 to 2026-11-29 (a Sunday, the end of ISO week 48), 2160 backups.
  const all = hourly("2026-09-01T00:00:00Z", "2026-11-30T00:00:00Z");
  assert.equal(all.length, 90 * 24);
  const plan = planRetention(all, { keepLast: 24, daily: 7, weekly: 4, monthly: 3 }, new Date("2026-11-30T00:00:00Z"));
  const lastDay = Array.from({ length: 24 }, (_, h) => id(`2026-11-29T${String(23 - h).padStart(2, "0")}:00:00Z`));
  const expected = [
    ...lastDay,
    // daily: the last backup of each of the 6 days before
    id("2026-11-28T23:00:00Z"), id("2026-11-27T23:00:00Z"), id("2026-11-26T23:00:00Z"),
    id("2026-11-25T23:00:00Z"), id("2026-11-24T23:00:00Z"), id("2026-11-23T23:00:00Z"),
    // weekly: the Sundays ending ISO weeks 47, 46 and 45 (week 48 is the newest backup's)
    id("2026-11-22T23:00:00Z"), id("2026-11-15T23:00:00Z"), id("2026-11-08T23:00:00Z"),
    // monthly: the last backup of October and of September
    id("2026-10-31T23:00:00Z"), id("2026-09-30T23:00:00Z"),
  ];
  assert.deepEqual(plan.keep.map((k) => k.backupId), expected);
  assert.equal(plan.remove.length, all.length - expected.length);
  assert.deepEqual(new Set([...plan.remove, ...expected]).size, all.length, "every backup is either kept or removed");

  const reasons = new Map(plan.keep.map((k) => [k.backupId, k.reasons]));
  assert.deepEqual(reasons.get(id("2026-11-29T23:00:00Z")), ["newest", "last 24", "daily 2026-11-29", "weekly 2026-W48", "monthly 2026-11"]);
  assert.deepEqual(reasons.get(id("2026-11-23T23:00:00Z")), ["daily 2026-11-23"]);
  assert.deepEqual(reasons.get(id("2026-11-22T23:00:00Z")), ["weekly 2026-W47"]);
  assert.deepEqual(reasons.get(id("2026-09-30T23:00:00Z")), ["monthly 2026-09"]);
});

test("weeks are ISO weeks: they start on Monday and may straddle a month and a year", () => {
  assert.equal(isoWeek(Date.parse("2026-11-23T00:00:00Z")), "2026-W48"); // Monday
  assert.equal(isoWeek(Date.parse("2026-11-22T23:59:59Z")), "2026-W47"); // Sunday
  assert.equal(isoWeek(Date.parse("2027-01-03T12:00:00Z")), "2026-W53");
  assert.equal(isoWeek(Date.parse("2027-01-04T00:00:00Z")), "2027-W01");
  assert.equal(isoWeek(Date.parse("2024-12-30T00:00:00Z")), "2025-W01");
  assert.equal(isoWeek(Date.parse("2021-01-03T00:00:00Z")), "2020-W53");

  // A backup at noon every day from 2026-12-20 to 2027-01-10.
  const all: RetentionCandidate[] = [];
  for (let t = Date.parse("2026-12-20T12:00:00Z"); t <= Date.parse("2027-01-10T12:00:00Z"); t += 24 * HOUR) all.push(backup(new Date(t).toISOString()));
  const weekly = planRetention(all, only({ weekly: 3 }), new Date("2027-02-01T00:00:00Z"));
  assert.deepEqual(weekly.keep.map((k) => [k.backupId, k.reasons]), [
    [id("2027-01-10T12:00:00Z"), ["newest", "last 1", "weekly 2027-W01"]],
    [id("2027-01-03T12:00:00Z"), ["weekly 2026-W53"]],
    [id("2026-12-27T12:00:00Z"), ["weekly 2026-W52"]],
  ]);
  const monthly = planRetention(all, only({ monthly: 5 }), new Date("2027-02-01T00:00:00Z"));
  assert.deepEqual(monthly.keep.map((k) => [k.backupId, k.reasons]), [
    [id("2027-01-10T12:00:00Z"), ["newest", "last 1", "monthly 2027-01"]],
    [id("2026-12-31T12:00:00Z"), ["monthly 2026-12"]],
  ], "only months that have a backup count, and there are only two");
});

test("days are UTC calendar days that have a backup; a day without one takes no place", () => {
  const all = [
    backup("2026-11-10T23:59:59Z"), backup("2026-11-10T00:00:00Z"),
    backup("2026-11-05T12:00:00Z"), backup("2026-11-04T23:30:00Z"), backup("2026-11-01T12:00:00Z"),
  ];
  const plan = planRetention(all, only({ daily: 3 }), new Date("2026-11-20T00:00:00Z"));
  assert.deepEqual(plan.keep.map((k) => [k.backupId, k.reasons]), [
    [id("2026-11-10T23:59:59Z"), ["newest", "last 1", "daily 2026-11-10"]],
    [id("2026-11-05T12:00:00Z"), ["daily 2026-11-05"]],
    [id("2026-11-04T23:30:00Z"), ["daily 2026-11-04"]],
  ]);
  assert.deepEqual(plan.remove, [id("2026-11-10T00:00:00Z"), id("2026-11-01T12:00:00Z")]);
});

test("the newest successfully verified backup is kept even when the policy would drop it; a failed verification protects nothing", () => {
  const ok = { at: "2026-11-20T00:00:00Z", ok: true };
  const failed = { at: "2026-11-21T00:00:00Z", ok: false };
  const all = [
    backup("2026-11-01T00:00:00Z", ok),
    backup("2026-11-02T00:00:00Z", ok), // newest verified
    backup("2026-11-03T00:00:00Z", failed),
    backup("2026-11-04T00:00:00Z"),
    backup("2026-11-05T00:00:00Z"),
  ];
  const plan = planRetention(all, only({ keepLast: 2 }), new Date("2026-11-30T00:00:00Z"));
  assert.deepEqual(plan.keep.map((k) => [k.backupId, k.reasons]), [
    [id("2026-11-05T00:00:00Z"), ["newest", "last 2"]],
    [id("2026-11-04T00:00:00Z"), ["last 2"]],
    [id("2026-11-02T00:00:00Z"), ["newest verified"]],
  ]);
  assert.deepEqual(plan.remove, [id("2026-11-03T00:00:00Z"), id("2026-11-01T00:00:00Z")]);

  const noneOk = planRetention([backup("2026-11-03T00:00:00Z", failed), backup("2026-11-04T00:00:00Z")], only({}), new Date("2026-11-30T00:00:00Z"));
  assert.deepEqual(noneOk.remove, [id("2026-11-03T00:00:00Z")]);
});

test("an empty list plans nothing", () => {
  assert.deepEqual(planRetention([], { keepLast: 24, daily: 7, weekly: 4, monthly: 12 }), { keep: [], remove: [] });
});

test("with every count 0 but keepLast 1 only the newest backup is kept", () => {
  const all = hourly("2026-10-30T00:00:00Z", "2026-11-02T00:00:00Z");
  const plan = planRetention(all, only({}), new Date("2026-11-02T00:00:00Z"));
  assert.deepEqual(plan.keep, [{ backupId: id("2026-11-01T23:00:00Z"), reasons: ["newest", "last 1"] }]);
  assert.equal(plan.remove.length, all.length - 1);
});

test("backups started in the same second are ordered by id", () => {
  const a = backup("2026-11-01T00:00:00Z", null, "aaaa");
  const b = backup("2026-11-01T00:00:00Z", null, "bbbb");
  assert.deepEqual(planRetention([a, b], only({}), new Date("2026-11-02T00:00:00Z")), { keep: [{ backupId: b.backupId, reasons: ["newest", "last 1"] }], remove: [a.backupId] });
  assert.deepEqual(planRetention([b, a], only({}), new Date("2026-11-02T00:00:00Z")).remove, [a.backupId]);
});

test("backups dated after now or with an unreadable date are kept and take no place of the policy", () => {
  const future = backup("2099-01-01T00:00:00Z");
  const unreadable = { backupId: "20261101T000000Z-ffff", createdAt: "yesterday", verified: null };
  const all = [backup("2026-11-01T00:00:00Z"), backup("2026-11-02T00:00:00Z"), future, unreadable];
  const plan = planRetention(all, only({}), new Date("2026-11-30T00:00:00Z"));
  assert.deepEqual(plan.keep.map((k) => [k.backupId, k.reasons]), [
    [future.backupId, ["created after now"]],
    [id("2026-11-02T00:00:00Z"), ["newest", "last 1"]],
    [unreadable.backupId, ["createdAt unreadable"]],
  ]);
  assert.deepEqual(plan.remove, [id("2026-11-01T00:00:00Z")]);
});

test("a policy that is not whole numbers, or keeps no last backup, is refused", () => {
  assert.throws(() => planRetention([], only({ keepLast: 0 })), /keepLast must be a whole number of 1 or more/);
  assert.throws(() => planRetention([], only({ daily: -1 })), /daily must be a whole number of 0 or more/);
  assert.throws(() => planRetention([], only({ weekly: 1.5 })), /weekly must be a whole number/);
  assert.throws(() => planRetention([], only({ monthly: Number.NaN })), /monthly must be a whole number/);
});
