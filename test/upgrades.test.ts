// Matomo upgrades on the dev environment: one tenant through every phase in order, a failing update Job
// that halts with the old pods serving and a rollback that brings the data and version back, and a fleet
// rollout in waves that stops at a failure and resumes when run again.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import { BUILT_IN_PLANS } from "../src/api/plan.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { attemptJobName } from "../src/controllers/upgrade.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { ResilientWatch } from "../src/kube/watch.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, type Run, runMms, uniqueName } from "./helpers.ts";

const FROM = "5.2.1";
const TO = "5.3.0";

const mms = (args: string[]): Promise<Run> => runMms(args, kubeEnv);

let http: KubeHttp;
let db: Connection;
let kubeEnv: NodeJS.ProcessEnv;
const created: string[] = [];
const dbName = (t: string) => `mt_${t.replaceAll("-", "_")}`;

async function tenant(name: string): Promise<MatomoTenant> {
  return http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
}

async function readyTenant(prefix: string, labels: Record<string, string> = {}, plan?: string): Promise<string> {
  const name = uniqueName(prefix);
  created.push(name);
  // A plan made a moment ago may not be known to admission yet.
  await eventually(`tenant ${name} to be accepted`, async () => {
    await createTenant(http, { name, domains: [`analytics.${name}.test`], matomoVersion: FROM, plan });
    return true;
  }, 30_000);
  if (Object.keys(labels).length > 0) await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { metadata: { labels } });
  const r = await waitReady(http, name, 180_000);
  assert.ok(r.ok, `tenant ${name} should become Ready: ${r.failing?.message}`);
  await eventually(`tenant ${name} to record its running version`, async () => ((await tenant(name)).status?.runningVersion === FROM ? true : undefined));
  return name;
}

interface JobView { metadata: { name: string; creationTimestamp: string }; spec: { template: { spec: { containers: { image: string }[] } } }; status?: { succeeded?: number } }
async function job(ns: string, name: string): Promise<JobView | undefined> {
  return http.getOrUndefined<JobView>("batch/v1", "Job", name, ns);
}

/** Stands in for a container whose `core:update` fails: a Job of that name, already Failed. */
async function failedJob(tenantName: string, name: string): Promise<void> {
  const ns = tenantNamespace(tenantName);
  await http.create({
    apiVersion: "batch/v1", kind: "Job", metadata: { name, namespace: ns, labels: { "app.kubernetes.io/managed-by": "mms", "multiscale.io/tenant": tenantName } },
    spec: { suspend: true, backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "matomo-update-that-fails" }] } } },
  }, { fieldManager: "test" });
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string) => ({ type, status: "True", reason: "BackoffLimitExceeded", message: "core:update failed", lastTransitionTime: now });
  await http.request("PATCH", `/apis/batch/v1/namespaces/${ns}/jobs/${name}/status`,
    { status: { startTime: now, failed: 1, conditions: [cond("FailureTarget"), cond("Failed")] } }, "application/merge-patch+json");
}

async function deploymentImage(name: string, component: string): Promise<string | undefined> {
  const d = await http.get<{ spec: { template: { spec: { containers: { image: string }[] } } } }>("apps/v1", "Deployment", component, tenantNamespace(name));
  return d.spec.template.spec.containers[0]?.image;
}

async function rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await db.query<RowDataPacket[]>(sql, values);
  return r;
}

before(async () => {
  const e = await endpoints();
  kubeEnv = { KUBECONFIG: e.kubeconfig };
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  db = await createConnection({ ...e.mariadb, multipleStatements: true });
});

