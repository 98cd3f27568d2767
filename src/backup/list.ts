// Lists a tenant's backups in object storage. Only a folder with a valid manifest is a backup; anything
// else (an interrupted run, a damaged manifest) is reported apart, as incomplete, for clean-up.
import { GetObjectCommand, ListObjectsV2Command, type _Object } from "@aws-sdk/client-s3";
import { BackupError, detail } from "./errors.ts";
import { DUMP_FILE, isBackupId, MANIFEST_FILE, VERIFICATION_FILE } from "./layout.ts";
import { readManifest } from "./restore.ts";
import type { ObjectStore } from "./store.ts";
import { parseVerification } from "./verification.ts";

const MANIFEST_READS_AT_ONCE = 8;

export interface BackupSummary {
  readonly backupId: string;
  readonly createdAt: string;
  /** Size of the stored dump. */
  readonly bytes: number;
  readonly matomoVersion: string | null;
  readonly sha256: string;
  readonly tables: number;
  readonly rows: number;
  /** The last restore drill of this backup (`backup verify`), if any. */
  readonly verified: { readonly at: string; readonly ok: boolean } | null;
}

export interface IncompleteBackup {
  /** The folder name; usually a backup id. */
  readonly backupId: string;
  readonly keys: readonly string[];
  readonly bytes: number;
  readonly lastModified: string | null;
  readonly reason: string;
}

export interface BackupListing {
  /** Newest first. */
  readonly backups: readonly BackupSummary[];
  readonly incomplete: readonly IncompleteBackup[];
}

/** Fails as a whole when listing fails: a partial listing must never look like "these are all the backups". */
export async function listBackups(store: ObjectStore, tenant: string): Promise<BackupListing> {
  const { s3, bucket } = store;
  const root = store.tenantFolder(tenant);
  const folders = new Map<string, _Object[]>();
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: root, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const rest = (o.Key ?? "").slice(root.length);
        // Files beside the backup folders (the tenant record) are not backups.
        if (!rest.includes("/")) continue;
        const folder = rest.includes("/") ? rest.slice(0, rest.indexOf("/")) : "";
        const list = folders.get(folder) ?? [];
        list.push(o);
        folders.set(folder, list);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (err) {
    throw new BackupError("DownloadFailed", `cannot list the backups of tenant ${tenant} in ${store.url(root)}: ${detail(err)}`, { cause: err });
  }

  const entries = [...folders.entries()];
  const results: (BackupSummary | IncompleteBackup)[] = [];
  for (let i = 0; i < entries.length; i += MANIFEST_READS_AT_ONCE) {
    results.push(...await Promise.all(entries.slice(i, i + MANIFEST_READS_AT_ONCE).map(([folder, objects]) => classify(store, tenant, folder, objects))));
  }
  // Ids sort by the second; createdAt orders backups started within the same second.
  const backups = results.filter((r): r is BackupSummary => "sha256" in r)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.backupId < b.backupId ? 1 : -1));
  const incomplete = results.filter((r): r is IncompleteBackup => "reason" in r).sort((a, b) => (a.backupId < b.backupId ? 1 : -1));
  return { backups, incomplete };
}

async function classify(store: ObjectStore, tenant: string, folder: string, objects: readonly _Object[]): Promise<BackupSummary | IncompleteBackup> {
  const names = new Set(objects.map((o) => (o.Key ?? "").split("/").at(-1)));
  const lastModified = objects.map((o) => o.LastModified?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
  const incomplete = (reason: string): IncompleteBackup => ({
    backupId: folder, keys: objects.map((o) => o.Key ?? ""), bytes: objects.reduce((n, o) => n + (o.Size ?? 0), 0),
    lastModified: lastModified > 0 ? new Date(lastModified).toISOString() : null, reason,
  });
  if (!isBackupId(folder)) return incomplete("not a backup folder");
  if (!names.has(MANIFEST_FILE)) return incomplete("no manifest");
  if (!names.has(DUMP_FILE)) return incomplete("manifest without its dump");
  try {
    const m = await readManifest(store, tenant, folder);
    const dump = objects.find((o) => o.Key === m.object.key);
    if (dump?.Size !== m.object.bytes) return incomplete(`the dump has ${dump?.Size} bytes, the manifest says ${m.object.bytes}`);
    const verified = names.has(VERIFICATION_FILE) ? await readVerification(store, m.object.key.replace(/[^/]+$/, VERIFICATION_FILE), m.backupId) : null;
    return {
      backupId: folder, createdAt: m.createdAt, bytes: m.object.bytes, matomoVersion: m.matomo.version, sha256: m.object.sha256,
      tables: m.tables.length, rows: m.tables.reduce((n, t) => n + t.rows, 0), verified,
    };
  } catch (err) {
    if (err instanceof BackupError && (err.reason === "ManifestInvalid" || err.reason === "ManifestMissing")) return incomplete(err.message);
    throw err;
  }
}

/** A damaged or foreign record counts as "not verified"; a failed read fails the listing. */
async function readVerification(store: ObjectStore, key: string, backupId: string): Promise<BackupSummary["verified"]> {
  let text: string;
  try {
    const got = await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
    text = await got.Body!.transformToString("utf8");
  } catch (err) {
    throw new BackupError("DownloadFailed", `cannot read the verification record of backup ${backupId} from ${store.url(key)}: ${detail(err)}`, { cause: err });
  }
  const v = parseVerification(text);
  return v && v.backupId === backupId ? { at: v.verifiedAt, ok: v.ok } : null;
}
