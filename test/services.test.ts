// The data services beside the cluster are real servers: MariaDB with per-database users,
// Redis, and an S3-compatible store that takes multipart uploads.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createConnection } from "mysql2/promise";
import { createClient } from "redis";
import {
  AbortMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand,
  HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { endpoints } from "../src/devcluster/environment.ts";
import { uniqueName } from "./helpers.ts";

describe("MariaDB", () => {
  test("a user created for one database can use it and cannot see another", async () => {
    const e = await endpoints();
    const admin = await createConnection({ ...e.mariadb });
    const db = uniqueName("it_db").replace(/-/g, "_");
    const other = `${db}_other`;
    const user = db.slice(0, 32);
    const password = randomBytes(12).toString("hex");
    try {
      await admin.query(`CREATE DATABASE \`${db}\``);
      await admin.query(`CREATE DATABASE \`${other}\``);
      await admin.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
      await admin.query(`GRANT ALL PRIVILEGES ON \`${db}\`.* TO ?@'%'`, [user]);

      const conn = await createConnection({ host: e.mariadb.host, port: e.mariadb.port, user, password, database: db });
      try {
        await conn.query("CREATE TABLE visits (id INT PRIMARY KEY, url VARCHAR(200))");
        await conn.query("INSERT INTO visits VALUES (1, 'https://example.test/')");
        const [rows] = await conn.query("SELECT url FROM visits");
        assert.deepEqual(rows, [{ url: "https://example.test/" }]);
        const [dbs] = await conn.query("SHOW DATABASES");
        const names = (dbs as { Database: string }[]).map((r) => r.Database);
        assert.ok(names.includes(db));
        assert.ok(!names.includes(other), "the user must not see another database");
        await assert.rejects(conn.query(`CREATE TABLE \`${other}\`.t (id INT)`), /denied/);
      } finally {
        await conn.end();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await admin.query(`DROP DATABASE IF EXISTS \`${other}\``);
      await admin.query("DROP USER IF EXISTS ?@'%'", [user]);
      await admin.end();
    }
  });
});

describe("Redis", () => {
  test("a value set is read back, and a client without the password is refused", async () => {
    const e = await endpoints();
    const client = createClient({ url: e.redis.url });
    await client.connect();
    const key = uniqueName("it:key");
    try {
      await client.set(key, "hello", { expiration: { type: "EX", value: 60 } });
      assert.equal(await client.get(key), "hello");
    } finally {
      await client.del(key);
      client.destroy();
    }
    const anonymous = createClient({ socket: { host: e.redis.host, port: e.redis.port, reconnectStrategy: false } });
    anonymous.on("error", () => undefined);
    try {
      await assert.rejects(async () => {
        await anonymous.connect();
        await anonymous.get(key);
      }, /NOAUTH/);
    } finally {
      if (anonymous.isOpen) anonymous.destroy();
    }
  });
});

describe("S3-compatible object store", () => {
  test("a 20 MB object uploaded in parts reads back byte-identical", async () => {
    const e = await endpoints();
    const s3 = new S3Client({
      endpoint: e.s3.endpoint, region: e.s3.region, forcePathStyle: true,
      credentials: { accessKeyId: e.s3.accessKeyId, secretAccessKey: e.s3.secretAccessKey },
    });
    const bucket = uniqueName("it-bucket");
    const key = "dumps/tenant.sql.gz";
    const body = randomBytes(20 * 1024 * 1024);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    try {
      let parts = 0;
      const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: body }, partSize: 5 * 1024 * 1024, queueSize: 2 });
      upload.on("httpUploadProgress", () => parts++);
      await upload.done();
      assert.ok(parts >= 4, `expected a multipart upload of at least 4 parts, saw ${parts}`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ContentLength, body.length);
      assert.match(head.ETag ?? "", /-4"?$/, "the ETag of a 4-part upload ends in -4");
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const back = Buffer.from(await got.Body!.transformToByteArray());
      assert.equal(createHash("sha256").update(back).digest("hex"), createHash("sha256").update(body).digest("hex"));
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
    }
  });

  // What the backup listings and retention rely on: ListObjectsV2 pages and folders, and unfinished
  // multipart uploads that are listed (with their start time) and can be aborted.
  test("listings come in pages and folders; an unfinished upload is listed until it is aborted", async () => {
    const e = await endpoints();
    const s3 = new S3Client({
      endpoint: e.s3.endpoint, region: e.s3.region, forcePathStyle: true,
      credentials: { accessKeyId: e.s3.accessKeyId, secretAccessKey: e.s3.secretAccessKey },
    });
    const bucket = uniqueName("it-bucket");
    const keys = ["t1/a", "t1/b", "t1/c", "t1/d", "t1/e", "t2/a"];
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    try {
      for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
      const listed: string[] = [];
      let pages = 0;
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "t1/", MaxKeys: 2, ContinuationToken: token }));
        pages++;
        listed.push(...(page.Contents ?? []).map((o) => o.Key ?? ""));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      assert.deepEqual(listed, ["t1/a", "t1/b", "t1/c", "t1/d", "t1/e"]);
      assert.equal(pages, 3);
      const folders = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
      assert.deepEqual((folders.CommonPrefixes ?? []).map((p) => p.Prefix), ["t1/", "t2/"]);

      const started = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "t1/dump.sql.gz" }));
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      const mine = (uploads.Uploads ?? []).find((u) => u.UploadId === started.UploadId);
      assert.equal(mine?.Key, "t1/dump.sql.gz");
      assert.ok(mine?.Initiated instanceof Date && Math.abs(mine.Initiated.getTime() - Date.now()) < 10 * 60_000, "the upload's start time is given");
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: "t1/dump.sql.gz", UploadId: started.UploadId }));
      const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      assert.equal((after.Uploads ?? []).some((u) => u.UploadId === started.UploadId), false);
    } finally {
      for (const k of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: k })).catch(() => undefined);
      await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      s3.destroy();
    }
  });
});
