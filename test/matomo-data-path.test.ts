// Real Matomo, the data path of one live tenant on the real node: hits sent to its tracker Service land in
// its log tables with spec.privacy's IP masking applied; the archiver CronJob's run archives them; the
// Reporting API through the web Service returns exactly the numbers sent; Chromium, logged in as the
// tenant's admin, sees them on the dashboard. Then the backup CronJob's pod
// backs that tenant up, and `mms backup restore --into` makes a working copy of it.
// Run alone: scripts/test test/matomo-*.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { RowDataPacket } from "mysql2";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { reportingApi } from "../src/matomo/client.ts";
import { waitReady } from "../src/tenants/service.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { launchBrowser, startTestIngress } from "./support/browser.ts";
import {
  createMatomoTenant, domainOf, matomoBed, mms, NEWER, newVisitor, removeMatomoTenant, runArchiver, tenantDatabase, tenantMatomo, track,
  type MatomoBed, type TenantMatomo,
} from "./support/matomo.ts";

const exec = promisify(execFile);

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
      idSite: 1, name: "Signup", matchAttribute: "manually", pattern: "signup", patternType: "contains",
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

describe("matomo: the web UI in a real browser", () => {
  test("Chromium logs in with the tenant's admin credentials and sees the tracked visits on the dashboard; no request of the page fails", async (t) => {
    if (!bed) return t.skip(skip);
    const domain = domainOf(tenant);
    const ingress = await startTestIngress(domain, m);
    const browser = await launchBrowser(domain, ingress);
    const failures: string[] = [];
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1000 } });
      const page = await context.newPage();
      page.on("requestfailed", (r) => failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText ?? "failed"}`));
      page.on("response", (r) => {
        if (r.status() >= 400) failures.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`);
      });
      await page.goto(`https://${domain}/`);
      await page.locator("#login_form_login").fill(m.admin.user);
      await page.locator("#login_form_password").fill(m.admin.password);
      await Promise.all([page.waitForURL(/module=CoreHome/, { timeout: 60_000 }), page.locator("#login_form_submit").click()]);
      await page.waitForLoadState("networkidle", { timeout: 60_000 }); // leave nothing in flight to be cut off
      // The dashboard of today (Matomo opens yesterday's by default), as a user picks it.
      await page.goto(`https://${domain}/index.php?module=CoreHome&action=index&idSite=1&period=day&date=today#?idSite=1&period=day&date=today&category=Dashboard_Dashboard&subcategory=1`);
      const overview = page.locator(".widget").filter({ hasText: /Visits Overview/ }).first();
      await overview.waitFor({ timeout: 60_000 });
      await page.getByText(new RegExp(`\\b${SENT.visits} visits\\b`)).first().waitFor({ timeout: 60_000 });
      await page.waitForLoadState("networkidle", { timeout: 60_000 });
      assert.deepEqual(failures, [], "every request of the dashboard succeeded");
    } finally {
      await browser.close();
      await ingress.close();
    }
  });
});

describe("matomo: backup and restore of a live Matomo", () => {
  const copy = uniqueName("md-copy");
  after(async () => {
    if (bed) await removeMatomoTenant(bed.http, copy);
  });

  test("the backup CronJob's pod backs the tenant up; restored --into a new tenant, the reports are the same and a new hit is stored", async (t) => {
    if (!bed) return t.skip(skip);
    const before = await reportingApi<Record<string, number>>(m.web, m.token, "VisitsSummary.get", { idSite: 1, period: "day", date: "today" });
    const job = `backup-now-${tenant}`;
    await exec(bed.kubectl, ["--kubeconfig", bed.kubeconfig, "-n", SYSTEM_NAMESPACE, "create", "job", job, `--from=cronjob/backup-${tenant}`]);
    const done = await eventually(`backup Job ${job} to finish`, async () => {
      const j = await bed!.http.get<{ status?: { succeeded?: number; failed?: number } }>("batch/v1", "Job", job, SYSTEM_NAMESPACE);
      return (j.status?.succeeded ?? 0) > 0 ? "Complete" : (j.status?.failed ?? 0) > 0 ? "Failed" : undefined;
    }, 300_000);
    const jobLog = await exec(bed.kubectl, ["--kubeconfig", bed.kubeconfig, "-n", SYSTEM_NAMESPACE, "logs", `job/${job}`]).then((r) => r.stdout + r.stderr, (err: Error) => err.message);
    assert.equal(done, "Complete", `the backup Job failed: ${jobLog}`);

    const listed = await mms(["backup", "list", "--tenant", tenant, "-o", "json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const backups = (JSON.parse(listed.stdout) as { backups: { backupId: string }[] }).backups;
    const backupId = backups[0]?.backupId ?? ""; // newest first
    assert.ok(backupId, "the CronJob's backup is listed");

    const restored = await mms(["backup", "restore", "--tenant", tenant, "--backup", backupId, "--into", copy, "--domain", domainOf(copy)]);
    assert.equal(restored.code, 0, restored.stderr);
    const ready = await waitReady(bed.http, copy, 480_000);
    assert.ok(ready.ok, `the restored tenant ${copy} should become Ready: ${ready.failing?.reason}: ${ready.failing?.message}`);

    const c = await tenantMatomo(bed.http, copy);
    assert.equal(c.token, m.token, "the copy keeps the platform's token, which the restored salt still matches");
    const after = await reportingApi<Record<string, number>>(c.web, c.token, "VisitsSummary.get", { idSite: 1, period: "day", date: "today" });
    for (const k of ["nb_visits", "nb_actions", "bounce_count"]) assert.equal(Number(after[k]), Number(before[k]), k);
    const goals = await reportingApi<Record<string, number>>(c.web, c.token, "Goals.get", { idSite: 1, period: "day", date: "today" });
    assert.equal(Number(goals.nb_conversions), SENT.conversions);

    const status = await track(c.tracker, newVisitor(), { url: "https://www.example.test/after-restore", action_name: "after restore", new_visit: 1 });
    assert.ok(status >= 200 && status < 300, `tracking on the copy answered ${status}`);
    const db = await tenantDatabase(copy);
    try {
      const [rows] = await db.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM matomo_log_visit");
      assert.equal(Number(rows[0]?.n), SENT.visits + 1, "the restored visits and the new one");
    } finally {
      await db.end();
    }
  });
});
