// Benchmark: one node's kubelet stops (its heartbeat goes silent) under a tenant's pods and a StatefulSet
// with a volume, on an isolated dev environment; run twice: with the node doctor (production thresholds,
// the sim OVH API's 60 s reboot) and with Kubernetes defaults only (doctor stopped). For each: time to
// detection, until the tenant's pods and the StatefulSet pod run elsewhere, until the node is Ready again
// (null when that never happened within the run). Progress on stderr, one JSON object as the last line.
// Usage: scripts/node bench/node-recovery.ts [--nodes 5] [--port-base 26500] [--defaults-timeout-seconds 480]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { createProgress } from "../src/util/progress.ts";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { NodeRemediation } from "../src/api/remediation.ts";
import { currentPaths, down, up } from "../src/devcluster/environment.ts";
import { failNode, NODE_POOL, recoverNode } from "../src/devcluster/nodes.ts";
import { stopProcess } from "../src/devcluster/processes.ts";
import { deployRecoveryWorkload, placement, removeRecoveryWorkload } from "../test/support/scenario.ts";
import { readState } from "../src/devcluster/state.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "5" },
    "port-base": { type: "string", default: "26500" },
    "doctor-timeout-seconds": { type: "string", default: "300" },
    "defaults-timeout-seconds": { type: "string", default: "480" },
  },
});
const nodes = Number(values.nodes);
// The node doctor's production thresholds, not the dev environment's shorter ones.
const DOCTOR_FLAGS = "--unhealthy-after=30s --heartbeat-silence=30s --soft-reboot-timeout=2m --hard-reboot-timeout=3m --storm-settle=60s --cooldown=5m";
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-recovery-"));
const env: NodeJS.ProcessEnv = {
  ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"],
  MMS_DEV_SIM_REBOOT_DELAY: "60s", MMS_DEV_SIM_REPLACE_DELAY: "60s", MMS_DEV_NODE_DOCTOR_ARGS: DOCTOR_FLAGS,
};
Object.assign(process.env, { MMS_DEV_HOME: env.MMS_DEV_HOME, MMS_DEV_PORT_BASE: env.MMS_DEV_PORT_BASE });

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const seconds = (from: number, at: number | undefined) => (at === undefined ? null : Math.round((at - from) / 100) / 10);

interface KNode { status?: { conditions?: { type: string; status: string }[] }; spec?: { unschedulable?: boolean } }
const readyOf = (n: KNode | undefined) => n?.status?.conditions?.find((c) => c.type === "Ready")?.status;

interface Run {
  mode: "node-doctor" | "kubernetes-defaults";
  detectionSeconds: number | null;
  tenantPodsElsewhereSeconds: number | null;
  statefulPodElsewhereSeconds: number | null;
  workloadsElsewhereSeconds: number | null;
  nodeReadySeconds: number | null;
  note: string;
}

