import { test } from "node:test";
import assert from "node:assert/strict";
import { BUILT_IN_PLANS } from "../api/plan.ts";
import { PoolSpec } from "../api/pool.ts";
import { DATABASE_FINALIZER, TenantSpec, type MatomoTenant, type TenantStatus, type UpgradeStatus } from "../api/tenant.ts";
import { pickPool, poolRoom } from "../db/resolve.ts";
import { DEFAULT_PLATFORM, TEMPLATE_HASH } from "../render/tenant.ts";
import { renderVerifiedBackupJob } from "../render/backup-jobs.ts";
import { concludeStatus, failedAt, planTenant, rolloutQueued, wantsProbe, type DeploymentObservation, type TenantJobObservation, type TenantPodObservation, type TenantSnapshot } from "./tenant-plan.ts";
import { operatorStatus } from "./tenant-status.ts";
import { attemptJobName, BACKUP_RETRY_MS } from "./upgrade.ts";
import type { BackupJobObservation } from "./verified-backup.ts";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const plan = BUILT_IN_PLANS.find((p) => p.metadata.name === "small") ?? BUILT_IN_PLANS[0]!;
const poolSpec = PoolSpec.parse({ host: "db.internal", adminSecretRef: { namespace: "mms-system", name: "pool-admin" }, capacity: 10 });
const endpoint = { host: "db.internal", port: 3306, adminUser: "root", adminPassword: "pw" };
const secrets = { databasePassword: "dbpw", salt: "s", adminUser: "admin", adminPassword: "apw", adminEmail: "admin@acme.example", apiToken: "0123456789abcdef0123456789abcdef" };

function tenantOf(status: TenantStatus | undefined, extra: Partial<MatomoTenant["metadata"]> = {}, spec: Record<string, unknown> = {}): MatomoTenant {
  return {
    apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant",
    metadata: { name: "acme", uid: "0a1b2c3d-4e5f-6789-abcd-ef0123456789", generation: 3, creationTimestamp: iso(NOW - 60_000), ...extra },
    spec: TenantSpec.parse({ domains: ["acme.example"], plan: "small", ...spec }),
    ...(status ? { status } : {}),
  };
}

const deployment = (name: string, available: number, hash = "h"): DeploymentObservation => ({
  metadata: { name, generation: 2, annotations: { [TEMPLATE_HASH]: hash } },
  spec: { replicas: available },
  status: { observedGeneration: 2, updatedReplicas: available, replicas: available, availableReplicas: available },
});

const job = (state: TenantJobObservation["state"], component?: string, active = 0): TenantJobObservation => ({ state, component, active, failed: state === "failed" ? 1 : 0 });

function snapshot(tenant: MatomoTenant, over: Partial<TenantSnapshot> = {}): TenantSnapshot {
  return {
    now: NOW, platform: DEFAULT_PLATFORM, tenant, plan, registry: {}, rooms: undefined,
    pool: { name: "p1", resolved: { name: "p1", spec: poolSpec, endpoint } },
    secret: secrets, freshSecrets: { ...secrets, databasePassword: "fresh" },
    deployments: new Map([["tracker", deployment("tracker", 2)], ["web", deployment("web", 1)]]),
    autoscalers: ["tracker", "web"],
    jobs: new Map([["matomo-install", job("succeeded", "install")]]),
    backupJobs: new Map(), backupBlocked: undefined, queued: undefined,
    matomo: { ok: true, version: "5.2.1" },
    ...over,
  };
}

