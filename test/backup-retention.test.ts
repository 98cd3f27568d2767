// Retention against the dev MariaDB and S3 server: exactly the planned backups go, a failed listing
// deletes nothing, interrupted backups and abandoned uploads are cleaned once old, and a dry run touches nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Connection } from "mysql2/promise";
import { runBackup } from "../src/backup/backup.ts";
import { ObjectStore } from "../src/backup/store.ts";
import { BackupError } from "../src/backup/errors.ts";
import { backupKeys, newBackupId, tenantPrefix } from "../src/backup/layout.ts";
import { listBackups } from "../src/backup/list.ts";
import { MANIFEST_FORMAT, serializeManifest, type Manifest } from "../src/backup/manifest.ts";
import { applyRetention, planRetention, RetentionError, type RetentionPolicy } from "../src/backup/retention.ts";
import { serializeVerification, VERIFICATION_FORMAT } from "../src/backup/verification.ts";
import { tenantDatabaseName, type PoolEndpoint } from "../src/db/pool.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { closeBed, devS3, newTenant, openBed, type Bed } from "./backup-bed.ts";
import { uniqueName } from "./helpers.ts";

const DAY = 24 * 60 * 60 * 1000;

let bed: Bed;
let pool: PoolEndpoint;
let s3: S3Client;
let admin: Connection;
let secret = "";
let bucket: string;
let store: ObjectStore;
const databases = new Set<string>();

/** `hour` o'clock UTC, `daysAgo` days before today. */
function daysAgo(daysAgo: number, hour = 12): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - daysAgo, hour));
}

async function allKeys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    out.push(...(page.Contents ?? []).map((o) => o.Key ?? ""));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

/** Keys of the pending multipart uploads under a prefix (the store is asked for all, as it matches prefixes only against whole keys). */
async function uploadKeys(prefix: string): Promise<string[]> {
  const r = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (r.Uploads ?? []).map((u) => u.Key ?? "").filter((k) => k.startsWith(prefix)).sort();
}

async function put(key: string, body: string | Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** A backup folder as runBackup leaves it, with a small random dump: listBackups cannot tell it apart. */
async function syntheticBackup(tenant: string, at: Date): Promise<string> {
  const backupId = newBackupId(at, randomBytes(2).toString("hex"));
  const keys = backupKeys(tenant, backupId);
  const dump = randomBytes(200);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, tenant, database: tenantDatabaseName(tenant), backupId,
    createdAt: at.toISOString(), completedAt: at.toISOString(),
    matomo: { version: null, tablePrefix: null },
    object: { key: keys.dump, compression: "gzip", bytes: dump.length, sha256: createHash("sha256").update(dump).digest("hex"), uncompressedBytes: 0 },
    consistency: { rowCounts: "counted-in-dump", checksums: "none" },
    tables: [],
    timings: { totalMs: 0, writesBlockedMs: 0, checksumMs: 0, dumpMs: 0, uploadMs: 0 },
    tools: { mariadbDump: "synthetic", server: "synthetic", node: process.version },
  };
  await put(keys.dump, dump);
  await put(keys.manifest, serializeManifest(manifest));
  return backupId;
}

async function writeVerification(tenant: string, backupId: string, ok: boolean): Promise<void> {
  await put(backupKeys(tenant, backupId).verification, serializeVerification({
    format: VERIFICATION_FORMAT, tenant, backupId, verifiedAt: new Date().toISOString(), ok,
    tablesChecked: 1, tablesMismatched: ok ? [] : ["t"], timings: {},
  }));
}

/** What the proxy does with a request: pass it on, answer with this HTTP status, or pass it on and make a listing look truncated. */
type Verdict = "pass" | "truncate" | number;

/**
 * An HTTP proxy in front of the S3 server that can fail chosen requests, with an S3 client pointed at it.
 * Requests are forwarded unchanged (Host included), so their signatures stay valid.
 */
