// Tenant-level backup operations on a cluster: what `mms backup run` and the operator do around the
// database work in backup.ts: find the tenant's pool and store, keep the tenant record beside its
// backups (for disaster recovery), record results in the tenant's status.
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { z } from "zod";
import { API_GROUP_VERSION } from "../api/names.ts";
import { TenantSpec, type Condition, type MatomoTenant, type TenantStatus } from "../api/tenant.ts";
import { setCondition } from "../api/conditions.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { runBackup, type BackupProgress, type BackupResult } from "./backup.ts";
import { BackupError, detail } from "./errors.ts";
import { normalizePrefix } from "./layout.ts";
import { openStore, resolveStoreOfPool, type ObjectStore } from "./store.ts";
import { resolveTenantTarget, type TenantTarget } from "./tenant-target.ts";
import type { Verification } from "./verification.ts";
import { verifyBackup } from "./verify.ts";
import { readTenantSecret } from "../db/resolve.ts";

export const BACKUP_FIELD_MANAGER = "mms-backup";

/** What disaster recovery needs to bring a tenant back besides its dump. */
export const TenantRecord = z.object({
  format: z.literal(1),
  name: z.string(),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  spec: z.record(z.string(), z.unknown()),
  /** The pool the tenant's database was on. */
  pool: z.string().nullable(),
  /**
   * Matomo's salt: token_auth values and sessions are hashed with it, so a tenant restored with another
   * salt would lock out every API client. Kept with the dump, which is no less sensitive.
   */
  salt: z.string().nullable(),
  writtenAt: z.string(),
});
export type TenantRecord = z.output<typeof TenantRecord>;

export async function readTenant(http: KubeHttp, name: string): Promise<MatomoTenant> {
  const t = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
  if (!t) throw new BackupError("DatabaseNotFound", `tenant ${name} does not exist`);
  return t;
}

function userAnnotations(a: Record<string, string> | undefined): Record<string, string> {
  // kubectl's last-applied copy would bring back a stale spec; everything else is the user's.
  return Object.fromEntries(Object.entries(a ?? {}).filter(([k]) => k !== "kubectl.kubernetes.io/last-applied-configuration"));
}

/** Writes the tenant's spec (and salt) beside its backups; overwritten by every backup. */
export async function writeTenantRecord(http: KubeHttp, store: ObjectStore, tenant: MatomoTenant, now = new Date()): Promise<TenantRecord> {
  const name = tenant.metadata.name;
  const secret = await readTenantSecret(http, name);
  const record: TenantRecord = {
    format: 1, name,
    labels: tenant.metadata.labels ?? {},
    annotations: userAnnotations(tenant.metadata.annotations),
    spec: TenantSpec.parse(tenant.spec),
    pool: tenant.status?.database?.pool ?? tenant.spec.database?.pool ?? null,
    salt: secret?.salt ?? null,
    writtenAt: now.toISOString(),
  };
  const key = store.tenantRecordKey(name);
  try {
    await store.s3.send(new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: JSON.stringify(record, null, 2) + "\n", ContentType: "application/json" }));
  } catch (err) {
    throw new BackupError("UploadFailed", `cannot write the record of tenant ${name} to s3://${store.bucket}/${key}: ${detail(err)}`, { cause: err });
  }
  return record;
}

export async function readTenantRecord(store: ObjectStore, tenant: string): Promise<TenantRecord> {
  const key = store.tenantRecordKey(tenant);
  let text: string;
  try {
    const got = await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
    text = await got.Body!.transformToString("utf8");
  } catch (err) {
    throw new BackupError("DownloadFailed", `cannot read the record of tenant ${tenant} from s3://${store.bucket}/${key}: ${detail(err)}`, { cause: err });
  }
  try {
    return TenantRecord.parse(JSON.parse(text));
  } catch (err) {
    throw new BackupError("ManifestInvalid", `the record of tenant ${tenant} at s3://${store.bucket}/${key} is invalid (${detail(err)})`);
  }
}

/** Names of the tenants that have a folder in the store, sorted. Fails as a whole when listing fails. */
export async function listStoredTenants(store: ObjectStore): Promise<string[]> {
  const root = `${normalizePrefix(store.prefix)}tenants/`;
  const names: string[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await store.s3.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: root, Delimiter: "/", ContinuationToken: token }));
      for (const p of page.CommonPrefixes ?? []) names.push((p.Prefix ?? "").slice(root.length).replace(/\/$/, ""));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (err) {
    throw new BackupError("DownloadFailed", `cannot list the tenants in s3://${store.bucket}/${root}: ${detail(err)}`, { cause: err });
  }
  return names.filter((n) => n.length > 0).sort();
}

/**
 * Changes the tenant's status by read-modify-write with the resourceVersion as precondition, so a
 * concurrent write by the operator is never overwritten (retried on conflict).
 */
export async function updateTenantStatus(http: KubeHttp, name: string, mutate: (status: TenantStatus, tenant: MatomoTenant) => TenantStatus): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const t = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
    if (!t) return;
    const status = mutate(structuredClone(t.status ?? {}), t);
    try {
      await http.request("PATCH", `/apis/${API_GROUP_VERSION}/matomotenants/${encodeURIComponent(name)}/status`,
        { metadata: { resourceVersion: t.metadata.resourceVersion }, status }, "application/merge-patch+json");
      return;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409 && attempt < 10) continue;
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
  }
}

