// The node doctor's control loop: observe nodes and their heartbeats, decide (policy.ts), and carry
// out one step per remediation per tick. Every remediation's state lives in its NodeRemediation
// object, written before any cloud action, so a restart resumes where it stopped and never repeats
// a reboot it already asked for.
import type { Logger } from "pino";
import { API_GROUP_VERSION } from "../../api/names.ts";
import type { NodeRemediation, RemediationStatus } from "../../api/remediation.ts";
import { CloudApiError } from "../../cloud/driver.ts";
import { KubeApiError, type KubeHttp } from "../../kube/http.ts";
import {
  decide, failedSince, nextStep, DEFAULT_POLICY, DEFAULT_TIMEOUTS,
  type DoctorPolicy, type Hold, type NodeObservation, type RemediationProgress, type StepTimeouts,
} from "./policy.ts";

export const PAUSE_ANNOTATION = "multiscale.io/node-doctor";
export const OUT_OF_SERVICE_TAINT = { key: "node.kubernetes.io/out-of-service", value: "nodeshutdown", effect: "NoExecute" } as const;
const MANAGER = "mms-node-doctor";

export type InstanceState = "running" | "rebooting" | "off" | "unknown";

/** What the doctor needs from a cloud (see src/cloud): find a node's instance, reboot it, replace it. */
export interface RemediationCloud<N> {
  resolve(nodeName: string, providerID: string): Promise<N>;
  reboot(node: N, kind: "soft" | "hard"): Promise<void>;
  instanceState(node: N): Promise<InstanceState>;
  replace(node: N): Promise<void>;
}

interface KNode {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec?: { providerID?: string; unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
}

interface Lease { metadata: { name: string }; spec?: { renewTime?: string } }

/** After the cloud API refuses our credentials (401/403, a bad signature), how long the doctor starts nothing. */
export const DEFAULT_ACCESS_DENIED_HOLD_MS = 15 * 60_000;

export interface DoctorCounters {
  remediationsStarted: number;
  remediationsSucceeded: number;
  remediationsFailed: number;
  blocked: Record<string, number>;
  /** Cloud API calls that failed for good (after retries), by HTTP status ("0": no answer). */
  cloudErrors: Record<string, number>;
  detectionSeconds: number[];
  recoverySeconds: number[];
  /** Whether the last check waited out a storm: one seen now, or nodes settling after one. */
  stormProtectionActive: boolean;
}

export class NodeDoctor<N> {
  private readonly http: KubeHttp;
  private readonly cloud: RemediationCloud<N>;
  private readonly log: Logger;
  private readonly policy: DoctorPolicy;
  private readonly timeouts: StepTimeouts;
  private readonly lastBlock = new Map<string, string>();
  readonly counters: DoctorCounters = { remediationsStarted: 0, remediationsSucceeded: 0, remediationsFailed: 0, blocked: {}, cloudErrors: {}, detectionSeconds: [], recoverySeconds: [], stormProtectionActive: false };
  private readonly accessDeniedHoldMs: number;
  /** Set when the cloud API refused our credentials: nothing new starts until `until`. */
  private accessDenied: { until: number; message: string } | undefined;
  /** The last check that found a storm (see DoctorPolicy.stormSettleMs). */
  private lastStormAt: number | undefined;

  /** Node pools this doctor manages; all when undefined. */
  private readonly pools: ReadonlySet<string> | undefined;

  constructor(opts: { http: KubeHttp; cloud: RemediationCloud<N>; log: Logger; policy?: Partial<DoctorPolicy>; timeouts?: Partial<StepTimeouts>; pools?: readonly string[]; accessDeniedHoldMs?: number }) {
    this.pools = opts.pools ? new Set(opts.pools) : undefined;
    this.accessDeniedHoldMs = opts.accessDeniedHoldMs ?? DEFAULT_ACCESS_DENIED_HOLD_MS;
    this.http = opts.http;
    this.cloud = opts.cloud;
    this.log = opts.log;
    this.policy = { ...DEFAULT_POLICY, ...opts.policy };
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  }

