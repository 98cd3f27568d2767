// The test bed of the backup integration tests: the dev MariaDB and S3 server, a bucket of the test
// file's own, and the helpers that look into a database (rows, table states) or load the Matomo fixture.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, S3Client,
} from "@aws-sdk/client-s3";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { connectionArgs, describeExit, MARIADB, start, writeCredentials } from "../src/backup/client-tools.ts";
import { ObjectStore } from "../src/backup/store.ts";
import { tenantDatabaseName, type PoolEndpoint } from "../src/db/pool.ts";
import { endpoints, type Endpoints } from "../src/devcluster/environment.ts";
import { uniqueName } from "./helpers.ts";

/** A real Matomo database: 42 tables, Matomo 5.1.0-b2. */
export const FIXTURE = resolve(import.meta.dirname, "../../shared/fixtures/matomo/OmniFixture.sql.gz");

export interface Bed {
  readonly pool: PoolEndpoint;
  readonly s3: S3Client;
  /** An admin connection to the pool's server. */
  readonly admin: Connection;
  /** Made by openBed, emptied and deleted by closeBed. */
  readonly bucket: string;
  /** The bucket as the backup code sees it (no key prefix). */
  readonly store: ObjectStore;
  /** For checking that no error message gives it away. */
  readonly s3Secret: string;
}

/** Every table's row count and CHECKSUM TABLE value, by table name. */
export type TableState = Record<string, { rows: number; checksum: string }>;

/** The dev environment's MariaDB as a pool, with its admin account. */
export function devPool(e: Endpoints): PoolEndpoint {
  return { host: e.mariadb.host, port: e.mariadb.port, adminUser: e.mariadb.user, adminPassword: e.mariadb.password };
}

/** A client of the dev S3 server, or of a proxy in front of it (`endpoint`). */
export function devS3(e: Endpoints, options: { endpoint?: string; maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: options.endpoint ?? e.s3.endpoint, region: e.s3.region, forcePathStyle: true,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    credentials: { accessKeyId: e.s3.accessKeyId, secretAccessKey: e.s3.secretAccessKey },
  });
}

/** Clients of the dev environment and a new bucket named `bucketPrefix-<random>`. */
export async function openBed(bucketPrefix: string): Promise<Bed> {
  const e = await endpoints();
  const bucket = `${bucketPrefix}-${randomBytes(4).toString("hex")}`;
  const s3 = devS3(e);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const admin = await createConnection({ ...e.mariadb });
  return { pool: devPool(e), s3, admin, bucket, store: new ObjectStore(s3, bucket), s3Secret: e.s3.secretAccessKey };
}

/** Drops the databases (in this order), closes the connection, and aborts, empties and deletes the bucket. */
export async function closeBed(bed: Bed, databases: Iterable<string>): Promise<void> {
  const { s3, admin, bucket } = bed;
  for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  s3.destroy();
}

/** A new tenant name `prefix-<random>` and its database, which is added to `databases` to be dropped at the end. */
export function newTenant(databases: Set<string>, prefix: string): { tenant: string; database: string } {
  const tenant = uniqueName(prefix);
  const database = tenantDatabaseName(tenant);
  databases.add(database);
  return { tenant, database };
}

export async function rows(admin: Connection, sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await admin.query<RowDataPacket[]>(sql, values);
  return r;
}

export async function databaseExists(admin: Connection, database: string): Promise<boolean> {
  return (await rows(admin, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [database])).length > 0;
}

/** Every table's row count and CHECKSUM TABLE value. */
export async function tableState(admin: Connection, database: string): Promise<TableState> {
  const out: TableState = {};
  const tables = await rows(admin, "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", [database]);
  for (const { t } of tables) {
    const [count] = await rows(admin, `SELECT COUNT(*) AS n FROM \`${database}\`.\`${t}\``);
    const [sum] = await rows(admin, `CHECKSUM TABLE \`${database}\`.\`${t}\``);
    out[String(t)] = { rows: Number(count?.n), checksum: String(sum?.Checksum) };
  }
  return out;
}

/** gunzip | mariadb, as an operator would load a dump by hand; the database is created if it is not there yet. */
export async function loadGzip(bed: Pick<Bed, "pool" | "admin">, database: string, file: string): Promise<void> {
  const { pool, admin } = bed;
  await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  const credentials = await writeCredentials(pool);
  try {
    const { child, exit } = start(MARIADB, [credentials.option, ...connectionArgs(pool), "--binary-mode", `--database=${database}`], "pipe");
    await pipeline(createReadStream(file), createGunzip(), child.stdin!);
    const e = await exit;
    assert.equal(e.code, 0, describeExit("mariadb", e));
  } finally {
    await credentials.dispose();
  }
}