const placed: TenantStatus = { database: { pool: "p1", name: "mt_acme" }, namespace: "mt-acme", runningVersion: "5.2.1" };
const cond = (s: TenantStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

/** The snapshot once the rendered Deployments run: their template hashes are the rendered ones. */
function settled(tenant: MatomoTenant, over: Partial<TenantSnapshot> = {}): TenantSnapshot {
  const first = planTenant(snapshot(tenant, over));
  const hash = (n: string) => (first.objects.find((o) => o.kind === "Deployment" && o.metadata.name === n)?.metadata.annotations as Record<string, string> | undefined)?.[TEMPLATE_HASH];
  return snapshot(tenant, { deployments: new Map([["tracker", deployment("tracker", 2, hash("tracker"))], ["web", deployment("web", 1, hash("web"))]]), ...over });
}

test("a running tenant whose objects all exist: Ready, the database converged, no Job re-created, nothing to prune", () => {
  const d = planTenant(settled(tenantOf(placed)));
  assert.equal(cond(d.status, "Ready")?.status, "True");
  assert.equal(cond(d.status, "WorkloadsReady")?.reason, "Available");
  assert.deepEqual(d.database, { endpoint, password: "dbpw" }, "the stored password, never a fresh one");
  assert.equal(d.seedSecret, undefined, "the Secret exists: nothing is seeded");
  assert.ok(!d.objects.some((o) => o.kind === "Job" && o.metadata.name === "matomo-install"), "the install Job exists and is not applied again");
  assert.deepEqual(d.pruneAutoscalers, []);
  assert.equal(d.rolloutStarts, false);
  assert.equal(d.requeueAfterMs, undefined, "a Ready tenant is not polled");
  assert.equal(d.onboardedSeconds, 60, "first seen Ready 60 s after creation");
});

test("a new tenant is placed first (status only, nothing created), on the pool with the most room", () => {
  const rooms = poolRoom(
    [{ metadata: { name: "p1" }, spec: poolSpec }, { metadata: { name: "p2" }, spec: PoolSpec.parse({ ...poolSpec, capacity: 3 }) }],
    [{ metadata: { name: "x" }, spec: TenantSpec.parse({ domains: ["x.example"], database: { pool: "p1" } }) }],
  );
  const d = planTenant(snapshot(tenantOf(undefined), { rooms, pool: undefined, secret: undefined }));
  assert.deepEqual(d.status?.database, { pool: "p1", name: "mt_acme" });
  assert.equal(d.objects.length + d.createJobs.length, 0);
  assert.equal(d.database, undefined);
  assert.equal(d.requeueAfterMs, 100);
});

test("one pool choice: placed and asked-for tenants both count, the most room wins, ties go by name, full pools never", () => {
  const pool = (name: string, capacity: number) => ({ metadata: { name }, spec: PoolSpec.parse({ ...poolSpec, capacity }) });
  const t = (name: string, statusPool?: string, specPool?: string) => ({
    metadata: { name }, spec: TenantSpec.parse({ domains: [`${name}.example`], ...(specPool ? { database: { pool: specPool } } : {}) }),
    ...(statusPool ? { status: { database: { pool: statusPool, name: `mt_${name}` } } } : {}),
  });
  const rooms = poolRoom([pool("a", 2), pool("b", 2), pool("c", 1)], [t("x", "a"), t("y", undefined, "a"), t("z", "b", "b")]);
  assert.deepEqual(rooms, [{ name: "a", free: 0 }, { name: "b", free: 1 }, { name: "c", free: 1 }]);
  assert.equal(pickPool(rooms)?.name, "b", "b and c tie on room; b comes first by name; a is full");
  assert.equal(pickPool([{ name: "a", free: 0 }]), undefined);
});

test("no pool with room, a missing plan, a missing pool: a condition with the reason, nothing applied", () => {
  const full = planTenant(snapshot(tenantOf(undefined), { rooms: [{ name: "p1", free: 0 }], pool: undefined }));
  assert.equal(cond(full.status, "DatabaseReady")?.reason, "NoPoolWithCapacity");
  const noPlan = planTenant(snapshot(tenantOf(placed), { plan: undefined }));
  assert.equal(cond(noPlan.status, "ConfigReady")?.reason, "PlanNotFound");
  assert.equal(cond(noPlan.status, "Ready")?.status, "False");
  const noPool = planTenant(snapshot(tenantOf(placed), { pool: { name: "p1", problem: { reason: "PoolNotFound", message: "DatabasePool \"p1\" does not exist" } } }));
  assert.equal(cond(noPool.status, "DatabaseReady")?.reason, "PoolNotFound");
  for (const d of [full, noPlan, noPool]) assert.equal(d.objects.length + (d.database ? 1 : 0), 0);
});

test("a taken domain: the newer tenant waits with the owner named", () => {
  const d = planTenant(snapshot(tenantOf(placed), { registry: { "domain.acme.example": "older" } }));
  assert.equal(cond(d.status, "ConfigReady")?.reason, "DomainConflict");
  assert.match(cond(d.status, "ConfigReady")?.message ?? "", /acme\.example belongs to tenant older/);
});

test("no Secret yet: the fresh values are seeded once and used for the database and the rendering", () => {
  const d = planTenant(snapshot(tenantOf(placed), { secret: undefined }));
  assert.equal(d.seedSecret?.databasePassword, "fresh");
  assert.equal(d.database?.password, "fresh");
});

test("a Secret made before a key existed: the missing value is stored first, the others are kept", () => {
  const older: Partial<typeof secrets> = { ...secrets };
  delete older.apiToken;
  const d = planTenant(snapshot(tenantOf(placed), { secret: older }));
  assert.deepEqual(d.completeSecret, { apiToken: secrets.apiToken }, "only the missing key, with the fresh value");
  assert.equal(d.objects.length, 0, "nothing rendered with a value that is not stored yet");
  assert.equal(d.requeueAfterMs, 100);
});

test("Ready needs Matomo to answer: a failed probe says which part and why", () => {
  const d = planTenant(settled(tenantOf(placed), { matomo: { ok: false, reason: "ApiTokenRejected", message: "the Reporting API refuses the platform's token" } }));
  assert.equal(cond(d.status, "WorkloadsReady")?.status, "True");
  assert.equal(cond(d.status, "MatomoAnswering")?.reason, "ApiTokenRejected");
  assert.equal(cond(d.status, "Ready")?.status, "False");
  assert.equal(cond(d.status, "Ready")?.reason, "ApiTokenRejected");
  const sim = planTenant(settled(tenantOf(placed), { matomo: { simulated: true } }));
  assert.equal(cond(sim.status, "MatomoAnswering")?.reason, "Simulated");
  assert.equal(cond(sim.status, "Ready")?.status, "True");
  const ok = planTenant(settled(tenantOf(placed)));
  assert.match(cond(ok.status, "MatomoAnswering")?.message ?? "", /Matomo 5\.2\.1 answers/);
});

test("CertificateReady reports the certificate but Ready does not wait for it; a pending one brings the tenant back in 15 s", () => {
  const pending = planTenant(settled(tenantOf(placed), { certificate: { mode: "ingress-acme", served: [{ domain: "acme.example", valid: false, reached: true, error: "the certificate is self-signed" }] } }));
  assert.equal(cond(pending.status, "CertificateReady")?.status, "False");
  assert.equal(cond(pending.status, "CertificateReady")?.reason, "NotIssued");
  assert.equal(cond(pending.status, "Ready")?.status, "True", "Matomo answers over HTTP before its certificate is issued");
  assert.equal(pending.requeueAfterMs, 15_000, "the condition flips soon after issuance");
  const issued = planTenant(settled(tenantOf(placed), { certificate: { mode: "ingress-acme", served: [{ domain: "acme.example", valid: true, validTo: "2027-03-01T00:00:00.000Z" }] } }));
  assert.equal(cond(issued.status, "CertificateReady")?.reason, "Issued");
  assert.equal(issued.requeueAfterMs, undefined, "an issued certificate is looked at again at the resync");
  const notReady = planTenant(settled(tenantOf(placed), { matomo: { ok: false, reason: "WebNotAnswering", message: "m" }, certificate: { mode: "ingress-acme", served: [{ domain: "acme.example", valid: false, reached: false, error: "e" }] } }));
  assert.equal(notReady.requeueAfterMs, 5_000, "a tenant that is not Ready yet is still looked at every 5 s");
  const notLooked = planTenant(settled(tenantOf(placed)));
  assert.equal(cond(notLooked.status, "CertificateReady"), undefined, "nothing looked at: nothing said");
});

test("a probe is made until Matomo answered for the current generation, and only once it is installed and up", () => {
  const deployments = new Map([["tracker", deployment("tracker", 2)], ["web", deployment("web", 1)]]);
  const installed = new Map([["matomo-install", job("succeeded", "install")]]);
  const answered = (generation: number): TenantStatus => ({ ...placed, conditions: [{ type: "MatomoAnswering", status: "True", reason: "Answering", message: "", lastTransitionTime: iso(NOW), observedGeneration: generation }] });
  assert.equal(wantsProbe(tenantOf(placed), deployments, installed), true, "never probed");
  assert.equal(wantsProbe(tenantOf(answered(3)), deployments, installed), false, "answered for generation 3");
  assert.equal(wantsProbe(tenantOf(answered(2)), deployments, installed), true, "the spec changed since");
  assert.equal(wantsProbe(tenantOf(placed), deployments, new Map([["matomo-install", job("running", "install", 1)]])), false, "still installing");
  assert.equal(wantsProbe(tenantOf(placed), new Map([["tracker", deployment("tracker", 0)], ["web", deployment("web", 1)]]), installed), false, "no tracker yet");
});

test("an image that cannot be pulled or a pod that keeps crashing shows in the conditions with its reason", () => {
  const pod = (over: Partial<TenantPodObservation>): TenantPodObservation => ({ name: "tracker-abc", component: "tracker", nodeName: "n1", restarts: 0, image: "ghcr.io/matomo-multiscale/matomo:5.9.9", ...over });
  const notUp = new Map([["tracker", deployment("tracker", 0)], ["web", deployment("web", 0)]]);
  const pull = planTenant(snapshot(tenantOf(placed), { deployments: notUp, pods: [pod({ waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image \"ghcr.io/matomo-multiscale/matomo:5.9.9\"" } })] }));
  assert.equal(cond(pull.status, "WorkloadsReady")?.reason, "ImagePullBackOff");
  assert.match(cond(pull.status, "WorkloadsReady")?.message ?? "", /tracker pod tracker-abc cannot pull its image ghcr\.io\/matomo-multiscale\/matomo:5\.9\.9.*No image of Matomo 5\.9\.9/);
  assert.equal(cond(pull.status, "Ready")?.reason, "ImagePullBackOff");
  const crash = planTenant(snapshot(tenantOf(placed), { deployments: notUp, pods: [pod({ name: "web-x", component: "web", restarts: 4, waiting: { reason: "CrashLoopBackOff", message: "back-off 40s" }, lastTerminated: { reason: "Error", exitCode: 1 } })] }));
  assert.equal(cond(crash.status, "WorkloadsReady")?.reason, "CrashLoopBackOff");
  assert.match(cond(crash.status, "WorkloadsReady")?.message ?? "", /web pod web-x keeps crashing \(restarted 4 time\(s\), last exit code 1 \(Error\)\); kubectl logs -n mt-acme web-x --previous/);
});

