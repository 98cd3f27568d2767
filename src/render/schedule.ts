// Spreads cron schedules: "H" in a field becomes a value derived from a key (a tenant or pool name),
// the same on every render, so 200 tenants on an hourly plan start at many different minutes instead
// of all at minute 0, and a given tenant always backs up at the same minute.
import { createHash } from "node:crypto";

// Range of each of the five fields; days of the month stop at 28 so that every month has the day.
const RANGES: readonly (readonly [number, number])[] = [[0, 59], [0, 23], [1, 28], [1, 12], [0, 6]];

function hashOf(key: string, field: number): number {
  return createHash("sha256").update(`${field}:${key}`).digest().readUInt32BE(0);
}

export function spreadSchedule(schedule: string, key: string): string {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`${JSON.stringify(schedule)} is not a five-field cron schedule`);
  return fields.map((f, i) => {
    if (!f.includes("H")) return f;
    const [lo, hi] = RANGES[i] as readonly [number, number];
    if (f !== "H") throw new Error(`${JSON.stringify(schedule)}: H must stand alone in a field`);
    return String(lo + (hashOf(key, i) % (hi - lo + 1)));
  }).join(" ");
}
