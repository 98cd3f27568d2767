// `mms platform bootstrap`: after `terraform apply`, the new cluster gets the platform's chart and the
// objects that connect it to what Terraform made: the BackupStore (the backup bucket and its S3 key) and,
// with a managed database, a DatabasePool. Every step says whether it changed something; a second run with
// the same values changes nothing (no Helm revision, no object written).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import type { BackupStoreSpec } from "../api/backup-store.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import type { KubeHttp, KubeObject } from "../kube/http.ts";
import type { Progress } from "../util/progress.ts";
import type { BootstrapValues } from "./bootstrap-values.ts";
import { ensureRelease, type Helm, type ReleaseAction } from "./release.ts";

export const BOOTSTRAP_FIELD_MANAGER = "mms-bootstrap";

export type ObjectAction = "created" | "updated" | "unchanged" | "would create" | "would update";

export interface BootstrapStep {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly action: ReleaseAction | ObjectAction;
}

export interface BootstrapOptions {
  readonly http: KubeHttp;
  readonly helm: Helm;
  readonly values: BootstrapValues;
  readonly chartDir: string;
  /** Values files over Terraform's chart values (e.g. the image digest you deploy). */
  readonly chartValuesFiles?: readonly string[];
  readonly release: string;
  readonly namespace: string;
  readonly dryRun: boolean;
  readonly progress: Progress;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** The Secret and BackupStore of the backup bucket; the Secret and DatabasePool of the managed database. */
export function bootstrapObjects(values: BootstrapValues, namespace = SYSTEM_NAMESPACE): KubeObject[] {
  const store = values.backupStore;
  const storeSecret = `backup-store-${store.name}`;
  const spec: BackupStoreSpec = {
    ...(store.endpoint ? { endpoint: store.endpoint } : {}),
    region: store.region, bucket: store.bucket, prefix: store.prefix, forcePathStyle: true,
    credentialsSecretRef: { namespace, name: storeSecret, accessKeyIdKey: "access-key-id", secretAccessKeyKey: "secret-access-key" },
  };
  const objects: KubeObject[] = [
    // `data`, not `stringData`: applying the same bytes again is then a no-op the API server does not write.
    { apiVersion: "v1", kind: "Secret", metadata: { name: storeSecret, namespace }, type: "Opaque", data: { "access-key-id": b64(store.accessKeyId), "secret-access-key": b64(store.secretAccessKey) } },
    { apiVersion: API_GROUP_VERSION, kind: "BackupStore", metadata: { name: store.name }, spec },
  ];
  const pool = values.databasePool;
  if (pool) {
    const adminSecret = `${pool.name}-admin`;
    objects.push(
      { apiVersion: "v1", kind: "Secret", metadata: { name: adminSecret, namespace }, type: "Opaque", data: { username: b64(pool.username), password: b64(pool.password) } },
      {
        apiVersion: API_GROUP_VERSION, kind: "DatabasePool", metadata: { name: pool.name },
        spec: { host: pool.host, port: pool.port, capacity: pool.capacity, adminSecretRef: { namespace, name: adminSecret, usernameKey: "username", passwordKey: "password" }, backup: { store: store.name } },
      },
    );
  }
  return objects;
}

/** What a dry run compares: the content, not the bookkeeping (resourceVersion, managedFields, status). */
function content(o: KubeObject | undefined): string {
  if (!o) return "";
  const { metadata, ...rest } = o;
  return JSON.stringify({ labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {}, ...rest, status: undefined });
}

/**
 * Server-side apply of one object, saying what it did: the API server does not write an apply that
 * changes nothing, so an unchanged resourceVersion means unchanged.
 */
async function applyObject(http: KubeHttp, o: KubeObject, dryRun: boolean): Promise<ObjectAction> {
  const before = await http.getOrUndefined<KubeObject>(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
  const after = await http.apply(o, { fieldManager: BOOTSTRAP_FIELD_MANAGER, dryRun });
  if (!before) return dryRun ? "would create" : "created";
  if (dryRun) return content(after) === content(before) ? "unchanged" : "would update";
  return after.metadata.resourceVersion === before.metadata.resourceVersion ? "unchanged" : "updated";
}

export async function bootstrapPlatform(o: BootstrapOptions): Promise<BootstrapStep[]> {
  const steps: BootstrapStep[] = [];
  const dir = await mkdtemp(join(tmpdir(), "mms-bootstrap-"));
  try {
    // Helm reads the values from a private file: they stay off its command line.
    const valuesFile = join(dir, "values.json");
    await writeFile(valuesFile, JSON.stringify(o.values.chart), { mode: 0o600 });
    o.progress.step(`${o.dryRun ? "checking" : "installing"} the chart ${o.chartDir} (release ${o.release} in ${o.namespace})`);
    const action = await ensureRelease(o.helm, { chartDir: o.chartDir, release: o.release, namespace: o.namespace, valuesFile, moreValuesFiles: o.chartValuesFiles ?? [] }, { dryRun: o.dryRun });
    steps.push({ kind: "HelmRelease", name: o.release, namespace: o.namespace, action });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // The custom resources exist once the chart is installed; on a dry run of a first install they do not yet.
  const releaseMissing = steps[0]?.action === "would install";
  for (const obj of bootstrapObjects(o.values, o.namespace)) {
    const where = obj.metadata.namespace ? `${obj.metadata.namespace}/` : "";
    o.progress.step(`${o.dryRun ? "checking" : "applying"} ${obj.kind} ${where}${obj.metadata.name}`);
    const action: ObjectAction = releaseMissing ? "would create" : await applyObject(o.http, obj, o.dryRun);
    steps.push({ kind: obj.kind, name: obj.metadata.name, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}), action });
  }
  return steps;
}