test("deletionPolicy Delete: the finalizer is added before anything else", () => {
  const d = planTenant(snapshot(tenantOf(placed, {}, { deletionPolicy: "Delete" })));
  assert.deepEqual(d.finalizers, [DATABASE_FINALIZER]);
  assert.equal(d.status, undefined);
  assert.equal(d.objects.length, 0);
});

test("a changed pod template starts a rollout; held back by the gate, every other object still applies", () => {
  const snap = snapshot(tenantOf(placed), { deployments: new Map([["tracker", deployment("tracker", 2, "old")], ["web", deployment("web", 1, "old")]]) });
  const d = planTenant(snap);
  assert.equal(d.rolloutStarts, true);
  const q = rolloutQueued(snap, d, 10);
  assert.ok(!q.objects.some((o) => o.kind === "Deployment"));
  assert.ok(q.objects.some((o) => o.kind === "ConfigMap"));
  assert.equal(cond(q.status, "ConfigReady")?.reason, "RolloutQueued");
  assert.ok((q.requeueAfterMs ?? Infinity) <= 3_000);
});

test("a suspended tenant: its autoscalers are pruned, and it counts as Ready with no pods", () => {
  const d = planTenant(snapshot(tenantOf(placed, {}, { suspended: true }), { deployments: new Map() }));
  assert.deepEqual(d.pruneAutoscalers, ["tracker", "web"]);
  assert.equal(cond(d.status, "WorkloadsReady")?.reason, "Suspended");
});

