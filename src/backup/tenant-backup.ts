// Tenant-level backup operations on a cluster: what `mms backup run` and the operator do around the
// database work in backup.ts: find the tenant's pool and store, keep the tenant record beside its
// backups (for disaster recovery), record results in the tenant's status. Every backup result (backup
// run, restore drill, verified backup) reaches the status through writeBackupStatus, the one writer of
// `status.backup` and the BackupHealthy condition.
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { z } from "zod";
import { API_GROUP_VERSION } from "../api/names.ts";
import { TenantSpec, type Condition, type MatomoTenant, type TenantStatus } from "../api/tenant.ts";
import { setCondition } from "../api/conditions.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { runBackup, type BackupProgress, type BackupResult } from "./backup.ts";
import { BackupError, detail } from "./errors.ts";
import { isBackupId, normalizePrefix } from "./layout.ts";
import { listBackups } from "./list.ts";
import type { ObjectStore } from "./store.ts";
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

/** The fields of `status.backup` the backup writer owns (finalBackupId is the deletion's). */
const OWNED_BACKUP_FIELDS = ["lastBackupId", "lastBackupAt", "lastBackupBytes", "lastVerifiedBackupId", "lastVerifiedAt"] as const;
type OwnedBackupStatus = { [K in (typeof OWNED_BACKUP_FIELDS)[number]]?: NonNullable<TenantStatus["backup"]>[K] };

export interface BackupStatusChange {
  readonly backup?: OwnedBackupStatus;
  readonly health?: { readonly status: Condition["status"]; readonly reason: string; readonly message: string };
}

/**
 * Writes a backup result into the tenant's status by server-side apply on the status subresource, as
 * field manager `mms-backup`: only `status.backup`'s own fields and the BackupHealthy condition (the
 * conditions are a list-map keyed by type, so the operator's conditions are not touched). An apply
 * states every field its manager owns, so the writer sends its current fields with the change; the
 * resourceVersion precondition keeps two backup writers (a run and a drill) from undoing each other.
 * A tenant that no longer exists is left alone.
 */
export async function writeBackupStatus(http: KubeHttp, name: string, change: (status: TenantStatus) => BackupStatusChange, now: Date = new Date()): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const t = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
    if (!t) return;
    const status = t.status ?? {};
    const c = change(status);
    const backup: Record<string, string | number> = {};
    for (const f of OWNED_BACKUP_FIELDS) {
      const v = c.backup?.[f] ?? status.backup?.[f];
      if (v !== undefined) backup[f] = v;
    }
    const health = c.health
      ? setCondition(status.conditions ?? [], "BackupHealthy", c.health.status, c.health.reason.slice(0, 128), c.health.message.slice(0, 2048), undefined, now.toISOString()).find((x) => x.type === "BackupHealthy")
      : status.conditions?.find((x) => x.type === "BackupHealthy");
    const body = {
      apiVersion: API_GROUP_VERSION, kind: "MatomoTenant",
      metadata: { name, resourceVersion: t.metadata.resourceVersion },
      status: { backup, ...(health ? { conditions: [health] } : {}) },
    };
    try {
      await http.apply(body, { fieldManager: BACKUP_FIELD_MANAGER, subresource: "status", force: true });
      return;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409 && attempt < 20) continue;
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
  }
}

export interface TenantBackupOptions {
  readonly store: ObjectStore;
  readonly tableChecksums?: boolean;
  readonly onProgress?: (p: BackupProgress) => void;
  readonly onStart?: (target: TenantTarget) => void;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** A named id (`pre-upgrade-g7`); default a new time-stamped one. */
  readonly backupId?: string;
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
      tableChecksums: opts.tableChecksums, onProgress: opts.onProgress, signal: opts.signal, now, backupId: opts.backupId,
    });
    await writeTenantRecord(http, opts.store, tenant, now());
  } catch (err) {
    // A second backup refused while one runs says nothing about the tenant's health.
    if (!(err instanceof BackupError && err.reason === "BackupInProgress")) {
      const why = err instanceof BackupError ? err.reason : "BackupFailed";
      await writeBackupStatus(http, name, () => ({
        health: { status: "False", reason: why === "DumpFailed" || why === "UploadFailed" ? "BackupFailed" : why, message: `the last backup failed: ${err instanceof Error ? err.message : String(err)}` },
      }), now()).catch(() => undefined);
    }
    throw err;
  }
  const m = result.manifest;
  await writeBackupStatus(http, name, (s) => {
    const backup = { lastBackupId: m.backupId, lastBackupAt: m.completedAt, lastBackupBytes: m.object.bytes };
    const health = s.conditions?.find((c) => c.type === "BackupHealthy");
    // A backup alone proves nothing until a drill restores it: it clears a failure, not the drill's verdict.
    if (health && health.reason !== "BackupFailed" && health.status !== "Unknown") return { backup };
    const verifiedAt = s.backup?.lastVerifiedAt;
    return {
      backup,
      health: verifiedAt
        ? { status: "True", reason: "Verified", message: `backup ${m.backupId} taken; last verified ${verifiedAt}` }
        : { status: "Unknown", reason: "NotVerified", message: `backup ${m.backupId} taken; no backup has been verified yet` },
    };
  }, now());
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
  await writeBackupStatus(http, name, () => v.ok
    ? {
      backup: { lastVerifiedBackupId: v.backupId, lastVerifiedAt: v.verifiedAt },
      health: { status: "True", reason: "Verified", message: `backup ${v.backupId} restored in a drill at ${v.verifiedAt}: ${v.tablesChecked} tables match the manifest` },
    }
    : { health: { status: "False", reason: v.reason ?? "VerificationFailed", message: `the restore drill of backup ${v.backupId} failed: ${v.message ?? `${v.tablesMismatched.length} table(s) differ`}` } },
  now());
  return v;
}

