// The production path of the node doctor, end to end: OVH credentials in a Kubernetes Secret created
// the way docs/node-doctor.md says, `mms node-doctor` started with the OVH driver as a process of its
// own (pointed at the sim OVH API with --ovh-endpoint and --ovh-ca), the official OVH client signing
// every call, the sim checking those signatures, and a simulated node failed with `mms node fail`
// remediated through it. A wrong application secret is refused the way OVH refuses it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { NodeRemediation } from "../src/api/remediation.ts";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { OUT_OF_SERVICE_TAINT } from "../src/controllers/node-doctor/controller.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { isReady, simulatedNode } from "../src/devcluster/nodes.ts";
import { startSimOvhApi, type SimOvhApi } from "../src/devcluster/sim-ovh-api.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { MMS, ensureApi, eventually, runMms, type Run, uniqueName } from "./helpers.ts";

const pool = uniqueName("it-ovh");
const nodeNames = [0, 1, 2].map((i) => `${pool}-n${i}`);
const namespace = uniqueName("it-ovh-doc");
const lease = uniqueName("it-ovh-doctor");
const TEST_TAINT = { key: "mms.dev/test-only", value: "doctor-ovh", effect: "NoSchedule" };

type Node = { metadata: { name: string }; spec?: { unschedulable?: boolean; taints?: { key: string }[] }; status?: { conditions?: { type: string; status: string }[] } };

let http: KubeHttp;
let sim: SimOvhApi;
let kubeconfig: string;
let kubectl: string;
let dir: string;
let caFile: string;
const children = new Set<ChildProcess>();
const mms = (args: string[]): Promise<Run> => runMms(args, { KUBECONFIG: kubeconfig });

/** The Secret, created as docs/node-doctor.md tells a user: kubectl and an env file, so no value is in a command line. */
async function createCredentialsSecret(name: string, values: { applicationKey: string; applicationSecret: string; consumerKey: string }): Promise<void> {
  const envFile = join(dir, `${name}.env`);
  await writeFile(envFile, `applicationKey=${values.applicationKey}\napplicationSecret=${values.applicationSecret}\nconsumerKey=${values.consumerKey}\n`, { mode: 0o600 });
  await promisify(execFile)(kubectl, ["--kubeconfig", kubeconfig, "-n", namespace, "create", "secret", "generic", name, `--from-env-file=${envFile}`]);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** `mms node-doctor` with the OVH driver, as a process of its own; its stderr is collected. */
function startDoctor(secret: string, healthPort: number): { child: ChildProcess; stderr: () => string; exited: Promise<number> } {
  let err = "";
  const child = spawn(MMS, [
    "node-doctor", "--service-name", sim.serviceName, "--kube-id", sim.kubeId,
    "--ovh-secret", `${namespace}/${secret}`, "--ovh-endpoint", sim.baseUrl, "--ovh-ca", caFile,
    "--pool", pool, "--lease", lease, "--health-port", String(healthPort), "--interval", "1s",
    "--unhealthy-after", "5s", "--heartbeat-silence", "20s", "--cooldown", "2m",
    "--soft-reboot-timeout", "45s", "--hard-reboot-timeout", "45s", "--replace-timeout", "60s",
  ], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ["ignore", "ignore", "pipe"] });
  children.add(child);
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((r) => child.once("exit", (code, signal) => {
    children.delete(child);
    r(code ?? (signal ? 128 : 1));
  }));
  return { child, stderr: () => err, exited };
}

async function remediationsOf(node: string): Promise<NodeRemediation[]> {
  return (await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation")).items.filter((r) => r.spec.nodeName === node);
}

before(async () => {
  const e = await endpoints();
  kubeconfig = e.kubeconfig;
  kubectl = join(e.kubectlDir, "kubectl");
  http = new KubeHttp(loadKubeConfig({ kubeconfig }));
  await ensureApi(http);
  dir = await mkdtemp(join(tmpdir(), "it-ovh-doctor-"));
  for (const [i, name] of nodeNames.entries()) {
    const n = simulatedNode(230 + i);
    await http.create({
      ...(n as unknown as KubeObject),
      metadata: { ...n.metadata, name, labels: { ...n.metadata?.labels, nodepool: pool, "kubernetes.io/hostname": name } },
      spec: { providerID: `openstack:///${randomUUID()}`, taints: [TEST_TAINT] },
    }, { fieldManager: "it-doctor-ovh" });
  }
  await eventually("test nodes Ready", async () => {
    const nodes = await Promise.all(nodeNames.map((n) => http.get<Node>("v1", "Node", n)));
    return nodes.every((n) => isReady(n as never)) ? true : undefined;
  });
  sim = await startSimOvhApi({ kube: http, rebootDelayMs: 8_000, replaceDelayMs: 5_000, log: () => undefined });
  caFile = join(dir, "sim-ca.pem");
  await writeFile(caFile, sim.ca);
  await http.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, { fieldManager: "it-doctor-ovh" });
});

