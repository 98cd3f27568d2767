import { test } from "node:test";
import assert from "node:assert/strict";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { NAMED_BACKUP_ID_PATTERN } from "../api/backup-id.ts";
import { BUILT_IN_PLANS } from "../api/plan.ts";
import { TenantSpec, type MatomoTenant } from "../api/tenant.ts";
import type { KubeObject } from "../kube/http.ts";
import { renderTenantBackupCronJob, renderVerifiedBackupJob, RUN_LOCALLY_LABEL } from "./backup-jobs.ts";
import { DEFAULT_PLATFORM } from "./tenant.ts";

type PodTemplate = { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; containers: { args: string[]; image: string }[] } };
const template = (job: KubeObject) => (job.spec as { template: PodTemplate }).template;

test("a verified-backup Job runs `mms backup run --id --verify` as mms-backup in the platform namespace, named after tenant, purpose and key", () => {
  const { job, backupId } = renderVerifiedBackupJob({ tenant: "acme", purpose: "pre-upgrade", key: "g7", platform: DEFAULT_PLATFORM });
  assert.equal(backupId, "pre-upgrade-g7");
  assert.match(backupId, NAMED_BACKUP_ID_PATTERN);
  assert.equal(job.kind, "Job");
  assert.equal(job.metadata.namespace, SYSTEM_NAMESPACE);
  assert.equal(job.metadata.name, "vbackup-acme-pre-upgrade-g7");
  assert.deepEqual(
    Object.entries(job.metadata.labels as Record<string, string>).filter(([k]) => ["app.kubernetes.io/managed-by", "multiscale.io/tenant", "multiscale.io/purpose"].includes(k)),
    [["app.kubernetes.io/managed-by", "mms"], ["multiscale.io/tenant", "acme"], ["multiscale.io/purpose", "pre-upgrade"]],
  );
  const spec = job.spec as { backoffLimit: number };
  assert.ok(spec.backoffLimit >= 1 && spec.backoffLimit <= 2);
  const pod = template(job);
  assert.equal(pod.spec.serviceAccountName, "mms-backup");
  assert.deepEqual(pod.spec.containers[0]?.args, ["backup", "run", "--tenant", "acme", "--id", "pre-upgrade-g7", "--verify"]);
  assert.equal(pod.spec.containers[0]?.image, DEFAULT_PLATFORM.controlImage);
  // Production manifests carry no trace of the dev environment's local runner.
  assert.equal(pod.metadata.labels[RUN_LOCALLY_LABEL], undefined);
});

test("the same input renders the same Job; another key another Job and backup", () => {
  const a = renderVerifiedBackupJob({ tenant: "acme", purpose: "final", key: "3f2a9c1d", platform: DEFAULT_PLATFORM });
  const b = renderVerifiedBackupJob({ tenant: "acme", purpose: "final", key: "3f2a9c1d", platform: DEFAULT_PLATFORM });
  const c = renderVerifiedBackupJob({ tenant: "acme", purpose: "final", key: "3f2a9c1e", platform: DEFAULT_PLATFORM });
  assert.deepEqual(a, b);
  assert.notEqual(a.job.metadata.name, c.job.metadata.name);
  assert.notEqual(a.backupId, c.backupId);
});

test("Job names stay within 63 characters and apart for long tenants and keys", () => {
  const tenant = "a-tenant-name-of-28-chars-xy";
  const one = renderVerifiedBackupJob({ tenant, purpose: "pre-upgrade", key: "k".repeat(31) + "1", platform: DEFAULT_PLATFORM });
  const two = renderVerifiedBackupJob({ tenant, purpose: "pre-upgrade", key: "k".repeat(31) + "2", platform: DEFAULT_PLATFORM });
  assert.ok(one.job.metadata.name.length <= 63, one.job.metadata.name);
  assert.notEqual(one.job.metadata.name, two.job.metadata.name);
});

test("a key that cannot name a backup is refused", () => {
  for (const key of ["", "G7", "-g7", "g7-", "a/b", "x".repeat(33)]) {
    assert.throws(() => renderVerifiedBackupJob({ tenant: "acme", purpose: "final", key, platform: DEFAULT_PLATFORM }), /cannot name a final backup/);
  }
});

test("with runJobsLocally the backup pods carry the local-runner label; the CronJob's too", () => {
  const platform = { ...DEFAULT_PLATFORM, runJobsLocally: true };
  const { job } = renderVerifiedBackupJob({ tenant: "acme", purpose: "final", key: "abc", platform });
  assert.equal(template(job).metadata.labels[RUN_LOCALLY_LABEL], "true");
  const plan = BUILT_IN_PLANS[0]!.spec;
  const tenant: MatomoTenant = { apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant", metadata: { name: "acme", uid: "u" }, spec: TenantSpec.parse({ domains: ["a.test"] }) };
  const cron = renderTenantBackupCronJob(tenant, plan, platform);
  const cronPod = (cron.spec as { jobTemplate: { spec: { template: PodTemplate } } }).jobTemplate.spec.template;
  assert.equal(cronPod.metadata.labels[RUN_LOCALLY_LABEL], "true");
  assert.equal((renderTenantBackupCronJob(tenant, plan, DEFAULT_PLATFORM).spec as { jobTemplate: { spec: { template: PodTemplate } } }).jobTemplate.spec.template.metadata.labels[RUN_LOCALLY_LABEL], undefined);
});
