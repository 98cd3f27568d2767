// The node doctor's decisions, as pure functions: which nodes are unhealthy, which of them may be
// remediated now (storm protection, one node per pool, pause, flap detection), and the next step of
// a remediation in progress. The controller feeds observations in and carries the actions out.

export interface NodeObservation {
  readonly name: string;
  readonly pool: string;
  /** Status of the Ready condition. */
  readonly ready: "True" | "False" | "Unknown";
  /** When the Ready condition last changed. */
  readonly readySince: number;
  /** Last renewal of the node's Lease (its heartbeat), if known. */
  readonly lastHeartbeat?: number | undefined;
  /** The node carries the pause annotation. */
  readonly paused: boolean;
}

export interface DoctorPolicy {
  /** A node is unhealthy once its Ready condition has not been True for this long… */
  readonly unhealthyAfterMs: number;
  /** …or once its Lease has not been renewed for this long (a kubelet renews every 10 s). */
  readonly heartbeatSilenceMs: number;
  /**
   * A Lease this old already makes a node suspect for storm protection (a renewal is missed). Nodes
   * that fail together go silent up to one renewal interval (10 s) apart, so this must stay at least
   * that much below heartbeatSilenceMs, or the first of them is taken for a lone failure.
   */
  readonly suspectSilenceMs: number;
  /** Above this share of unhealthy nodes (cluster-wide or in one pool) nothing new is remediated. */
  readonly maxUnhealthyShare: number;
  /**
   * After a storm, nothing new is remediated for this long: when a partition heals, nodes come back a
   * few seconds apart, and the last of them must not be taken for lone failures.
   */
  readonly stormSettleMs: number;
  /** Remediations running at once in one pool. */
  readonly maxPerPool: number;
  /** After a remediation ends, the same node is left alone this long. */
  readonly cooldownMs: number;
  /** More than flapLimit remediations of one node within flapWindowMs: stop and alert. */
  readonly flapWindowMs: number;
  readonly flapLimit: number;
  readonly paused: boolean;
}

export const DEFAULT_POLICY: DoctorPolicy = {
  unhealthyAfterMs: 30_000,
  heartbeatSilenceMs: 30_000,
  suspectSilenceMs: 15_000,
  maxUnhealthyShare: 0.4,
  stormSettleMs: 60_000,
  maxPerPool: 1,
  cooldownMs: 5 * 60_000,
  flapWindowMs: 60 * 60_000,
  flapLimit: 3,
  paused: false,
};

export interface PastRemediation {
  readonly node: string;
  readonly startedAt: number;
  readonly endedAt?: number | undefined;
}

export type BlockReason = "StormProtection" | "PoolBusy" | "Paused" | "Cooldown" | "Flapping" | "CloudAccessDenied";

export interface Decision {
  /** More than the allowed share of nodes, in the cluster or in some pool, is unhealthy right now. */
  readonly storm: boolean;
  readonly unhealthy: readonly string[];
  readonly start: readonly string[];
  readonly blocked: readonly { node: string; reason: BlockReason; message: string }[];
}

export function isUnhealthy(n: NodeObservation, policy: DoctorPolicy, now: number): boolean {
  const notReadyFor = n.ready === "True" ? 0 : now - n.readySince;
  const silentFor = n.lastHeartbeat === undefined ? 0 : now - n.lastHeartbeat;
  return notReadyFor >= policy.unhealthyAfterMs || silentFor >= policy.heartbeatSilenceMs;
}

/**
 * Not healthy right now, however briefly. Storm protection counts these too: nodes failing "at once"
 * cross the unhealthy threshold a second or so apart, and the first must not be taken for a lone failure.
 */
export function isSuspect(n: NodeObservation, policy: DoctorPolicy, now: number): boolean {
  return n.ready !== "True" || (n.lastHeartbeat !== undefined && now - n.lastHeartbeat >= Math.min(policy.suspectSilenceMs, policy.heartbeatSilenceMs));
}

