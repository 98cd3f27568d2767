// Resolves where a tenant's backups go from the cluster: its pool names a BackupStore (by default the
// platform-wide store "default"), whose Secret holds the S3 access key.
import type { S3Client } from "@aws-sdk/client-s3";
import { BackupStoreSpec, DEFAULT_BACKUP_STORE, type BackupStore } from "../api/backup-store.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import { PoolSpec, type DatabasePool } from "../api/pool.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { BackupError } from "./errors.ts";
import { backupKeys, normalizePrefix, TENANT_RECORD_FILE, tenantPrefix, type BackupKeys } from "./layout.ts";
import { createS3Client, type StorageSettings } from "./storage.ts";
import { secretValue } from "../kube/secrets.ts";

export interface ResolvedStore {
  /** The BackupStore's name, or "flags" when given on the command line. */
  readonly name: string;
  readonly settings: StorageSettings;
  readonly bucket: string;
  readonly prefix: string;
}

/**
 * Where backups are kept: one S3 client, bucket and key prefix, passed around as one value that gives
 * every key under it.
 */
export class ObjectStore {
  readonly s3: S3Client;
  readonly bucket: string;
  /** "" or a path of plain segments ending in "/", e.g. "prod/". */
  readonly prefix: string;
  /** The BackupStore's name, or "flags" when given on the command line. */
  readonly name: string;

  constructor(s3: S3Client, bucket: string, prefix?: string, name = "flags") {
    if (!bucket) throw new BackupError("InvalidRequest", "a bucket is required");
    this.s3 = s3;
    this.bucket = bucket;
    this.prefix = normalizePrefix(prefix);
    this.name = name;
  }

  /** The folder of a tenant's backups and record, e.g. `prod/tenants/acme/`. */
  tenantFolder(tenant: string): string {
    return tenantPrefix(tenant, this.prefix);
  }

  backupKeys(tenant: string, backupId: string): BackupKeys {
    return backupKeys(tenant, backupId, this.prefix);
  }

  /** The tenant's spec as last backed up, beside its backup folders. */
  tenantRecordKey(tenant: string): string {
    return `${this.tenantFolder(tenant)}${TENANT_RECORD_FILE}`;
  }

  /** `s3://bucket/key`, for messages. */
  url(key = ""): string {
    return `s3://${this.bucket}/${key}`;
  }
}

export function openStore(store: ResolvedStore): ObjectStore {
  return new ObjectStore(createS3Client(store.settings), store.bucket, store.prefix, store.name);
}

function unreadable(what: string, err: unknown): BackupError {
  const why = err instanceof Error ? err.message : String(err);
  return new BackupError("StoreNotFound", `cannot read ${what}: ${why.replace(/[.\s]+$/, "")}`, { cause: err });
}

/** A BackupStore and its credentials, by name. */
export async function resolveStore(http: KubeHttp, name: string): Promise<ResolvedStore> {
  let store: BackupStore | undefined;
  try {
    store = await http.getOrUndefined<BackupStore>(API_GROUP_VERSION, "BackupStore", name);
  } catch (err) {
    throw unreadable(`BackupStore ${name}`, err);
  }
  if (!store) {
    throw new BackupError("StoreNotFound", name === DEFAULT_BACKUP_STORE
      ? "no BackupStore named \"default\" exists: create one (see docs/backups.md) or pass --bucket and the --s3-* flags"
      : `BackupStore ${name} does not exist`);
  }
  const spec = BackupStoreSpec.parse(store.spec);
  let accessKeyId: string | undefined;
  let secretAccessKey: string | undefined;
  const ref = spec.credentialsSecretRef;
  if (ref) {
    let secret: { data?: Record<string, string> } | undefined;
    try {
      secret = await http.getOrUndefined<{ data?: Record<string, string> }>("v1", "Secret", ref.name, ref.namespace);
    } catch (err) {
      throw unreadable(`Secret ${ref.namespace}/${ref.name} of BackupStore ${name}`, err instanceof KubeApiError ? new Error(err.message) : err);
    }
    accessKeyId = secretValue(secret?.data, ref.accessKeyIdKey);
    secretAccessKey = secretValue(secret?.data, ref.secretAccessKeyKey);
    if (!accessKeyId || !secretAccessKey) {
      throw new BackupError("StoreNotFound", `Secret ${ref.namespace}/${ref.name} of BackupStore ${name} is missing or lacks the keys ${ref.accessKeyIdKey} and ${ref.secretAccessKeyKey}`);
    }
  }
  return {
    name,
    settings: { endpoint: spec.endpoint, region: spec.region, forcePathStyle: spec.forcePathStyle, accessKeyId, secretAccessKey },
    bucket: spec.bucket,
    prefix: spec.prefix,
  };
}

/** The store of the pool a tenant is placed on (or will be: the pool its spec names). */
export async function resolveStoreOfPool(http: KubeHttp, poolName: string): Promise<ResolvedStore> {
  let pool: DatabasePool | undefined;
  try {
    pool = await http.getOrUndefined<DatabasePool>(API_GROUP_VERSION, "DatabasePool", poolName);
  } catch (err) {
    throw unreadable(`DatabasePool ${poolName}`, err);
  }
  const storeName = pool ? PoolSpec.parse(pool.spec).backup.store : DEFAULT_BACKUP_STORE;
  return resolveStore(http, storeName);
}