after(async () => {
  for (const t of created) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    await db.query(`DROP DATABASE IF EXISTS \`${dbName(t)}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [dbName(t)]);
  }
  await db.end();
});

describe("upgrading one tenant", () => {
  test("raising spec.matomoVersion runs backup, queueing, migration, rollout and drain in that order", async () => {
    const name = await readyTenant("upg");
    const ns = tenantNamespace(name);
    const seen: string[] = [];
    const evidence: string[] = [];
    const watch = new ResilientWatch(loadKubeConfig({ kubeconfig: kubeEnv.KUBECONFIG }), http, {
      path: `/apis/${API_GROUP_VERSION}/matomotenants`,
      onEvent: (_type, obj) => {
        const t = obj as MatomoTenant;
        const phase = t.metadata?.name === name ? t.status?.upgrade?.phase : undefined;
        if (phase && seen.at(-1) !== phase) seen.push(phase);
      },
    });
    watch.start();
    try {
      const generation = (await tenant(name)).metadata.generation ?? 0;
      await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { matomoVersion: TO } });
      const up = { generation: generation + 1 };
      // While the database is migrated: archiving paused, tracking only queued, the old image serving.
      await eventually("the update Job", async () => {
        const j = await job(ns, attemptJobName("update", TO, up));
        if (!j) return undefined;
        const archiver = await http.get<{ spec: { suspend: boolean } }>("batch/v1", "CronJob", "archiver", ns);
        const config = await http.get<{ data: Record<string, string> }>("v1", "ConfigMap", "matomo-config", ns);
        evidence.push(`archiver suspended: ${archiver.spec.suspend}`);
        evidence.push(`queue: ${/\[QueuedTracking\][^[]*processDuringTrackingRequest = "0"/.test(config.data["common.config.ini.php"] ?? "")}`);
        evidence.push(`tracker image: ${await deploymentImage(name, "tracker")}`);
        return j;
      }, 120_000);
      const done = await eventually("the upgrade to complete", async () => {
        const t = await tenant(name);
        return t.status?.upgrade?.phase === "Completed" && t.status.runningVersion === TO ? t : undefined;
      }, 180_000);

      if (seen.at(-1) !== "Completed") seen.push("Completed");
      assert.deepEqual(evidence, ["archiver suspended: true", "queue: true", `tracker image: ghcr.io/matomo-multiscale/matomo:${FROM}`], "migrations ran with archiving paused, tracking queued and the old pods serving");
      const order = ["BackingUp", "Queueing", "Migrating", "Rolling", "Draining", "Completed"];
      const indices = seen.map((p) => order.indexOf(p));
      assert.ok(indices.every((x, i) => x >= 0 && (i === 0 || x > (indices[i - 1] ?? -1))), `phases in order, got ${seen.join(" → ")}`);
      for (const p of ["BackingUp", "Queueing", "Migrating", "Rolling", "Draining"]) assert.ok(seen.includes(p), `phase ${p} was gone through (saw ${seen.join(" → ")})`);

      const update = await job(ns, attemptJobName("update", TO, up));
      const drain = await job(ns, attemptJobName("queue-drain", TO, up));
      assert.equal(update?.spec.template.spec.containers[0]?.image, `ghcr.io/matomo-multiscale/matomo:${TO}`);
      assert.equal(drain?.spec.template.spec.containers[0]?.image, `ghcr.io/matomo-multiscale/matomo:${TO}`);
      assert.ok(Date.parse(update?.metadata.creationTimestamp ?? "") <= Date.parse(drain?.metadata.creationTimestamp ?? ""), "the drain comes after the migration");
      assert.ok(done.status?.upgrade?.backupId, "a backup was taken first");
      assert.equal(done.status?.backup?.lastVerifiedBackupId, done.status?.upgrade?.backupId, "and verified by a restore drill");
      assert.equal(done.status?.conditions?.find((c) => c.type === "Upgrading")?.reason, "Completed");
      assert.equal(done.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");

      // Afterwards: the new image everywhere, archiving back, the tenant's own tracking mode.
      assert.equal(await deploymentImage(name, "web"), `ghcr.io/matomo-multiscale/matomo:${TO}`);
      await eventually("archiving to resume", async () => ((await http.get<{ spec: { suspend: boolean } }>("batch/v1", "CronJob", "archiver", ns)).spec.suspend ? undefined : true));
      const config = await http.get<{ data: Record<string, string> }>("v1", "ConfigMap", "matomo-config", ns);
      assert.doesNotMatch(config.data["common.config.ini.php"] ?? "", /queueEnabled/, "the tenant's own mode again: no queue");
    } finally {
      watch.stop();
    }
  });

  test("a failing update Job halts the upgrade with the old pods serving; rollback restores the data and the version, keeping queued hits", async () => {
    const name = await readyTenant("upgfail");
    await db.query(`CREATE TABLE \`${dbName(name)}\`.matomo_goal (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO \`${dbName(name)}\`.matomo_goal VALUES (1, 'signup'), (2, 'buy')`);
    const generation = (await tenant(name)).metadata.generation ?? 0;
    await failedJob(name, attemptJobName("update", TO, { generation: generation + 1 }));
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { matomoVersion: TO } });

    const failed = await eventually("the upgrade to halt", async () => {
      const t = await tenant(name);
      return t.status?.upgrade?.phase === "Failed" ? t : undefined;
    }, 120_000);
    const cond = failed.status?.conditions?.find((c) => c.type === "Upgrading");
    assert.equal(cond?.status, "False");
    assert.equal(cond?.reason, "UpdateFailed");
    assert.match(cond?.message ?? "", new RegExp(`mms tenant rollback ${name}`));
    assert.equal(await deploymentImage(name, "tracker"), `ghcr.io/matomo-multiscale/matomo:${FROM}`, "the old pods keep serving");
    assert.equal(failed.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.equal(failed.status?.runningVersion, FROM);

    // A half-done migration, and hits queued since the upgrade began.
    await db.query(`DELETE FROM \`${dbName(name)}\`.matomo_goal WHERE id = 2; ALTER TABLE \`${dbName(name)}\`.matomo_goal ADD COLUMN migrated INT`);
    await db.query(`CREATE TABLE \`${dbName(name)}\`.matomo_queuedtracking_list_trackingQueueV1 (idqueuedtracking_list BIGINT PRIMARY KEY AUTO_INCREMENT, list_value MEDIUMTEXT); INSERT INTO \`${dbName(name)}\`.matomo_queuedtracking_list_trackingQueueV1 (list_value) VALUES ('hit-1'), ('hit-2')`);
    const lowered = await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { matomoVersion: "5.1.0" } }).then(() => "accepted", (err: Error) => err.message);
    assert.match(lowered, /cannot be lowered/, "only the rollback may go back, and only to the version the upgrade started from");

    const rollback = mms(["tenant", "rollback", name, "--timeout", "3m"]);
    // The drain Job is simulated: once the rollback is under way, the queue is worked off as the real one would.
    await eventually("the rollback to reach its drain", async () => ((await tenant(name)).status?.upgrade?.phase === "RollingBack" ? true : undefined), 120_000);
    const queued = await rows(`SELECT list_value FROM \`${dbName(name)}\`.matomo_queuedtracking_list_trackingQueueV1 ORDER BY 1`);
    assert.deepEqual(queued.map((r) => String(r.list_value)), ["hit-1", "hit-2"], "the queued hits survive the restore");
    await db.query(`DELETE FROM \`${dbName(name)}\`.matomo_queuedtracking_list_trackingQueueV1`);
    const r = await rollback;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`rolled back from ${TO} to ${FROM}`));

    const t = await tenant(name);
    assert.equal(t.spec.matomoVersion, FROM);
    assert.equal(t.status?.runningVersion, FROM);
    assert.equal(t.status?.conditions?.find((c) => c.type === "Upgrading")?.reason, "RolledBack");
    const goals = await rows(`SELECT * FROM \`${dbName(name)}\`.matomo_goal ORDER BY id`);
    assert.deepEqual(goals.map((g) => ({ ...g })), [{ id: 1, name: "signup" }, { id: 2, name: "buy" }], "the data is as before the upgrade");
  });
});

