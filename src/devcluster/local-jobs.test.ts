import { test } from "node:test";
import assert from "node:assert/strict";
import { decide, isScheduledRun, localCommand, parseScheduledJobs, terminationMessage, type LocalPod } from "./local-jobs.ts";

const pod = (over: { phase?: string; nodeName?: string; deleting?: boolean } = {}): LocalPod => ({
  metadata: { name: "p", namespace: "mms-system", uid: "u1", ...(over.deleting ? { deletionTimestamp: "2026-11-30T00:00:00Z" } : {}) },
  spec: { ...(over.nodeName ? { nodeName: over.nodeName } : {}), containers: [{ name: "mms", image: "mms:1", args: ["backup", "run"] }] },
  status: over.phase ? { phase: over.phase } : {},
});

test("a scheduled pending pod is started once; an unscheduled one waits; a finished one is left", () => {
  assert.equal(decide(pod({ phase: "Pending", nodeName: "n1" }), false), "start");
  assert.equal(decide(pod({ nodeName: "n1" }), false), "start");
  assert.equal(decide(pod({ phase: "Pending", nodeName: "n1" }), true), "none");
  assert.equal(decide(pod({ phase: "Pending" }), false), "wait");
  assert.equal(decide(pod({ phase: "Succeeded", nodeName: "n1" }), false), "none");
  assert.equal(decide(pod({ phase: "Failed", nodeName: "n1" }), true), "none");
});

test("a deleted pod's process is stopped; a pod Running with no process here was orphaned by a runner restart", () => {
  assert.equal(decide(pod({ phase: "Running", nodeName: "n1", deleting: true }), true), "stop");
  assert.equal(decide(pod({ phase: "Running", nodeName: "n1", deleting: true }), false), "none");
  assert.equal(decide(pod({ phase: "Running", nodeName: "n1" }), false), "orphaned");
  assert.equal(decide(pod({ phase: "Running", nodeName: "n1" }), true), "none");
});

test("only mms commands run locally", () => {
  assert.deepEqual(localCommand({ name: "c", image: "i", args: ["backup", "run"] }), ["backup", "run"]);
  assert.deepEqual(localCommand({ name: "c", image: "i", command: ["/usr/local/bin/mms"], args: ["x"] }), ["x"]);
  assert.throws(() => localCommand({ name: "c", image: "i", command: ["sh", "-c", "rm -rf /"] }), /runs only mms commands/);
});

test("the termination message is the output's last lines, within a kubelet's size", () => {
  const out = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n") + "\n\n";
  const msg = terminationMessage(out);
  assert.equal(msg.split("\n").length, 20);
  assert.ok(msg.endsWith("line 99"));
  assert.ok(Buffer.byteLength(terminationMessage("x".repeat(5000) + "\nlast")) <= 2048);
});

test("MMS_DEV_SCHEDULED_JOBS=hold holds only the CronJobs' scheduled runs, not runs made by hand or the operator's Jobs", () => {
  const fromCron = { kind: "CronJob" };
  assert.equal(isScheduledRun({ metadata: { ownerReferences: [fromCron] } }), true);
  assert.equal(isScheduledRun({ metadata: { ownerReferences: [fromCron], annotations: { "cronjob.kubernetes.io/instantiate": "manual" } } }), false);
  assert.equal(isScheduledRun({ metadata: {} }), false, "a verified-backup Job of the operator has no CronJob owner");
  assert.equal(parseScheduledJobs(undefined), "run");
  assert.equal(parseScheduledJobs("hold"), "hold");
  assert.throws(() => parseScheduledJobs("off"), /MMS_DEV_SCHEDULED_JOBS must be "run" or "hold", not "off"/);
});
