import { test } from "node:test";
import assert from "node:assert/strict";
import type { NodeRemediation } from "../api/remediation.ts";
import type { TenantFacts } from "./fleet.ts";
import { stormHeldNodes, summarizeFleet, type FleetObservation } from "./fleet-status.ts";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const H = 3_600_000;
const ready = { type: "Ready", status: "True" as const, reason: "Ready", message: "Matomo answers" };

/** A healthy tenant: Ready, backed up 10 minutes ago on an hourly plan, verified last night, archiving fine. */
function healthy(name: string, over: Partial<TenantFacts> = {}): TenantFacts {
  return {
    name, plan: "small", version: "5.2.1", pool: "p1", suspended: false, deleting: false,
    createdAt: NOW - 30 * 24 * H, readyAt: NOW - 30 * 24 * H,
    conditions: [{ type: "DatabaseReady", status: "True", reason: "Ready", message: "" }, ready], ready: true,
    lastBackupAt: NOW - 10 * 60_000, rpoSeconds: 3600, lastVerifiedAt: NOW - 12 * H,
    archiving: { lastSuccessAt: NOW - 30 * 60_000, lastDurationSeconds: 40, lastRunFailed: false },
    ...over,
  };
}

const remediation = (node: string, createdAt: number, outcome?: "Succeeded" | "Failed"): NodeRemediation => ({
  apiVersion: "multiscale.io/v1alpha1", kind: "NodeRemediation",
  metadata: { name: `${node}-r`, creationTimestamp: new Date(createdAt).toISOString() },
  spec: { nodeName: node, pool: "default", reason: "NotReady", detectedAt: new Date(createdAt).toISOString() },
  status: { phase: outcome ?? "SoftReboot", ...(outcome ? { outcome } : {}) },
});

const observe = (over: Partial<FleetObservation>): FleetObservation => ({
  now: NOW, tenants: [healthy("acme")], nodes: [{ name: "n1", ready: true }], remediations: [], stormEvents: [], ...over,
});

test("a healthy fleet needs no attention", () => {
  const s = summarizeFleet(observe({ remediations: [remediation("n1", NOW - H, "Succeeded")] }));
  assert.deepEqual(s.attention, []);
  assert.deepEqual(s.tenants.conditions, [
    { condition: "DatabaseReady", True: 1, False: 0, Unknown: 0 },
    { condition: "Ready", True: 1, False: 0, Unknown: 0 },
  ]);
  assert.equal(s.tenants.ready, 1);
});

test("each kind of problem is listed by name and counted in the attention list", () => {
  const s = summarizeFleet(observe({
    tenants: [
      healthy("acme"),
      healthy("broken", { ready: false, conditions: [{ type: "DatabaseReady", status: "False", reason: "PoolUnreachable", message: "pool p1 does not answer" }, { ...ready, status: "False", reason: "PoolUnreachable", message: "pool p1 does not answer" }] }),
      healthy("creating", { ready: false, conditions: [], readyAt: undefined, createdAt: NOW - 3 * 24 * H, lastBackupAt: undefined, lastVerifiedAt: undefined }),
      healthy("stale", { lastBackupAt: NOW - 2 * H }),
      healthy("never", { lastBackupAt: undefined, readyAt: NOW - 3 * H }),
      healthy("sleepy", { suspended: true, rpoSeconds: undefined, lastBackupAt: NOW - 30 * 24 * H }),
      healthy("unproven", { lastVerifiedAt: NOW - 49 * H }),
      healthy("archfail", { archiving: { lastSuccessAt: NOW - 5 * H, lastRunFailed: true, failedJob: "archiver-29001", failedAt: NOW - H } }),
    ],
    nodes: [{ name: "n1", ready: false }, { name: "n2", ready: true }],
    remediations: [remediation("n1", NOW - 600_000)],
  }));
  assert.deepEqual(s.tenants.notReady, [
    { tenant: "broken", reason: "PoolUnreachable", message: "pool p1 does not answer" },
    { tenant: "creating", reason: "Pending", message: "the operator has not reported on it yet" },
  ]);
  assert.deepEqual(s.tenants.conditions.find((c) => c.condition === "Ready"), { condition: "Ready", True: 6, False: 1, Unknown: 0 });
  assert.deepEqual(s.backups.olderThanRpo.map((b) => [b.tenant, b.lastBackupAt]), [["stale", new Date(NOW - 2 * H).toISOString()], ["never", null]],
    "1.5 RPOs of slack; a tenant never backed up counts from when it was Ready; a suspended one is promised nothing");
  assert.deepEqual(s.backups.noVerifiedRestore.map((b) => b.tenant), ["unproven"], "a tenant never Ready has no data to restore yet");
  assert.deepEqual(s.archiving.failed, [{ tenant: "archfail", job: "archiver-29001", failedAt: new Date(NOW - H).toISOString(), lastSuccessAt: new Date(NOW - 5 * H).toISOString() }]);
  assert.deepEqual(s.nodes.inRemediation.map((r) => [r.node, r.phase]), [["n1", "SoftReboot"]]);
  assert.deepEqual(s.attention, [
    "2 tenants not Ready",
    "2 tenants with a backup older than the RPO allows",
    "1 tenant without a verified restore in 48 h",
    "1 tenant whose archiving failed",
    "1 node in remediation",
  ], "n1 is not Ready, but its remediation already says so");
});

test("storm protection holds the nodes it refused that are still down and were not remediated since", () => {
  const nodes = [{ name: "n1", ready: false }, { name: "n2", ready: false }, { name: "n3", ready: true }, { name: "n4", ready: false }];
  const events = [{ node: "n1", at: NOW - 120_000 }, { node: "n2", at: NOW - 120_000 }, { node: "n3", at: NOW - 120_000 }, { node: "n4", at: NOW - 2 * H }];
  // n3 came back; n4's storm hold was followed by a remediation once the storm passed.
  const held = stormHeldNodes(nodes, events, [remediation("n4", NOW - H)]);
  assert.deepEqual(held, ["n1", "n2"]);
  const s = summarizeFleet(observe({ nodes, stormEvents: events, remediations: [remediation("n4", NOW - H)] }));
  assert.deepEqual(s.nodes.stormProtection, { engaged: true, heldNodes: ["n1", "n2"] });
  assert.deepEqual(s.attention, ["1 node in remediation", "storm protection holds 2 nodes back from remediation"]);
});

test("a node not Ready that nothing explains is attention too", () => {
  const s = summarizeFleet(observe({ nodes: [{ name: "n1", ready: true }, { name: "n9", ready: false }] }));
  assert.deepEqual(s.attention, ["1 node not Ready"]);
  assert.deepEqual(s.nodes.notReady, ["n9"]);
});
