// The real node: pods of the control-plane image run as real containers, Services and cluster DNS
// answer between pods, a Job's exit code decides its outcome, kubectl logs/exec reach the container,
// and the operator's backup CronJob, run by hand as a user would, takes a backup `mms backup verify`
// accepts. Skips (one line) when the environment runs without a real node (--real-nodes 0).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { createConnection, type Connection } from "mysql2/promise";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { endpoints, readStatus } from "../src/devcluster/environment.ts";
import { REAL_NODE_LABEL, realNodeName } from "../src/devcluster/real-node.ts";
import { DEFAULT_PLATFORM } from "../src/render/tenant.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, runMms, uniqueName } from "./helpers.ts";

const run = promisify(execFile);
const IMAGE = DEFAULT_PLATFORM.controlImage;
const onRealNode = {
  nodeSelector: { [REAL_NODE_LABEL]: "true" },
  tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
};
// A tiny HTTP server in the control-plane image's Node: answers with its pod name.
const SERVER = "require('http').createServer((q, s) => s.end('hello from ' + require('os').hostname())).listen(8080, () => console.log('listening on 8080'))";

interface Pod { metadata: { name: string }; spec: { nodeName?: string }; status?: { phase?: string; podIP?: string; containerStatuses?: { containerID?: string; ready?: boolean }[] } }
interface Job { status?: { succeeded?: number; failed?: number; conditions?: { type: string; status: string }[] } }

let http: KubeHttp;
let kubectlPath: string;
let kubeconfig: string;
let skip: string | undefined;
const ns = uniqueName("realnode");

const kubectl = async (...args: string[]) => (await run(kubectlPath, ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 8 << 20 })).stdout;

async function jobOutcome(name: string): Promise<"Complete" | "Failed"> {
  return eventually(`Job ${name} to finish`, async () => {
    const job = await http.get<Job & KubeObject>("batch/v1", "Job", name, ns);
    const done = job.status?.conditions?.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
    return done?.type as "Complete" | "Failed" | undefined;
  }, 120_000);
}

