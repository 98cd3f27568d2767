// BackupStore: where tenant backups go. An S3-compatible bucket (OVH Object Storage in production, the
// dev environment's S3 server locally). The store named "default" is the platform-wide one; a
// DatabasePool may name another for the tenants it holds.
import { z } from "zod";
import { DNS_LABEL_PATTERN } from "./names.ts";

export const DEFAULT_BACKUP_STORE = "default";

// Bucket names as S3 and OVH accept them: 3-63 lower-case letters, digits, dots and hyphens.
const BUCKET_PATTERN = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
const PREFIX_PATTERN = "^([A-Za-z0-9._-]+/)*$";

export const BackupStoreSpec = z.object({
  endpoint: z.string().max(253).regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+(:[0-9]+)?\/?$/, "must be an http(s) URL without a path, e.g. https://s3.gra.io.cloud.ovh.net").optional()
    .meta({ description: "S3 endpoint, e.g. https://s3.gra.io.cloud.ovh.net for OVH Object Storage in GRA; empty for AWS itself." }),
  region: z.string().min(1).max(63).regex(/^[a-z0-9-]+$/, "must be a region name such as gra or us-east-1").default("us-east-1")
    .meta({ description: "Region the bucket lives in (OVH: gra, sbg, bhs, de, uk, waw…)." }),
  bucket: z.string().regex(new RegExp(BUCKET_PATTERN), "must be a bucket name: 3-63 lower-case letters, digits, '.' and '-'"),
  prefix: z.string().max(200).regex(new RegExp(PREFIX_PATTERN), "must be empty or path segments each ending in '/', e.g. prod/").default("")
    .meta({ description: "Key prefix inside the bucket, e.g. prod/, so one bucket can serve several platforms." }),
  forcePathStyle: z.boolean().default(true)
    .meta({ description: "Address the bucket in the URL path (what OVH and SeaweedFS accept) rather than as a host name." }),
  credentialsSecretRef: z.object({
    namespace: z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN)),
    name: z.string().max(253),
    accessKeyIdKey: z.string().max(253).default("access-key-id"),
    secretAccessKeyKey: z.string().max(253).default("secret-access-key"),
  }).optional().meta({ description: "Secret holding the S3 access key; without it the SDK's usual sources (environment, instance profile) are used." }),
});
export type BackupStoreSpec = z.output<typeof BackupStoreSpec>;

export interface BackupStore {
  apiVersion: string;
  kind: "BackupStore";
  metadata: { name: string; labels?: Record<string, string> };
  spec: BackupStoreSpec;
}