/**
 * When the node stopped being healthy, as far as can be seen: when Ready left True, or its last
 * heartbeat if that has gone silent, whichever came first. A silent node failed some time within the
 * renewal interval after its last heartbeat, so this errs early by at most that interval.
 */
export function failedSince(n: NodeObservation, policy: DoctorPolicy, now: number): number {
  const since: number[] = [];
  if (n.ready !== "True") since.push(n.readySince);
  if (n.lastHeartbeat !== undefined && now - n.lastHeartbeat >= Math.min(policy.suspectSilenceMs, policy.heartbeatSilenceMs)) since.push(n.lastHeartbeat);
  return since.length ? Math.min(...since) : now;
}

/** A doctor-wide reason to start nothing, such as a cloud API that refuses our credentials. */
export interface Hold {
  readonly reason: BlockReason;
  readonly message: string;
}

/**
 * Which unhealthy nodes to start remediating now. `active` are remediations in progress,
 * `history` every remediation of the recent past (for cooldown and flap detection).
 */
export function decide(
  nodes: readonly NodeObservation[],
  active: readonly PastRemediation[],
  history: readonly PastRemediation[],
  policy: DoctorPolicy,
  now: number,
  hold?: Hold,
): Decision {
  const unhealthy = nodes.filter((n) => isUnhealthy(n, policy, now));
  const activeNodes = new Set(active.map((a) => a.node));
  const candidates = unhealthy.filter((n) => !activeNodes.has(n.name));
  const blocked: { node: string; reason: BlockReason; message: string }[] = [];
  const start: string[] = [];

  const share = (count: number, total: number) => (total === 0 ? 0 : count / total);
  const suspect = (list: readonly NodeObservation[]) => list.filter((x) => isSuspect(x, policy, now) || isUnhealthy(x, policy, now)).length;
  const clusterStorm = share(suspect(nodes), nodes.length) > policy.maxUnhealthyShare;
  const poolOf = (pool: string) => nodes.filter((n) => n.pool === pool);
  const storm = clusterStorm || [...new Set(nodes.map((n) => n.pool))].some((p) => share(suspect(poolOf(p)), poolOf(p).length) > policy.maxUnhealthyShare);
  const busy = new Map<string, number>();
  for (const a of active) {
    const pool = nodes.find((n) => n.name === a.node)?.pool;
    if (pool) busy.set(pool, (busy.get(pool) ?? 0) + 1);
  }

  for (const n of [...candidates].sort((a, b) => a.readySince - b.readySince || a.name.localeCompare(b.name))) {
    const inPool = poolOf(n.pool);
    const poolStorm = share(suspect(inPool), inPool.length) > policy.maxUnhealthyShare;
    const recent = history.filter((h) => h.node === n.name && now - h.startedAt < policy.flapWindowMs);
    const lastEnd = Math.max(0, ...history.filter((h) => h.node === n.name).map((h) => h.endedAt ?? 0));
    if (policy.paused || n.paused) {
      blocked.push({ node: n.name, reason: "Paused", message: policy.paused ? "the node doctor is paused" : "the node is annotated as paused" });
    } else if (clusterStorm || poolStorm) {
      const [count, total, scope] = clusterStorm ? [suspect(nodes), nodes.length, "the cluster"] : [suspect(inPool), inPool.length, `pool ${n.pool}`];
      blocked.push({
        node: n.name, reason: "StormProtection",
        message: `${count} of ${total} nodes in ${scope} are unhealthy (limit ${Math.round(policy.maxUnhealthyShare * 100)} %): likely a network or control-plane problem, not remediating`,
      });
    } else if (hold) {
      blocked.push({ node: n.name, reason: hold.reason, message: hold.message });
    } else if (recent.length >= policy.flapLimit) {
      blocked.push({ node: n.name, reason: "Flapping", message: `${recent.length} remediations within ${Math.round(policy.flapWindowMs / 60_000)} min: the node keeps failing, needs a person` });
    } else if (lastEnd > 0 && now - lastEnd < policy.cooldownMs) {
      blocked.push({ node: n.name, reason: "Cooldown", message: `remediated ${Math.round((now - lastEnd) / 1000)} s ago; waiting for the cooldown` });
    } else if ((busy.get(n.pool) ?? 0) >= policy.maxPerPool) {
      blocked.push({ node: n.name, reason: "PoolBusy", message: `another node of pool ${n.pool} is being remediated` });
    } else {
      start.push(n.name);
      busy.set(n.pool, (busy.get(n.pool) ?? 0) + 1);
    }
  }
  return { storm, unhealthy: unhealthy.map((n) => n.name), start, blocked };
}