test("a failed provisioning step stops everything after it and says why", () => {
  const snap = snapshot(tenantOf(placed));
  const d = failedAt(snap, planTenant(snap), "DatabaseReady", "PoolUnreachable", "cannot reach pool p1", 10_000);
  assert.equal(d.objects.length, 0);
  assert.equal(cond(d.status, "DatabaseReady")?.reason, "PoolUnreachable");
  assert.equal(cond(d.status, "Ready")?.status, "False");
  assert.equal(cond(d.status, "Ready")?.reason, "PoolUnreachable");
});

test("the operator never sends the backup's fields: BackupHealthy and status.backup.* but the final backup id", () => {
  const s: TenantStatus = {
    ...placed,
    backup: { lastBackupId: "b1", lastVerifiedBackupId: "b1", finalBackupId: "final-x" },
    conditions: [
      { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: iso(NOW) },
      { type: "BackupHealthy", status: "True", reason: "Verified", message: "", lastTransitionTime: iso(NOW) },
    ],
  };
  const own = operatorStatus(s);
  assert.deepEqual(own.backup, { finalBackupId: "final-x" });
  assert.deepEqual(own.conditions?.map((c) => c.type), ["Ready"]);
  const d = concludeStatus(snapshot(tenantOf(s)), s, s.conditions ?? []);
  assert.equal(cond(d.status, "BackupHealthy")?.reason, "Verified", "kept as read, never rewritten by the operator");
});

