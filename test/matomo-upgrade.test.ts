// Real Matomo, an upgrade under load: a tenant on the older archive's version is raised to the newer one
// while a steady tracking load runs (every hit numbered); the real update Job runs core:update; after
// Draining every hit answered 2xx is in the database exactly once, and the reports still answer. Then
// `mms tenant rollback` brings the old version back with its pre-upgrade data, the load still running.
// Run alone: scripts/test test/matomo-*.test.ts. Needs the real node and both Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { RowDataPacket } from "mysql2";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant, UpgradePhase } from "../src/api/tenant.ts";
import { reportingApi } from "../src/matomo/client.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { accountLoad, startLoad, type LoadResult } from "./support/load.ts";
import { createMatomoTenant, matomoBed, mms, NEWER, OLDER, removeMatomoTenant, runArchiver, tenantDatabase, tenantMatomo, type MatomoBed } from "./support/matomo.ts";

const exec = promisify(execFile);
let bed: MatomoBed | undefined;
let skip: string | undefined;
const tenant = uniqueName("mu");
/** Hits a second during the upgrade: steady, and well within what one tracker pod takes here. */
const RATE = 8;

before(async () => {
  const b = await matomoBed([OLDER, NEWER]);
  if ("skip" in b) skip = b.skip;
  else bed = b;
});

after(async () => {
  if (bed) await removeMatomoTenant(bed.http, tenant);
});

