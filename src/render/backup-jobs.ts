// The backup work, rendered: a CronJob per tenant running `mms backup run`, a CronJob per pool running
// the nightly restore drill `mms backup verify --pool`, the one-off verified-backup Jobs the reconciler
// starts before an upgrade or a deletion, and the identity all of them run as.
// They live in the platform namespace, not the tenant's: they need the pool's admin credentials,
// which must never be readable from a tenant namespace.
import { createHash } from "node:crypto";
import type { V1ClusterRole, V1ClusterRoleBinding, V1CronJob, V1Job, V1OwnerReference, V1PodTemplateSpec, V1ServiceAccount, V1Toleration } from "@kubernetes/client-node";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { namedBackupId, type VerifiedBackupPurpose } from "../api/backup-id.ts";
import { COMPONENT_LABEL, managedLabels, ownerReference, POOL_LABEL, TENANT_LABEL, type Labels } from "../api/labels.ts";
import { API_GROUP } from "../api/names.ts";
import type { PlanSpec } from "../api/plan.ts";
import type { DatabasePool } from "../api/pool.ts";
import { PoolSpec } from "../api/pool.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import type { KubeObject } from "../kube/http.ts";
import { spreadSchedule } from "./schedule.ts";

export const BACKUP_SERVICE_ACCOUNT = "mms-backup";
/**
 * On a pod: run its command on this machine instead of a node (the dev environment's local Job runner,
 * src/devcluster/local-jobs.ts); its simulated nodes would otherwise "complete" it without running it.
 */
export const RUN_LOCALLY_LABEL = "multiscale.io/run-locally";

export interface ControlImage {
  /** The control plane's own image (mms CLI, mariadb client tools): deploy/images/mms. */
  readonly controlImage: string;
  /** Dev environment only: label the backup pods so the local Job runner runs them. Production: unset. */
  readonly runJobsLocally?: boolean | undefined;
  /** Where backup and drill pods run (e.g. a system pool): added to their pods as is. */
  readonly jobNodeSelector?: Readonly<Record<string, string>> | undefined;
  readonly jobTolerations?: readonly V1Toleration[] | undefined;
  /**
   * Render the backup and drill CronJobs suspended: no scheduled run starts, runs made by hand
   * (`kubectl create job --from=cronjob/…`) still do. For test environments, where a backup firing at
   * a tenant's minute must not land in the middle of a test.
   */
  readonly suspendSchedules?: boolean | undefined;
}

const labels = (component: string, extra: Labels): Labels => managedLabels({ "app.kubernetes.io/name": "mms", [COMPONENT_LABEL]: component, ...extra });

function jobPod(platform: ControlImage, args: string[], component: string, extra: Record<string, string>): V1PodTemplateSpec {
  const image = platform.controlImage;
  return {
    metadata: { labels: { ...labels(component, extra), ...(platform.runJobsLocally ? { [RUN_LOCALLY_LABEL]: "true" } : {}) } },
    spec: {
      serviceAccountName: BACKUP_SERVICE_ACCOUNT,
      restartPolicy: "Never",
      ...(platform.jobNodeSelector ? { nodeSelector: { ...platform.jobNodeSelector } } : {}),
      ...(platform.jobTolerations?.length ? { tolerations: platform.jobTolerations.map((t) => ({ ...t })) } : {}),
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{
        name: "mms",
        image,
        args,
        // Dumps stream (nothing is staged whole); a restore drill keeps one compressed dump in /tmp.
        resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
        // A failed run's last lines of output become the pod's termination message: `kubectl get pod`
        // and the Job's status say why without digging through logs.
        terminationMessagePolicy: "FallbackToLogsOnError",
        volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
      }],
      volumes: [{ name: "tmp", emptyDir: {} }],
    },
  };
}

function cronJob(name: string, schedule: string, suspend: boolean, pod: ReturnType<typeof jobPod>, owner: V1OwnerReference, deadlineSeconds: number, extraLabels: Record<string, string>, component: string, platform: ControlImage): KubeObject {
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name, namespace: SYSTEM_NAMESPACE, labels: labels(component, extraLabels), ownerReferences: [owner] },
    spec: {
      schedule,
      timeZone: "Etc/UTC",
      suspend: suspend || platform.suspendSchedules === true,
      // A backup still running when the next is due: skip the next rather than queue or overlap.
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 1800,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 3,
      jobTemplate: { spec: { backoffLimit: 1, activeDeadlineSeconds: deadlineSeconds, ttlSecondsAfterFinished: 86_400, template: pod } },
    },
  } satisfies V1CronJob;
}

