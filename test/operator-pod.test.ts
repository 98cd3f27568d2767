// The operator as a pod of the control-plane image on the real node (`mms dev manifests operator`):
// beside the local operator it waits as a standby; when the local one is killed it takes the leader
// lease and reconciles a new tenant to Ready. Skips (one line) without a real node.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { createConnection } from "mysql2/promise";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { currentPaths, endpoints, readStatus, up } from "../src/devcluster/environment.ts";
import { OPERATOR_POD_NAME } from "../src/devcluster/platform-pods.ts";
import { isOurs } from "../src/devcluster/processes.ts";
import { realNodeName } from "../src/devcluster/real-node.ts";
import { readState } from "../src/devcluster/state.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { createProgress } from "../src/util/progress.ts";
import { eventually, runMms, uniqueName } from "./helpers.ts";

interface Pod { metadata: { name: string }; spec: { nodeName?: string }; status?: { containerStatuses?: { containerID?: string; ready?: boolean; state?: { running?: object } }[] } }

let http: KubeHttp;
let kubeconfig: string;
let kubectl: string;
let skip: string | undefined;
const tenant = uniqueName("podop");

const run = promisify(execFile);
const operatorPods = async () => (await http.list<Pod & KubeObject>("v1", "Pod", SYSTEM_NAMESPACE, "app.kubernetes.io/component=operator,app.kubernetes.io/managed-by=mms-dev")).items;

before(async () => {
  if ((await readStatus()).realNodes.desired === 0) {
    skip = "the dev environment runs without a real node (--real-nodes 0)";
    return;
  }
  const e = await endpoints();
  kubeconfig = e.kubeconfig;
  kubectl = join(e.kubectlDir, "kubectl");
  http = new KubeHttp(loadKubeConfig({ kubeconfig }));
});

after(async () => {
  if (skip) return;
  const manifests = await runMms(["dev", "manifests", "operator"]);
  await run("sh", ["-c", `"$0" --kubeconfig "$1" delete --wait=true --ignore-not-found -f - <<'EOF'\n${manifests.stdout}\nEOF`, kubectl, kubeconfig]).catch(() => undefined);
  // The local operator again (it waits for the pod's lease to be given up).
  await up({ nodes: 3, progress: createProgress(process.stderr, true) });
  await http.delete(API_GROUP_VERSION, "MatomoTenant", tenant).catch(() => undefined);
  const e = await endpoints();
  const db = await createConnection(e.mariadb);
  const d = `mt_${tenant.replaceAll("-", "_")}`;
  await db.query(`DROP DATABASE IF EXISTS \`${d}\``);
  await db.query("DROP USER IF EXISTS ?@'%'", [d]);
  await db.end();
});

describe("the operator as a pod", () => {
  test("it stands by beside the local operator, takes over when that one is killed, and reconciles a new tenant to Ready", async (t) => {
    if (skip) return t.skip(skip);
    const manifests = await runMms(["dev", "manifests", "operator"]);
    assert.equal(manifests.code, 0, manifests.stderr);
    await run("sh", ["-c", `"$0" --kubeconfig "$1" apply -f - <<'EOF'\n${manifests.stdout}\nEOF`, kubectl, kubeconfig]);

    const standby = await eventually("the operator pod running as a standby", async () => {
      const pod = (await operatorPods())[0];
      const c = pod?.status?.containerStatuses?.[0];
      return c?.state?.running ? pod : undefined;
    }, 120_000);
    assert.equal(standby.spec.nodeName, realNodeName(1));
    assert.match(standby.status?.containerStatuses?.[0]?.containerID ?? "", /^containerd:\/\//);
    await sleep(5_000);
    assert.equal((await operatorPods())[0]?.status?.containerStatuses?.[0]?.ready, false, "not Ready (not leading) while the local operator leads");

    const rec = (await readState(currentPaths()))?.processes.operator;
    assert.ok(rec && isOurs(rec.pid, rec.executable), "the local operator runs");
    process.kill(rec.pid, "SIGKILL");
    const leader = await eventually("the operator pod to take the lead (Ready)", async () => {
      const pod = (await operatorPods())[0];
      return pod?.status?.containerStatuses?.[0]?.ready ? pod : undefined;
    }, 120_000);

    await createTenant(http, { name: tenant, domains: [`analytics.${tenant}.test`] });
    const ready = await waitReady(http, tenant, 180_000);
    assert.ok(ready.ok, `tenant ${tenant} should become Ready: ${ready.failing?.message}`);
    const logs = (await run(kubectl, ["--kubeconfig", kubeconfig, "logs", "-n", SYSTEM_NAMESPACE, leader.metadata.name])).stdout;
    assert.match(logs, /acquired the leader lease/);
    assert.ok(!isOurs(rec.pid, rec.executable), "no local operator ran meanwhile: the pod reconciled the tenant");
    assert.equal((await operatorPods()).length, 1, `one ${OPERATOR_POD_NAME} pod`);
  });
});
