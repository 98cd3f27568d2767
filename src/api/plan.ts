// TenantPlan: the sizes, limits and schedules a tenant gets. Plans are how cost per tenant is
// controlled; three are built in and installed with the CRDs.
import { z } from "zod";
import { managedLabels } from "./labels.ts";
import { cel } from "./schema.ts";

const QUANTITY = "^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$";
const quantity = z.string().max(32).regex(new RegExp(QUANTITY), "must be a Kubernetes quantity such as 250m or 512Mi");
// Five cron fields; the real parsing happens in the CronJob controller, which rejects bad schedules.
// "H" in a field is replaced per tenant by a stable value derived from its name (src/render/schedule.ts),
// so that hundreds of tenants on one plan do not all start at the same minute.
export const cron = z.string().max(100).regex(/^((H|[^\sH]+)\s+){4}(H|[^\sH]+)$/, "must be a five-field cron schedule such as 5 * * * *; H, standing alone in a field, is a per-tenant value");

const count = (max: number) => z.int().min(0).max(max);

export const RetentionSpec = z.object({
  keepLast: z.int().min(1).max(1000).default(24).meta({ description: "The newest N backups are always kept." }),
  daily: count(366).default(7).meta({ description: "Also keep the newest backup of each of the last N days that have one." }),
  weekly: count(520).default(4).meta({ description: "…of each of the last N ISO weeks." }),
  monthly: count(240).default(3).meta({ description: "…of each of the last N calendar months." }),
});

export const PlanBackupSpec = z.object({
  schedule: cron.default("H * * * *").meta({ description: "When the tenant's backup runs; H is a per-tenant minute/hour. Hourly by default." }),
  retention: RetentionSpec.default({ keepLast: 24, daily: 7, weekly: 4, monthly: 3 }),
});

const resources = z.object({ cpu: quantity, memory: quantity });

const scaled = cel(
  z.object({
    minReplicas: z.int().min(1).max(100),
    maxReplicas: z.int().min(1).max(100),
    requests: resources,
    limits: resources,
  }),
  { rule: "self.minReplicas <= self.maxReplicas", message: "minReplicas must not exceed maxReplicas" },
);

const toleration = z.object({
  key: z.string().max(317).optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: z.string().max(63).optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.int().min(0).optional(),
});

export const PlacementSpec = z.object({
  nodeSelector: z.record(z.string().max(317), z.string().max(63)).optional()
    .meta({ description: "Node labels every pod of the plan's tenants requires, e.g. an OVH node pool's nodepool label." }),
  tolerations: z.array(toleration).max(20).optional()
    .meta({ description: "Taints those pods tolerate, e.g. a node pool reserved for this plan." }),
});
export type PlacementSpec = z.output<typeof PlacementSpec>;

export const PlanSpec = z.object({
  description: z.string().max(200).optional(),
  tracker: scaled.meta({ description: "Tracking endpoint pods (command side)." }),
  web: scaled.meta({ description: "UI and Reporting API pods (query side)." }),
  jobs: z.object({ requests: resources, limits: resources }).meta({ description: "Archiver, scheduled tasks, install and update jobs." }),
  quota: z.object({ cpu: quantity, memory: quantity, pods: z.int().min(1).max(1000) })
    .meta({ description: "ResourceQuota of the tenant's namespace (limits)." }),
  archiving: z.object({ schedule: cron }),
  rawDataRetentionDays: z.int().min(1).max(3650),
  backup: PlanBackupSpec.default({ schedule: "H * * * *", retention: { keepLast: 24, daily: 7, weekly: 4, monthly: 3 } })
    .meta({ description: "Backup schedule and retention of the plan's tenants." }),
  placement: PlacementSpec.optional()
    .meta({ description: "Which nodes run the plan's tenant pods (tracker, web, queue worker, archiver and Matomo's jobs); any schedulable node when absent." }),
});
export type PlanSpec = z.output<typeof PlanSpec>;

export interface TenantPlan {
  apiVersion: string;
  kind: "TenantPlan";
  metadata: { name: string; labels?: Record<string, string> };
  spec: PlanSpec;
}

const plan = (name: string, spec: PlanSpec): TenantPlan => ({
  apiVersion: "multiscale.io/v1alpha1",
  kind: "TenantPlan",
  metadata: { name, labels: managedLabels({ "multiscale.io/built-in": "true" }) },
  spec,
});

export const BUILT_IN_PLANS: readonly TenantPlan[] = [
  plan("small", {
    description: "Up to about 100k hits a month",
    tracker: { minReplicas: 2, maxReplicas: 3, requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
    web: { minReplicas: 1, maxReplicas: 2, requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    jobs: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
    quota: { cpu: "6", memory: "4Gi", pods: 20 },
    archiving: { schedule: "5 * * * *" },
    rawDataRetentionDays: 180,
    backup: { schedule: "H * * * *", retention: { keepLast: 24, daily: 7, weekly: 4, monthly: 3 } },
  }),
  plan("medium", {
    description: "Up to about 5M hits a month",
    tracker: { minReplicas: 2, maxReplicas: 6, requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    web: { minReplicas: 2, maxReplicas: 4, requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    jobs: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } },
    quota: { cpu: "20", memory: "12Gi", pods: 40 },
    archiving: { schedule: "5 * * * *" },
    rawDataRetentionDays: 365,
    backup: { schedule: "H * * * *", retention: { keepLast: 48, daily: 14, weekly: 8, monthly: 6 } },
  }),
  plan("large", {
    description: "Tens of millions of hits a month",
    tracker: { minReplicas: 3, maxReplicas: 12, requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    web: { minReplicas: 2, maxReplicas: 6, requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
    jobs: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "4", memory: "4Gi" } },
    quota: { cpu: "48", memory: "32Gi", pods: 80 },
    archiving: { schedule: "5 * * * *" },
    rawDataRetentionDays: 730,
    backup: { schedule: "H * * * *", retention: { keepLast: 48, daily: 30, weekly: 12, monthly: 12 } },
  }),
];
