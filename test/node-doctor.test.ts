// The node doctor on the real dev cluster, talking to the sim OVH API through the production OVH
// driver: a node whose heartbeat stops is detected, cordoned, rebooted, fenced so its pods move,
// and released once Ready. (Storm protection and flap detection are covered by policy.test.ts.)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { NodeRemediation } from "../src/api/remediation.ts";
import { startSimOvhApi, type SimOvhApi } from "../src/devcluster/sim-ovh-api.ts";
import { SimDriver } from "../src/cloud/sim-driver.ts";
import { NodeDoctor, OUT_OF_SERVICE_TAINT } from "../src/controllers/node-doctor/controller.ts";
import { doctorMetrics } from "../src/controllers/node-doctor/metrics.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { failNode, isReady, simulatedNode } from "../src/devcluster/nodes.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { ensureApi, eventually, runMms, uniqueName } from "./helpers.ts";

let http: KubeHttp;
let sim: SimOvhApi;
let doctor: NodeDoctor<unknown>;
let loop: NodeJS.Timeout | undefined;
const pool = uniqueName("it-doc");
const nodeNames = [0, 1, 2].map((i) => `${pool}-n${i}`);
const namespace = uniqueName("it-doctor");
const TEST_TAINT = { key: "mms.dev/test-only", value: "doctor", effect: "NoSchedule" };

type Node = { metadata: { name: string }; spec?: { unschedulable?: boolean; taints?: { key: string }[] }; status?: { conditions?: { type: string; status: string }[] } };
type Pod = { metadata: { name: string }; spec?: { nodeName?: string }; status?: { phase?: string } };

before(async () => {
  http = new KubeHttp(loadKubeConfig({ kubeconfig: (await endpoints()).kubeconfig }));
  await ensureApi(http);
  // A pool of our own, tainted so other tests' pods stay away; the environment's nodes are never failed.
  for (const [i, name] of nodeNames.entries()) {
    const n = simulatedNode(200 + i);
    await http.create({
      ...(n as unknown as KubeObject),
      metadata: { ...n.metadata, name, labels: { ...n.metadata?.labels, nodepool: pool, "kubernetes.io/hostname": name } },
      spec: { providerID: `openstack:///${randomUUID()}`, taints: [TEST_TAINT] },
    }, { fieldManager: "it-doctor" });
  }
  await eventually("test nodes Ready", async () => {
    const nodes = await Promise.all(nodeNames.map((n) => http.get<Node>("v1", "Node", n)));
    return nodes.every((n) => isReady(n as never)) ? true : undefined;
  });
  sim = await startSimOvhApi({ kube: http, rebootDelayMs: 8_000, replaceDelayMs: 5_000, log: () => undefined });
  doctor = new NodeDoctor({
    http, cloud: new SimDriver(sim), log: pino({ level: process.env.MMS_TEST_DOCTOR_LOG ?? "silent" }, pino.destination(2)),
    // KWOK renews node Leases every 10 s, like a kubelet; a stopped kubelet shows as a silent Lease.
    policy: { unhealthyAfterMs: 5_000, heartbeatSilenceMs: 20_000, cooldownMs: 120_000 },
    pools: [pool],
    timeouts: { softRebootMs: 45_000, hardRebootMs: 45_000, replaceMs: 60_000 },
  });
  let running = false;
  loop = setInterval(() => {
    if (running) return;
    running = true;
    doctor.tick().catch((err: unknown) => process.stderr.write(`doctor tick failed: ${(err as Error).message}\n`)).finally(() => (running = false));
  }, 1_000);
  await http.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, { fieldManager: "it-doctor" });
});

after(async () => {
  if (loop) clearInterval(loop);
  await sim?.close();
  for (const n of nodeNames) await http.delete("v1", "Node", n);
  await http.delete("v1", "Namespace", namespace);
  const rems = await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation");
  for (const r of rems.items) if (r.spec.pool === pool) await http.delete(API_GROUP_VERSION, "NodeRemediation", r.metadata.name);
});