/** Sets one condition in a status (kept beside the operator's own conditions). */
export function withCondition(status: TenantStatus, type: string, value: Condition["status"], reason: string, message: string, now: Date): TenantStatus {
  return { ...status, conditions: setCondition(status.conditions ?? [], type, value, reason, message, undefined, now.toISOString()) };
}

export interface TenantBackupOptions {
  readonly store: ObjectStore;
  readonly tableChecksums?: boolean;
  readonly onProgress?: (p: BackupProgress) => void;
  readonly onStart?: (target: TenantTarget) => void;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
}

/**
 * Backs up a tenant's database, writes its record beside the backup and records the result in its
 * status. A failed backup sets BackupHealthy to False with the reason, and is rethrown.
 */
export async function backupTenant(http: KubeHttp, name: string, opts: TenantBackupOptions): Promise<BackupResult & { target: TenantTarget }> {
  const now = opts.now ?? (() => new Date());
  const tenant = await readTenant(http, name);
  const target = await resolveTenantTarget(http, name);
  opts.onStart?.(target);
  let result: BackupResult;
  try {
    result = await runBackup({
      pool: target.pool, tenant: name, database: target.database, store: opts.store,
      tableChecksums: opts.tableChecksums, onProgress: opts.onProgress, signal: opts.signal, now,
    });
    await writeTenantRecord(http, opts.store, tenant, now());
  } catch (err) {
    // A second backup refused while one runs says nothing about the tenant's health.
    if (!(err instanceof BackupError && err.reason === "BackupInProgress")) {
      const why = err instanceof BackupError ? err.reason : "BackupFailed";
      await updateTenantStatus(http, name, (s) => withCondition(s, "BackupHealthy", "False", why === "DumpFailed" || why === "UploadFailed" ? "BackupFailed" : why, `the last backup failed: ${err instanceof Error ? err.message : String(err)}`, now()))
        .catch(() => undefined);
    }
    throw err;
  }
  const m = result.manifest;
  await updateTenantStatus(http, name, (s) => {
    let next: TenantStatus = { ...s, backup: { ...s.backup, lastBackupId: m.backupId, lastBackupAt: m.completedAt } };
    const health = s.conditions?.find((c) => c.type === "BackupHealthy");
    // A backup alone proves nothing until a drill restores it: it clears a failure, not the drill's verdict.
    if (!health || health.reason === "BackupFailed" || health.status === "Unknown") {
      next = withCondition(next, "BackupHealthy", s.backup?.lastVerifiedAt ? "True" : "Unknown", s.backup?.lastVerifiedAt ? "Verified" : "NotVerified",
        s.backup?.lastVerifiedAt ? `backup ${m.backupId} taken; last verified ${s.backup.lastVerifiedAt}` : `backup ${m.backupId} taken; no backup has been verified yet`, now());
    }
    return next;
  });
  return { ...result, target };
}

export interface VerifyTenantOptions {
  readonly store: ObjectStore;
  /** Default: the newest backup. */
  readonly backupId?: string;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
}

/**
 * Runs a restore drill of one of the tenant's backups on its pool and records the verdict: the
 * BackupHealthy condition and, when it passed, the last verified backup and date.
 */
export async function verifyTenant(http: KubeHttp, name: string, opts: VerifyTenantOptions): Promise<Verification> {
  const now = opts.now ?? (() => new Date());
  const target = await resolveTenantTarget(http, name);
  const { verification: v } = await verifyBackup({
    pool: target.pool, store: opts.store, tenant: name,
    backupId: opts.backupId, now, signal: opts.signal,
  });
  await updateTenantStatus(http, name, (s) => v.ok
    ? withCondition({ ...s, backup: { ...s.backup, lastVerifiedBackupId: v.backupId, lastVerifiedAt: v.verifiedAt } },
      "BackupHealthy", "True", "Verified", `backup ${v.backupId} restored in a drill at ${v.verifiedAt}: ${v.tablesChecked} tables match the manifest`, now())
    : withCondition(s, "BackupHealthy", "False", v.reason ?? "VerificationFailed", `the restore drill of backup ${v.backupId} failed: ${v.message ?? `${v.tablesMismatched.length} table(s) differ`}`, now()));
  return v;
}

/**
 * A backup of the tenant to the store of its pool, proven by a restore drill right away: what must
 * exist before anything irreversible (dropping the database, migrating it). Throws BackupError when
 * either step fails; `what` names the backup in that message ("final", "pre-upgrade").
 */
export async function verifiedBackup(http: KubeHttp, name: string, poolName: string, what: string, now: () => Date): Promise<string> {
  const store = openStore(await resolveStoreOfPool(http, poolName));
  try {
    const { manifest } = await backupTenant(http, name, { store, now });
    const v = await verifyTenant(http, name, { store, backupId: manifest.backupId, now });
    if (!v.ok) {
      throw new BackupError("VerificationFailed", `the ${what} backup ${manifest.backupId} failed its restore drill (${v.reason ?? "mismatch"}: ${v.message ?? "tables differ"})`);
    }
    return manifest.backupId;
  } finally {
    store.s3.destroy();
  }
}
