import { test } from "node:test";
import assert from "node:assert/strict";
import type { DoctorCounters } from "./controller.ts";
import { doctorMetrics } from "./metrics.ts";

test("the storm protection gauge follows the doctor's last check", async () => {
  const counters: DoctorCounters = {
    remediationsStarted: 0, remediationsSucceeded: 0, remediationsFailed: 0, blocked: {}, cloudErrors: {}, detectionSeconds: [], recoverySeconds: [], stormProtectionActive: false,
  };
  const registry = doctorMetrics(counters);
  assert.match(await registry.metrics(), /^mms_node_storm_protection_active 0$/m);
  counters.stormProtectionActive = true;
  counters.blocked.StormProtection = 3;
  const text = await registry.metrics();
  assert.match(text, /^mms_node_storm_protection_active 1$/m);
  assert.match(text, /^mms_node_remediations_blocked_total\{reason="StormProtection"\} 3$/m);
});