async function remediationsOf(node: string): Promise<NodeRemediation[]> {
  return (await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation")).items.filter((r) => r.spec.nodeName === node);
}

async function runningPods(): Promise<Pod[]> {
  return (await http.list<Pod>("v1", "Pod", namespace, "app=doctored")).items.filter((p) => p.status?.phase === "Running");
}

describe("node doctor", () => {
  test("a node whose heartbeat stops is cordoned, rebooted through the OVH API, fenced so its pods run elsewhere, and released once Ready", async () => {
    await http.create({
      apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "doctored", namespace },
      spec: {
        replicas: 2, selector: { matchLabels: { app: "doctored" } },
        template: {
          metadata: { labels: { app: "doctored" } },
          spec: {
            nodeSelector: { nodepool: pool },
            tolerations: [{ key: TEST_TAINT.key, operator: "Exists", effect: "NoSchedule" }],
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: { app: "doctored" } } }],
            containers: [{ name: "c", image: "nginx:1.27" }],
          },
        },
      },
    }, { fieldManager: "it-doctor" });
    const before = await eventually("2 pods Running", async () => ((await runningPods()).length === 2 ? runningPods() : undefined));
    const victim = before[0]?.spec?.nodeName ?? "";
    assert.ok(nodeNames.includes(victim));

    await failNode(http, victim, "heartbeat");
    const fenced = await eventually("the node fenced", async () => {
      const r = (await remediationsOf(victim))[0];
      return r?.status?.fenced ? r : undefined;
    }, 60_000);
    assert.equal(fenced.spec.pool, pool);
    const moved = await eventually("2 pods Running, none on the failed node", async () => {
      const pods = await runningPods();
      return pods.length === 2 && pods.every((p) => p.spec?.nodeName !== victim) ? pods : undefined;
    }, 30_000);
    assert.equal(moved.length, 2);

    const done = await eventually("the remediation succeeded", async () => {
      const r = (await remediationsOf(victim))[0];
      return r?.status?.outcome ? r : undefined;
    }, 90_000);
    assert.equal(done.status?.outcome, "Succeeded");
    const phases = done.status?.history?.map((h) => h.phase) ?? [];
    for (const p of ["Detected", "Cordoned", "SoftReboot", "Fenced", "Recovered"]) assert.ok(phases.includes(p), `${p} in ${phases.join(", ")}`);
    assert.ok(phases.indexOf("SoftReboot") < phases.indexOf("Fenced"), "fenced only after the cloud confirmed the reboot");
    const node = await http.get<Node>("v1", "Node", victim);
    assert.ok(isReady(node as never), "the node is Ready again");
    assert.ok(!node.spec?.unschedulable, "uncordoned");
    assert.ok(!(node.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT.key), "out-of-service taint removed");
    assert.ok(sim.requests.some((r) => r.method === "POST" && r.path.endsWith("/reboot") && r.status === 200), "the reboot went through the OVH API");
    const metrics = await doctorMetrics(doctor.counters).metrics();
    assert.match(metrics, /^mms_node_remediations_total\{outcome="Succeeded"\} [1-9]/m);
    assert.match(metrics, /^mms_node_detection_seconds_count [1-9]/m);
    assert.match(metrics, /^mms_node_recovery_seconds_count [1-9]/m);
    await http.delete("apps/v1", "Deployment", "doctored", namespace);
  });

});

describe("mms node CLI", () => {
  const mms = async (args: string[]) => runMms(args, { KUBECONFIG: (await endpoints()).kubeconfig });

  test("node status -o json lists every node with its pool, health and remediation", async () => {
    const r = await mms(["node", "status", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const { nodes } = JSON.parse(r.stdout) as { nodes: { name: string; pool: string; ready: string; schedulable: boolean; fenced: boolean }[] };
    for (const name of nodeNames) {
      const n = nodes.find((x) => x.name === name);
      assert.ok(n, `${name} listed`);
      assert.equal(n.pool, pool);
      assert.equal(typeof n.schedulable, "boolean");
    }
  });

  test("node fail on a node that does not exist says so and exits non-zero", async () => {
    const r = await mms(["node", "fail", "no-such-node"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^error: node no-such-node does not exist$/m);
  });
});
