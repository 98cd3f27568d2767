import { test } from "node:test";
import assert from "node:assert/strict";
import { cpuMillis, formatResources, memoryBytes } from "./quantity.ts";

test("CPU quantities in millicores and memory quantities in bytes, as plans and nodes write them", () => {
  assert.deepEqual(["100m", "1", "1.5", "3920m", "0.25"].map(cpuMillis), [100, 1000, 1500, 3920, 250]);
  assert.deepEqual(["128Mi", "1Gi", "16132452Ki", "1G", "500M", "4096"].map(memoryBytes), [128 * 2 ** 20, 2 ** 30, 16132452 * 1024, 1e9, 5e8, 4096]);
  assert.throws(() => cpuMillis("two"), /"two" is not a Kubernetes quantity/);
  assert.throws(() => memoryBytes("1 Gi"), /not a Kubernetes quantity/);
  assert.deepEqual(formatResources({ cpuMillis: 300, memoryBytes: 512 * 2 ** 20 }), { cpu: "300m", memory: "512Mi" });
});