// ---- upgrades: each phase's move on, a failed backup Job, a failed update Job, rollback ----

const FROM = "5.2.1";
const TO = "5.3.0";
const upgrading = (phase: UpgradeStatus["phase"], extra: Partial<UpgradeStatus> = {}): TenantStatus => ({
  ...placed, runningVersion: FROM,
  upgrade: { from: FROM, to: TO, phase, startedAt: iso(NOW - 600_000), phaseStartedAt: iso(NOW - 60_000), generation: 3, ...extra },
});
const up = (status: TenantStatus, over: Partial<TenantSnapshot> = {}, version = TO) => planTenant(snapshot(tenantOf(status, {}, { matomoVersion: version }), over));
const preUpgrade = (key: string) => renderVerifiedBackupJob({ tenant: "acme", purpose: "pre-upgrade", key, platform: DEFAULT_PLATFORM });
const backupJob = (key: string, state: BackupJobObservation["state"], failedAt?: number): [string, BackupJobObservation] => {
  const name = preUpgrade(key).job.metadata.name;
  return [name, { name, state, failedAt: failedAt === undefined ? undefined : iso(failedAt), failure: state === "failed" ? "BackupStore default: access denied" : undefined }];
};

test("upgrade: raising the version starts it in BackingUp, recorded before anything is taken", () => {
  const d = up(placed);
  assert.equal(d.status?.upgrade?.phase, "BackingUp");
  assert.equal(d.status?.upgrade?.generation, 3);
  assert.equal(cond(d.status, "Upgrading")?.reason, "BackingUp");
  assert.equal(d.createJobs.length, 0);
});

test("upgrade: BackingUp creates the verified-backup Job when absent, waits while it runs, never blocks", () => {
  const created = up(upgrading("BackingUp"));
  assert.equal(created.createJobs.length, 1);
  assert.equal(created.createJobs[0]?.metadata.name, preUpgrade("g3").job.metadata.name, "named after the upgrade's generation");
  const running = up(upgrading("BackingUp"), { backupJobs: new Map([backupJob("g3", "running")]) });
  assert.equal(running.createJobs.length, 0);
  assert.equal(running.status?.upgrade?.phase, "BackingUp");
  assert.ok((running.requeueAfterMs ?? 0) > 0);
});

test("upgrade: a succeeded backup Job moves on only once the status shows its backup verified", () => {
  const id = preUpgrade("g3").backupId;
  const jobs = new Map([backupJob("g3", "succeeded")]);
  const unverified = up(upgrading("BackingUp"), { backupJobs: jobs });
  assert.equal(unverified.status?.upgrade?.phase, "BackingUp");
  const verified = up({ ...upgrading("BackingUp"), backup: { lastVerifiedBackupId: id } }, { backupJobs: jobs });
  assert.equal(verified.status?.upgrade?.phase, "Queueing");
  assert.equal(verified.status?.upgrade?.backupId, id);
});

test("upgrade: a succeeded backup Job whose backup another writer overwrote in the status is run again, once a minute has passed", () => {
  const [name] = backupJob("g3", "succeeded");
  const done = (at: number) => new Map([[name, { name, state: "succeeded" as const, completedAt: iso(at) }]]);
  const status = { ...upgrading("BackingUp"), backup: { lastVerifiedBackupId: "2026-11-30T03-00-00Z" } };
  assert.equal(up(status, { backupJobs: done(NOW - 5_000) }).rerunJobs, undefined, "its status write may still be on its way");
  const stale = up(status, { backupJobs: done(NOW - BACKUP_RETRY_MS) });
  assert.deepEqual(stale.rerunJobs, [name], "deleted, so that a rerun records its (already verified) backup again");
  assert.equal(stale.status?.upgrade?.phase, "BackingUp");
});