export interface VerifiedBackupOptions extends TenantBackupOptions {
  readonly backupId: string;
  /** Called before each step: "backup", "verify", or "done" when the backup was already verified. */
  readonly onStep?: (step: "backup" | "verify" | "done", message: string) => void;
}

export interface VerifiedBackupResult {
  readonly backupId: string;
  /** False when an earlier run had already taken it (and perhaps verified it). */
  readonly taken: boolean;
  readonly verifiedAt: string;
  readonly tables: number;
}

/**
 * Takes the backup `backupId` of the tenant and proves it by a restore drill; safe to run again, as the
 * Job running it may be: a backup already complete and verified is only recorded in the status again,
 * one complete but not yet verified is only verified, and what an interrupted run left (a folder
 * without a manifest, or a backup whose drill failed) is removed and the backup taken anew. Throws
 * BackupError when the backup or its drill fails; the status says why (BackupHealthy False).
 */
export async function takeVerifiedBackup(http: KubeHttp, name: string, opts: VerifiedBackupOptions): Promise<VerifiedBackupResult> {
  const { store, backupId } = opts;
  const now = opts.now ?? (() => new Date());
  if (!isBackupId(backupId)) {
    throw new BackupError("InvalidRequest", `${JSON.stringify(backupId)} is not a backup id (e.g. pre-upgrade-g7, final-3f2a9c1d, 20261126T151200Z-1a2b)`);
  }
  const listing = await listBackups(store, name);
  const found = listing.backups.find((b) => b.backupId === backupId);
  if (found?.verified?.ok) {
    opts.onStep?.("done", `backup ${backupId} of tenant ${name} was already taken and verified at ${found.verified.at}`);
    const at = found.verified.at;
    await writeBackupStatus(http, name, () => ({
      backup: { lastVerifiedBackupId: backupId, lastVerifiedAt: at },
      health: { status: "True", reason: "Verified", message: `backup ${backupId} restored in a drill at ${at}: ${found.tables} tables match the manifest` },
    }), now());
    return { backupId, taken: false, verifiedAt: at, tables: found.tables };
  }
  let taken = false;
  if (!found) {
    if (listing.incomplete.some((i) => i.backupId === backupId)) await removeBackupFolder(store, name, backupId);
    opts.onStep?.("backup", `backing up tenant ${name} as backup ${backupId}`);
    await backupTenant(http, name, opts);
    taken = true;
  } else if (found.verified && !found.verified.ok) {
    // The drill found the dump different from its manifest: only a new dump can be proven.
    await removeBackupFolder(store, name, backupId);
    opts.onStep?.("backup", `backup ${backupId} of tenant ${name} failed its restore drill at ${found.verified.at}; taking it again`);
    await backupTenant(http, name, opts);
    taken = true;
  }
  opts.onStep?.("verify", `restore drill of backup ${backupId} of tenant ${name}`);
  const v = await verifyTenant(http, name, { store, backupId, now, signal: opts.signal });
  if (!v.ok) {
    throw new BackupError("VerificationFailed", `backup ${backupId} of tenant ${name} failed its restore drill (${v.reason ?? "mismatch"}: ${v.message ?? "tables differ"})`);
  }
  return { backupId, taken, verifiedAt: v.verifiedAt, tables: v.tablesChecked };
}

/** Deletes every object of one backup folder, manifest first so it never looks whole on the way. */
async function removeBackupFolder(store: ObjectStore, tenant: string, backupId: string): Promise<void> {
  const keys = store.backupKeys(tenant, backupId);
  try {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.s3.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: keys.folder, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) found.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const ordered = [...found.filter((k) => k === keys.manifest), ...found.filter((k) => k !== keys.manifest)];
    for (const key of ordered) await store.s3.send(new DeleteObjectCommand({ Bucket: store.bucket, Key: key }));
  } catch (err) {
    throw new BackupError("UploadFailed", `cannot remove what an earlier run left of backup ${backupId} in s3://${store.bucket}/${keys.folder}: ${detail(err)}`, { cause: err });
  }
}