async function scenario(http: KubeHttp, mode: Run["mode"], timeoutMs: number): Promise<Run> {
  const w = await deployRecoveryWorkload(http, mode === "node-doctor" ? "bench-doc" : "bench-def");
  log(`${mode}: tenant ${w.tenant} and StatefulSet db beside it on ${w.victim}; stopping that node's kubelet`);
  const t0 = Date.now();
  await failNode(http, w.victim, "heartbeat");
  const at: { detected?: number; down?: number; tenant?: number; stateful?: number; ready?: number } = {};
  try {
    while (Date.now() - t0 < timeoutMs) {
      const node = await http.getOrUndefined<KNode>("v1", "Node", w.victim);
      if (at.detected === undefined) {
        if (mode === "node-doctor") {
          const r = (await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation")).items.find((x) => x.spec.nodeName === w.victim);
          if (r) at.detected = Date.parse(r.spec.detectedAt);
        } else if (readyOf(node) !== "True") {
          at.detected = Date.now(); // the node lifecycle controller marked it Unknown
        }
        if (at.detected !== undefined) log(`${mode}: detected after ${seconds(t0, at.detected)} s`);
      }
      const p = await placement(http, w);
      if (at.tenant === undefined && p.tenantElsewhere) {
        at.tenant = Date.now();
        log(`${mode}: tenant pods Running elsewhere after ${seconds(t0, at.tenant)} s`);
      }
      if (at.stateful === undefined && p.statefulElsewhere) {
        at.stateful = Date.now();
        log(`${mode}: StatefulSet pod Running on ${p.statefulNode} after ${seconds(t0, at.stateful)} s`);
      }
      if (at.down === undefined && readyOf(node) !== "True") at.down = Date.now();
      if (at.down !== undefined && at.ready === undefined && readyOf(node) === "True" && !node?.spec?.unschedulable) {
        at.ready = Date.now();
        log(`${mode}: node Ready and back in service after ${seconds(t0, at.ready)} s`);
      }
      if (at.tenant && at.stateful && at.ready) break;
      await sleep(250);
    }
  } finally {
    await recoverNode(http, w.victim).catch(() => undefined);
    await removeRecoveryWorkload(http, w);
  }
  const workloads = at.tenant !== undefined && at.stateful !== undefined ? Math.max(at.tenant, at.stateful) : undefined;
  const cap = `${Math.round(timeoutMs / 1000)} s`;
  return {
    mode,
    detectionSeconds: seconds(t0, at.detected),
    tenantPodsElsewhereSeconds: seconds(t0, at.tenant),
    statefulPodElsewhereSeconds: seconds(t0, at.stateful),
    workloadsElsewhereSeconds: seconds(t0, workloads),
    nodeReadySeconds: seconds(t0, at.ready),
    note: mode === "node-doctor"
      ? "detection: the doctor's NodeRemediation (Lease silent 30 s); node Ready: back from the sim's 60 s reboot, uncordoned and unfenced"
      : `detection: Ready=Unknown set by the node lifecycle controller (50 s grace); null means not within ${cap}: ` +
        "Deployment pods are evicted after the 300 s unreachable toleration, a StatefulSet pod stays Terminating on the unreachable node until it returns, and nothing reboots the node",
  };
}

async function settle(http: KubeHttp): Promise<void> {
  for (const r of (await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation")).items) await http.delete(API_GROUP_VERSION, "NodeRemediation", r.metadata.name);
  for (let i = 0; i < 240; i++) {
    const list = (await http.list<KNode>("v1", "Node", undefined, `nodepool=${NODE_POOL}`)).items;
    if (list.length === nodes && list.every((n) => readyOf(n) === "True" && !n.spec?.unschedulable)) return;
    await sleep(500);
  }
  throw new Error("the nodes did not all come back Ready between the runs");
}

const runs: Run[] = [];
try {
  log(`starting an isolated dev environment with ${nodes} nodes on port base ${values["port-base"]}`);
  const started = await up({ nodes, realNodes: 0, progress: createProgress(process.stderr), env });
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: started.status.kubeconfig }));
  await settle(http);
  runs.push(await scenario(http, "node-doctor", Number(values["doctor-timeout-seconds"]) * 1000));
  await settle(http);
  const doctor = (await readState(currentPaths(env)))?.processes["node-doctor"];
  if (doctor) await stopProcess(doctor.pid, doctor.executable);
  log("node doctor stopped: Kubernetes defaults only");
  runs.push(await scenario(http, "kubernetes-defaults", Number(values["defaults-timeout-seconds"]) * 1000));
} finally {
  await down(env).catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
}
const doctorRun = runs.find((r) => r.mode === "node-doctor");
console.log(JSON.stringify({
  benchmark: "node-recovery",
  nodes,
  simRebootDelaySeconds: 60,
  doctorFlags: DOCTOR_FLAGS,
  goals: { workloadsElsewhereSeconds: 90, nodeReadySeconds: 180 },
  goalsMet: {
    workloads: doctorRun?.workloadsElsewhereSeconds != null && doctorRun.workloadsElsewhereSeconds < 90,
    node: doctorRun?.nodeReadySeconds != null && doctorRun.nodeReadySeconds < 180,
  },
  runs,
}));
