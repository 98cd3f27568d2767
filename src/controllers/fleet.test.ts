import { test } from "node:test";
import assert from "node:assert/strict";
import { BUILT_IN_PLANS } from "../api/plan.ts";
import { TenantSpec, type MatomoTenant, type TenantStatus, type UpgradeStatus } from "../api/tenant.ts";
import { archiverRunOf, archivingOf, fleetSeries, tenantFacts, upgradeEnded, type ArchiverRun } from "./fleet.ts";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const small = BUILT_IN_PLANS.find((p) => p.metadata.name === "small")!.spec;

function tenantOf(name: string, status: TenantStatus | undefined, spec: Record<string, unknown> = {}, meta: Partial<MatomoTenant["metadata"]> = {}): MatomoTenant {
  return {
    apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant",
    metadata: { name, creationTimestamp: iso(NOW - 86_400_000), ...meta },
    spec: TenantSpec.parse({ domains: [`${name}.example`], plan: "small", ...spec }),
    ...(status ? { status } : {}),
  };
}

const condition = (type: string, status: "True" | "False" | "Unknown", reason = type) => ({ type, status, reason, message: `${type} is ${status}`, lastTransitionTime: iso(NOW) });

test("a tenant's status and plan become one sample per metric, with the tenant as the only finer label", () => {
  const t = tenantOf("acme", {
    runningVersion: "5.2.1", database: { pool: "p1", name: "mt_acme" },
    conditions: [condition("DatabaseReady", "True"), condition("Ready", "True"), condition("BackupHealthy", "Unknown", "NotVerified"), condition("Upgrading", "False")],
    backup: { lastBackupAt: iso(NOW - 600_000), lastBackupBytes: 123_456, lastVerifiedAt: iso(NOW - 3_600_000) },
  }, { matomoVersion: "5.3.0" });
  const s = fleetSeries([tenantFacts(t, small, [])]);
  assert.deepEqual(s.info, [{ labels: { tenant: "acme", plan: "small", version: "5.2.1", pool: "p1" }, value: 1 }], "the version running, not the one asked for");
  assert.deepEqual(s.condition.map((c) => c.labels), [
    { tenant: "acme", condition: "DatabaseReady", status: "True" },
    { tenant: "acme", condition: "Ready", status: "True" },
    { tenant: "acme", condition: "BackupHealthy", status: "Unknown" },
  ], "conditions of CONDITION_TYPES only, in their order");
  assert.deepEqual(s.ready, [{ labels: { tenant: "acme" }, value: 1 }]);
  assert.deepEqual(s.lastBackup, [{ labels: { tenant: "acme" }, value: (NOW - 600_000) / 1000 }]);
  assert.deepEqual(s.lastBackupSize, [{ labels: { tenant: "acme" }, value: 123_456 }]);
  assert.deepEqual(s.backupRpo, [{ labels: { tenant: "acme" }, value: 3600 }], "the small plan backs up hourly");
  assert.deepEqual(s.lastVerifiedRestore, [{ labels: { tenant: "acme" }, value: (NOW - 3_600_000) / 1000 }]);
  for (const samples of Object.values(s)) {
    for (const { labels } of samples as { labels: Record<string, string> }[]) {
      assert.deepEqual(Object.keys(labels).filter((k) => !["tenant", "plan", "version", "pool", "condition", "status"].includes(k)), []);
    }
  }
});

test("what is not known gives no sample: a new tenant has info and ready 0, no backup, no archiving", () => {
  const s = fleetSeries([tenantFacts(tenantOf("fresh", undefined), undefined, [])]);
  assert.deepEqual(s.info, [{ labels: { tenant: "fresh", plan: "small", version: "5.2.1", pool: "" }, value: 1 }]);
  assert.deepEqual(s.ready, [{ labels: { tenant: "fresh" }, value: 0 }]);
  for (const k of ["condition", "lastBackup", "lastBackupSize", "backupRpo", "lastVerifiedRestore", "archivingLastSuccess", "archivingLastDuration", "archivingLastRunFailed"] as const) {
    assert.deepEqual(s[k], [], k);
  }
});

test("a suspended or deleted tenant is promised no RPO: its backups stop with its data", () => {
  const suspended = tenantFacts(tenantOf("sleepy", {}, { suspended: true }), small, []);
  const deleting = tenantFacts(tenantOf("gone", {}, {}, { deletionTimestamp: iso(NOW) }), small, []);
  assert.equal(suspended.rpoSeconds, undefined);
  assert.equal(deleting.rpoSeconds, undefined);
  assert.equal(tenantFacts(tenantOf("awake", {}), small, []).rpoSeconds, 3600);
});

