// spec.privacy reaches Matomo's database on the dev environment. The operator renders the settings into
// the install Job and, for each later spec change, into a settings Job of its own; KWOK never runs those
// pods, so this test runs the statement each Job carries (read from the Job in the API server) itself,
// against the tenant's real database on the pool and as the tenant's own database user, as the Job's
// `config-helper.php apply-settings` would. Then it reads Matomo's option rows back from the database.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, uniqueName } from "./helpers.ts";

let http: KubeHttp;
let admin: Connection;
const created: string[] = [];
const dbName = (t: string) => `mt_${t.replaceAll("-", "_")}`;

interface JobView { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }

/** The statement a Job of the tenant carries, once the operator has created that Job. */
async function jobSql(tenant: string, job: string): Promise<string> {
  return eventually(`Job ${job} of ${tenant}`, async () => {
    const j = await http.getOrUndefined<JobView>("batch/v1", "Job", job, tenantNamespace(tenant));
    return j?.spec.template.spec.containers[0]?.env?.find((e) => e.name === "MMS_SETTINGS_SQL")?.value;
  }, 60_000);
}

/** Runs it as the Job would: connected as the tenant's own user, to the tenant's database. */
async function runAsTenant(tenant: string, sql: string): Promise<void> {
  const s = await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(tenant));
  const password = Buffer.from(s.data["database-password"] ?? "", "base64").toString("utf8");
  const { mariadb } = await endpoints();
  const conn = await createConnection({ host: mariadb.host, port: mariadb.port, user: dbName(tenant), password, database: dbName(tenant) });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}

async function privacyRows(tenant: string): Promise<Record<string, string>> {
  const [rows] = await admin.query<RowDataPacket[]>(`SELECT option_name, option_value FROM \`${dbName(tenant)}\`.matomo_option WHERE option_name LIKE 'PrivacyManager.%' ORDER BY option_name`);
  return Object.fromEntries(rows.map((r) => [String(r.option_name), String(r.option_value)]));
}

before(async () => {
  const e = await endpoints();
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  admin = await createConnection({ ...e.mariadb });
});

after(async () => {
  for (const t of created) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS \`${dbName(t)}\``);
    await admin.query("DROP USER IF EXISTS ?@'%'", [dbName(t)]);
  }
  await admin.end();
});

test("spec.privacy is written into Matomo's option table by the install Job, and every later change by a settings Job", async () => {
  const name = uniqueName("priv");
  created.push(name);
  await createTenant(http, { name, domains: [`${name}.example.test`], privacy: { anonymizeIpBytes: 3, respectDoNotTrack: false } });
  const ready = await waitReady(http, name, 180_000);
  assert.ok(ready.ok, ready.failing?.message);

  // What Matomo's installer would have left (KWOK runs no installer): its option table, exactly as
  // core/Db/Schema/Mysql.php creates it, with an older value set by hand in Matomo's UI.
  await admin.query(`CREATE TABLE \`${dbName(name)}\`.matomo_option (option_name VARCHAR(191) NOT NULL, option_value LONGTEXT NOT NULL,
    autoload TINYINT NOT NULL DEFAULT '1', PRIMARY KEY (option_name), INDEX autoload (autoload)) DEFAULT CHARSET=utf8mb4`);
  await admin.query(`INSERT INTO \`${dbName(name)}\`.matomo_option VALUES ('version_core', '5.2.1', 1), ('PrivacyManager.ipAnonymizerEnabled', '0', 0)`);

  const install = await jobSql(name, "matomo-install");
  await runAsTenant(name, install);
  const expected = { "PrivacyManager.doNotTrackEnabled": "0", "PrivacyManager.ipAddressMaskLength": "3", "PrivacyManager.ipAnonymizerEnabled": "1" };
  assert.deepEqual(await privacyRows(name), expected, "the install Job's settings are in the database");
  await runAsTenant(name, install);
  assert.deepEqual(await privacyRows(name), expected, "running it again changes nothing");
  assert.equal(((await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${dbName(name)}\`.matomo_option`))[0][0] as { n: number }).n, 4, "no duplicate rows");

  // A change of spec.privacy after the install: a settings Job of that generation carries it.
  const change = async (privacy: { anonymizeIpBytes: number; respectDoNotTrack: boolean }) => {
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { privacy } });
    const generation = (await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name)).metadata.generation;
    await runAsTenant(name, await jobSql(name, `matomo-settings-${generation}`));
    return privacyRows(name);
  };
  assert.deepEqual(await change({ anonymizeIpBytes: 0, respectDoNotTrack: true }),
    { "PrivacyManager.doNotTrackEnabled": "1", "PrivacyManager.ipAddressMaskLength": "3", "PrivacyManager.ipAnonymizerEnabled": "0" },
    "anonymisation off (the mask length is kept), Do Not Track respected");
  assert.deepEqual(await change({ anonymizeIpBytes: 3, respectDoNotTrack: false }), expected, "going back to the earlier value reaches the database too");
});