after(async () => {
  for (const c of children) c.kill("SIGKILL");
  await sim?.close();
  for (const n of nodeNames) await http.delete("v1", "Node", n);
  await http.delete("v1", "Namespace", namespace);
  await http.request("DELETE", `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${lease}`).catch(() => undefined);
  const rems = await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation");
  for (const r of rems.items) if (r.spec.pool === pool) await http.delete(API_GROUP_VERSION, "NodeRemediation", r.metadata.name);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("mms node-doctor with the OVH driver", () => {
  test("credentials from a Secret sign every call; a node failed with mms node fail is rebooted through the OVH API and released", async () => {
    await createCredentialsSecret("ovh-api", sim.credentials);
    const port = await freePort();
    const doctor = startDoctor("ovh-api", port);
    await eventually("the doctor leads", () => Promise.resolve(/acquired the leader lease/.test(doctor.stderr()) ? true : undefined), 30_000);
    assert.ok(sim.requests.some((r) => r.method === "GET" && r.path.endsWith("/node") && r.status === 200), "the credentials check went through");

    const victim = nodeNames[0] ?? "";
    const failed = await mms(["node", "fail", victim, "--mode", "not-ready"]);
    assert.equal(failed.code, 0, failed.stderr);
    const done = await eventually("the remediation ended", async () => {
      const r = (await remediationsOf(victim))[0];
      return r?.status?.outcome ? r : undefined;
    }, 90_000);
    assert.equal(done.status?.outcome, "Succeeded", JSON.stringify(done.status?.history));
    const phases = done.status?.history?.map((h) => h.phase) ?? [];
    for (const p of ["Detected", "Cordoned", "SoftReboot", "Fenced", "Recovered"]) assert.ok(phases.includes(p), `${p} in ${phases.join(", ")}`);
    assert.ok(sim.requests.some((r) => r.method === "POST" && r.path.endsWith("/reboot") && r.status === 200), "the reboot went through the OVH API");
    assert.deepEqual(sim.requests.filter((r) => r.status >= 400), [], "no call refused");
    const node = await http.get<Node>("v1", "Node", victim);
    assert.ok(isReady(node as never), "the node is Ready again");
    assert.ok(!node.spec?.unschedulable, "uncordoned");
    assert.ok(!(node.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT.key), "unfenced");

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^mms_node_remediations_total\{outcome="Succeeded"\} 1$/m);
    doctor.child.kill("SIGTERM");
    assert.equal(await doctor.exited, 0, doctor.stderr());
    const { applicationKey, applicationSecret, consumerKey } = sim.credentials;
    for (const v of [applicationKey, applicationSecret, consumerKey]) assert.ok(!doctor.stderr().includes(v), "no credential in the logs");
  });

  test("a wrong application secret: the doctor refuses to start with one sentence, and touches nothing", async () => {
    await createCredentialsSecret("ovh-api-wrong", { ...sim.credentials, applicationSecret: "not-the-application-secret" });
    const victim = nodeNames[1] ?? "";
    const failed = await mms(["node", "fail", victim, "--mode", "not-ready"]);
    assert.equal(failed.code, 0, failed.stderr);
    const from = sim.requests.length;
    const doctor = startDoctor("ovh-api-wrong", await freePort());
    assert.equal(await doctor.exited, 1, doctor.stderr());
    assert.match(doctor.stderr(), new RegExp(`^error: the OVH API refuses the credentials from Secret ${namespace}/ovh-api-wrong: the OVH API did not accept the signature of GET /cloud/project/${sim.serviceName}/kube/${sim.kubeId}/node \\(400: Invalid signature\\); the application secret is not the one of this application key$`, "m"));
    assert.ok(!doctor.stderr().includes("not-the-application-secret") && !doctor.stderr().includes(sim.credentials.consumerKey), "no credential in the message");
    assert.deepEqual(sim.requests.slice(from).filter((r) => r.path !== "/auth/time"), [{ method: "GET", path: `/cloud/project/${sim.serviceName}/kube/${sim.kubeId}/node`, status: 400 }], "one refused read, nothing else");
    assert.deepEqual(await remediationsOf(victim), [], "no remediation");
    const node = await http.get<Node>("v1", "Node", victim);
    assert.ok(!node.spec?.unschedulable, "not cordoned");
    assert.ok(!(node.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT.key), "not fenced");
    const recovered = await mms(["node", "recover", victim]);
    assert.equal(recovered.code, 0, recovered.stderr);
  });

  test("a missing Secret is named, with what it must hold", async () => {
    const doctor = startDoctor("no-such-secret", await freePort());
    assert.equal(await doctor.exited, 1);
    assert.match(doctor.stderr(), new RegExp(`^error: the OVH credentials Secret ${namespace}/no-such-secret does not exist: create it with the keys applicationKey, applicationSecret, consumerKey \\(see docs/node-doctor.md\\)$`, "m"));
  });
});
