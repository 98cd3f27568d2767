// The scheduled backup work, rendered: a CronJob per tenant running `mms backup run`, a CronJob per
// pool running the nightly restore drill `mms backup verify --pool`, and the identity both run as.
// They live in the platform namespace, not the tenant's: they need the pool's admin credentials,
// which must never be readable from a tenant namespace.
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { API_GROUP, API_GROUP_VERSION } from "../api/names.ts";
import type { PlanSpec } from "../api/plan.ts";
import type { DatabasePool } from "../api/pool.ts";
import { PoolSpec } from "../api/pool.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import type { KubeObject } from "../kube/http.ts";
import { spreadSchedule } from "./schedule.ts";

export const BACKUP_SERVICE_ACCOUNT = "mms-backup";

export interface ControlImage {
  /** The control plane's own image (mms CLI, mariadb client tools): deploy/images/mms. */
  readonly controlImage: string;
}

const labels = (component: string, extra: Record<string, string>) => ({
  "app.kubernetes.io/name": "mms",
  "app.kubernetes.io/component": component,
  "app.kubernetes.io/managed-by": "mms",
  ...extra,
});

function jobPod(image: string, args: string[], component: string, extra: Record<string, string>) {
  return {
    metadata: { labels: labels(component, extra) },
    spec: {
      serviceAccountName: BACKUP_SERVICE_ACCOUNT,
      restartPolicy: "Never",
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{
        name: "mms",
        image,
        args,
        // Dumps stream (nothing is staged whole); a restore drill keeps one compressed dump in /tmp.
        resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
        volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
      }],
      volumes: [{ name: "tmp", emptyDir: {} }],
    },
  };
}

function cronJob(name: string, schedule: string, suspend: boolean, pod: ReturnType<typeof jobPod>, owner: Record<string, unknown>, deadlineSeconds: number, extraLabels: Record<string, string>, component: string): KubeObject {
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name, namespace: SYSTEM_NAMESPACE, labels: labels(component, extraLabels), ownerReferences: [owner] },
    spec: {
      schedule,
      timeZone: "Etc/UTC",
      suspend,
      // A backup still running when the next is due: skip the next rather than queue or overlap.
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 1800,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 3,
      jobTemplate: { spec: { backoffLimit: 1, activeDeadlineSeconds: deadlineSeconds, ttlSecondsAfterFinished: 86_400, template: pod } },
    },
  };
}

/** `backup-<tenant>`: the tenant's scheduled backup; plan-driven schedule with a per-tenant minute. */
export function renderTenantBackupCronJob(tenant: MatomoTenant, plan: PlanSpec, platform: ControlImage): KubeObject {
  const name = tenant.metadata.name;
  const owner = { apiVersion: API_GROUP_VERSION, kind: "MatomoTenant", name, uid: tenant.metadata.uid ?? "", controller: true, blockOwnerDeletion: false };
  const extra = { "multiscale.io/tenant": name };
  return cronJob(
    `backup-${name}`, spreadSchedule(plan.backup.schedule, name),
    // A suspended tenant's data does not change: the backup taken before it was suspended covers it.
    tenant.spec.suspended,
    jobPod(platform.controlImage, ["backup", "run", "--tenant", name], "backup", extra),
    owner, 6 * 3600, extra, "backup",
  );
}

/** `verify-<pool>`: the nightly restore drill over every tenant of the pool, one after another. */
export function renderPoolVerifyCronJob(pool: DatabasePool & { metadata: { uid?: string } }, platform: ControlImage): KubeObject {
  const name = pool.metadata.name;
  const spec = PoolSpec.parse(pool.spec);
  const owner = { apiVersion: API_GROUP_VERSION, kind: "DatabasePool", name, uid: pool.metadata.uid ?? "", controller: true, blockOwnerDeletion: false };
  const extra = { "multiscale.io/pool": name };
  return cronJob(
    `verify-${name}`.slice(0, 52), spreadSchedule(spec.backup.verifySchedule, name), false,
    jobPod(platform.controlImage, ["backup", "verify", "--pool", name], "backup-verify", extra),
    owner, 20 * 3600, extra, "backup-verify",
  );
}

/** The identity of backup jobs: read tenants, pools, stores and their Secrets; write tenant status. */
export function backupRbac(): KubeObject[] {
  const meta = { labels: labels("backup", {}) };
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: BACKUP_SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE, ...meta } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: BACKUP_SERVICE_ACCOUNT, ...meta },
      rules: [
        { apiGroups: [API_GROUP], resources: ["matomotenants", "databasepools", "backupstores", "tenantplans"], verbs: ["get", "list", "watch"] },
        { apiGroups: [API_GROUP], resources: ["matomotenants/status"], verbs: ["get", "patch", "update"] },
        // Pool admin credentials, store credentials and each tenant's salt (for disaster recovery).
        { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: BACKUP_SERVICE_ACCOUNT, ...meta },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: BACKUP_SERVICE_ACCOUNT },
      subjects: [{ kind: "ServiceAccount", name: BACKUP_SERVICE_ACCOUNT, namespace: SYSTEM_NAMESPACE }],
    },
  ];
}