function job(name: string, script: string): KubeObject {
  return {
    apiVersion: "batch/v1", kind: "Job", metadata: { name, namespace: ns },
    spec: {
      backoffLimit: 0,
      template: { spec: { ...onRealNode, restartPolicy: "Never", containers: [{ name: "main", image: IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", script] }] } },
    },
  };
}

before(async () => {
  const status = await readStatus();
  if (status.realNodes.desired === 0) {
    skip = "the dev environment runs without a real node (--real-nodes 0)";
    return;
  }
  const e = await endpoints();
  kubeconfig = e.kubeconfig;
  kubectlPath = join(e.kubectlDir, "kubectl");
  http = new KubeHttp(loadKubeConfig({ kubeconfig }));
  await http.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, { fieldManager: "test" });
});

after(async () => {
  if (!skip) await http.delete("v1", "Namespace", ns).catch(() => undefined);
});

describe("the real node", () => {
  test("a Deployment of the control-plane image runs real containers; its Service and DNS name answer from another pod; kubectl logs and exec work", async (t) => {
    if (skip) return t.skip(skip);
    await http.apply({
      apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "hello", namespace: ns },
      spec: {
        replicas: 2, selector: { matchLabels: { app: "hello" } },
        template: {
          metadata: { labels: { app: "hello" } },
          spec: { ...onRealNode, containers: [{ name: "hello", image: IMAGE, imagePullPolicy: "Never", command: ["node", "-e", SERVER], ports: [{ containerPort: 8080 }] }] },
        },
      },
    }, { fieldManager: "test" });
    await http.apply({
      apiVersion: "v1", kind: "Service", metadata: { name: "hello", namespace: ns },
      spec: { selector: { app: "hello" }, ports: [{ port: 80, targetPort: 8080 }] },
    }, { fieldManager: "test" });

    const pods = await eventually("two Running, ready pods of hello", async () => {
      const list = (await http.list<Pod & KubeObject>("v1", "Pod", ns, "app=hello")).items;
      const running = list.filter((p) => p.status?.phase === "Running" && p.status.containerStatuses?.every((c) => c.ready));
      return running.length === 2 ? running : undefined;
    }, 120_000);
    for (const p of pods) {
      assert.equal(p.spec.nodeName, realNodeName(1));
      assert.match(p.status?.containerStatuses?.[0]?.containerID ?? "", /^containerd:\/\/[0-9a-f]{64}$/, "a real container, run by containerd");
    }

    // From another pod: the Service's ClusterIP, and its name through cluster DNS.
    const svc = await http.get<{ spec: { clusterIP: string } } & KubeObject>("v1", "Service", "hello", ns);
    await http.apply(job("client", [
      `node -e "fetch('http://${svc.spec.clusterIP}/').then(r => r.text()).then(t => console.log(t))"`,
      `node -e "fetch('http://hello.${ns}.svc.cluster.local/').then(r => r.text()).then(t => console.log('dns:', t))"`,
    ].join(" && ")), { fieldManager: "test" });
    assert.equal(await jobOutcome("client"), "Complete");
    const out = await kubectl("logs", "-n", ns, "job/client");
    assert.match(out, /^hello from hello-/m, "the ClusterIP answers");
    assert.match(out, /^dns: hello from hello-/m, "the Service's DNS name answers");

    const name = pods[0]!.metadata.name;
    assert.match(await kubectl("logs", "-n", ns, name), /listening on 8080/);
    assert.equal((await kubectl("exec", "-n", ns, name, "--", "id", "-u")).trim(), "10001", "the image's user");
  });

  test("a Job's pod runs a real command, and its exit code decides Succeeded or Failed", async (t) => {
    if (skip) return t.skip(skip);
    await http.apply(job("exit-0", "test \"$(node -e 'console.log(6*7)')\" = 42"), { fieldManager: "test" });
    await http.apply(job("exit-3", "echo failing on purpose; exit 3"), { fieldManager: "test" });
    assert.equal(await jobOutcome("exit-0"), "Complete");
    assert.equal(await jobOutcome("exit-3"), "Failed");
    const failed = (await http.list<Pod & KubeObject>("v1", "Pod", ns, "job-name=exit-3")).items;
    const term = (failed[0]?.status?.containerStatuses?.[0] as { state?: { terminated?: { exitCode?: number } } } | undefined)?.state?.terminated;
    assert.equal(term?.exitCode, 3, "the container's own exit code");
  });
});

describe("backups on the real node", () => {
  let db: Connection;
  const tenant = uniqueName("rnbackup");

  after(async () => {
    if (skip) return;
    await http.delete(API_GROUP_VERSION, "MatomoTenant", tenant).catch(() => undefined);
    const d = `mt_${tenant.replaceAll("-", "_")}`;
    await db.query(`DROP DATABASE IF EXISTS \`${d}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [d]);
    await db.end();
  });

  test("a run of a tenant's backup CronJob, made by hand, takes a backup that `mms backup verify` accepts", async (t) => {
    if (skip) return t.skip(skip);
    const e = await endpoints();
    db = await createConnection({ ...e.mariadb, multipleStatements: true });
    await createTenant(http, { name: tenant, domains: [`analytics.${tenant}.test`] });
    const ready = await waitReady(http, tenant, 120_000);
    assert.ok(ready.ok, `tenant ${tenant} should become Ready: ${ready.failing?.message}`);
    const d = `mt_${tenant.replaceAll("-", "_")}`;
    await db.query(`CREATE TABLE \`${d}\`.visits (id INT PRIMARY KEY); INSERT INTO \`${d}\`.visits VALUES (1), (2), (3)`);

    const jobName = `manual-${tenant}`;
    await kubectl("create", "job", "-n", SYSTEM_NAMESPACE, jobName, `--from=cronjob/backup-${tenant}`);
    const done = await eventually(`backup Job ${jobName} to finish`, async () => {
      const j = await http.get<Job & KubeObject>("batch/v1", "Job", jobName, SYSTEM_NAMESPACE);
      return j.status?.conditions?.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True")?.type;
    }, 300_000);
    const logs = await kubectl("logs", "-n", SYSTEM_NAMESPACE, `job/${jobName}`).catch((err: Error) => err.message);
    assert.equal(done, "Complete", `the backup Job failed: ${logs}`);
    const pods = (await http.list<Pod & KubeObject>("v1", "Pod", SYSTEM_NAMESPACE, `job-name=${jobName}`)).items;
    assert.equal(pods[0]?.spec.nodeName, realNodeName(1), "it ran on the real node");
    assert.match(pods[0]?.status?.containerStatuses?.[0]?.containerID ?? "", /^containerd:\/\//);

    const verify = await runMms(["backup", "verify", "--tenant", tenant], { KUBECONFIG: e.kubeconfig });
    assert.equal(verify.code, 0, verify.stderr + verify.stdout);
    await http.delete("batch/v1", "Job", jobName, SYSTEM_NAMESPACE).catch(() => undefined);
  });
});
