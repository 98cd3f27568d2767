// `mms node …` and `mms node-doctor`: flag wiring; the work is in src/controllers/node-doctor,
// src/cloud and src/devcluster/nodes.ts.
import type { Command } from "commander";
import { Option } from "commander";
import { pino } from "pino";
import { API_GROUP_VERSION } from "../api/names.ts";
import type { NodeRemediation } from "../api/remediation.ts";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { OvhDriver, ovhCredentialsFromSecret } from "../cloud/ovh-driver.ts";
import { loadSimConnection, SimDriver } from "../cloud/sim-driver.ts";
import { serveHealth } from "../controllers/health.ts";
import { NodeDoctor, OUT_OF_SERVICE_TAINT } from "../controllers/node-doctor/controller.ts";
import { doctorMetrics } from "../controllers/node-doctor/metrics.ts";
import { failNode, type FailureMode } from "../devcluster/nodes.ts";
import { LeaderElector } from "../kube/leader.ts";
import { durationFlag, kubeFromFlags } from "./common.ts";
import { UserError } from "./errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";

interface KNode {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

export function registerNode(program: Command): void {
  const node = program.command("node").description("inspect nodes and their remediations; inject failures on the dev cluster");

  node
    .command("status")
    .description("nodes, their health, and any remediation in progress")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const nodes = (await http.list<KNode>("v1", "Node")).items;
      const rems = (await http.list<NodeRemediation>(API_GROUP_VERSION, "NodeRemediation").catch(() => ({ items: [] as NodeRemediation[] }))).items;
      const rows = nodes.map((n) => {
        const active = rems.find((r) => r.spec.nodeName === n.metadata.name && !r.status?.outcome);
        return {
          name: n.metadata.name,
          pool: n.metadata.labels?.nodepool ?? "",
          zone: n.metadata.labels?.["topology.kubernetes.io/zone"] ?? "",
          ready: n.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown",
          schedulable: !n.spec?.unschedulable,
          fenced: (n.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT.key),
          remediation: active ? `${active.metadata.name} (${active.status?.phase ?? "starting"})` : null,
        };
      });
      if (opts.output !== "table") {
        process.stdout.write(renderStructured({ nodes: rows }, opts.output));
        return;
      }
      process.stdout.write(renderTable(["name", "pool", "zone", "ready", "schedulable", "fenced", "remediation"],
        rows.map((r) => [r.name, r.pool, r.zone, r.ready, r.schedulable ? "yes" : "no", r.fenced ? "yes" : "no", r.remediation ?? "-"])));
    });

  node
    .command("fail")
    .description("dev cluster only: make a simulated node fail (its Ready condition turns Unknown or False)")
    .argument("<name>", "node name")
    .addOption(new Option("--mode <mode>", "how it fails").choices(["heartbeat", "not-ready"]).default("heartbeat"))
    .action(async (name: string, opts: { mode: FailureMode }, cmd: Command) => {
      try {
        await failNode(kubeFromFlags(cmd), name, opts.mode);
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      process.stderr.write(`node ${name} now fails (${opts.mode}); a reboot through the sim OVH API brings it back\n`);
    });

  program
    .command("node-doctor")
    .description("run the node doctor: detect unhealthy nodes and remediate them through the cloud API")
    .option("--sim-connection <file>", "use the dev environment's sim OVH API (connection file written by the sim)")
    .option("--ovh-secret <namespace/name>", `Secret with applicationKey, applicationSecret, consumerKey (default ${SYSTEM_NAMESPACE}/ovh-api)`)
    .option("--ovh-endpoint <endpoint>", "OVH API endpoint", "ovh-eu")
    .option("--service-name <id>", "OVH Public Cloud project id")
    .option("--kube-id <id>", "OVH Managed Kubernetes cluster id")
    .option("--pool <pool...>", "only manage these node pools (default: all)")
    .addOption(new Option("--unhealthy-after <duration>", "Ready not True for this long").argParser(durationFlag("--unhealthy-after")).default(30_000, "30s"))
    .addOption(new Option("--interval <duration>", "how often to look").argParser(durationFlag("--interval")).default(2_000, "2s"))
    .option("--paused", "observe and report only; remediate nothing")
    .addOption(new Option("--health-port <port>", "serve /healthz, /readyz and /metrics on 127.0.0.1:PORT").argParser((v) => Number.parseInt(v, 10)))
    .action(async (opts: { simConnection?: string; ovhSecret?: string; ovhEndpoint: string; serviceName?: string; kubeId?: string; pool?: string[]; unhealthyAfter: number; interval: number; paused?: boolean; healthPort?: number }, cmd: Command) => {
      const http = kubeFromFlags(cmd);
      const log = pino({ base: { component: "node-doctor" } }, pino.destination(2));
      let cloud;
      if (opts.simConnection) {
        cloud = new SimDriver(await loadSimConnection(opts.simConnection));
      } else {
        if (!opts.serviceName || !opts.kubeId) throw new UserError("the OVH driver needs --service-name and --kube-id (or use --sim-connection on the dev cluster)");
        const [ns, name] = (opts.ovhSecret ?? `${SYSTEM_NAMESPACE}/ovh-api`).split("/");
        const secret = await http.getOrUndefined<{ data?: Record<string, string> }>("v1", "Secret", name ?? "", ns);
        const data = Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
        cloud = new OvhDriver({ credentials: ovhCredentialsFromSecret(`${ns}/${name}`, data), serviceName: opts.serviceName, kubeId: opts.kubeId, endpoint: opts.ovhEndpoint });
      }
      const doctor = new NodeDoctor({ http, cloud, log, pools: opts.pool, policy: { unhealthyAfterMs: opts.unhealthyAfter, paused: opts.paused === true } });
      const elector = new LeaderElector(http, { namespace: SYSTEM_NAMESPACE, name: "mms-node-doctor", identity: `node-doctor-${process.pid}-${Date.now().toString(36)}` });
      let leading = false;
      const health = opts.healthPort !== undefined ? await serveHealth(opts.healthPort, () => leading, doctorMetrics(doctor.counters)) : undefined;
      await elector.acquire(() => log.info("another node doctor leads; waiting for the lease"));
      leading = true;
      log.info("acquired the leader lease; watching nodes");
      let stopping = false;
      elector.keepRenewing((why) => {
        log.error({ why }, "lost the leader lease; stopping");
        process.exit(1);
      });
      const shutdown = () => {
        stopping = true;
      };
      process.once("SIGTERM", shutdown);
      process.once("SIGINT", shutdown);
      while (!stopping) {
        try {
          await doctor.tick();
        } catch (err) {
          log.warn({ err: (err as Error).message }, "tick failed; trying again");
        }
        await new Promise((r) => setTimeout(r, opts.interval));
      }
      await elector.release();
      health?.close();
    });
}