// ---- escalation ----

export type Phase = "Cordon" | "SoftReboot" | "HardReboot" | "Replace" | "AwaitReady" | "Succeeded" | "Failed";

export interface StepTimeouts {
  readonly softRebootMs: number;
  readonly hardRebootMs: number;
  readonly replaceMs: number;
}

export const DEFAULT_TIMEOUTS: StepTimeouts = { softRebootMs: 120_000, hardRebootMs: 180_000, replaceMs: 600_000 };

export interface RemediationProgress {
  readonly phase: Phase;
  readonly phaseStartedAt: number;
  /** The reboot or replacement that AwaitReady waits on. */
  readonly awaiting?: "SoftReboot" | "HardReboot" | "Replace" | undefined;
}

export type Action =
  | { kind: "cordon" }
  | { kind: "reboot"; type: "soft" | "hard" }
  | { kind: "replace" }
  | { kind: "fence" }
  | { kind: "release" }
  | { kind: "wait" }
  | { kind: "fail"; message: string };

/**
 * The next step of one remediation. Fencing (the out-of-service taint that lets StatefulSet pods and
 * their volumes move) is applied only once the cloud confirms the instance is rebooting or off.
 */
export function nextStep(
  p: RemediationProgress,
  nodeReady: boolean,
  instance: "running" | "rebooting" | "off" | "unknown" | "gone",
  fenced: boolean,
  timeouts: StepTimeouts,
  now: number,
): { action: Action; next: RemediationProgress } {
  const at = (phase: Phase, awaiting?: RemediationProgress["awaiting"]) => ({ phase, phaseStartedAt: now, awaiting });
  switch (p.phase) {
    case "Cordon":
      return { action: { kind: "cordon" }, next: at("SoftReboot") };
    case "SoftReboot":
      return { action: { kind: "reboot", type: "soft" }, next: at("AwaitReady", "SoftReboot") };
    case "HardReboot":
      return { action: { kind: "reboot", type: "hard" }, next: at("AwaitReady", "HardReboot") };
    case "Replace":
      return { action: { kind: "replace" }, next: at("AwaitReady", "Replace") };
    case "AwaitReady": {
      if (nodeReady && instance === "running" && p.awaiting !== "Replace") return { action: { kind: "release" }, next: at("Succeeded") };
      if (p.awaiting === "Replace" && (nodeReady || instance === "gone")) return { action: { kind: "release" }, next: at("Succeeded") };
      if (!fenced && (instance === "rebooting" || instance === "off" || instance === "gone")) return { action: { kind: "fence" }, next: p };
      const limit = p.awaiting === "SoftReboot" ? timeouts.softRebootMs : p.awaiting === "HardReboot" ? timeouts.hardRebootMs : timeouts.replaceMs;
      if (now - p.phaseStartedAt < limit) return { action: { kind: "wait" }, next: p };
      if (p.awaiting === "SoftReboot") return { action: { kind: "wait" }, next: at("HardReboot") };
      if (p.awaiting === "HardReboot") return { action: { kind: "wait" }, next: at("Replace") };
      return { action: { kind: "fail", message: "the replacement node did not become Ready in time" }, next: at("Failed") };
    }
    case "Succeeded":
    case "Failed":
      return { action: { kind: "wait" }, next: p };
  }
}
