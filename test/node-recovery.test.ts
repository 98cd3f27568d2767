// Node recovery end to end, on an isolated dev environment of five nodes where the sim OVH API and the
// node doctor run as the environment's own processes (started by `mms dev up`): a node whose kubelet
// stops under tenant pods and a StatefulSet with a volume, a node that stays dead and is replaced, a
// storm, a flapping node, and an OVH API that rate-limits, fails or refuses.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { NodeRemediation } from "../src/api/remediation.ts";
import { SimControl } from "../src/devcluster/sim-control.ts";
import { loadSimConnection } from "../src/cloud/sim-driver.ts";
import type { SimRequest } from "../src/devcluster/sim-ovh-api.ts";
import { OUT_OF_SERVICE_TAINT } from "../src/controllers/node-doctor/controller.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { failNode, NODE_POOL, recoverNode } from "../src/devcluster/nodes.ts";
import { deployRecoveryWorkload, placement, removeRecoveryWorkload, type RecoveryWorkload } from "./support/scenario.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { eventually, type Run, runMms } from "./helpers.ts";

const PORT_BASE = 26000;
const NODES = 5;

interface KNode {
  metadata: { name: string; creationTimestamp?: string };
  spec?: { unschedulable?: boolean; providerID?: string; taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
interface KEvent { reason: string; message: string; involvedObject: { name: string } }

let home = "";
let env: NodeJS.ProcessEnv = {};
let http: KubeHttp;
let sim: SimControl;
let doctorUrl = "";
const workloads: RecoveryWorkload[] = [];
const mms = (args: string[]): Promise<Run> => runMms(args, env);

before(async () => {
  home = await mkdtemp(join(tmpdir(), "mms-it-recovery-"));
  env = {
    MMS_DEV_HOME: home, MMS_DEV_PORT_BASE: String(PORT_BASE),
    MMS_DEV_SIM_REBOOT_DELAY: "5s", MMS_DEV_SIM_REPLACE_DELAY: "3s",
    // Fast detection of NotReady, and escalation that waits out the first test's 35 s reboot only.
    MMS_DEV_NODE_DOCTOR_ARGS: "--unhealthy-after=5s --soft-reboot-timeout=50s --hard-reboot-timeout=10s --storm-settle=10s",
  };
  const r = await mms(["dev", "up", "--nodes", String(NODES), "--real-nodes", "0", "-q"]);
  assert.equal(r.code, 0, r.stderr);
  const e = await endpoints({ MMS_DEV_HOME: home });
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  sim = new SimControl(await loadSimConnection(e.simOvhApi.connectionFile));
  doctorUrl = e.nodeDoctor.url;
});

after(async () => {
  for (const w of workloads) await removeRecoveryWorkload(http, w).catch(() => undefined);
  if (process.env.MMS_TEST_KEEP_RECOVERY_ENV) {
    process.stderr.write(`node recovery environment kept in ${home} (port base ${PORT_BASE})\n`);
    return;
  }
  await mms(["dev", "down"]);
  await rm(home, { recursive: true, force: true });
});

async function poolNodes(): Promise<KNode[]> {
  return (await http.list<KNode>("v1", "Node", undefined, `nodepool=${NODE_POOL}`)).items;
}

const isReady = (n: KNode | undefined) => n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

async function allReady(): Promise<KNode[]> {
  return eventually(`${NODES} Ready nodes`, async () => {
    const nodes = await poolNodes();
    return nodes.length === NODES && nodes.every((n) => isReady(n) && !n.spec?.unschedulable) ? nodes : undefined;
  }, 60_000);
}

async function remediations(node?: string): Promise<NodeRemediation[]> {
  const all = (await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation")).items;
  return node ? all.filter((r) => r.spec.nodeName === node) : all;
}

/** The doctor's memory of past remediations (cooldown, flapping), emptied so each test starts afresh. */
async function forgetRemediations(): Promise<void> {
  for (const r of await remediations()) await http.delete(API_GROUP_VERSION, "NodeRemediation", r.metadata.name);
}

async function events(node: string, reason: string): Promise<KEvent[]> {
  const q = new URLSearchParams({ fieldSelector: `involvedObject.name=${node},reason=${reason}` });
  return (await http.request<{ items: KEvent[] }>("GET", `/api/v1/namespaces/default/events?${q.toString()}`)).items;
}

async function metric(pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${doctorUrl}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

function instanceOf(node: KNode): string {
  return (node.spec?.providerID ?? "").replace("openstack:///", "");
}

async function callsSince(from: number): Promise<SimRequest[]> {
  return (await sim.requests()).slice(from);
}

const reboots = (calls: SimRequest[], instance?: string) =>
  calls.filter((c) => c.method === "POST" && c.path.endsWith("/reboot") && (!instance || c.path.includes(`/instance/${instance}/`)));

function doctorLogTail(): string {
  try {
    return readFileSync(join(home, "logs", "node-doctor.log"), "utf8").trim().split("\n").slice(-15).join("\n");
  } catch {
    return "";
  }
}

async function finished(node: string, timeoutMs: number): Promise<NodeRemediation> {
  return eventually(`the remediation of ${node} to end`, async () => (await remediations(node)).find((r) => r.status?.outcome), timeoutMs)
    .catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${doctorLogTail()}`);
    });
}

describe("node recovery on the dev environment", { concurrency: false }, () => {
  test("a node whose kubelet stops under tenant pods and a StatefulSet with a volume is fenced and rebooted; its pods run elsewhere meanwhile, then it is Ready again", async (t) => {
    await allReady();
    // Longer than the pod garbage collector's 20 s period, which deletes the fenced node's pods.
    await sim.setDelays({ rebootDelayMs: 35_000 });
    const w = await deployRecoveryWorkload(http, "it-rec");
    workloads.push(w);
    const from = (await sim.requests()).length;
    const victim = await http.get<KNode>("v1", "Node", w.victim);

    const t0 = Date.now();
    await failNode(http, w.victim, "heartbeat");
    const fenced = await eventually("the victim fenced", async () => (await remediations(w.victim)).find((r) => r.status?.fenced), 90_000);
    const fencedAt = Date.now();
    assert.match(fenced.spec.reason, /heartbeat \(node Lease\) silent/);
    const moved = await eventually("the tenant's pods and the StatefulSet pod Running on other nodes while the victim is down", async () => {
      const node = await http.get<KNode>("v1", "Node", w.victim);
      if (isReady(node)) throw new Error("the victim came back before its pods moved");
      const p = await placement(http, w);
      return p.tenantElsewhere && p.statefulElsewhere ? p : undefined;
    }, 60_000);
    t.diagnostic(`fenced after ${Math.round((fencedAt - t0) / 1000)} s; pods moved ${Math.round((Date.now() - fencedAt) / 1000)} s later, the StatefulSet pod to ${moved.statefulNode}, its claim still bound to ${w.volume}`);

    const done = await finished(w.victim, 90_000);
    assert.equal(done.status?.outcome, "Succeeded", done.status?.message);
    const phases = done.status?.history?.map((h) => h.phase) ?? [];
    for (const p of ["Detected", "Cordoned", "SoftReboot", "Fenced", "Recovered"]) assert.ok(phases.includes(p), `${p} in ${phases.join(", ")}`);
    assert.ok(!phases.includes("HardReboot"), "the soft reboot was enough");
    const node = await http.get<KNode>("v1", "Node", w.victim);
    assert.ok(isReady(node), "Ready again");
    assert.ok(!node.spec?.unschedulable, "uncordoned");
    assert.ok(!(node.spec?.taints ?? []).some((x) => x.key === OUT_OF_SERVICE_TAINT.key), "unfenced");
    assert.deepEqual(reboots(await callsSince(from), instanceOf(victim)).map((c) => c.status), [200], "one soft reboot through the OVH API");
    assert.ok(await metric(/^mms_node_remediations_total\{outcome="Succeeded"\} (\d+)/m) >= 1);
    assert.ok(await metric(/^mms_node_detection_seconds_count (\d+)/m) >= 1);
    await sim.setDelays({ rebootDelayMs: 5_000 });
  });

  test("a node that stays dead after its reboots is replaced through its node pool, and a new node joins", async () => {
    await forgetRemediations();
    const [dead] = await allReady();
    assert.ok(dead);
    const from = (await sim.requests()).length;
    await failNode(http, dead.metadata.name, "not-ready", { permanent: true });

    const done = await finished(dead.metadata.name, 150_000);
    assert.equal(done.status?.outcome, "Succeeded", done.status?.message);
    const phases = done.status?.history?.map((h) => h.phase) ?? [];
    for (const p of ["SoftReboot", "Fenced", "HardReboot", "Replace", "Recovered"]) assert.ok(phases.includes(p), `${p} in ${phases.join(", ")}`);
    assert.equal(await http.getOrUndefined("v1", "Node", dead.metadata.name), undefined, "the dead node is gone");
    const calls = await callsSince(from);
    assert.deepEqual(reboots(calls, instanceOf(dead)).map((c) => c.status), [200, 200], "a soft, then a hard reboot");
    assert.deepEqual(calls.filter((c) => c.method === "DELETE").map((c) => [c.path.includes("/kube/") && c.path.includes("/node/"), c.status]), [[true, 200]]);
    const nodes = await allReady();
    const joined = nodes.filter((n) => Date.parse(n.metadata.creationTimestamp ?? "") > Date.parse(done.spec.detectedAt));
    assert.equal(joined.length, 1, "one new node in the pool");
  });

  test("storm: 3 of 5 nodes lose their heartbeat at once; nothing is remediated, and the reason is in events and metrics", async () => {
    await forgetRemediations();
    const nodes = await allReady();
    const failing = nodes.slice(0, 3).map((n) => n.metadata.name);
    const from = (await sim.requests()).length;
    const blockedBefore = await metric(/^mms_node_remediations_blocked_total\{reason="StormProtection"\} (\d+)/m);
    await Promise.all(failing.map((n) => failNode(http, n, "heartbeat")));

    const reported = await eventually("a StormProtection event on each failed node", async () => {
      const found = await Promise.all(failing.map(async (n) => (await events(n, "StormProtection"))[0]));
      return found.every(Boolean) ? found : undefined;
    }, 90_000);
    for (const e of reported) assert.match(e?.message ?? "", /3 of 5 nodes in the cluster are unhealthy \(limit 40 %\)/);
    await sleep(3_000); // a few more checks of the doctor
    assert.deepEqual(await remediations(), [], "no remediation started");
    assert.deepEqual(reboots(await callsSince(from)), [], "no reboot requested");
    assert.ok(await metric(/^mms_node_remediations_blocked_total\{reason="StormProtection"\} (\d+)/m) > blockedBefore);

    // The partition heals: the nodes come back a moment apart, and none is taken for a lone failure.
    for (const n of failing) await recoverNode(http, n);
    await allReady();
    await sleep(3_000);
    assert.deepEqual(await remediations(), [], "no remediation once the storm is over");
  });

  test("a flapping node is not rebooted in a loop: after 3 remediations within the hour it is left for a person", async () => {
    await forgetRemediations();
    const [flapper] = await allReady();
    assert.ok(flapper);
    const name = flapper.metadata.name;
    // Two earlier remediations of this node, recorded as the doctor records them.
    const long = new Date(Date.now() - 40 * 60_000).toISOString();
    for (const i of [1, 2]) {
      await http.create({ apiVersion: API_GROUP_VERSION, kind: "NodeRemediation", metadata: { name: `${name}-earlier-${i}` }, spec: { nodeName: name, pool: NODE_POOL, reason: "an earlier failure", detectedAt: long } }, { fieldManager: "it-recovery" });
      await http.request("PATCH", `/apis/${API_GROUP_VERSION}/noderemediations/${name}-earlier-${i}/status`, { status: { phase: "Succeeded", outcome: "Succeeded", endedAt: long } }, "application/merge-patch+json");
    }
    const from = (await sim.requests()).length;
    await failNode(http, name, "not-ready");
    const third = await eventually("the third remediation to end", async () => (await remediations(name)).find((r) => !r.metadata.name.includes("-earlier-") && r.status?.outcome), 90_000);
    assert.equal(third.status?.outcome, "Succeeded", third.status?.message);
    await eventually(`${name} Ready`, async () => (isReady(await http.get<KNode>("v1", "Node", name)) ? true : undefined));

    await failNode(http, name, "not-ready");
    const [flapping] = await eventually("a Flapping event", async () => {
      const e = await events(name, "Flapping");
      return e.length ? e : undefined;
    }, 60_000);
    assert.match(flapping?.message ?? "", /3 remediations within 60 min/);
    await sleep(3_000);
    assert.equal((await remediations(name)).length, 3, "no fourth remediation");
    assert.equal(reboots(await callsSince(from), instanceOf(flapper)).length, 1, "rebooted once, not again");
    assert.ok(await metric(/^mms_node_remediations_blocked_total\{reason="Flapping"\} (\d+)/m) >= 1);
    await recoverNode(http, name);
  });

  test("the OVH API answers 429, then 500, for a while: the doctor retries with backoff and the reboot goes through", async () => {
    await forgetRemediations();
    const [node] = await allReady();
    assert.ok(node);
    const from = (await sim.requests()).length;
    await sim.injectFaults({ status: 429, count: 2, method: "POST", path: /\/reboot$/ });
    await sim.injectFaults({ status: 500, count: 2, method: "POST", path: /\/reboot$/ });
    await failNode(http, node.metadata.name, "not-ready");
    const done = await finished(node.metadata.name, 90_000);
    assert.equal(done.status?.outcome, "Succeeded", done.status?.message);
    assert.deepEqual(reboots(await callsSince(from), instanceOf(node)).map((c) => c.status), [429, 429, 500, 500, 200]);
    assert.ok(isReady(await http.get<KNode>("v1", "Node", node.metadata.name)));
  });

  // Last: a refusal holds the doctor for two minutes.
  test("the OVH API answers 403: the doctor stops and reports, and touches nothing else", async () => {
    await forgetRemediations();
    const [refused, other] = await allReady();
    assert.ok(refused && other);
    const from = (await sim.requests()).length;
    const failedBefore = await metric(/^mms_node_remediations_total\{outcome="Failed"\} (\d+)/m);
    await sim.injectFaults({ status: 403, count: 1000, method: "POST", path: /\/reboot$/ });
    try {
      await failNode(http, refused.metadata.name, "not-ready");
      const done = await finished(refused.metadata.name, 60_000);
      assert.equal(done.status?.outcome, "Failed");
      assert.match(done.status?.message ?? "", /the OVH API refused POST \/cloud\/project\/.*\/reboot \(403: This call has not been granted\)/);
      const phases = done.status?.history?.map((h) => h.phase) ?? [];
      for (const p of ["Fenced", "HardReboot", "Replace"]) assert.ok(!phases.includes(p), `no ${p} in ${phases.join(", ")}`);
      const [reported] = await eventually("a CloudAccessDenied event", async () => {
        const e = await events(refused.metadata.name, "CloudAccessDenied");
        return e.length ? e : undefined;
      });
      assert.match(reported?.message ?? "", /403/);
      const node = await http.get<KNode>("v1", "Node", refused.metadata.name);
      assert.ok(!(node.spec?.taints ?? []).some((x) => x.key === OUT_OF_SERVICE_TAINT.key), "not fenced");

      // Another node failing meanwhile is left alone, and says why.
      await failNode(http, other.metadata.name, "not-ready");
      await eventually("the second node blocked by the refusal", async () => ((await events(other.metadata.name, "CloudAccessDenied")).length ? true : undefined), 30_000);
      await sleep(2_000);
      assert.deepEqual(await remediations(other.metadata.name), [], "no remediation of the other node");
      const calls = await callsSince(from);
      assert.deepEqual(reboots(calls).map((c) => c.status), [403], "one refused call, not retried, nothing after it");
      assert.deepEqual(calls.filter((c) => c.method !== "GET" && c.method !== "POST"), [], "no deletion");
      assert.ok(await metric(/^mms_node_remediations_total\{outcome="Failed"\} (\d+)/m) > failedBefore);
      assert.ok(await metric(/^mms_node_remediations_blocked_total\{reason="CloudAccessDenied"\} (\d+)/m) >= 1);
      assert.ok(await metric(/^mms_node_cloud_api_errors_total\{status="403"\} (\d+)/m) >= 1);
    } finally {
      await sim.clearFaults();
      for (const n of [refused, other]) {
        await recoverNode(http, n.metadata.name);
        await http.mergePatch("v1", "Node", n.metadata.name, { spec: { unschedulable: false } });
      }
    }
  });
});
