// Backup Jobs created in the dev environment really run: as real pods of the control-plane image on the
// real node, or (with --real-nodes 0) as local processes of the local Job runner. Either way a
// verified-backup Job takes and verifies a real backup, a failing command fails its Job with the reason,
// and a tenant's backup CronJob run by hand takes a real backup.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createConnection, type Connection } from "mysql2/promise";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { endpoints, readStatus } from "../src/devcluster/environment.ts";
import { REAL_NODE_LABEL, REAL_NODE_TAINT } from "../src/devcluster/real-node.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { renderVerifiedBackupJob, RUN_LOCALLY_LABEL } from "../src/render/backup-jobs.ts";
import { DEFAULT_PLATFORM, type PlatformSettings } from "../src/render/tenant.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, MMS, type Run, runMms, uniqueName } from "./helpers.ts";


const exec = (file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> => runMms(args, env, file);

interface Job { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }
interface Pod { metadata: { name: string; labels?: Record<string, string> }; status?: { phase?: string; containerStatuses?: { state?: { terminated?: { exitCode: number; message?: string } } }[] } }

let http: KubeHttp;
let db: Connection;
let env: NodeJS.ProcessEnv;
let kubectl: string;
/** Where the dev operator puts these Jobs: the real node, or the local Job runner without one. */
let platform: PlatformSettings;
const tenants: string[] = [];
const jobs: string[] = [];

before(async () => {
  const e = await endpoints();
  env = { KUBECONFIG: e.kubeconfig };
  kubectl = join(e.kubectlDir, "kubectl");
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  db = await createConnection({ ...e.mariadb, multipleStatements: true });
  platform = (await readStatus()).realNodes.desired > 0
    ? { ...DEFAULT_PLATFORM, jobNodeSelector: { [REAL_NODE_LABEL]: "true" }, jobTolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists", effect: REAL_NODE_TAINT.effect }] }
    : { ...DEFAULT_PLATFORM, runJobsLocally: true };
});

after(async () => {
  for (const j of jobs) {
    await http.request("DELETE", `/apis/batch/v1/namespaces/${SYSTEM_NAMESPACE}/jobs/${j}`, { propagationPolicy: "Background" }).catch(() => undefined);
  }
  for (const t of tenants) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
    const d = `mt_${t.replaceAll("-", "_")}`;
    await db.query(`DROP DATABASE IF EXISTS \`${d}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [d]);
  }
  await db.end();
});

async function readyTenantWithData(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  tenants.push(name);
  await createTenant(http, { name, domains: [`analytics.${name}.test`] });
  const r = await waitReady(http, name, 120_000);
  assert.ok(r.ok, `tenant ${name} should become Ready: ${r.failing?.message}`);
  const d = `mt_${name.replaceAll("-", "_")}`;
  await db.query(`CREATE TABLE \`${d}\`.visits (id INT PRIMARY KEY, url VARCHAR(100)); INSERT INTO \`${d}\`.visits VALUES (1, '/a'), (2, '/b')`);
  return name;
}

/** The Job's Complete or Failed condition, once it has one. */
function finished(name: string, timeoutMs = 240_000) {
  return eventually(`Job ${name} to finish`, async () => {
    const job = await http.get<Job>("batch/v1", "Job", name, SYSTEM_NAMESPACE);
    return job.status?.conditions?.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
  }, timeoutMs);
}

async function podsOf(job: string): Promise<Pod[]> {
  return (await http.list<Pod>("v1", "Pod", SYSTEM_NAMESPACE, `batch.kubernetes.io/job-name=${job}`)).items;
}

async function backups(tenant: string): Promise<{ backupId: string; verified: { ok: boolean } | null }[]> {
  const list = await exec(MMS, ["backup", "list", "--tenant", tenant, "-o", "json"], env);
  assert.equal(list.code, 0, list.stderr);
  return (JSON.parse(list.stdout) as { backups: { backupId: string; verified: { ok: boolean } | null }[] }).backups;
}

describe("backup Jobs in the dev environment (real node or local Job runner)", () => {
  test("a verified-backup Job takes a real backup, proves it by a restore drill and records it in the tenant's status", async () => {
    const tenant = await readyTenantWithData("ljv");
    const { job, backupId } = renderVerifiedBackupJob({ tenant, purpose: "final", key: "k1", platform });
    jobs.push(job.metadata.name);
    await http.create(job, { fieldManager: "test" });
    const done = await finished(job.metadata.name);
    const pods = await podsOf(job.metadata.name);
    assert.equal(done.type, "Complete", `the Job failed: ${done.message}; pods: ${JSON.stringify(pods.map((p) => p.status?.containerStatuses?.[0]?.state))}`);
    assert.equal(pods[0]?.status?.phase, "Succeeded");
    assert.deepEqual((await backups(tenant)).map((b) => [b.backupId, b.verified?.ok]), [[backupId, true]]);
    const t = await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
    assert.equal(t.status?.backup?.lastVerifiedBackupId, backupId);
    assert.equal(t.status?.conditions?.find((c) => c.type === "BackupHealthy")?.status, "True");
    assert.equal(t.status?.conditions?.find((c) => c.type === "Ready")?.status, "True", "the operator's conditions are kept");
  });

  test("a Job whose command fails ends Failed, and its pods say why", async () => {
    // The tenant does not exist, so `mms backup run` fails, as does its one retry.
    const { job } = renderVerifiedBackupJob({ tenant: uniqueName("ljnone"), purpose: "pre-upgrade", key: "g1", platform });
    jobs.push(job.metadata.name);
    await http.create(job, { fieldManager: "test" });
    const done = await finished(job.metadata.name);
    assert.equal(done.type, "Failed");
    assert.equal(done.reason, "BackoffLimitExceeded");
    const pods = await podsOf(job.metadata.name);
    assert.ok(pods.length >= 1);
    for (const p of pods) {
      assert.equal(p.status?.phase, "Failed");
      const term = p.status?.containerStatuses?.[0]?.state?.terminated;
      assert.notEqual(term?.exitCode, 0);
      assert.match(term?.message ?? "", /does not exist/, "the last lines of the command's output are the pod's termination message");
    }
  });

  test("the tenant's backup CronJob, run by hand with kubectl, takes a real backup", async () => {
    const tenant = await readyTenantWithData("ljcron");
    const cron = await eventually("the backup CronJob, placed where backup pods run", async () => {
      const cj = await http.getOrUndefined<KubeObject & { spec: { jobTemplate: { spec: { template: { metadata: { labels: Record<string, string> }; spec: { nodeSelector?: Record<string, string> } } } } } }>("batch/v1", "CronJob", `backup-${tenant}`, SYSTEM_NAMESPACE);
      const template = cj?.spec.jobTemplate.spec.template;
      const placed = platform.runJobsLocally ? template?.metadata.labels[RUN_LOCALLY_LABEL] === "true" : template?.spec.nodeSelector?.[REAL_NODE_LABEL] === "true";
      return placed ? cj : undefined;
    });
    const name = `${cron.metadata.name}-by-hand`.slice(0, 63);
    jobs.push(name);
    const created = await exec(kubectl, ["create", "job", `--from=cronjob/${cron.metadata.name}`, name, "-n", SYSTEM_NAMESPACE], env);
    assert.equal(created.code, 0, created.stderr);
    const done = await finished(name);
    assert.equal(done.type, "Complete", done.message);
    const list = await backups(tenant);
    assert.equal(list.length, 1, "one real backup in the store");
    const t = await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant);
    assert.equal(t.status?.backup?.lastBackupId, list[0]?.backupId);
  });
});
