// The fleet overview `mms status` prints, read from the API (not from Prometheus, so it works wherever
// kubectl does): tenants by condition, backups older than their RPO, tenants without a recent verified
// restore, failing archivers, nodes in remediation and storm protection. summarizeFleet decides, with no
// I/O, what needs attention; readFleet gathers what it looks at.
import { API_GROUP_VERSION } from "../api/names.ts";
import { TenantSpec, CONDITION_TYPES, type MatomoTenant } from "../api/tenant.ts";
import { COMPONENT_LABEL, TENANT_LABEL } from "../api/labels.ts";
import { PlanSpec, type TenantPlan } from "../api/plan.ts";
import type { NodeRemediation } from "../api/remediation.ts";
import { collectionPath, type KubeHttp } from "../kube/http.ts";
import { ARCHIVER_COMPONENT, archiverRunOf, tenantFacts, type ArchiverJobObject, type ArchiverRun, type ConditionStatus, type TenantFacts } from "./fleet.ts";

/** A backup is overdue past this many RPOs: the slack MmsTenantBackupOlderThanRpo allows (a late or long backup). */
export const BACKUP_RPO_SLACK = 1.5;
/** The age of the last verified restore past which MmsTenantNoVerifiedRestore fires (two missed nightly drills). */
export const VERIFIED_RESTORE_MAX_MS = 48 * 3600_000;
/** The reason of the node doctor's Events on a node it held back because of a storm. */
export const STORM_REASON = "StormProtection";

export interface NodeObservation {
  readonly name: string;
  readonly ready: boolean;
}

/** A StormProtection Event of the node doctor: it did not remediate `node` at `at`. */
export interface StormEvent {
  readonly node: string;
  readonly at: number;
}