  async tick(now = Date.now()): Promise<void> {
    this.log.debug("tick");
    const nodes = (await this.http.list<KNode>("v1", "Node")).items.filter((n) => !this.pools || this.pools.has(n.metadata.labels?.nodepool ?? "default"));
    const leases = (await this.http.request<{ items: Lease[] }>("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")).items;
    const heartbeat = new Map(leases.map((l) => [l.metadata.name, l.spec?.renewTime ? Date.parse(l.spec.renewTime) : undefined]));
    const observations: NodeObservation[] = nodes.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === "Ready");
      return {
        name: n.metadata.name,
        pool: n.metadata.labels?.nodepool ?? "default",
        ready: ready?.status === "True" ? "True" : ready?.status === "False" ? "False" : "Unknown",
        readySince: ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : now,
        lastHeartbeat: heartbeat.get(n.metadata.name),
        paused: n.metadata.annotations?.[PAUSE_ANNOTATION] === "paused",
      };
    });
    const remediations = (await this.http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation")).items.filter((r) => !this.pools || this.pools.has(r.spec.pool));
    const active = remediations.filter((r) => !r.status?.outcome);
    const history = remediations.map((r) => ({
      node: r.spec.nodeName,
      startedAt: Date.parse(r.metadata.creationTimestamp ?? r.spec.detectedAt),
      endedAt: r.status?.endedAt ? Date.parse(r.status.endedAt) : undefined,
    }));
    if (this.accessDenied && now >= this.accessDenied.until) {
      this.log.info("trying the cloud API again after it refused our credentials");
      this.accessDenied = undefined;
    }
    const settling = this.lastStormAt !== undefined && now - this.lastStormAt < this.policy.stormSettleMs;
    const hold: Hold | undefined = this.accessDenied
      ? { reason: "CloudAccessDenied", message: this.accessDenied.message }
      : settling
        ? { reason: "StormProtection", message: `a storm ended ${Math.round((now - (this.lastStormAt ?? now)) / 1000)} s ago; letting nodes settle for ${Math.round(this.policy.stormSettleMs / 1000)} s before remediating` }
        : undefined;
    const decision = decide(observations, active.map((r) => ({ node: r.spec.nodeName, startedAt: Date.parse(r.spec.detectedAt) })), history, this.policy, now, hold);
    if (decision.storm) this.lastStormAt = now;
    this.counters.stormProtectionActive = decision.storm || settling;
    // A node that is healthy again gets its next refusal reported afresh.
    for (const name of [...this.lastBlock.keys()]) if (!decision.unhealthy.includes(name)) this.lastBlock.delete(name);

    for (const b of decision.blocked) {
      this.counters.blocked[b.reason] = (this.counters.blocked[b.reason] ?? 0) + 1;
      if (this.lastBlock.get(b.node) === b.reason) continue; // report each reason once per node
      this.lastBlock.set(b.node, b.reason);
      this.log.warn({ node: b.node, reason: b.reason }, b.message);
      await this.event(b.node, "Warning", b.reason, b.message, now);
    }
    for (const name of decision.start) {
      this.lastBlock.delete(name);
      const obs = observations.find((o) => o.name === name);
      if (obs) await this.begin(obs, now);
    }
    for (const r of active) await this.advance(r, nodes.find((n) => n.metadata.name === r.spec.nodeName), now);
  }

  private async begin(obs: NodeObservation, now: number): Promise<void> {
    const detectedAt = new Date(now).toISOString();
    const since = failedSince(obs, this.policy, now);
    const reason = obs.ready === "True"
      ? `heartbeat (node Lease) silent since ${new Date(since).toISOString()}`
      : `Ready=${obs.ready} since ${new Date(obs.readySince).toISOString()}${since < obs.readySince ? `, heartbeat silent since ${new Date(since).toISOString()}` : ""}`;
    const name = `${obs.name}-${detectedAt.replace(/[-:.TZ]/g, "").slice(0, 14)}`;
    try {
      await this.http.create({
        apiVersion: API_GROUP_VERSION, kind: "NodeRemediation", metadata: { name },
        spec: { nodeName: obs.name, pool: obs.pool, reason, detectedAt },
      }, { fieldManager: MANAGER });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return;
      throw err;
    }
    await this.writeStatus(name, { phase: "Cordon", phaseStartedAt: detectedAt, fenced: false, history: [{ phase: "Detected", at: detectedAt, message: reason }] });
    this.counters.remediationsStarted++;
    this.counters.detectionSeconds.push((now - since) / 1000);
    this.log.info({ node: obs.name, remediation: name }, `node unhealthy (${reason}); remediating`);
    await this.event(obs.name, "Warning", "RemediationStarted", `node doctor started remediation ${name}: ${reason}`, now);
  }

  private async advance(r: NodeRemediation, node: KNode | undefined, now: number): Promise<void> {
    const status = r.status ?? {};
    const progress: RemediationProgress = {
      phase: status.phase ?? "Cordon",
      phaseStartedAt: status.phaseStartedAt ? Date.parse(status.phaseStartedAt) : now,
      awaiting: status.awaiting,
    };
    const nodeReady = node?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    let instance: InstanceState | "gone" = "gone";
    let cloudNode: N | undefined;
    if (node) {
      this.log.debug({ node: node.metadata.name, remediation: r.metadata.name }, "asking the cloud about the instance");
      try {
        cloudNode = await this.cloud.resolve(node.metadata.name, node.spec?.providerID ?? "");
        instance = await this.cloud.instanceState(cloudNode);
      } catch (err) {
        await this.cloudFailed(r, status, err, now);
        return;
      }
    }
    const { action, next } = nextStep(progress, nodeReady, instance, status.fenced ?? false, this.timeouts, now);
    const at = new Date(now).toISOString();
    const changed = next.phase !== progress.phase || next.awaiting !== progress.awaiting;
    const history = [...(status.history ?? [])];
    const update: RemediationStatus = {
      ...status, phase: next.phase, phaseStartedAt: new Date(next.phaseStartedAt).toISOString(), awaiting: next.awaiting, history,
    };

    // Persist first, then act: a crash between the two never repeats a reboot or a replacement.
    switch (action.kind) {
      case "cordon":
        if (node) await this.patchNode(node.metadata.name, { spec: { unschedulable: true } });
        history.push({ phase: "Cordoned", at, message: "no new pods are scheduled on the node" });
        break;
      case "reboot":
      case "replace": {
        history.push({ phase: action.kind === "reboot" ? (action.type === "soft" ? "SoftReboot" : "HardReboot") : "Replace", at, message: action.kind === "reboot" ? `${action.type} reboot requested from the cloud API` : "node deleted from its node pool; the pool creates a new one" });
        await this.writeStatus(r.metadata.name, update);
        if (cloudNode !== undefined) {
          try {
            if (action.kind === "reboot") await this.cloud.reboot(cloudNode, action.type);
            else await this.cloud.replace(cloudNode);
          } catch (err) {
            await this.cloudFailed(r, update, err, now);
            return;
          }
        }
        await this.event(r.spec.nodeName, "Warning", action.kind === "reboot" ? "NodeRebooting" : "NodeReplacing", history.at(-1)?.message ?? "", now);
        return;
      }
      case "fence":
        if (node) await this.setTaint(node, true);
        update.fenced = true;
        history.push({ phase: "Fenced", at, message: `the cloud reports the instance ${instance}; out-of-service taint set so pods and volumes move` });
        await this.event(r.spec.nodeName, "Warning", "NodeFenced", history.at(-1)?.message ?? "", now);
        break;
      case "release":
        if (node) {
          await this.setTaint(node, false);
          await this.patchNode(node.metadata.name, { spec: { unschedulable: false } });
        }
        update.outcome = "Succeeded";
        update.endedAt = at;
        history.push({ phase: "Recovered", at, message: node ? "node Ready again; uncordoned and unfenced" : "node replaced" });
        this.counters.remediationsSucceeded++;
        this.counters.recoverySeconds.push((now - Date.parse(r.spec.detectedAt)) / 1000);
        await this.event(r.spec.nodeName, "Normal", "RemediationSucceeded", history.at(-1)?.message ?? "", now);
        break;
      case "fail":
        update.outcome = "Failed";
        update.endedAt = at;
        update.message = action.message;
        history.push({ phase: "Failed", at, message: action.message });
        this.counters.remediationsFailed++;
        await this.event(r.spec.nodeName, "Warning", "RemediationFailed", action.message, now);
        break;
      case "wait":
        if (!changed) return;
        history.push({ phase: next.phase, at, message: `escalating to ${next.phase}` });
        break;
    }
    await this.writeStatus(r.metadata.name, update);
  }

  /**
   * A cloud call failed after its retries. Refused credentials (401/403, or a signature made with the
   * wrong secret) end the remediation and hold the doctor: with a key that may not reboot, every
   * remediation would stop halfway, so it does nothing more and says so. Other refusals end this remediation. A call that kept failing with
   * 429/5xx or no answer is left to the step's timeout (and so to escalation); a reboot that was not
   * confirmed never leads to fencing.
   */
  private async cloudFailed(r: NodeRemediation, status: RemediationStatus, err: unknown, now: number): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof CloudApiError ? err.status : undefined;
    if (code !== undefined) this.counters.cloudErrors[String(code)] = (this.counters.cloudErrors[String(code)] ?? 0) + 1;
    const at = new Date(now).toISOString();
    const history = [...(status.history ?? [])];
    if (err instanceof CloudApiError && err.retryable) {
      this.log.warn({ node: r.spec.nodeName, remediation: r.metadata.name, err: message }, "cloud API call failed; waiting for the step's timeout");
      if (status.phase === "AwaitReady" && history.at(-1)?.phase !== "CloudApiError" && history.length < 45) {
        history.push({ phase: "CloudApiError", at, message: message.slice(0, 1000) });
        await this.writeStatus(r.metadata.name, { ...status, history });
        await this.event(r.spec.nodeName, "Warning", "CloudApiError", message, now);
      }
      return;
    }
    const refused = err instanceof CloudApiError && err.credentialsRefused;
    let outcomeMessage = `${message}; remediation stopped`;
    if (refused) {
      const until = now + this.accessDeniedHoldMs;
      this.accessDenied = { until, message: `the cloud API refused the node doctor's credentials (${message}); nothing is remediated until ${new Date(until).toISOString()} or a restart` };
      const cordoned = history.some((h) => h.phase === "Cordoned");
      outcomeMessage = `${message}; remediation stopped: the node ${cordoned ? "stays cordoned and " : ""}is not fenced, and no other node is remediated until ${new Date(until).toISOString()} or a restart`;
      this.log.error({ node: r.spec.nodeName, remediation: r.metadata.name, err: message }, "the cloud API refused our credentials; remediating nothing more");
    } else {
      this.log.error({ node: r.spec.nodeName, remediation: r.metadata.name, err: message }, "cloud API call refused; remediation stopped");
    }
    history.push({ phase: "Failed", at, message: outcomeMessage.slice(0, 1000) });
    await this.writeStatus(r.metadata.name, { ...status, phase: "Failed", phaseStartedAt: at, outcome: "Failed", endedAt: at, message: outcomeMessage.slice(0, 1000), history });
    this.counters.remediationsFailed++;
    await this.event(r.spec.nodeName, "Warning", refused ? "CloudAccessDenied" : "RemediationFailed", outcomeMessage, now);
  }

  private async patchNode(name: string, patch: unknown): Promise<void> {
    try {
      await this.http.mergePatch("v1", "Node", name, patch);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  private async setTaint(start: KNode, on: boolean): Promise<void> {
    let node: KNode | undefined = start;
    for (let attempt = 0; node && attempt < 5; attempt++) {
      const others = (node.spec?.taints ?? []).filter((t) => t.key !== OUT_OF_SERVICE_TAINT.key);
      const taints = on ? [...others, { ...OUT_OF_SERVICE_TAINT }] : others;
      try {
        // resourceVersion makes this a compare-and-swap: another writer's taints are never lost.
        await this.patchNode(node.metadata.name, { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { taints } });
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
        node = await this.http.getOrUndefined<KNode>("v1", "Node", start.metadata.name); // status updates move the version often
      }
    }
  }

  private async writeStatus(name: string, status: RemediationStatus): Promise<void> {
    await this.http.request("PATCH", `/apis/${API_GROUP_VERSION}/noderemediations/${encodeURIComponent(name)}/status`, { status }, "application/merge-patch+json");
  }

  private async event(node: string, type: "Normal" | "Warning", reason: string, message: string, now: number): Promise<void> {
    const at = new Date(now).toISOString();
    await this.http.create({
      apiVersion: "v1", kind: "Event",
      metadata: { name: `${node}.${now.toString(36)}${Math.random().toString(36).slice(2, 6)}`, namespace: "default" },
      involvedObject: { kind: "Node", name: node, apiVersion: "v1" },
      type, reason, message,
      source: { component: "mms-node-doctor" },
      firstTimestamp: at, lastTimestamp: at, count: 1,
    }, { fieldManager: MANAGER }).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "could not record an event"));
  }
}