async function s3Proxy(judge: (req: IncomingMessage, url: URL) => Verdict): Promise<{ s3: S3Client; close: () => Promise<void> }> {
  const e = await endpoints();
  const target = new URL(e.s3.endpoint);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const verdict = judge(req, url);
    if (typeof verdict === "number") {
      req.resume();
      res.writeHead(verdict, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>injected failure</Message></Error>`);
      return;
    }
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (verdict === "pass") {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on("data", (c: Buffer) => chunks.push(c));
      answer.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        assert.ok(text.includes("<IsTruncated>false</IsTruncated>"), "the proxy found the listing's truncation flag");
        const body = text.replace("<IsTruncated>false</IsTruncated>", "<IsTruncated>true</IsTruncated><NextContinuationToken>injected</NextContinuationToken>");
        const headers = { ...answer.headers };
        delete headers["content-length"];
        delete headers["transfer-encoding"];
        res.writeHead(answer.statusCode ?? 502, { ...headers, "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
    });
    upstream.on("error", (err) => res.destroy(err));
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = devS3(e, { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, maxAttempts: 1 });
  return {
    s3: client,
    close: async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const isListing = (req: IncomingMessage, url: URL) => req.method === "GET" && url.searchParams.get("list-type") === "2";

before(async () => {
  bed = await openBed("mms-retention");
  ({ pool, s3, admin, bucket, store, s3Secret: secret } = bed);
});

after(() => closeBed(bed, databases));

describe("backup retention", () => {
  test("real backups: exactly the planned ones are deleted, whole, and the newest verified one survives", async () => {
    const { tenant, database } = newTenant(databases, "itrt");
    await admin.query(`CREATE DATABASE \`${database}\``);
    await admin.query(`CREATE TABLE \`${database}\`.t (id INT PRIMARY KEY, v VARCHAR(10))`);
    await admin.query(`INSERT INTO \`${database}\`.t VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    const at = [daysAgo(10), daysAgo(9), daysAgo(3), daysAgo(2, 8), daysAgo(2, 20), daysAgo(1)];
    const ids: string[] = [];
    for (const when of at) {
      const b = await runBackup({ pool, store, tenant, database, tableChecksums: false, now: () => when });
      ids.push(b.manifest.backupId);
    }
    const [d10, d9, d3, d2early, d2late, d1] = ids as [string, string, string, string, string, string];
    await writeVerification(tenant, d9, true);
    await writeVerification(tenant, d3, false);

    const policy: RetentionPolicy = { keepLast: 1, daily: 2, weekly: 0, monthly: 0 };
    const report = await applyRetention(store, tenant, policy);
    assert.deepEqual(report.kept, [
      { backupId: d1, reasons: ["newest", "last 1", `daily ${daysAgo(1).toISOString().slice(0, 10)}`] },
      { backupId: d2late, reasons: [`daily ${daysAgo(2).toISOString().slice(0, 10)}`] },
      { backupId: d9, reasons: ["newest verified"] },
    ]);
    assert.deepEqual(report.removed, [d2early, d3, d10]);
    assert.deepEqual([report.errors, report.incompleteRemoved, report.uploadsAborted, report.dryRun], [[], [], 0, false]);

    const listing = await listBackups(store, tenant);
    assert.deepEqual(listing.backups.map((b) => [b.backupId, b.verified?.ok ?? null]), [[d1, null], [d2late, null], [d9, true]]);
    assert.deepEqual(listing.incomplete, []);
    for (const gone of [d2early, d3, d10]) {
      assert.deepEqual(await allKeys(backupKeys(tenant, gone).folder), [], `nothing of backup ${gone} is left, its verification record included`);
    }
    assert.equal((await allKeys(tenantPrefix(tenant))).length, 2 + 2 + 3, "two backups and one verified backup with its record");

    const again = await applyRetention(store, tenant, policy);
    assert.deepEqual([again.kept, again.removed], [report.kept, []], "a second run changes nothing");
  });

  test("a listing that fails, outright or on its second page, deletes nothing", async (t) => {
    const tenant = uniqueName("itrl");
    for (let k = 8; k >= 1; k--) await syntheticBackup(tenant, daysAgo(k));
    await put(`${tenantPrefix(tenant)}${newBackupId(daysAgo(20), "dead")}/dump.sql.gz`, "interrupted");
    const before = await allKeys(tenantPrefix(tenant));
    assert.equal(before.length, 8 * 2 + 1);
    const policy: RetentionPolicy = { keepLast: 1, daily: 0, weekly: 0, monthly: 0 };
    const later = () => new Date(Date.now() + 30 * DAY);

    let listings = 0;
    const outright = await s3Proxy((req, url) => (isListing(req, url) ? (listings++, 503) : "pass"));
    try {
      await assert.rejects(applyRetention(new ObjectStore(outright.s3, bucket), tenant, policy, { now: later }), (e: unknown) => {
        t.diagnostic(`error: ${(e as Error).message}`);
        return e instanceof BackupError && e.reason === "DownloadFailed" && /nothing was deleted/.test(e.message) && !e.message.includes(secret);
      });
    } finally {
      await outright.close();
    }
    assert.ok(listings >= 1);
    assert.deepEqual(await allKeys(tenantPrefix(tenant)), before, "every object is still there");

    let continued = 0;
    const secondPage = await s3Proxy((req, url) => {
      if (!isListing(req, url)) return "pass";
      if (url.searchParams.has("continuation-token")) return (continued++, 500);
      return url.searchParams.get("prefix") === tenantPrefix(tenant) ? "truncate" : "pass";
    });
    try {
      await assert.rejects(applyRetention(new ObjectStore(secondPage.s3, bucket), tenant, policy, { now: later }), (e: unknown) => {
        t.diagnostic(`error: ${(e as Error).message}`);
        return e instanceof BackupError && e.reason === "DownloadFailed" && /nothing was deleted/.test(e.message);
      });
    } finally {
      await secondPage.close();
    }
    assert.equal(continued, 1, "the first page was answered and the second one failed");
    assert.deepEqual(await allKeys(tenantPrefix(tenant)), before, "every object is still there");
    assert.equal((await listBackups(store, tenant)).backups.length, 8);
  });

  test("old interrupted backups and abandoned uploads are cleaned; young ones, other tenants' and damaged backups are left", async () => {
    const tenant = uniqueName("itri");
    const other = uniqueName("itro");
    const root = tenantPrefix(tenant);
    const kept = await syntheticBackup(tenant, daysAgo(1));
    const folder = (random: string) => `${root}${newBackupId(daysAgo(0, 0), random)}/`;
    // Oldest first: the abandoned uploads, a backup with a damaged manifest, the old interrupted one.
    const oldUpload = `${folder("0001")}dump.sql.gz`;
    const othersUpload = `${tenantPrefix(other)}${newBackupId(daysAgo(0, 0), "0001")}/dump.sql.gz`;
    await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: oldUpload }));
    await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: othersUpload }));
    const damaged = folder("0002");
    await put(`${damaged}dump.sql.gz`, "x");
    await put(`${damaged}manifest.json`, "{ not json");
    const oldFolder = folder("0003");
    await put(`${oldFolder}dump.sql.gz`, "interrupted long ago");
    // Object times have a resolution of a second on some stores: keep the old and the young apart.
    await sleep(1100);
    const youngFolder = folder("0004");
    await put(`${youngFolder}dump.sql.gz`, "a backup still running");
    const youngUpload = `${folder("0005")}dump.sql.gz`;
    await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: youngUpload }));

    // "Now" is just under 24 h after the young folder and upload were written, as the S3 server's clock tells it.
    const listing = await listBackups(store, tenant);
    const written = (f: string) => Date.parse(listing.incomplete.find((i) => `${root}${i.backupId}/` === f)?.lastModified ?? "");
    const uploads = (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
    const initiated = (key: string) => uploads.find((u) => u.Key === key)?.Initiated?.getTime() ?? Number.NaN;
    const youngest = Math.min(written(youngFolder), initiated(youngUpload));
    const oldest = Math.max(written(oldFolder), initiated(oldUpload));
    assert.ok(oldest < youngest, `the old objects (${oldest}) are older than the young ones (${youngest})`);
    const now = () => new Date(youngest + DAY - 1);
    const policy: RetentionPolicy = { keepLast: 1, daily: 0, weekly: 0, monthly: 0 };

    const dry = await applyRetention(store, tenant, policy, { now, dryRun: true });
    assert.deepEqual([dry.incompleteRemoved, dry.uploadsAborted], [[oldFolder.slice(root.length, -1)], 1]);
    assert.deepEqual(await uploadKeys(root), [oldUpload, youngUpload].sort(), "the dry run aborted nothing");

    const report = await applyRetention(store, tenant, policy, { now });
    assert.deepEqual(report.kept.map((k) => k.backupId), [kept]);
    assert.deepEqual(report.incompleteRemoved, [oldFolder.slice(root.length, -1)]);
    assert.equal(report.uploadsAborted, 1);
    assert.deepEqual(report.incompleteKept.map((i) => [`${root}${i.backupId}/`, /manifest/.test(i.reason) ? "manifest" : /recently/.test(i.reason) ? "recent" : i.reason]).sort(),
      [[damaged, "manifest"], [youngFolder, "recent"]].sort());
    assert.deepEqual(report.errors, []);

    assert.deepEqual(await allKeys(oldFolder), []);
    assert.deepEqual(await allKeys(youngFolder), [`${youngFolder}dump.sql.gz`], "the running backup's folder is untouched");
    assert.deepEqual(await allKeys(damaged), [`${damaged}dump.sql.gz`, `${damaged}manifest.json`]);
    assert.deepEqual(await uploadKeys(root), [youngUpload], "the old upload was aborted, the young one kept");
    assert.deepEqual(await uploadKeys(tenantPrefix(other)), [othersUpload], "another tenant's upload is not this tenant's to abort");
  });

  test("a dry run deletes nothing and reports exactly what the real run then does", async () => {
    const tenant = uniqueName("itrd");
    for (let k = 40; k >= 1; k -= 3) await syntheticBackup(tenant, daysAgo(k));
    await put(`${tenantPrefix(tenant)}${newBackupId(daysAgo(30), "dead")}/dump.sql.gz`, "interrupted");
    const before = await allKeys(tenantPrefix(tenant));
    const policy: RetentionPolicy = { keepLast: 2, daily: 3, weekly: 2, monthly: 1 };
    const now = () => new Date(Date.now() + 2 * DAY);

    const dry = await applyRetention(store, tenant, policy, { now, dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(await allKeys(tenantPrefix(tenant)), before, "nothing was deleted");
    const planned = planRetention((await listBackups(store, tenant)).backups, policy, now());
    assert.deepEqual(dry.removed, planned.remove);
    assert.ok(dry.removed.length > 0 && dry.incompleteRemoved.length === 1);

    const real = await applyRetention(store, tenant, policy, { now });
    assert.deepEqual({ ...real, dryRun: true }, dry);
    assert.deepEqual((await listBackups(store, tenant)).backups.map((b) => b.backupId), dry.kept.map((k) => k.backupId));
  });

  test("a backup that cannot be deleted is reported, the others are deleted, and the run fails at the end", async (t) => {
    const tenant = uniqueName("itrf");
    const ids: string[] = [];
    for (let k = 5; k >= 1; k--) ids.push(await syntheticBackup(tenant, daysAgo(k)));
    const [oldest, stuck, halfDeleted, removable, newest] = ids as [string, string, string, string, string];
    const proxy = await s3Proxy((req, url) => {
      if (req.method !== "DELETE") return "pass";
      if (url.pathname.endsWith(`/${stuck}/manifest.json`)) return 500;
      if (url.pathname.endsWith(`/${halfDeleted}/dump.sql.gz`)) return 503;
      return "pass";
    });
    let report;
    try {
      await assert.rejects(applyRetention(new ObjectStore(proxy.s3, bucket), tenant, { keepLast: 1, daily: 0, weekly: 0, monthly: 0 }), (e: unknown) => {
        t.diagnostic(`error: ${(e as Error).message}`);
        if (!(e instanceof RetentionError && e.reason === "DeleteFailed")) return false;
        report = e.report;
        return !e.message.includes(secret);
      });
    } finally {
      await proxy.close();
    }
    assert.ok(report);
    const r: { removed: readonly string[]; errors: readonly string[] } = report;
    assert.deepEqual(r.removed, [removable, halfDeleted, oldest], "the manifest-less one counts as removed: it is no backup any more");
    assert.equal(r.errors.length, 2);
    assert.ok(r.errors.some((m) => m.includes(`cannot delete backup ${stuck}`) && /still complete/.test(m)), r.errors.join("\n"));
    assert.ok(r.errors.some((m) => m.includes(`backup ${halfDeleted} was deleted but 1 of its objects remain`)), r.errors.join("\n"));

    const listing = await listBackups(store, tenant);
    assert.deepEqual(listing.backups.map((b) => b.backupId), [newest, stuck], "the backup whose manifest could not be deleted is still whole");
    assert.deepEqual(listing.incomplete.map((i) => [i.backupId, i.reason]), [[halfDeleted, "no manifest"]]);

    // The next run, a day later, finishes the job.
    const next = await applyRetention(store, tenant, { keepLast: 1, daily: 0, weekly: 0, monthly: 0 }, { now: () => new Date(Date.now() + 2 * DAY) });
    assert.deepEqual([next.removed, next.incompleteRemoved, next.errors], [[stuck], [halfDeleted], []]);
    assert.deepEqual((await allKeys(tenantPrefix(tenant))).length, 2);
  });
});
