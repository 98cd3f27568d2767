// Real Matomo, migration: `mms migrate import` of Matomo's OmniFixture into a tenant on the real node; once
// it is Ready and the archiver has built the imported days, the Reporting API gives, for the fixture's
// sites and busiest days, the numbers its raw data holds, counted here from a copy of the dump.
// Run alone: scripts/test test/matomo-*.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createConnection, type RowDataPacket } from "mysql2/promise";
import { endpoints } from "../src/devcluster/environment.ts";
import { reportingApi } from "../src/matomo/client.ts";
import { uniqueName } from "./helpers.ts";
import { loadGzipDump, OMNI_FIXTURE } from "./support/fixture.ts";
import { domainOf, matomoBed, mms, NEWER, removeMatomoTenant, tenantMatomo, type MatomoBed } from "./support/matomo.ts";

let bed: MatomoBed | undefined;
let skip: string | undefined;
const tenant = uniqueName("mm");
const source = `mms_src_${randomBytes(3).toString("hex")}`;

before(async () => {
  const b = await matomoBed([NEWER]);
  if ("skip" in b) skip = b.skip;
  else bed = b;
});

after(async () => {
  if (!bed) return;
  await removeMatomoTenant(bed.http, tenant);
  const db = await createConnection((await endpoints()).mariadb);
  await db.query(`DROP DATABASE IF EXISTS \`${source}\``).finally(() => db.end());
});

/** A site's day, in the site's own time zone, as Matomo's reports count it. */
function dayIn(timezone: string, utc: Date): string {
  const zone = /^UTC[+-]/.test(timezone) ? offsetZone(timezone) : timezone;
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(utc);
}

/** Matomo's "UTC+5.5" style zones as IANA names Intl knows (whole hours only; others are skipped by the caller). */
function offsetZone(tz: string): string {
  const hours = Number(tz.slice(3));
  if (!Number.isInteger(hours)) throw new Error(`fractional offset ${tz}`);
  return hours === 0 ? "UTC" : `Etc/GMT${hours > 0 ? "-" : "+"}${Math.abs(hours)}`;
}

describe("matomo: migration of an existing Matomo", () => {
  test("the OmniFixture imported with mms migrate import: after archiving, the Reporting API gives the raw data's numbers for its sites and days", async (t) => {
    if (!bed) return t.skip(skip);
    // What the raw data holds, counted from a copy of the same dump.
    const server = (await endpoints()).mariadb;
    await loadGzipDump(server, source, OMNI_FIXTURE);
    const db = await createConnection({ ...server, database: source, timezone: "Z", dateStrings: false });
    const expected = new Map<string, { site: number; day: string; visits: number; actions: number }>();
    try {
      const [sites] = await db.query<RowDataPacket[]>("SELECT idsite, timezone, ts_created FROM site");
      const zones = new Map(sites.map((s) => [Number(s.idsite), String(s.timezone)]));
      const created = new Map(sites.map((s) => [Number(s.idsite), new Date(s.ts_created as Date).toISOString().slice(0, 10)]));
      const [visits] = await db.query<RowDataPacket[]>("SELECT idsite, visit_last_action_time AS at, visit_total_actions AS actions FROM log_visit");
      for (const v of visits) {
        const site = Number(v.idsite);
        let day: string;
        try {
          day = dayIn(zones.get(site) ?? "UTC", v.at as Date);
        } catch {
          continue; // a zone Intl cannot name here: not compared
        }
        if (day < (created.get(site) ?? "")) continue; // Matomo archives nothing before a site existed
        const key = `${site} ${day}`;
        const e = expected.get(key) ?? { site, day, visits: 0, actions: 0 };
        e.visits++;
        e.actions += Number(v.actions);
        expected.set(key, e);
      }
    } finally {
      await db.end();
    }
    // The two busiest days of every site with visits.
    const chosen = [...new Set([...expected.values()].map((e) => e.site))].flatMap((site) =>
      [...expected.values()].filter((e) => e.site === site).sort((a, b) => b.visits - a.visits || a.day.localeCompare(b.day)).slice(0, 2));
    assert.ok(chosen.length >= 2, `the fixture has visits to compare (${chosen.length} site-days)`);

    const imported = await mms(["migrate", "import", tenant, "--domain", domainOf(tenant), "--dump", OMNI_FIXTURE, "--plan", "real-node", "--matomo-version", NEWER, "--timeout", "10m", "-o", "json"]);
    assert.equal(imported.code, 0, `mms migrate import: ${imported.stderr}`);
    assert.match(imported.stderr, /reports of the imported days \(.*\) built by archiver Job/);

    const m = await tenantMatomo(bed.http, tenant);
    assert.deepEqual(await reportingApi(m.web, m.token, "API.getMatomoVersion"), { value: NEWER }, "the imported 5.1.0-b2 schema was brought to the tenant's version");
    const got: string[] = [];
    const want: string[] = [];
    for (const e of chosen) {
      const r = await reportingApi<Record<string, number> | []>(m.web, m.token, "VisitsSummary.get", { idSite: e.site, period: "day", date: e.day });
      const row = Array.isArray(r) ? {} : r;
      got.push(`site ${e.site} ${e.day}: ${Number(row.nb_visits ?? 0)} visits, ${Number(row.nb_actions ?? 0)} actions`);
      want.push(`site ${e.site} ${e.day}: ${e.visits} visits, ${e.actions} actions`);
    }
    t.diagnostic(got.join("; "));
    assert.deepEqual(got, want);
  });
});
