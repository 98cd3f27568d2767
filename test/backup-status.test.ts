// The backup writer of tenant status (`mms-backup`, server-side apply on the status subresource) beside
// the operator's, and `mms backup run --id --verify`, which a Job may run more than once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createConnection, type Connection } from "mysql2/promise";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { writeBackupStatus, BACKUP_FIELD_MANAGER } from "../src/backup/tenant-backup.ts";
import { DEV_BACKUP_BUCKET, endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { devS3 } from "./backup-bed.ts";
import { type Run, runMms, uniqueName } from "./helpers.ts";


const mms = (args: string[]): Promise<Run> => runMms(args, kubeEnv);

let http: KubeHttp;
let s3: S3Client;
let db: Connection;
let kubeEnv: NodeJS.ProcessEnv;
const tenants: string[] = [];

before(async () => {
  const e = await endpoints();
  kubeEnv = { KUBECONFIG: e.kubeconfig };
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  s3 = devS3(e);
  db = await createConnection({ ...e.mariadb, multipleStatements: true });
});

after(async () => {
  for (const t of tenants) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    const d = `mt_${t.replaceAll("-", "_")}`;
    await db.query(`DROP DATABASE IF EXISTS \`${d}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [d]);
  }
  await db.end();
  s3.destroy();
});

async function readyTenant(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  tenants.push(name);
  await createTenant(http, { name, domains: [`analytics.${name}.test`] });
  const r = await waitReady(http, name, 120_000);
  assert.ok(r.ok, `tenant ${name} should become Ready: ${r.failing?.message}`);
  const d = `mt_${name.replaceAll("-", "_")}`;
  await db.query(`CREATE TABLE \`${d}\`.visits (id INT PRIMARY KEY); INSERT INTO \`${d}\`.visits VALUES (1), (2), (3)`);
  return name;
}

const tenant = (name: string) => http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
const cond = (t: MatomoTenant, type: string) => t.status?.conditions?.find((c) => c.type === type);

describe("backup results in tenant status", () => {
  test("the backup writer and an operator status write at the same moment keep each other's fields", async () => {
    const name = await readyTenant("bst");
    const now = () => new Date().toISOString();
    for (let round = 0; round < 5; round++) {
      const before = await tenant(name);
      const operatorConditions = (before.status?.conditions ?? []).filter((c) => c.type !== "BackupHealthy");
      await Promise.all([
        writeBackupStatus(http, name, () => ({
          backup: { lastBackupId: `final-r${round}`, lastBackupAt: now() },
          health: { status: "Unknown", reason: "NotVerified", message: `round ${round}` },
        })),
        // What the operator sends with its own field manager: its conditions and fields, never BackupHealthy.
        http.apply({
          apiVersion: API_GROUP_VERSION, kind: "MatomoTenant", metadata: { name },
          status: { observedGeneration: before.metadata.generation, url: `https://analytics.${name}.test/r${round}`, conditions: operatorConditions },
        }, { fieldManager: "mms-operator", subresource: "status" }),
      ]);
      const t = await tenant(name);
      assert.equal(t.status?.backup?.lastBackupId, `final-r${round}`, "the backup writer's field is there");
      assert.equal(cond(t, "BackupHealthy")?.message, `round ${round}`, "and its condition");
      // The live operator has the same field manager and may have written back its own URL, or one it read
      // in an earlier round, meanwhile: any of them shows the field was kept; a lost field would be missing.
      assert.match(t.status?.url ?? "", new RegExp(`^https://analytics\\.${name}\\.test(/r\\d)?$`), "the operator's field is there");
      assert.equal(cond(t, "Ready")?.status, "True", "and its conditions");
    }
    const t = await tenant(name) as MatomoTenant & { metadata: { managedFields?: { manager: string; subresource?: string; fieldsV1?: { "f:status"?: Record<string, unknown> } }[] } };
    const mine = t.metadata.managedFields?.find((f) => f.manager === BACKUP_FIELD_MANAGER && f.subresource === "status");
    assert.ok(mine?.fieldsV1?.["f:status"]?.["f:backup"], "status.backup is owned by mms-backup");
    assert.deepEqual(Object.keys(mine?.fieldsV1?.["f:status"]?.["f:conditions"] ?? {}).filter((k) => k.startsWith("k:")), ['k:{"type":"BackupHealthy"}'],
      "mms-backup owns the BackupHealthy condition and no other");
  });

  test("`backup run --id --verify` takes and verifies the backup once; run again it changes nothing; a bad id is refused", async () => {
    const name = await readyTenant("bid");
    const first = await mms(["backup", "run", "--tenant", name, "--id", "final-abc1", "--verify", "-o", "json"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal((JSON.parse(first.stdout) as { taken: boolean }).taken, true);
    let t = await tenant(name);
    assert.equal(t.status?.backup?.lastVerifiedBackupId, "final-abc1");
    assert.equal(cond(t, "BackupHealthy")?.status, "True");

    const again = await mms(["backup", "run", "--tenant", name, "--id", "final-abc1", "--verify", "-o", "json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { taken: boolean }).taken, false);
    assert.match(again.stderr, /already written and verified/);
    const list = await mms(["backup", "list", "--tenant", name, "-o", "json"]);
    const listing = JSON.parse(list.stdout) as { backups: { backupId: string; verified: { ok: boolean } | null }[] };
    assert.deepEqual(listing.backups.map((b) => [b.backupId, b.verified?.ok]), [["final-abc1", true]], "still one backup");

    const bad = await mms(["backup", "run", "--tenant", name, "--id", "../x", "--verify"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /"\.\.\/x" is not a backup id/);
    t = await tenant(name);
    assert.equal(t.status?.backup?.lastVerifiedBackupId, "final-abc1", "nothing changed");
  });

  test("what an interrupted run left is cleaned and the backup taken anew", async () => {
    const name = await readyTenant("bint");
    // A dump without its manifest: the first attempt died before finishing.
    await s3.send(new PutObjectCommand({ Bucket: DEV_BACKUP_BUCKET, Key: `tenants/${name}/pre-upgrade-g3/dump.sql.gz`, Body: "half a dump" }));
    const run = await mms(["backup", "run", "--tenant", name, "--id", "pre-upgrade-g3", "--verify", "-o", "json"]);
    assert.equal(run.code, 0, run.stderr);
    const list = await mms(["backup", "list", "--tenant", name, "-o", "json"]);
    const listing = JSON.parse(list.stdout) as { backups: { backupId: string; verified: { ok: boolean } | null; tables: number }[]; incomplete: unknown[] };
    assert.deepEqual(listing.backups.map((b) => [b.backupId, b.verified?.ok, b.tables]), [["pre-upgrade-g3", true, 1]]);
    assert.deepEqual(listing.incomplete, []);
  });
});