test("upgrade: a failed backup Job halts it in BackingUp with the reason; the next attempt is a new Job a minute later", () => {
  const soon = up(upgrading("BackingUp"), { backupJobs: new Map([backupJob("g3", "failed", NOW - 10_000)]) });
  assert.equal(soon.status?.upgrade?.phase, "BackingUp");
  assert.equal(cond(soon.status, "Upgrading")?.reason, "BackupFailed");
  assert.match(cond(soon.status, "Upgrading")?.message ?? "", /nothing changed: .*access denied/);
  assert.equal(soon.createJobs.length, 0);
  assert.ok((soon.requeueAfterMs ?? 0) <= BACKUP_RETRY_MS);
  const later = up(upgrading("BackingUp"), { backupJobs: new Map([backupJob("g3", "failed", NOW - BACKUP_RETRY_MS - 1)]) });
  assert.equal(later.createJobs[0]?.metadata.name, preUpgrade("g3-2").job.metadata.name);
  assert.equal(later.status?.upgrade?.phase, "BackingUp");
});

test("upgrade: no usable BackupStore: no Job, the reason in the condition, nothing changed", () => {
  const d = up(upgrading("BackingUp"), { backupBlocked: { reason: "StoreNotFound", message: "BackupStore default does not exist" } });
  assert.equal(d.createJobs.length, 0);
  assert.match(cond(d.status, "Upgrading")?.message ?? "", /nothing changed: BackupStore default does not exist/);
});

test("upgrade: Queueing waits for every pod to queue and archiving to stop, then Migrating", () => {
  const notRolled = new Map([["tracker", { ...deployment("tracker", 2), status: { ...deployment("tracker", 2).status, updatedReplicas: 1 } }], ["web", deployment("web", 1)]]);
  assert.equal(up(upgrading("Queueing"), { deployments: notRolled }).status?.upgrade?.phase, "Queueing");
  const archiving = new Map([["matomo-install", job("succeeded", "install")], ["archiver-1", job("running", "archiver", 1)]]);
  assert.equal(up(upgrading("Queueing"), { jobs: archiving }).status?.upgrade?.phase, "Queueing");
  const d = up(upgrading("Queueing"));
  assert.equal(d.status?.upgrade?.phase, "Migrating");
  const rendered = up(upgrading("Migrating"));
  assert.ok(rendered.objects.some((o) => o.kind === "Job" && o.metadata.name === attemptJobName("update", TO, { generation: 3 })), "the update Job is created");
});