export interface FleetObservation {
  readonly now: number;
  readonly tenants: readonly TenantFacts[];
  readonly nodes: readonly NodeObservation[];
  readonly remediations: readonly NodeRemediation[];
  readonly stormEvents: readonly StormEvent[];
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export interface FleetSummary {
  readonly tenants: {
    readonly total: number;
    readonly ready: number;
    /** Per condition type seen on any tenant: how many tenants have it True, False, Unknown. */
    readonly conditions: { readonly condition: string; readonly True: number; readonly False: number; readonly Unknown: number }[];
    readonly notReady: { readonly tenant: string; readonly reason: string; readonly message: string }[];
  };
  readonly backups: {
    readonly olderThanRpo: { readonly tenant: string; readonly lastBackupAt: string | null; readonly rpoSeconds: number }[];
    readonly noVerifiedRestore: { readonly tenant: string; readonly lastVerifiedAt: string | null }[];
  };
  readonly archiving: {
    readonly failed: { readonly tenant: string; readonly job: string; readonly failedAt: string | null; readonly lastSuccessAt: string | null }[];
  };
  readonly nodes: {
    readonly total: number;
    readonly notReady: string[];
    readonly inRemediation: { readonly node: string; readonly remediation: string; readonly phase: string; readonly since: string | null }[];
    readonly stormProtection: { readonly engaged: boolean; readonly heldNodes: string[] };
  };
  /** One sentence per kind of problem; empty when nothing needs attention. */
  readonly attention: string[];
}

/**
 * Nodes the node doctor holds back because of a storm: not Ready, with a StormProtection Event newer than
 * any remediation of theirs (once the storm passes, the doctor remediates them and the hold ends).
 */
export function stormHeldNodes(nodes: readonly NodeObservation[], events: readonly StormEvent[], remediations: readonly NodeRemediation[]): string[] {
  const lastRemediated = new Map<string, number>();
  for (const r of remediations) {
    const at = Date.parse(r.metadata.creationTimestamp ?? r.spec.detectedAt);
    if (!Number.isNaN(at)) lastRemediated.set(r.spec.nodeName, Math.max(at, lastRemediated.get(r.spec.nodeName) ?? 0));
  }
  const held = new Set<string>();
  for (const e of events) {
    const node = nodes.find((n) => n.name === e.node);
    if (node && !node.ready && e.at > (lastRemediated.get(e.node) ?? -Infinity)) held.add(e.node);
  }
  return [...held].sort();
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function summarizeFleet(obs: FleetObservation): FleetSummary {
  const { now, tenants } = obs;
  const conditionTypes = CONDITION_TYPES.filter((type) => tenants.some((t) => t.conditions.some((c) => c.type === type)));
  const count = (type: string, status: ConditionStatus) => tenants.filter((t) => t.conditions.some((c) => c.type === type && c.status === status)).length;
  const notReady = tenants.filter((t) => !t.ready).map((t) => {
    const ready = t.conditions.find((c) => c.type === "Ready");
    return { tenant: t.name, reason: ready?.reason ?? "Pending", message: ready?.message ?? "the operator has not reported on it yet" };
  });
  // A tenant without a backup yet is measured from when it was first Ready; one never Ready has no data yet.
  const age = (at: number | undefined, t: TenantFacts) => now - (at ?? t.readyAt ?? now);
  const olderThanRpo = tenants
    .filter((t) => t.rpoSeconds !== undefined && age(t.lastBackupAt, t) > BACKUP_RPO_SLACK * t.rpoSeconds * 1000)
    .map((t) => ({ tenant: t.name, lastBackupAt: iso(t.lastBackupAt), rpoSeconds: t.rpoSeconds ?? 0 }));
  const noVerifiedRestore = tenants
    .filter((t) => !t.deleting && age(t.lastVerifiedAt, t) > VERIFIED_RESTORE_MAX_MS)
    .map((t) => ({ tenant: t.name, lastVerifiedAt: iso(t.lastVerifiedAt) }));
  const failed = tenants
    .filter((t) => t.archiving.lastRunFailed === true)
    .map((t) => ({ tenant: t.name, job: t.archiving.failedJob ?? "", failedAt: iso(t.archiving.failedAt), lastSuccessAt: iso(t.archiving.lastSuccessAt) }));
  const inRemediation = obs.remediations
    .filter((r) => !r.status?.outcome)
    .map((r) => ({ node: r.spec.nodeName, remediation: r.metadata.name, phase: r.status?.phase ?? "Detected", since: iso(Date.parse(r.spec.detectedAt) || undefined) }))
    .sort((a, b) => a.node.localeCompare(b.node));
  const heldNodes = stormHeldNodes(obs.nodes, obs.stormEvents, obs.remediations);
  const nodesNotReady = obs.nodes.filter((n) => !n.ready).map((n) => n.name).sort();

  const attention: string[] = [];
  if (notReady.length) attention.push(`${plural(notReady.length, "tenant")} not Ready`);
  if (olderThanRpo.length) attention.push(`${plural(olderThanRpo.length, "tenant")} with a backup older than the RPO allows`);
  if (noVerifiedRestore.length) attention.push(`${plural(noVerifiedRestore.length, "tenant")} without a verified restore in 48 h`);
  if (failed.length) attention.push(`${plural(failed.length, "tenant")} whose archiving failed`);
  if (inRemediation.length) attention.push(`${plural(inRemediation.length, "node")} in remediation`);
  if (heldNodes.length) attention.push(`storm protection holds ${plural(heldNodes.length, "node")} back from remediation`);
  const unexplained = nodesNotReady.filter((n) => !heldNodes.includes(n) && !inRemediation.some((r) => r.node === n));
  if (unexplained.length) attention.push(`${plural(unexplained.length, "node")} not Ready`);

  return {
    tenants: {
      total: tenants.length,
      ready: tenants.length - notReady.length,
      conditions: conditionTypes.map((condition) => ({ condition, True: count(condition, "True"), False: count(condition, "False"), Unknown: count(condition, "Unknown") })),
      notReady,
    },
    backups: { olderThanRpo, noVerifiedRestore },
    archiving: { failed },
    nodes: { total: obs.nodes.length, notReady: nodesNotReady, inRemediation, stormProtection: { engaged: heldNodes.length > 0, heldNodes } },
    attention,
  };
}

interface NodeObject {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

interface EventObject {
  involvedObject?: { kind?: string; name?: string };
  lastTimestamp?: string | null;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  metadata: { creationTimestamp?: string };
}

/** Everything the overview looks at, read from the API server with the caller's credentials. */
export async function readFleet(http: KubeHttp, now = Date.now()): Promise<FleetObservation> {
  const [tenants, plans, jobs, nodes, remediations, events] = await Promise.all([
    http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant"),
    http.list<TenantPlan>(API_GROUP_VERSION, "TenantPlan"),
    http.list<ArchiverJobObject>("batch/v1", "Job", undefined, `${COMPONENT_LABEL}=${ARCHIVER_COMPONENT},${TENANT_LABEL}`),
    http.list<NodeObject>("v1", "Node"),
    // The node doctor may not be installed: no NodeRemediation API means no remediation.
    http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation").catch(() => ({ items: [] as NodeRemediation[] })),
    // The doctor records its storm holds as Events on the nodes, in the default namespace.
    http.request<{ items: EventObject[] }>("GET", `${collectionPath("v1", "Event", "default")}?${new URLSearchParams({ fieldSelector: `reason=${STORM_REASON}` }).toString()}`),
  ]);
  const planSpecs = new Map(plans.items.flatMap((p) => {
    const spec = PlanSpec.safeParse(p.spec);
    return spec.success ? [[p.metadata.name, spec.data] as const] : [];
  }));
  const runs = new Map<string, ArchiverRun[]>();
  for (const j of jobs.items) {
    const tenant = j.metadata.labels?.[TENANT_LABEL] ?? "";
    runs.set(tenant, [...(runs.get(tenant) ?? []), archiverRunOf(j)]);
  }
  const facts = tenants.items
    .map((t) => {
      const spec = TenantSpec.safeParse(t.spec);
      return spec.success ? { ...t, spec: spec.data } : t;
    })
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((t) => tenantFacts(t, planSpecs.get(t.spec.plan), runs.get(t.metadata.name) ?? []));
  const stormEvents = events.items.flatMap((e) => {
    const at = Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? "");
    return e.involvedObject?.kind === "Node" && e.involvedObject.name && !Number.isNaN(at) ? [{ node: e.involvedObject.name, at }] : [];
  });
  return {
    now,
    tenants: facts,
    nodes: nodes.items.map((n) => ({ name: n.metadata.name, ready: n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false })),
    remediations: remediations.items,
    stormEvents,
  };
}
