import { test } from "node:test";
import assert from "node:assert/strict";
import { addressPlan, inClusterRange } from "./addresses.ts";
import { UserError } from "../util/errors.ts";
import { COMPONENTS, devTimings, nodeDoctorDevArgs, type Context } from "./components.ts";
import { devPaths } from "./paths.ts";
import { pkiFiles } from "./pki.ts";
import { portsFrom } from "./ports.ts";

test("the sim's delays and the dev doctor's flags come from the environment of dev up, with documented defaults", () => {
  assert.deepEqual(devTimings({}), { simRebootDelayMs: 60_000, simReplaceDelayMs: 60_000, doctorArgs: [], scheduledJobs: "run" });
  const t = devTimings({ MMS_DEV_SIM_REBOOT_DELAY: "5s", MMS_DEV_SIM_REPLACE_DELAY: "1m30s", MMS_DEV_NODE_DOCTOR_ARGS: " --cooldown=5m  --paused ", MMS_DEV_SCHEDULED_JOBS: "hold" });
  assert.deepEqual(t, { simRebootDelayMs: 5_000, simReplaceDelayMs: 90_000, doctorArgs: ["--cooldown=5m", "--paused"], scheduledJobs: "hold" });
  const args = nodeDoctorDevArgs(t);
  assert.ok(args.includes("--pool=default-pool"), "only the environment's own pool");
  assert.ok(args.includes("--soft-reboot-timeout=35s"), "a reboot's timeout follows the sim's delay");
  assert.ok(args.includes("--replace-timeout=150s"));
  assert.deepEqual(args.slice(-2), ["--cooldown=5m", "--paused"], "extra flags come last, so they win");
  assert.throws(() => devTimings({ MMS_DEV_SIM_REBOOT_DELAY: "soon" }), (e: unknown) => e instanceof UserError && /^MMS_DEV_SIM_REBOOT_DELAY: "soon" is not a duration/.test(e.message));
});

test("SeaweedFS listens only on the ports it declares (checked free by `dev up`, awaited by `dev down`), on loopback, without telemetry", () => {
  const ports = portsFrom(30000);
  const ctx: Context = {
    paths: devPaths("/tmp/mms-dev-unit"), ports, pki: pkiFiles("/tmp/mms-dev-unit/pki"), timings: devTimings({}), addresses: addressPlan(30000), realNodes: 0,
    bins: { kubernetes: "/b/k", etcd: "/b/e", kwok: "/b/w", seaweedfs: "/b/s" },
    secrets: { mariadbAdminPassword: "pw-m", redisPassword: "pw-r", s3AccessKey: "key-a", s3SecretKey: "secret-s" },
    system: { mariadbd: "/m", mariadbInstallDb: "/mi", redisServer: "/r" },
  };
  const s3 = COMPONENTS.find((c) => c.name === "s3")!;
  const args = s3.spec(ctx).args;
  const named = new Set(args.flatMap((a) => [...a.matchAll(/=(\d+)$/g)].map((m) => Number(m[1]))).filter((n) => n >= 30000));
  assert.deepEqual([...named].sort(), s3.ports.map((p) => ports[p]).sort(), "every port it is given is declared, and every declared port is given");
  assert.ok(args.includes("-ip.bind=127.0.0.1") && args.includes("-master.telemetry=false"));
  assert.ok(args.includes("-s3.port.iceberg=0") && args.includes("-s3.port.lance=0"), "its extra catalog servers are off");
  assert.ok(args.every((a) => !a.includes(ctx.secrets.s3SecretKey)), "the S3 secret is not on the command line");
  const apiserver = COMPONENTS.find((c) => c.name === "kube-apiserver")!.spec(ctx).args;
  const range = apiserver.find((a) => a.startsWith("--service-cluster-ip-range="))?.split("=")[1] ?? "";
  assert.equal(range, ctx.addresses.serviceCidr, "Services get the environment's block");
  assert.ok(inClusterRange(range.split("/")[0] ?? ""), `${range} is in 198.18.0.0/15`);
});
