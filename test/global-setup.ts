// Global setup of the test run: one dev environment shared by every integration test, started
// here when it is not already up, and stopped at the end only if this run started it.
import { createProgress } from "../src/util/progress.ts";
import { DEFAULT_NODES, down, readStatus, up } from "../src/devcluster/environment.ts";

let startedHere = false;

export async function globalSetup(): Promise<void> {
  const before = await readStatus();
  const result = await up({ nodes: Math.max(DEFAULT_NODES, before.nodes.desired), progress: createProgress() });
  startedHere = !before.up && !result.alreadyUp;
  process.stderr.write(result.alreadyUp
    ? "test environment: reusing the running dev environment\n"
    : `test environment: dev environment up in ${result.seconds.toFixed(1)} s\n`);
}

export async function globalTeardown(): Promise<void> {
  if (startedHere && !process.env.MMS_TEST_KEEP_ENV) await down();
}
