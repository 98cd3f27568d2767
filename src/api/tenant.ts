// The MatomoTenant API: what a tenant is (spec) and what the operator reports about it (status).
import { z } from "zod";
import { cel } from "./schema.ts";
import { DNS_LABEL_PATTERN, DOMAIN_PATTERN, TENANT_NAME_MAX, TENANT_NAME_PATTERN, VERSION_PATTERN } from "./names.ts";

export const DEFAULT_MATOMO_VERSION = "5.2.1";

/**
 * The Matomo releases the platform can run: the tenant image's Apache/PHP and its two plugins
 * (ExtraTools, QueuedTracking: `"matomo": ">=5.0.0-b1,<6.0.0-b1"`) support Matomo 5 only.
 */
export const SUPPORTED_MATOMO_MAJOR = 5;
export const SUPPORTED_MATOMO_RANGE = `${SUPPORTED_MATOMO_MAJOR}.x (${SUPPORTED_MATOMO_MAJOR}.0.0 up to, not including, ${SUPPORTED_MATOMO_MAJOR + 1}.0.0)`;
const unsupportedVersion = (v: string) => `Matomo ${v} is not supported: the platform runs Matomo ${SUPPORTED_MATOMO_RANGE}, the range its image and plugins support`;
export const DEFAULT_PLAN = "small";

const domain = z.string().min(3).max(253).regex(new RegExp(DOMAIN_PATTERN), "must be a lower-case domain name such as analytics.example.com");

// CEL has no version type here, so compare MAJOR.MINOR.PATCH numerically part by part.
const part = (v: string, i: number) => `int(${v}.split('.')[${i}])`;
const notLower = (a: string, b: string) =>
  `${part(a, 0)} > ${part(b, 0)} || (${part(a, 0)} == ${part(b, 0)} && (${part(a, 1)} > ${part(b, 1)} || ` +
  `(${part(a, 1)} == ${part(b, 1)} && ${part(a, 2)} >= ${part(b, 2)})))`;

export const TenantSpec = z.object({
  domains: z.array(domain).min(1).max(20)
    .meta({ "x-kubernetes-list-type": "set", description: "Domains the tenant's Matomo answers on; the first is its primary URL." }),
  plan: z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN), "must be the name of a TenantPlan").default(DEFAULT_PLAN)
    .meta({ description: "Name of the TenantPlan that sizes this tenant." }),
  matomoVersion: cel(
    z.string().max(14).regex(new RegExp(VERSION_PATTERN), "must be MAJOR.MINOR.PATCH, e.g. 5.2.1")
      .refine((v) => !new RegExp(VERSION_PATTERN).test(v) || Number(v.split(".")[0]) === SUPPORTED_MATOMO_MAJOR, { error: (i) => unsupportedVersion(String(i.input)) }),
    {
      rule: `!self.matches('${VERSION_PATTERN.replaceAll("\\", "\\\\")}') || int(self.split('.')[0]) == ${SUPPORTED_MATOMO_MAJOR}`,
      messageExpression: `'Matomo ' + self + ' is not supported: the platform runs Matomo ${SUPPORTED_MATOMO_RANGE}, the range its image and plugins support'`,
      message: unsupportedVersion("this version"),
    },
  ).default(DEFAULT_MATOMO_VERSION)
    .meta({ description: `Matomo version to run (${SUPPORTED_MATOMO_RANGE}); raising it upgrades the tenant (backup, migration, rollout).` }),
  database: cel(
    z.object({
      pool: z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN)).optional()
        .meta({ description: "DatabasePool to place the tenant on; chosen by capacity when empty." }),
    }).default({}),
    { rule: "!has(oldSelf.pool) || (has(self.pool) && self.pool == oldSelf.pool)", message: "spec.database.pool cannot be changed once set; moving a tenant to another pool is a migration" },
  ),
  tracking: z.object({
    queuedTracking: z.boolean().default(false)
      .meta({ description: "Queue tracking requests (QueuedTracking, in the tenant's own database) and process them in batches. Upgrades queue tracking whatever this says." }),
  }).default({ queuedTracking: false }),
  privacy: z.object({
    anonymizeIpBytes: z.int().min(0).max(3).default(2).meta({ description: "How many bytes of visitor IPs to mask (0-3)." }),
    respectDoNotTrack: z.boolean().default(true),
  }).default({ anonymizeIpBytes: 2, respectDoNotTrack: true }),
  suspended: z.boolean().default(false).meta({ description: "Scale the tenant to zero; data and configuration are kept." }),
  deletionPolicy: z.enum(["Retain", "Delete"]).default("Retain")
    .meta({ description: "Retain keeps the database when the tenant is deleted; Delete drops it, but only after a final backup has been taken and verified." }),
});
export type TenantSpecInput = z.input<typeof TenantSpec>;
export type TenantSpec = z.output<typeof TenantSpec>;

