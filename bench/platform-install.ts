// Benchmark: how long installing the platform with its Helm chart takes, from `helm upgrade --install` to
// an operator replica Ready and holding the leader Lease (and to helm's own --wait returning), on an
// isolated dev environment with a real node. Each round uninstalls the release first (tenants stay) and
// installs it again with the values `dev up` used. Prints one JSON object as its last line.
// Usage: scripts/node bench/platform-install.ts [--rounds 5] [--port-base 30100]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { currentPaths, down, up } from "../src/devcluster/environment.ts";
import { platformInstallArgs, platformValuesFile, runHelm } from "../src/devcluster/platform-chart.ts";
import { PLATFORM_RELEASE } from "../src/platform/release.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { createProgress } from "../src/util/progress.ts";
import { holds, operatorLease, operatorPods } from "../test/support/operator.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    "port-base": { type: "string", default: "30100" },
  },
});
const rounds = Number(values.rounds);
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-install-"));
const env: NodeJS.ProcessEnv = { ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"] };
Object.assign(process.env, { MMS_DEV_HOME: env.MMS_DEV_HOME, MMS_DEV_PORT_BASE: env.MMS_DEV_PORT_BASE });

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const round = (x: number) => Math.round(x * 100) / 100;

/** A Ready operator replica holding a Lease renewed after `since`. */
async function leading(http: KubeHttp, since: number): Promise<boolean> {
  const lease = await operatorLease(http);
  if (!(Date.parse(lease?.spec.renewTime ?? "") >= since - 1000)) return false;
  return (await operatorPods(http)).some((p) => holds(lease, p) && p.status?.containerStatuses?.[0]?.ready === true);
}

const toLeader: number[] = [];
const helmWait: number[] = [];
try {
  const started = await up({ nodes: 1, realNodes: 1, progress: createProgress(process.stderr), env });
  const paths = currentPaths(env);
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: started.status.kubeconfig }));
  for (let i = 0; i < rounds; i++) {
    const un = await runHelm(paths, ["uninstall", PLATFORM_RELEASE, "--namespace", SYSTEM_NAMESPACE, "--wait", "--timeout", "3m"]);
    if (un.code !== 0) throw new Error(`helm uninstall: ${un.stderrTail}`);
    const t0 = Date.now();
    let leaderAt = 0;
    const watch = (async () => {
      while (!leaderAt && Date.now() - t0 < 300_000) {
        if (await leading(http, t0).catch(() => false)) leaderAt = Date.now();
        else await sleep(100);
      }
    })();
    const inst = await runHelm(paths, platformInstallArgs(platformValuesFile(paths)));
    if (inst.code !== 0) throw new Error(`helm upgrade --install: ${inst.stderrTail}`);
    helmWait.push((Date.now() - t0) / 1000);
    await watch;
    if (!leaderAt) throw new Error("no operator replica led within 5 minutes");
    toLeader.push((leaderAt - t0) / 1000);
    process.stderr.write(`round ${i + 1}: operator Ready and leading after ${round(toLeader.at(-1) ?? NaN)} s; helm --wait returned after ${round(helmWait.at(-1) ?? NaN)} s\n`);
  }
} finally {
  await down(env).catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
}
console.log(JSON.stringify({
  benchmark: "platform-install",
  measure: "helm upgrade --install → an operator replica Ready and holding the leader Lease",
  rounds,
  p50Seconds: round(quantile(toLeader, 0.5)), p95Seconds: round(quantile(toLeader, 0.95)), maxSeconds: round(Math.max(...toLeader)),
  helmWaitP50Seconds: round(quantile(helmWait, 0.5)), helmWaitP95Seconds: round(quantile(helmWait, 0.95)),
}));