describe("matomo: upgrade with zero lost hits", () => {
  test(`an upgrade from ${OLDER} to ${NEWER} under a steady load: the real core:update, every accepted hit stored exactly once, the reports answer`, async (t) => {
    if (!bed) return t.skip(skip);
    const created = await createMatomoTenant(tenant, OLDER);
    assert.equal(created.code, 0, created.stderr);
    const m = await tenantMatomo(bed.http, tenant);
    assert.deepEqual(await reportingApi(m.web, m.token, "API.getMatomoVersion"), { value: OLDER });

    const load = startLoad(m.tracker, RATE);
    const phases: UpgradePhase[] = [];
    let final: MatomoTenant;
    let result: LoadResult;
    try {
      await new Promise((r) => setTimeout(r, 5_000)); // load before the upgrade starts
      await bed.http.mergePatch(API_GROUP_VERSION, "MatomoTenant", tenant, { spec: { matomoVersion: NEWER } });
      final = await eventually("the upgrade to finish", async () => {
        const cur = await bed!.http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
        const phase = cur.status?.upgrade?.phase;
        if (phase && phases.at(-1) !== phase) phases.push(phase);
        if (phase === "Failed") throw new Error(`the upgrade failed: ${cur.status?.upgrade?.message ?? ""}`);
        return phase === "Completed" ? cur : undefined;
      }, 900_000);
      await new Promise((r) => setTimeout(r, 5_000)); // and after it
    } finally {
      result = await load.stop();
    }
    t.diagnostic(`phases: ${phases.join(" → ")}`);
    const order: UpgradePhase[] = ["BackingUp", "Queueing", "Migrating", "Rolling", "Draining", "Completed"];
    const seen = phases.map((p) => order.indexOf(p));
    assert.ok(seen.every((x, i) => x >= 0 && (i === 0 || x > (seen[i - 1] ?? -1))), `the phases in order: ${phases.join(" → ")}`);
    for (const p of ["Migrating", "Completed"] as const) assert.ok(phases.includes(p), `went through ${p}`);
    assert.equal(final.status?.runningVersion, NEWER);

    const ns = tenantNamespace(tenant);
    const updateLog = await exec(bed.kubectl, ["--kubeconfig", bed.kubeconfig, "-n", ns, "logs", "-l", "app.kubernetes.io/component=update", "--tail", "200"]).then((r) => r.stdout + r.stderr);
    assert.match(updateLog, /core:update|updating the database schema/i, "the update Job ran Matomo's core:update");
    assert.deepEqual(await reportingApi(m.web, m.token, "API.getMatomoVersion"), { value: NEWER }, "the web serves the new version");

    // Every accepted hit, once: the queue has been worked off when the upgrade completed.
    const db = await tenantDatabase(tenant);
    let account;
    try {
      account = await accountLoad(db, result);
    } finally {
      await db.end();
    }
    t.diagnostic(`hits: ${JSON.stringify(account)}`);
    assert.ok(account.accepted > RATE * 30, `a real load ran through the upgrade (${account.accepted} hits accepted)`);
    assert.equal(account.lost, 0, `accepted but not stored: ${account.lostExamples.join(", ")}`);
    assert.equal(account.duplicated, 0, "no hit stored twice");

    await runArchiver(bed, tenant);
    const actions = await reportingApi<Record<string, number>>(m.web, m.token, "Actions.get", { idSite: 1, period: "day", date: "today" });
    assert.equal(Number(actions.nb_pageviews), account.stored, "the reports count every stored hit");
  });

  test(`mms tenant rollback brings back ${OLDER} with the data it had before the upgrade; tracking goes on through it`, async (t) => {
    if (!bed) return t.skip(skip);
    const refused = await mms(["tenant", "rollback", tenant]);
    assert.notEqual(refused.code, 0, "a completed upgrade is not undone without saying so");
    assert.match(refused.stderr, /completed its upgrade to 5\.1\.2; rolling back restores backup pre-upgrade-g\d+, taken before it, so the \d+ visit\(s\) stored since will not be in the restored database.*--discard-since-upgrade/);

    const m = await tenantMatomo(bed.http, tenant);
    const load = startLoad(m.tracker, RATE, { label: "rb" });
    let result: LoadResult;
    let rolled;
    // When every pod queues (the operator's RollbackRestoring), as this test first sees it: hits sent from
    // then on must all be kept. Those stored directly before are part of what the rollback discards.
    let holdingSince = Number.POSITIVE_INFINITY;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const cur = await bed.http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant).catch(() => undefined);
        if (cur?.status?.conditions?.some((c) => c.type === "Upgrading" && c.reason === "RollbackRestoring")) holdingSince = Math.min(holdingSince, Date.now());
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      rolled = await mms(["tenant", "rollback", tenant, "--discard-since-upgrade", "--timeout", "5m"]);
    } finally {
      result = await load.stop();
      watching = false;
      await watch;
    }
    assert.ok(Number.isFinite(holdingSince), "the operator queued tracking on every pod before the restore");
    if (rolled.code !== 0) {
      const cur = await bed.http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
      assert.fail(`mms tenant rollback failed: ${rolled.stderr}\nupgrade: ${JSON.stringify(cur.status?.upgrade)}\nconditions: ${JSON.stringify(cur.status?.conditions)}\nannotations: ${JSON.stringify(cur.metadata.annotations)}`);
    }
    assert.match(rolled.stderr, /safety backup \S+ of the upgraded database written/);
    const after = await bed.http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
    assert.equal(after.status?.runningVersion, OLDER);
    assert.equal(after.spec.matomoVersion, OLDER);
    assert.deepEqual(await reportingApi(m.web, m.token, "API.getMatomoVersion"), { value: OLDER }, "the old version answers, on the data it had");

    const db = await tenantDatabase(tenant);
    try {
      const all = await accountLoad(db, result);
      const account = await accountLoad(db, result, holdingSince);
      t.diagnostic(`hits during the rollback: all ${JSON.stringify(all)}; sent once every pod queued: ${JSON.stringify(account)}`);
      assert.ok(account.accepted > 0, "hits were sent while the rollback held tracking in the queue");
      assert.equal(account.lost, 0, `hits accepted while every pod queued, lost: ${account.lostExamples.join(", ")}`);
      assert.equal(account.duplicated, 0);
      const [version] = await db.query<RowDataPacket[]>("SELECT option_value AS v FROM matomo_option WHERE option_name = 'version_core'");
      assert.equal(version[0]?.v, OLDER, "the schema is the pre-upgrade one");
    } finally {
      await db.end();
    }
  });
});