export const CONDITION_TYPES = ["DatabaseReady", "ConfigReady", "WorkloadsReady", "MatomoAnswering", "CertificateReady", "Ready", "BackupHealthy", "Deleting"] as const;

/** Held while a tenant with deletionPolicy Delete still has a database to back up and drop. */
export const DATABASE_FINALIZER = "multiscale.io/database";

export const BackupStatus = z.object({
  lastBackupId: z.string().optional(),
  lastBackupAt: z.string().optional(),
  /** Size of the last backup's stored (compressed) dump, from its manifest. */
  lastBackupBytes: z.int().min(0).optional(),
  lastVerifiedBackupId: z.string().optional(),
  /** When the last successful restore drill finished. */
  lastVerifiedAt: z.string().optional(),
  /** The verified backup taken when the tenant was deleted (deletionPolicy Delete). */
  finalBackupId: z.string().optional(),
});
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const Condition = z.object({
  type: z.string().max(64),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().max(128),
  message: z.string().max(2048),
  lastTransitionTime: z.string(),
  observedGeneration: z.int().optional(),
});
export type Condition = z.output<typeof Condition>;

export const UPGRADE_PHASES = ["BackingUp", "Queueing", "Migrating", "Rolling", "Draining", "Completed", "Failed", "RollingBack"] as const;
export type UpgradePhase = (typeof UPGRADE_PHASES)[number];

export const UpgradeStatus = z.object({
  from: z.string(),
  to: z.string(),
  phase: z.enum(UPGRADE_PHASES),
  startedAt: z.string(),
  phaseStartedAt: z.string(),
  /** The tenant's generation when the upgrade started: its Jobs are named after it. */
  generation: z.int().min(0),
  /** The verified backup taken before anything changed: what a rollback restores. */
  backupId: z.string().optional(),
  /** In RollingBack: whether the upgrade being undone had failed or completed. */
  rollbackOf: z.enum(["Failed", "Completed"]).optional(),
  message: z.string().optional(),
});

/**
 * Set by `mms tenant rollback` on the tenant once the pre-upgrade backup is restored over the database of an
 * upgrade that had completed: `<backupId>`. Until then the operator keeps the new version serving with
 * tracking queued, so that no hit reaches tables about to be replaced.
 */
export const ROLLBACK_RESTORED_ANNOTATION = "multiscale.io/rollback-restored";
export type UpgradeStatus = z.output<typeof UpgradeStatus>;

export const TenantStatus = z.object({
  observedGeneration: z.int().optional(),
  conditions: z.array(Condition).optional().meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] }),
  url: z.string().optional(),
  runningVersion: z.string().optional(),
  namespace: z.string().optional(),
  database: z.object({ pool: z.string(), name: z.string() }).optional(),
  readyAt: z.string().optional(),
  onboardingSeconds: z.number().optional(),
  backup: BackupStatus.optional(),
  upgrade: UpgradeStatus.optional(),
  /** The Redis database of the pool's queue this tenant's tracking requests wait in (queuedTracking). */
  tracking: z.object({ redisDatabase: z.int().min(1).optional() }).optional(),
});
export type TenantStatus = z.output<typeof TenantStatus>;

/**
 * Matomo cannot downgrade, so the version may only rise; the one way back is a rollback to the version
 * an upgrade started from (`mms tenant rollback`), which restores the pre-upgrade backup. A root rule,
 * since it reads the status as well as the spec.
 */
export const VERSION_RULE = {
  rule: `${notLower("self.spec.matomoVersion", "oldSelf.spec.matomoVersion")} || (has(oldSelf.status) && has(oldSelf.status.upgrade) && self.spec.matomoVersion == oldSelf.status.upgrade.from)`,
  fieldPath: ".spec.matomoVersion",
  reason: "FieldValueForbidden",
  message: "spec.matomoVersion cannot be lowered: Matomo does not support downgrades (to undo a failed upgrade, use `mms tenant rollback`)",
} as const;

export const TENANT_NAME_RULE = {
  rule: `size(self.metadata.name) >= 2 && size(self.metadata.name) <= ${TENANT_NAME_MAX} && self.metadata.name.matches('${TENANT_NAME_PATTERN}')`,
  fieldPath: ".metadata.name",
  reason: "FieldValueInvalid",
  message: `metadata.name must be 2 to ${TENANT_NAME_MAX} characters of lower-case letters, digits and '-', starting with a letter and ending with a letter or digit (it becomes the tenant's namespace, database and user name)`,
} as const;

export interface MatomoTenant {
  apiVersion: string;
  kind: "MatomoTenant";
  metadata: { name: string; uid?: string; generation?: number; resourceVersion?: string; creationTimestamp?: string; deletionTimestamp?: string; finalizers?: string[]; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: TenantSpec;
  status?: TenantStatus;
}
