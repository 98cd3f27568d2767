// The S3 client for backups: any S3-compatible store (OVH Object Storage, SeaweedFS in the dev
// environment) by endpoint, region and path style; credentials explicit or from the SDK's usual chain.
import { S3Client } from "@aws-sdk/client-s3";

export interface StorageSettings {
  /** e.g. https://s3.gra.io.cloud.ovh.net; empty for AWS itself. */
  readonly endpoint?: string;
  readonly region: string;
  /** Bucket in the path rather than the host name: what OVH, SeaweedFS and most non-AWS stores expect. */
  readonly forcePathStyle: boolean;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

export function createS3Client(s: StorageSettings): S3Client {
  return new S3Client({
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.accessKeyId && s.secretAccessKey ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } } : {}),
  });
}
