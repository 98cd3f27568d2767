// The dev environment's operator wherever it runs: a local process (--real-nodes 0) or the chart's
// replicas on the real node. Tests kill it and read its metrics through these.
import { setTimeout as sleep } from "node:timers/promises";
import { SYSTEM_NAMESPACE } from "../../src/api/admission.ts";
import { currentPaths } from "../../src/devcluster/environment.ts";
import { PLATFORM_RELEASE } from "../../src/platform/release.ts";
import { portsFrom } from "../../src/devcluster/ports.ts";
import { isOurs } from "../../src/devcluster/processes.ts";
import { readState } from "../../src/devcluster/state.ts";
import type { KubeHttp, KubeObject } from "../../src/kube/http.ts";

export interface OperatorPod extends KubeObject {
  spec: { nodeName?: string };
  status?: { podIP?: string; phase?: string; containerStatuses?: { ready?: boolean }[] };
}
export interface OperatorLease extends KubeObject { spec: { holderIdentity?: string; renewTime?: string } }

/** The chart's operator replicas. */
export async function operatorPods(http: KubeHttp): Promise<OperatorPod[]> {
  return (await http.list<OperatorPod>("v1", "Pod", SYSTEM_NAMESPACE, `app.kubernetes.io/instance=${PLATFORM_RELEASE},app.kubernetes.io/component=operator`)).items;
}

export async function operatorLease(http: KubeHttp): Promise<OperatorLease | undefined> {
  return http.getOrUndefined<OperatorLease>("coordination.k8s.io/v1", "Lease", "mms-operator", SYSTEM_NAMESPACE);
}

/** Whether a replica holds the Lease: its identity is the pod's name (the hostname) and a process id. */
export const holds = (lease: OperatorLease | undefined, pod: OperatorPod): boolean => (lease?.spec.holderIdentity ?? "").startsWith(`${pod.metadata.name}-`);

/** The replica holding the leader Lease, when the operator runs as pods. */
export async function leaderPod(http: KubeHttp): Promise<OperatorPod | undefined> {
  const lease = await operatorLease(http);
  return (await operatorPods(http)).find((p) => holds(lease, p));
}

async function localOperator() {
  const rec = (await readState(currentPaths()))?.processes.operator;
  return rec && isOurs(rec.pid, rec.executable) ? rec : undefined;
}

/** The metrics URL of the operator that acts (the local process, or the leading replica's pod address). */
export async function operatorMetricsUrl(http: KubeHttp): Promise<string> {
  if (await localOperator()) {
    const state = await readState(currentPaths());
    return `http://127.0.0.1:${portsFrom(state?.portBase ?? 0).operator}/metrics`;
  }
  const pod = await leaderPod(http);
  if (!pod?.status?.podIP) throw new Error("no operator runs: neither a local process nor a leading replica with an address");
  return `http://${pod.status.podIP}:8080/metrics`;
}

/**
 * Kills the acting operator at once, as a crash would: SIGKILL to the local process, or the leading
 * replica deleted with no grace period (it leaves its Lease held; the other replica takes over when
 * the Lease expires).
 */
export async function killOperator(http: KubeHttp): Promise<void> {
  const rec = await localOperator();
  if (rec) {
    process.kill(rec.pid, "SIGKILL");
    while (isOurs(rec.pid, rec.executable)) await sleep(50);
    return;
  }
  const pod = await leaderPod(http);
  if (!pod) return; // between leaders: nothing acts right now
  await http.request("DELETE", `/api/v1/namespaces/${SYSTEM_NAMESPACE}/pods/${pod.metadata.name}`, { gracePeriodSeconds: 0 });
}