test("upgrade: Migrating → Rolling when the update Job succeeded; Failed with a rollback hint when it failed", () => {
  const update = attemptJobName("update", TO, { generation: 3 });
  const ok = up(upgrading("Migrating"), { jobs: new Map([["matomo-install", job("succeeded")], [update, job("succeeded", "update")]]) });
  assert.equal(ok.status?.upgrade?.phase, "Rolling");
  const failed = up(upgrading("Migrating"), { jobs: new Map([["matomo-install", job("succeeded")], [update, job("failed", "update")]]) });
  assert.equal(failed.status?.upgrade?.phase, "Failed");
  assert.equal(cond(failed.status, "Upgrading")?.reason, "UpdateFailed");
  assert.match(cond(failed.status, "Upgrading")?.message ?? "", /mms tenant rollback acme/);
  const tracker = failed.objects.find((o) => o.kind === "Deployment" && o.metadata.name === "tracker") as { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
  assert.match(tracker?.spec.template.spec.containers[0]?.image ?? "", new RegExp(`:${FROM}$`), "the old pods keep serving");
});

test("upgrade: Rolling → Draining once rolled; Draining → Completed when the drain Job succeeded and the queue is empty", () => {
  assert.equal(up(upgrading("Rolling")).status?.upgrade?.phase, "Draining");
  const drain = attemptJobName("queue-drain", TO, { generation: 3 });
  const jobs = new Map([["matomo-install", job("succeeded")], [drain, job("succeeded", "queue-drain")]]);
  assert.equal(up(upgrading("Draining"), { jobs, queued: 4 }).status?.upgrade?.phase, "Draining");
  const done = up(upgrading("Draining"), { jobs, queued: 0 });
  assert.equal(done.status?.upgrade?.phase, "Completed");
  assert.equal(done.status?.runningVersion, TO);
  assert.equal(cond(done.status, "Upgrading")?.reason, "Completed");
});

test("upgrade: Draining puts every pod back in the tenant's own tracking mode first, and drains only once none is left enqueueing", () => {
  const drain = attemptJobName("queue-drain", TO, { generation: 3 });
  const config = (d: ReturnType<typeof up>) => String((d.objects.find((o) => o.kind === "ConfigMap")?.data as Record<string, string> | undefined)?.["common.config.ini.php"]);
  assert.match(config(up(upgrading("Migrating"))), /queueEnabled = "1"/, "while migrating, hits are only queued");
  const pod = (terminating: boolean): TenantPodObservation => ({ name: "tracker-old", component: "tracker", nodeName: "n1", restarts: 0, image: `x:${FROM}`, terminating });
  const switching = up(upgrading("Draining"), { pods: [pod(true)] });
  assert.doesNotMatch(config(switching), /queueEnabled/, "Draining renders the tenant's own mode: direct writes");
  assert.ok(!switching.objects.some((o) => o.metadata.name === drain), "no drain Job while a pod may still finish a request into the queue");
  assert.match(cond(switching.status, "Upgrading")?.message ?? "", /switching tracking back/);
  const entering = up(upgrading("Draining"), { pods: [], deployments: new Map([["tracker", deployment("tracker", 2, "queue-mode")], ["web", deployment("web", 1, "queue-mode")]]) });
  assert.equal(entering.rolloutStarts, true);
  assert.ok(!entering.objects.some((o) => o.metadata.name === drain), "not in the reconcile that switches the pods back: they have not rolled yet");
  const rolled = planTenant(settled(tenantOf(upgrading("Draining"), {}, { matomoVersion: TO }), { pods: [] }));
  assert.equal(rolled.rolloutStarts, false);
  assert.ok(rolled.objects.some((o) => o.kind === "Job" && o.metadata.name === drain), "the drain Job once every pod writes directly");
});

test("upgrade: rollback (spec back to from) after Failed goes RollingBack, then Completed on the old version", () => {
  const rb = up(upgrading("Failed"), {}, FROM);
  assert.equal(rb.status?.upgrade?.phase, "RollingBack");
  const drain = attemptJobName("queue-drain", FROM, { generation: 3 });
  const done = up(upgrading("RollingBack"), { jobs: new Map([["matomo-install", job("succeeded")], [drain, job("succeeded", "queue-drain")]]), queued: 0 }, FROM);
  assert.equal(done.status?.upgrade?.phase, "Completed");
  assert.equal(done.status?.runningVersion, FROM);
  assert.equal(cond(done.status, "Upgrading")?.reason, "RolledBack");
  const notFailed = up(upgrading("Migrating"), {}, FROM);
  assert.equal(notFailed.status?.upgrade?.phase, "Migrating", "going back mid-upgrade is refused with a hint");
});

test("upgrade: undoing a completed upgrade queues tracking on the new version until the backup is restored, then serves the old one", () => {
  const completed: TenantStatus = { ...upgrading("Completed", { backupId: "pre-upgrade-g3" }), runningVersion: TO };
  const image = (d: ReturnType<typeof up>) => (d.objects.find((o) => o.kind === "Deployment" && o.metadata.name === "tracker") as { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined)?.spec.template.spec.containers[0]?.image ?? "";
  const config = (d: ReturnType<typeof up>) => String((d.objects.find((o) => o.kind === "ConfigMap")?.data as Record<string, string> | undefined)?.["common.config.ini.php"]);
  const held = up(completed, {}, FROM);
  assert.equal(held.status?.upgrade?.phase, "RollingBack");
  assert.equal(held.status?.upgrade?.rollbackOf, "Completed");
  assert.match(image(held), new RegExp(`:${TO}$`), "the new version keeps serving: the database is still the upgraded one");
  assert.match(config(held), /processDuringTrackingRequest = "0"/, "tracking only queued");
  assert.equal(held.rolloutStarts, true);
  assert.equal(cond(held.status, "Upgrading")?.reason, "RollbackQueueing", "not in the reconcile that switches the pods to queueing: they have not rolled yet");
  const holding = planTenant(settled(tenantOf(held.status, {}, { matomoVersion: FROM }), { pods: [] }));
  assert.equal(holding.rolloutStarts, false);
  assert.equal(cond(holding.status, "Upgrading")?.reason, "RollbackRestoring", "every pod holds: the CLI may restore now");
  const restored = planTenant(snapshot(tenantOf(held.status, { annotations: { "multiscale.io/rollback-restored": "pre-upgrade-g3" } }, { matomoVersion: FROM })));
  assert.match(image(restored), new RegExp(`:${FROM}$`), "once restored, the old version serves");
  assert.equal(cond(restored.status, "Upgrading")?.reason, "RollingBack");
});

// ---- deletion ----

const deleting = (status: TenantStatus, policy: "Delete" | "Retain" = "Delete") =>
  tenantOf(status, { deletionTimestamp: iso(NOW - 1000), finalizers: [DATABASE_FINALIZER] }, { deletionPolicy: policy });
const finalJob = (attempt = 1) => renderVerifiedBackupJob({ tenant: "acme", purpose: "final", key: attempt === 1 ? "0a1b2c3d" : `0a1b2c3d-${attempt}`, platform: DEFAULT_PLATFORM });

test("deletion: lock the user out and start the final backup Job; drop only after it is verified", () => {
  const start = planTenant(snapshot(deleting(placed), { databaseExists: true }));
  assert.deepEqual(start.dropUser, endpoint);
  assert.equal(start.createJobs[0]?.metadata.name, finalJob().job.metadata.name);
  assert.equal(start.dropDatabase, undefined);
  assert.equal(start.finalizers, undefined, "the tenant is held");
  assert.equal(cond(start.status, "Deleting")?.reason, "FinalBackup");

  const name = finalJob().job.metadata.name;
  const jobs = new Map([[name, { name, state: "succeeded" as const }]]);
  const verified = planTenant(snapshot(deleting({ ...placed, backup: { lastVerifiedBackupId: finalJob().backupId } }), { databaseExists: true, backupJobs: jobs }));
  assert.equal(verified.status?.backup?.finalBackupId, finalJob().backupId, "recorded before the drop");
  assert.equal(verified.dropDatabase, undefined);

  const drop = planTenant(snapshot(deleting({ ...placed, backup: { finalBackupId: finalJob().backupId } }), { databaseExists: true }));
  assert.deepEqual(drop.dropDatabase, endpoint);
  assert.deepEqual(drop.finalizers, []);
});

test("deletion: a failed final backup Job keeps the database, says why, and retries with a new Job later", () => {
  const name = finalJob().job.metadata.name;
  const failed = (at: number) => new Map([[name, { name, state: "failed" as const, failedAt: iso(at), failure: "the restore drill failed" }]]);
  const d = planTenant(snapshot(deleting(placed), { databaseExists: true, backupJobs: failed(NOW - 5_000) }));
  assert.equal(cond(d.status, "Deleting")?.status, "False");
  assert.match(cond(d.status, "Deleting")?.message ?? "", /database of tenant acme is kept: .*restore drill failed.*set spec.deletionPolicy to Retain/);
  assert.equal(d.dropDatabase, undefined);
  assert.equal(d.createJobs.length, 0);
  const later = planTenant(snapshot(deleting(placed), { databaseExists: true, backupJobs: failed(NOW - 61_000) }));
  assert.equal(later.createJobs[0]?.metadata.name, finalJob(2).job.metadata.name);
});

test("deletion: no store keeps the database with the store's reason; Retain, no pool or no database lets the tenant go", () => {
  const blocked = planTenant(snapshot(deleting(placed), { databaseExists: true, backupBlocked: { reason: "StoreNotFound", message: "BackupStore s3 does not exist" } }));
  assert.equal(cond(blocked.status, "Deleting")?.reason, "StoreNotFound");
  assert.match(cond(blocked.status, "Deleting")?.message ?? "", /is kept: BackupStore s3 does not exist/);
  for (const d of [
    planTenant(snapshot(deleting(placed, "Retain"), { databaseExists: true })),
    planTenant(snapshot(deleting({}), {})),
    planTenant(snapshot(deleting(placed), { databaseExists: false })),
  ]) {
    assert.deepEqual(d.finalizers, []);
    assert.equal(d.dropDatabase, undefined);
  }
});