/** `backup-<tenant>`: the tenant's scheduled backup; plan-driven schedule with a per-tenant minute. */
export function renderTenantBackupCronJob(tenant: MatomoTenant, plan: PlanSpec, platform: ControlImage): KubeObject {
  const name = tenant.metadata.name;
  const owner = ownerReference("MatomoTenant", tenant, { blockOwnerDeletion: false });
  const extra = { [TENANT_LABEL]: name };
  return cronJob(
    `backup-${name}`, spreadSchedule(plan.backup.schedule, name),
    // A suspended tenant's data does not change: the backup taken before it was suspended covers it.
    tenant.spec.suspended,
    jobPod(platform, ["backup", "run", "--tenant", name], "backup", extra),
    owner, 6 * 3600, extra, "backup", platform,
  );
}

/** `verify-<pool>`: the nightly restore drill over every tenant of the pool, one after another. */
export function renderPoolVerifyCronJob(pool: DatabasePool & { metadata: { uid?: string } }, platform: ControlImage): KubeObject {
  const name = pool.metadata.name;
  const spec = PoolSpec.parse(pool.spec);
  const owner = ownerReference("DatabasePool", pool, { blockOwnerDeletion: false });
  const extra = { [POOL_LABEL]: name };
  return cronJob(
    `verify-${name}`.slice(0, 52), spreadSchedule(spec.backup.verifySchedule, name), false,
    jobPod(platform, ["backup", "verify", "--pool", name], "backup-verify", extra),
    owner, 20 * 3600, extra, "backup-verify", platform,
  );
}

/** Longest Job name: the Job controller names its pods `<job>-<5 characters>` and labels them with it. */
const MAX_JOB_NAME = 63;

/**
 * A Job that takes one backup of the tenant and proves it by a restore drill, before something
 * irreversible (an upgrade's migrations, dropping a deleted tenant's database). Its name and its backup
 * id follow from tenant, purpose and key alone, so the reconciler can create it when absent and
 * recognise its backup in the tenant's status (`status.backup.lastVerifiedBackupId`) without storing
 * anything; a rerun of the same Job finds the backup already taken (`mms backup run --id`, idempotent).
 */
export function renderVerifiedBackupJob(input: {
  tenant: string;
  purpose: VerifiedBackupPurpose;
  /** What makes this backup different from earlier ones of the same purpose: `g7` (generation), a uid prefix. */
  key: string;
  platform: ControlImage;
}): { job: KubeObject; backupId: string } {
  const { tenant, purpose, key, platform } = input;
  const backupId = namedBackupId(purpose, key);
  let name = `vbackup-${tenant}-${purpose}-${key}`;
  if (name.length > MAX_JOB_NAME) {
    // Still deterministic: the hash of the whole name keeps two long keys apart.
    const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
    name = `vbackup-${tenant}-${purpose}-${hash}`;
  }
  const extra = { [TENANT_LABEL]: tenant, "multiscale.io/purpose": purpose };
  const job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: SYSTEM_NAMESPACE, labels: labels("verified-backup", extra), annotations: { "multiscale.io/backup-id": backupId } },
    spec: {
      // One retry covers a pod lost with its node; the command resumes from what the first attempt left.
      backoffLimit: 1,
      activeDeadlineSeconds: 6 * 3600,
      // The reconciler reads the Job's outcome long before this; a Job gone early is simply recreated
      // and finds its backup done.
      ttlSecondsAfterFinished: 86_400,
      template: jobPod(platform, ["backup", "run", "--tenant", tenant, "--id", backupId, "--verify"], "verified-backup", extra),
    },
  } satisfies V1Job & KubeObject;
  return { job, backupId };
}

/** The identity of backup jobs: read tenants, pools, stores and their Secrets; write tenant status. */
export function backupRbac(): KubeObject[] {
  const meta = { labels: labels("backup", {}) };
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: BACKUP_SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE, ...meta } } satisfies V1ServiceAccount,
    {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: BACKUP_SERVICE_ACCOUNT, ...meta },
      rules: [
        { apiGroups: [API_GROUP], resources: ["matomotenants", "databasepools", "backupstores", "tenantplans"], verbs: ["get", "list", "watch"] },
        { apiGroups: [API_GROUP], resources: ["matomotenants/status"], verbs: ["get", "patch", "update"] },
        // Pool admin credentials, store credentials and each tenant's salt (for disaster recovery).
        { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
      ],
    } satisfies V1ClusterRole,
    {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: BACKUP_SERVICE_ACCOUNT, ...meta },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: BACKUP_SERVICE_ACCOUNT },
      subjects: [{ kind: "ServiceAccount", name: BACKUP_SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }],
    } satisfies V1ClusterRoleBinding,
  ];
}
