// A steady tracking load whose every hit carries a unique sequence number (its page title is `seq N`), so
// that what the tracker answered can be compared, hit by hit, with what the tenant's database stored.
import { setTimeout as sleep } from "node:timers/promises";
import type { Connection, RowDataPacket } from "mysql2/promise";
import type { MatomoEndpoint } from "../../src/matomo/client.ts";
import { newVisitor, track, type Visitor } from "./matomo.ts";

export interface LoadResult {
  /** The page-title prefix of this load's hits (`seq`, or the label given). */
  readonly label: string;
  readonly sent: number;
  /** When each hit was sent (ms since the epoch), by sequence number. */
  readonly sentAt: ReadonlyMap<number, number>;
  /** Sequence numbers the tracker answered 2xx. */
  readonly accepted: ReadonlySet<number>;
  /** Answers other than 2xx (status, or the error), by sequence number. */
  readonly refused: ReadonlyMap<number, string>;
}

export interface RunningLoad {
  stop(): Promise<LoadResult>;
}

/** Sends `rate` hits a second (each awaited, `concurrency` at a time) until stopped; titles `<label> N`. */
export function startLoad(tracker: MatomoEndpoint, rate: number, opts: { label?: string; concurrency?: number; visitors?: number } = {}): RunningLoad {
  const label = opts.label ?? "seq";
  const concurrency = opts.concurrency ?? 4;
  const visitors = opts.visitors ?? 5;
  const sentAt = new Map<number, number>();
  const people: Visitor[] = Array.from({ length: visitors }, () => newVisitor());
  const accepted = new Set<number>();
  const refused = new Map<number, string>();
  let seq = 0;
  let stopping = false;
  const started = Date.now();
  const worker = async () => {
    while (!stopping) {
      const n = ++seq;
      // Hit n is due at n / rate seconds after the start: the load stays steady whatever the latency.
      const due = started + (n * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      const who = people[n % people.length] ?? people[0]!;
      sentAt.set(n, Date.now());
      try {
        const status = await track(tracker, who, { url: `https://www.example.test/${label}/${n}`, action_name: `${label} ${n}` });
        if (status >= 200 && status < 300) accepted.add(n);
        else refused.set(n, `HTTP ${status}`);
      } catch (err) {
        refused.set(n, (err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, () => worker());
  return {
    async stop() {
      stopping = true;
      await Promise.all(workers);
      return { label, sent: accepted.size + refused.size, sentAt, accepted, refused };
    },
  };
}

export interface LoadAccount {
  readonly sent: number;
  readonly accepted: number;
  /** Distinct sequence numbers in the log tables. */
  readonly stored: number;
  /** Accepted but not stored. */
  readonly lost: number;
  /** Stored more than once. */
  readonly duplicated: number;
  /** Stored although the answer was not 2xx (a timeout after Matomo had it, say). */
  readonly storedUnanswered: number;
  readonly lostExamples: readonly number[];
}

/**
 * Counts each sequence number's page views in the tenant's log tables and compares with what was accepted;
 * with `sentAfter`, only the hits sent from then on are accounted for.
 */
export async function accountLoad(db: Connection, load: LoadResult, sentAfter = 0): Promise<LoadAccount> {
  const [rows] = await db.query<RowDataPacket[]>(
    "SELECT a.name, COUNT(*) AS n FROM matomo_log_link_visit_action v JOIN matomo_log_action a ON a.idaction = v.idaction_name " +
    "WHERE a.type = 4 AND a.name LIKE ? GROUP BY a.name", [`${load.label} %`]);
  const counted = (n: number) => (load.sentAt.get(n) ?? 0) >= sentAfter;
  const counts = new Map(rows.map((r) => [Number(String(r.name).slice(load.label.length + 1)), Number(r.n)] as const).filter(([n]) => counted(n)));
  const accepted = new Set([...load.accepted].filter(counted));
  const lost = [...accepted].filter((n) => !counts.has(n)).sort((a, b) => a - b);
  return {
    sent: [...load.sentAt.keys()].filter(counted).length,
    accepted: accepted.size,
    stored: counts.size,
    lost: lost.length,
    duplicated: [...counts.values()].filter((n) => n > 1).length,
    storedUnanswered: [...counts.keys()].filter((n) => !accepted.has(n)).length,
    lostExamples: lost.slice(0, 10),
  };
}