test("only a queued tenant with a Redis database has a queue to count", () => {
  assert.equal(tenantFacts(tenantOf("q", { tracking: { redisDatabase: 3 } }, { tracking: { queuedTracking: true } }), small, []).redisDatabase, 3);
  assert.equal(tenantFacts(tenantOf("q", { tracking: { redisDatabase: 3 } }, { tracking: { queuedTracking: false } }), small, []).redisDatabase, undefined);
  assert.equal(tenantFacts(tenantOf("q", {}, { tracking: { queuedTracking: true } }), small, []).redisDatabase, undefined);
});

const job = (name: string, state: "ok" | "failed" | "running", start: number, end?: number) => archiverRunOf({
  metadata: { name },
  status: {
    startTime: iso(start),
    ...(state === "ok" && end ? { succeeded: 1, completionTime: iso(end), conditions: [{ type: "Complete", status: "True", lastTransitionTime: iso(end) }] } : {}),
    ...(state === "failed" && end ? { failed: 3, conditions: [{ type: "Failed", status: "True", lastTransitionTime: iso(end) }] } : {}),
    ...(state === "running" ? { active: 1 } : {}),
  },
});

test("archiving: the newest finished run decides failure; duration and time come from the last success", () => {
  const ok = job("archiver-1", "ok", NOW - 7_200_000, NOW - 7_200_000 + 95_000);
  const failed = job("archiver-2", "failed", NOW - 3_600_000, NOW - 3_000_000);
  const running = job("archiver-3", "running", NOW - 60_000);
  const a = archivingOf([running, failed, ok]);
  assert.equal(a.lastRunFailed, true);
  assert.equal(a.failedJob, "archiver-2");
  assert.equal(a.lastSuccessAt, NOW - 7_200_000 + 95_000);
  assert.equal(a.lastDurationSeconds, 95);

  const recovered = archivingOf([failed, ok, job("archiver-4", "ok", NOW - 600_000, NOW - 540_000)]);
  assert.equal(recovered.lastRunFailed, false);
  assert.equal(recovered.failedJob, undefined);
  assert.equal(recovered.lastDurationSeconds, 60);

  const s = fleetSeries([tenantFacts(tenantOf("acme", {}), small, [running, failed, ok])]);
  assert.deepEqual(s.archivingLastRunFailed, [{ labels: { tenant: "acme" }, value: 1 }]);
  assert.deepEqual(s.archivingLastSuccess, [{ labels: { tenant: "acme" }, value: (NOW - 7_200_000 + 95_000) / 1000 }]);
  assert.deepEqual(s.archivingLastDuration, [{ labels: { tenant: "acme" }, value: 95 }]);

  const onlyRunning: ArchiverRun[] = [running];
  assert.deepEqual(archivingOf(onlyRunning), { lastSuccessAt: undefined, lastDurationSeconds: undefined, lastRunFailed: undefined });
});

const up = (phase: UpgradeStatus["phase"], extra: Partial<UpgradeStatus> = {}): UpgradeStatus =>
  ({ from: "5.2.1", to: "5.3.0", phase, startedAt: iso(NOW - 300_000), phaseStartedAt: iso(NOW - 10_000), generation: 4, ...extra });

test("an upgrade ends once, when its status reaches Completed or Failed", () => {
  assert.deepEqual(upgradeEnded(up("Draining"), up("Completed"), NOW), { result: "succeeded", seconds: 300 });
  assert.deepEqual(upgradeEnded(up("Migrating"), up("Failed"), NOW), { result: "failed", seconds: 300 });
  assert.deepEqual(upgradeEnded(up("RollingBack", { rollbackOf: "Failed" }), up("Completed", { rollbackOf: "Failed" }), NOW), { result: "rolled_back", seconds: 300 });
  assert.equal(upgradeEnded(up("Completed"), up("Completed"), NOW), undefined, "a status written again is not a second end");
  assert.equal(upgradeEnded(up("Failed"), up("Failed"), NOW), undefined);
  assert.equal(upgradeEnded(up("Rolling"), up("Draining"), NOW), undefined);
  assert.equal(upgradeEnded(undefined, undefined, NOW), undefined);
});
