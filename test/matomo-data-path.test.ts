// Real Matomo, the data path of one live tenant on the real node: hits sent to its tracker Service land in
// its log tables with spec.privacy's IP masking applied; the archiver CronJob's run archives them; the
// Reporting API through the web Service returns exactly the numbers sent.
// Run alone: scripts/test test/matomo-*.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RowDataPacket } from "mysql2";
import { reportingApi } from "../src/matomo/client.ts";
import { uniqueName } from "./helpers.ts";
import {
  createMatomoTenant, matomoBed, NEWER, newVisitor, removeMatomoTenant, runArchiver, tenantDatabase, tenantMatomo, track,
  type MatomoBed, type TenantMatomo,
} from "./support/matomo.ts";

let bed: MatomoBed | undefined;
let skip: string | undefined;
const tenant = uniqueName("md");
let m: TenantMatomo;

/** What the test sends: three visitors, six page views, one event, one goal conversion worth 10. */
const SENT = { visits: 3, pageviews: 6, events: 1, conversions: 1, revenue: 10, bounces: 1 };

before(async () => {
  const b = await matomoBed([NEWER]);
  if ("skip" in b) {
    skip = b.skip;
    return;
  }
  bed = b;
  const created = await createMatomoTenant(tenant, NEWER);
  if (created.code !== 0) throw new Error(`mms tenant create ${tenant}: ${created.stderr}`);
  m = await tenantMatomo(bed.http, tenant);
});

after(async () => {
  if (bed) await removeMatomoTenant(bed.http, tenant);
});

describe("matomo: tracking, archiving and reports of a live tenant", () => {
  test("hits sent to the tracker are stored with the IP masked; the archiver's run makes the reports; the Reporting API returns exactly what was sent", async (t) => {
    if (!bed) return t.skip(skip);
    const goal = await reportingApi<{ value: number } | number>(m.web, m.token, "Goals.addGoal", {
      idSite: 1, name: "Signup", matchAttribute: "manually", pattern: "", patternType: "contains",
    });
    const idgoal = typeof goal === "number" ? goal : goal.value;
    assert.ok(Number(idgoal) >= 1, "the goal is created");

    const [a, b, c] = [newVisitor(), newVisitor(), newVisitor()];
    const page = (path: string) => ({ url: `https://www.example.test${path}`, action_name: `Page ${path}` });
    const hits: [typeof a, Record<string, string | number>][] = [
      [a, { ...page("/"), new_visit: 1 }],
      [a, page("/pricing")],
      [a, { url: "https://www.example.test/pricing", e_c: "cta", e_a: "click", e_n: "signup" }],
      [a, { url: "https://www.example.test/pricing", idgoal, revenue: SENT.revenue }],
      [b, { ...page("/"), new_visit: 1 }],
      [c, { ...page("/"), new_visit: 1 }],
      [c, page("/docs")],
      [c, page("/docs/install")],
    ];
    for (const [visitor, params] of hits) {
      const status = await track(m.tracker, visitor, params);
      assert.ok(status >= 200 && status < 300, `tracking answered ${status}`);
    }

    const db = await tenantDatabase(tenant);
    try {
      const [visits] = await db.query<RowDataPacket[]>("SELECT INET6_NTOA(location_ip) AS ip FROM matomo_log_visit ORDER BY idvisit");
      assert.equal(visits.length, SENT.visits, "one visit per visitor");
      assert.deepEqual([...new Set(visits.map((v) => v.ip as string))], ["198.51.0.0"], "the forwarded addresses, two bytes masked (spec.privacy.anonymizeIpBytes 2)");
      const [actions] = await db.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM matomo_log_link_visit_action");
      assert.equal(Number(actions[0]?.n), SENT.pageviews + SENT.events, "page views and the event");
      const [conversions] = await db.query<RowDataPacket[]>("SELECT idgoal, revenue FROM matomo_log_conversion");
      assert.deepEqual(conversions.map((r) => [Number(r.idgoal), Number(r.revenue)]), [[Number(idgoal), SENT.revenue]]);
    } finally {
      await db.end();
    }

    const log = await runArchiver(bed, tenant);
    assert.match(log, /Done archiving!/, "core:archive ran to its end");

    const today = { idSite: 1, period: "day", date: "today" };
    const summary = await reportingApi<Record<string, number>>(m.web, m.token, "VisitsSummary.get", today);
    assert.equal(Number(summary.nb_visits), SENT.visits);
    assert.equal(Number(summary.nb_actions), SENT.pageviews + SENT.events);
    assert.equal(Number(summary.bounce_count), SENT.bounces);
    const actionsReport = await reportingApi<Record<string, number>>(m.web, m.token, "Actions.get", today);
    assert.equal(Number(actionsReport.nb_pageviews), SENT.pageviews);
    assert.equal(Number(actionsReport.nb_uniq_pageviews), SENT.pageviews);
    const goals = await reportingApi<Record<string, number>>(m.web, m.token, "Goals.get", today);
    assert.equal(Number(goals.nb_conversions), SENT.conversions);
    assert.equal(Number(goals.revenue), SENT.revenue);
  });
});