describe("fleet upgrades", () => {
  const fleet = uniqueName("fleet");
  const plan = uniqueName("fleetplan");
  const names: string[] = [];
  after(async () => {
    await http.delete(API_GROUP_VERSION, "TenantPlan", plan).catch(() => undefined);
  });

  // Each of the 20 upgrades takes a real verified backup in a Job (the local Job runner runs 4 at once):
  // allow more than the suite's 10 minutes on a loaded 2-core machine.
  test("20 tenants, --canary 1 --wave-size 25%: waves in order, a failure in wave 2 stops the rollout, a rerun resumes", { timeout: 1_500_000 }, async () => {
    const small = BUILT_IN_PLANS.find((p) => p.metadata.name === "small");
    await http.apply({ apiVersion: API_GROUP_VERSION, kind: "TenantPlan", metadata: { name: plan }, spec: small?.spec } as never, { fieldManager: "test" });
    for (let i = 0; i < 20; i++) names.push(await readyTenant(`f${String(i).padStart(2, "0")}`, { fleet }, plan));
    const sorted = [...names].sort();
    const canary = sorted[0] as string;
    const wave2 = sorted.slice(1, 6);
    const later = sorted.slice(6);
    const broken = wave2[2] as string;
    const generation = (await tenant(broken)).metadata.generation ?? 0;
    await failedJob(broken, attemptJobName("update", TO, { generation: generation + 1 }));

    const dry = await mms(["upgrade", "--to", TO, "--selector", `fleet=${fleet}`, "--canary", "1", "--wave-size", "25%", "--dry-run", "-o", "json"]);
    assert.equal(dry.code, 0, dry.stderr);
    const dryPlan = JSON.parse(dry.stdout) as { waves: { tenants: { name: string }[] }[] };
    assert.deepEqual(dryPlan.waves.map((w) => w.tenants.length), [1, 5, 5, 5, 4]);
    assert.ok((await Promise.all(names.map(tenant))).every((t) => t.spec.matomoVersion === FROM), "a dry run changes nothing");

    const first = await mms(["upgrade", "--to", TO, "--selector", `fleet=${fleet}`, "--canary", "1", "--wave-size", "25%", "-o", "json"]);
    assert.notEqual(first.code, 0, "a failed wave fails the command");
    assert.match(first.stderr, /stopped at wave 2/);
    const report = JSON.parse(first.stdout) as { stopped: { wave: number; failed: string[] } };
    assert.deepEqual(report.stopped, { wave: 2, reason: "the upgrade failed for some tenants of this wave", failed: [broken] });
    const afterFirst = new Map((await Promise.all(names.map(tenant))).map((t) => [t.metadata.name, t]));
    assert.equal(afterFirst.get(canary)?.status?.runningVersion, TO);
    for (const n of wave2.filter((x) => x !== broken)) assert.equal(afterFirst.get(n)?.status?.runningVersion, TO, `${n} (wave 2) upgraded`);
    for (const n of later) assert.equal(afterFirst.get(n)?.spec.matomoVersion, FROM, `${n} (after the failed wave) untouched`);
    // The canary finished before wave 2 began.
    const created = async (n: string) => Date.parse((await job(tenantNamespace(n), attemptJobName("update", TO, { generation: ((await tenant(n)).status?.upgrade?.generation ?? 0) })))?.metadata.creationTimestamp ?? "");
    const canaryDone = Date.parse(afterFirst.get(canary)?.status?.upgrade?.phaseStartedAt ?? "");
    for (const n of wave2.filter((x) => x !== broken)) assert.ok((await created(n)) >= canaryDone - 1000, `${n}'s update started after the canary completed`);

    const second = await mms(["upgrade", "--to", TO, "--selector", `fleet=${fleet}`, "--canary", "1", "--wave-size", "25%", "--retry-failed", "-o", "json"]);
    assert.equal(second.code, 0, second.stderr);
    const resumed = JSON.parse(second.stdout) as { waves: { tenants: { name: string; result: string }[] }[] };
    assert.equal(resumed.waves[0]?.tenants[0]?.result, "skipped", "the canary is not upgraded twice");
    const final = await Promise.all(names.map(tenant));
    assert.ok(final.every((t) => t.status?.runningVersion === TO && t.status.upgrade?.phase === "Completed"), "every tenant ends on the new version");
  });
});
