// The OVH driver and official client against the sim OVH API driving real simulated nodes, in a
// two-node pool of the tests' own, tainted so no other test's pods land on it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { V1Node } from "@kubernetes/client-node";
import { CloudApiError, type CloudNode } from "../src/cloud/driver.ts";
import type { OvhDriver } from "../src/cloud/ovh-driver.ts";
import { SimDriver } from "../src/cloud/sim-driver.ts";
import { SIM_BROKEN_ANNOTATION, simCloudNodeId, simNodePoolId, startSimOvhApi, type SimOvhApi } from "../src/devcluster/sim-ovh-api.ts";
import { KUBELET_LABEL } from "../src/devcluster/kwok.ts";
import { isReady } from "../src/devcluster/nodes.ts";
import { apiStatus, type KubeClients } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { devKube, eventually, uniqueName } from "./helpers.ts";

const REBOOT_DELAY_MS = 2000;
const REPLACE_DELAY_MS = 2000;
const pool = uniqueName("it-cloud");
const TEST_TAINT = { key: "mms.dev/test-only", value: "cloud", effect: "NoSchedule" };

let kube: KubeClients;
let sim: SimOvhApi;
let driver: OvhDriver;
const simLog: string[] = [];

function testNode(i: number): V1Node {
  const name = `${pool}-node-${i}`;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "b3-8", "topology.kubernetes.io/zone": "eu-west-par-a",
        nodepool: pool, "app.kubernetes.io/managed-by": "mms-dev", [KUBELET_LABEL]: "running",
      },
    },
    spec: { providerID: `openstack:///${randomUUID()}`, taints: [TEST_TAINT] },
    status: { capacity: { cpu: "2", memory: "7Gi", pods: "110" }, allocatable: { cpu: "2", memory: "7Gi", pods: "110" } },
  };
}

async function readNode(name: string): Promise<V1Node | undefined> {
  try {
    return await kube.core.readNode({ name });
  } catch (err) {
    if (apiStatus(err) === 404) return undefined;
    throw err;
  }
}

async function waitReady(name: string, timeoutMs = 30_000): Promise<V1Node> {
  return eventually(`node ${name} Ready`, async () => {
    const n = await readNode(name);
    return n && isReady(n) ? n : undefined;
  }, timeoutMs);
}

async function poolNodes(): Promise<V1Node[]> {
  return (await kube.core.listNode({ labelSelector: `nodepool=${pool}` })).items;
}

async function resolveTestNode(i: number): Promise<CloudNode> {
  const node = await waitReady(`${pool}-node-${i}`);
  return driver.resolve(node.metadata?.name ?? "", node.spec?.providerID ?? "");
}

/** Calls the sim answered on one path since `from`, as statuses. */
function statusesSince(from: number, path: RegExp): number[] {
  return sim.requests.slice(from).filter((r) => path.test(r.path)).map((r) => r.status);
}

before(async () => {
  kube = await devKube();
  for (const i of [1, 2]) await kube.core.createNode({ body: testNode(i) });
  sim = await startSimOvhApi({
    kube: new KubeHttp(kube.config), rebootDelayMs: REBOOT_DELAY_MS, replaceDelayMs: REPLACE_DELAY_MS, log: (l) => simLog.push(l),
  });
  driver = new SimDriver(sim, { retry: { baseDelayMs: 50, maxDelayMs: 400 } });
});

after(async () => {
  await sim?.close();
  for (const n of await poolNodes()) await kube.core.deleteNode({ name: n.metadata?.name ?? "" }).catch(() => undefined);
});

