// The CustomResourceDefinitions of our API, generated from the zod schemas in this folder.
import type { V1CustomResourceDefinition } from "@kubernetes/client-node";
import type { z } from "zod";
import { API_GROUP, API_VERSION } from "./names.ts";
import { BackupStoreSpec } from "./backup-store.ts";
import { PlanSpec } from "./plan.ts";
import { PoolSpec, PoolStatus } from "./pool.ts";
import { RemediationSpec, RemediationStatus } from "./remediation.ts";
import { structuralSchema, type CelRule } from "./schema.ts";
import { TENANT_NAME_RULE, TenantSpec, TenantStatus, VERSION_RULE } from "./tenant.ts";

interface CrdInput {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: string[];
  readonly spec: z.ZodType;
  readonly status?: z.ZodType;
  readonly rootRules?: readonly CelRule[];
  readonly columns: V1CustomResourceDefinition["spec"]["versions"][number]["additionalPrinterColumns"];
}

function crd(input: CrdInput): V1CustomResourceDefinition {
  const properties: Record<string, unknown> = { spec: structuralSchema(input.spec) };
  if (input.status) properties.status = structuralSchema(input.status);
  const schema: Record<string, unknown> = {
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: { type: "string" }, kind: { type: "string" },
      // Declaring metadata.name lets root CEL rules point at it (fieldPath) in their errors.
      metadata: { type: "object", properties: { name: { type: "string" } } },
      ...properties,
    },
  };
  if (input.rootRules) schema["x-kubernetes-validations"] = input.rootRules;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${input.plural}.${API_GROUP}`, labels: { "app.kubernetes.io/part-of": "matomo-multiscale" } },
    spec: {
      group: API_GROUP,
      scope: "Cluster",
      names: { kind: input.kind, listKind: `${input.kind}List`, plural: input.plural, singular: input.singular, shortNames: input.shortNames, categories: ["multiscale"] },
      versions: [{
        name: API_VERSION,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: schema },
        subresources: input.status ? { status: {} } : undefined,
        additionalPrinterColumns: input.columns,
      }],
    },
  };
}

const ready = (type: string) => `.status.conditions[?(@.type=="${type}")].status`;

export function customResourceDefinitions(): V1CustomResourceDefinition[] {
  return [
    crd({
      kind: "MatomoTenant", plural: "matomotenants", singular: "matomotenant", shortNames: ["mt", "tenant"],
      spec: TenantSpec, status: TenantStatus, rootRules: [TENANT_NAME_RULE, VERSION_RULE],
      columns: [
        { name: "Plan", type: "string", jsonPath: ".spec.plan" },
        { name: "Version", type: "string", jsonPath: ".spec.matomoVersion" },
        { name: "Running", type: "string", jsonPath: ".status.runningVersion", priority: 1 },
        { name: "Upgrade", type: "string", jsonPath: ".status.upgrade.phase", priority: 1 },
        { name: "URL", type: "string", jsonPath: ".status.url" },
        { name: "Ready", type: "string", jsonPath: ready("Ready") },
        { name: "Backup", type: "string", jsonPath: ready("BackupHealthy"), priority: 1 },
        { name: "Last-Backup", type: "date", jsonPath: ".status.backup.lastBackupAt", priority: 1 },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ],
    }),
    crd({
      kind: "TenantPlan", plural: "tenantplans", singular: "tenantplan", shortNames: ["plan"],
      spec: PlanSpec,
      columns: [
        { name: "Tracker", type: "string", jsonPath: ".spec.tracker.maxReplicas", description: "max tracker replicas" },
        { name: "Retention", type: "integer", jsonPath: ".spec.rawDataRetentionDays" },
        { name: "Description", type: "string", jsonPath: ".spec.description" },
      ],
    }),
    crd({
      kind: "DatabasePool", plural: "databasepools", singular: "databasepool", shortNames: ["pool"],
      spec: PoolSpec, status: PoolStatus,
      columns: [
        { name: "Host", type: "string", jsonPath: ".spec.host" },
        { name: "Tenants", type: "integer", jsonPath: ".status.tenants" },
        { name: "Capacity", type: "integer", jsonPath: ".spec.capacity" },
        { name: "Reachable", type: "boolean", jsonPath: ".status.reachable" },
      ],
    }),
    crd({
      kind: "BackupStore", plural: "backupstores", singular: "backupstore", shortNames: ["bstore"],
      spec: BackupStoreSpec,
      columns: [
        { name: "Endpoint", type: "string", jsonPath: ".spec.endpoint" },
        { name: "Bucket", type: "string", jsonPath: ".spec.bucket" },
        { name: "Prefix", type: "string", jsonPath: ".spec.prefix" },
      ],
    }),
    crd({
      kind: "NodeRemediation", plural: "noderemediations", singular: "noderemediation", shortNames: ["nrem"],
      spec: RemediationSpec, status: RemediationStatus,
      columns: [
        { name: "Node", type: "string", jsonPath: ".spec.nodeName" },
        { name: "Pool", type: "string", jsonPath: ".spec.pool" },
        { name: "Phase", type: "string", jsonPath: ".status.phase" },
        { name: "Outcome", type: "string", jsonPath: ".status.outcome" },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ],
    }),
  ];
}
