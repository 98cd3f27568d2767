import { test } from "node:test";
import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { devTimings, nodeDoctorDevArgs } from "./components.ts";

test("the sim's delays and the dev doctor's flags come from the environment of dev up, with documented defaults", () => {
  assert.deepEqual(devTimings({}), { simRebootDelayMs: 60_000, simReplaceDelayMs: 60_000, doctorArgs: [] });
  const t = devTimings({ MMS_DEV_SIM_REBOOT_DELAY: "5s", MMS_DEV_SIM_REPLACE_DELAY: "1m30s", MMS_DEV_NODE_DOCTOR_ARGS: " --cooldown=5m  --paused " });
  assert.deepEqual(t, { simRebootDelayMs: 5_000, simReplaceDelayMs: 90_000, doctorArgs: ["--cooldown=5m", "--paused"] });
  const args = nodeDoctorDevArgs(t);
  assert.ok(args.includes("--pool=default-pool"), "only the environment's own pool");
  assert.ok(args.includes("--soft-reboot-timeout=35s"), "a reboot's timeout follows the sim's delay");
  assert.ok(args.includes("--replace-timeout=150s"));
  assert.deepEqual(args.slice(-2), ["--cooldown=5m", "--paused"], "extra flags come last, so they win");
  assert.throws(() => devTimings({ MMS_DEV_SIM_REBOOT_DELAY: "soon" }), (e: unknown) => e instanceof UserError && /^MMS_DEV_SIM_REBOOT_DELAY: "soon" is not a duration/.test(e.message));
});