describe("the OVH driver against the sim OVH API", () => {
  test("resolve maps a simulated node to its OVH node, instance and node pool", async () => {
    const node = await waitReady(`${pool}-node-1`);
    const resolved = await driver.resolve(node.metadata?.name ?? "", node.spec?.providerID ?? "");
    assert.deepEqual(resolved, {
      nodeName: `${pool}-node-1`,
      instanceId: node.spec?.providerID?.replace("openstack:///", ""),
      nodePoolId: simNodePoolId(sim.kubeId, pool),
      cloudNodeId: simCloudNodeId(`${pool}-node-1`),
    });
  });

  test("a soft reboot takes the node NotReady at once and Ready again after the reboot delay", async (t) => {
    const target = await resolveTestNode(1);
    const t0 = Date.now();
    await driver.reboot(target, "soft");
    const down = await readNode(target.nodeName);
    assert.ok(down && !isReady(down), "NotReady as soon as the reboot call returns");
    assert.equal(down.status?.conditions?.find((c) => c.type === "Ready")?.status, "Unknown");
    assert.equal(await driver.instanceState(target), "rebooting");
    // The node stays down for the reboot, even while KWOK runs.
    await new Promise((r) => setTimeout(r, REBOOT_DELAY_MS / 2));
    const still = await readNode(target.nodeName);
    assert.ok(still && !isReady(still), "still NotReady halfway through the reboot");
    await waitReady(target.nodeName);
    const back = Date.now() - t0;
    assert.ok(back >= REBOOT_DELAY_MS - 100, `back after ${back} ms, not before the ${REBOOT_DELAY_MS} ms delay`);
    assert.equal(await driver.instanceState(target), "running");
    t.diagnostic(`NotReady at once, Ready again after ${back} ms (delay ${REBOOT_DELAY_MS} ms)`);
  });

  test("429 three times, then success: a hard reboot goes through on the fourth attempt", async (t) => {
    const target = await resolveTestNode(1);
    const from = sim.requests.length;
    sim.injectFaults({ status: 429, count: 3, path: /\/reboot$/ });
    const t0 = Date.now();
    await driver.reboot(target, "hard");
    t.diagnostic(`reboot accepted after ${Date.now() - t0} ms of backoff`);
    assert.deepEqual(statusesSince(from, /\/reboot$/), [429, 429, 429, 200]);
    const down = await readNode(target.nodeName);
    assert.ok(down && !isReady(down));
    assert.equal(await driver.instanceState(target), "rebooting");
    await waitReady(target.nodeName);
    assert.equal(await driver.instanceState(target), "running");
  });

  test("500 for a while, then success: resolve retries and succeeds", async () => {
    const from = sim.requests.length;
    sim.injectFaults({ status: 500, count: 2, method: "GET", path: /\/node$/ });
    const resolved = await resolveTestNode(1);
    assert.equal(resolved.cloudNodeId, simCloudNodeId(`${pool}-node-1`));
    assert.deepEqual(statusesSince(from, /\/node$/), [500, 500, 200]);
  });

  test("403: the driver stops at the first refusal, and nothing changes in the cluster", async () => {
    const target = await resolveTestNode(1);
    const before = await waitReady(target.nodeName);
    const from = sim.requests.length;
    sim.injectFaults({ status: 403, count: 1, path: /\/reboot$/ });
    await assert.rejects(driver.reboot(target, "soft"), (err: unknown) => {
      assert.ok(err instanceof CloudApiError);
      assert.equal(err.status, 403);
      assert.equal(err.retryable, false);
      assert.match(err.message, /^the OVH API refused POST \/cloud\/project\/.*\/reboot \(403: This call has not been granted\)/);
      const { applicationKey, applicationSecret, consumerKey } = sim.credentials;
      for (const secret of [applicationKey, applicationSecret, consumerKey]) assert.ok(!err.message.includes(secret));
      return true;
    });
    assert.deepEqual(statusesSince(from, /\/reboot$/), [403], "not retried");
    await new Promise((r) => setTimeout(r, 1000));
    const afterwards = await readNode(target.nodeName);
    assert.ok(afterwards && isReady(afterwards), "still Ready");
    assert.deepEqual(afterwards.metadata?.annotations, before.metadata?.annotations);
    assert.equal(afterwards.metadata?.uid, before.metadata?.uid);
    assert.equal(await driver.instanceState(target), "running");
  });

  test("wrong credentials are refused the way OVH refuses them, without retries", async () => {
    const wrongConsumer = new SimDriver({ ...sim, credentials: { ...sim.credentials, consumerKey: "not-the-consumer-key" } });
    const from = sim.requests.length;
    await assert.rejects(wrongConsumer.resolve(`${pool}-node-1`, "openstack:///00000000-0000-0000-0000-000000000000"),
      (err: unknown) => err instanceof CloudApiError && err.status === 403 && /This credential does not exist/.test(err.message) && !err.message.includes("not-the-consumer-key"));
    const wrongSecret = new SimDriver({ ...sim, credentials: { ...sim.credentials, applicationSecret: "not-the-secret" } });
    await assert.rejects(wrongSecret.resolve(`${pool}-node-1`, "openstack:///00000000-0000-0000-0000-000000000000"),
      (err: unknown) => err instanceof CloudApiError && err.status === 400 && /Invalid signature/.test(err.message));
    assert.deepEqual(statusesSince(from, /\/node$/), [403, 400]);
  });

  test("stopping the sim in the middle of a reboot brings the node back at once", async (t) => {
    const slow = await startSimOvhApi({ kube: new KubeHttp(kube.config), log: (l) => simLog.push(l) });
    const target = await resolveTestNode(1);
    await new SimDriver(slow).reboot(target, "soft");
    const down = await readNode(target.nodeName);
    assert.ok(down && !isReady(down));
    const t0 = Date.now();
    await slow.close();
    await waitReady(target.nodeName, 15_000);
    t.diagnostic(`Ready ${Date.now() - t0} ms after close, instead of after the default 60 s reboot`);
  });

  test("a node marked broken stays NotReady after a reboot, while its instance runs again", async () => {
    const target = await resolveTestNode(1);
    await new KubeHttp(kube.config).request("PATCH", `/api/v1/nodes/${target.nodeName}`,
      { metadata: { annotations: { [SIM_BROKEN_ANNOTATION]: "true" } } }, "application/merge-patch+json");
    await driver.reboot(target, "soft");
    await new Promise((r) => setTimeout(r, REBOOT_DELAY_MS + 1500));
    assert.equal(await driver.instanceState(target), "running");
    const node = await readNode(target.nodeName);
    assert.ok(node && !isReady(node), "still NotReady after the reboot delay");
  });

  test("replace deletes the node; its pool gets a new node that becomes Ready", async (t) => {
    const target = await resolveTestNode(2);
    const t0 = Date.now();
    await driver.replace(target);
    assert.equal(await readNode(target.nodeName), undefined, "the Node object is gone");
    const listed = await eventually("an INSTALLING node in the OVH node list", async () => {
      return (await fetchNodeList()).find((n) => n.status === "INSTALLING" && n.nodePoolId === target.nodePoolId);
    }, 5000);
    const joined = await eventually("a new Ready node in the pool", async () => {
      const nodes = (await poolNodes()).filter((n) => n.metadata?.name === listed.name && isReady(n));
      return nodes[0];
    }, 30_000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= REPLACE_DELAY_MS - 100, `joined after ${elapsed} ms`);
    assert.notEqual(joined.spec?.providerID, `openstack:///${target.instanceId}`, "a new instance");
    assert.equal(joined.metadata?.labels?.nodepool, pool);
    assert.deepEqual(joined.spec?.taints?.filter((x) => x.key === TEST_TAINT.key).map(({ key, value, effect }) => ({ key, value, effect })), [TEST_TAINT]);
    const again = await driver.resolve(joined.metadata?.name ?? "", joined.spec?.providerID ?? "");
    assert.equal(again.nodePoolId, target.nodePoolId, "same node pool");
    assert.equal(await driver.instanceState(again), "running");
    assert.equal(await driver.instanceState(target), "off", "the old instance is gone");
    t.diagnostic(`node deleted at once, ${joined.metadata?.name} Ready after ${elapsed} ms (delay ${REPLACE_DELAY_MS} ms)`);
  });
});

/** The sim's node list through the OVH client itself, as the node doctor would read it. */
async function fetchNodeList(): Promise<{ name: string; status: string; nodePoolId: string }[]> {
  const { default: ovh } = await import("@ovhcloud/node-ovh");
  const url = new URL(sim.baseUrl);
  const client = ovh({
    host: url.hostname, port: Number(url.port), basePath: url.pathname,
    appKey: sim.credentials.applicationKey, appSecret: sim.credentials.applicationSecret, consumerKey: sim.credentials.consumerKey,
  });
  return await client.requestPromised("GET", `/cloud/project/${sim.serviceName}/kube/${sim.kubeId}/node`) as { name: string; status: string; nodePoolId: string }[];
}
