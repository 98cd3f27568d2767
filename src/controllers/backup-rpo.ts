// The recovery point a plan promises: the longest a tenant's data can go without a backup, which is the
// longest gap between two runs of the plan's backup schedule (hourly: 1 h). The backup CronJobs run in
// UTC (src/render/backup-jobs.ts), so the schedule is read in UTC, the way the CronJob controller reads it.
import { spreadSchedule } from "../render/schedule.ts";

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** Two years: a schedule firing on some days of some months repeats within it (but for 29 February). */
const WINDOW_DAYS = 731;
const WINDOW_START = Date.UTC(2025, 0, 1);

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface Field {
  readonly values: ReadonlySet<number>;
  /** `*` or `?`: for days, an unrestricted field makes the other day field decide alone. */
  readonly star: boolean;
}

function value(text: string, names: readonly string[] | undefined, nameBase: number): number | undefined {
  const named = names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + nameBase;
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** One cron field (lists, ranges, steps, names); undefined when it is not one the CronJob controller accepts. */
function field(text: string, lo: number, hi: number, names?: readonly string[], nameBase = 0): Field | undefined {
  const values = new Set<number>();
  let star = false;
  for (const part of text.split(",")) {
    const [range = "", stepText, ...extra] = part.split("/");
    if (extra.length > 0) return undefined;
    const step = stepText === undefined ? 1 : /^\d+$/.test(stepText) ? Number(stepText) : 0;
    if (step < 1) return undefined;
    let from: number | undefined;
    let to: number | undefined;
    if (range === "*" || range === "?") {
      [from, to] = [lo, hi];
      if (step === 1) star = true;
    } else {
      const [a = "", b, ...more] = range.split("-");
      if (more.length > 0) return undefined;
      from = value(a, names, nameBase);
      // `N/step` runs from N to the end of the range.
      to = b === undefined ? (stepText === undefined ? from : hi) : value(b, names, nameBase);
    }
    if (from === undefined || to === undefined || from < lo || to > hi || from > to) return undefined;
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return { values, star };
}

const memo = new Map<string, number | undefined>();
const MEMO_SIZE = 1024;

/**
 * The longest gap between two consecutive runs of a five-field cron schedule, in seconds; undefined when
 * the schedule cannot be read or runs less than twice in two years. `H` fields are first spread for `key`.
 */
export function scheduleIntervalSeconds(schedule: string, key: string): number | undefined {
  let spread: string;
  try {
    spread = spreadSchedule(schedule, key);
  } catch {
    return undefined;
  }
  // A scrape asks for every tenant, and most tenants share a handful of schedules.
  if (memo.has(spread)) return memo.get(spread);
  if (memo.size >= MEMO_SIZE) memo.clear();
  const seconds = longestGapSeconds(spread);
  memo.set(spread, seconds);
  return seconds;
}

function longestGapSeconds(spread: string): number | undefined {
  const [m, h, dom, mon, dow] = spread.split(" ");
  const minutes = field(m ?? "", 0, 59);
  const hours = field(h ?? "", 0, 23);
  const days = field(dom ?? "", 1, 31);
  const months = field(mon ?? "", 1, 12, MONTHS, 1);
  const weekdays = field(dow ?? "", 0, 7, DAYS);
  if (!minutes || !hours || !days || !months || !weekdays) return undefined;
  // Runs within one day, in minutes after midnight, in order.
  const daily = [...hours.values].sort((a, b) => a - b).flatMap((hr) => [...minutes.values].sort((a, b) => a - b).map((mi) => hr * 60 + mi));
  let within = 0;
  for (let i = 1; i < daily.length; i++) within = Math.max(within, (daily[i] ?? 0) - (daily[i - 1] ?? 0));
  const first = daily[0] ?? 0;
  const last = daily.at(-1) ?? 0;

  let longest = 0;
  let previous: number | undefined;
  let runDays = 0;
  for (let d = 0; d < WINDOW_DAYS; d++) {
    const start = WINDOW_START + d * DAY_MS;
    const date = new Date(start);
    if (!months.values.has(date.getUTCMonth() + 1)) continue;
    const wd = date.getUTCDay();
    const domOk = days.values.has(date.getUTCDate());
    const dowOk = weekdays.values.has(wd) || (wd === 0 && weekdays.values.has(7));
    // Both day fields restricted: either may match (as cron has it); otherwise both must.
    if (!(days.star || weekdays.star ? domOk && dowOk : domOk || dowOk)) continue;
    runDays++;
    const at = start / MINUTE_MS;
    if (previous !== undefined) longest = Math.max(longest, at + first - previous);
    longest = Math.max(longest, within);
    previous = at + last;
  }
  if (runDays === 0 || (runDays === 1 && daily.length < 2)) return undefined;
  return longest * 60;
}
