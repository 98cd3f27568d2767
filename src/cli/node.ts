// `mms node …` and `mms node-doctor`: flag wiring; the work is in src/controllers/node-doctor,
// src/cloud and src/devcluster/nodes.ts.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { API_GROUP_VERSION } from "../api/names.ts";
import type { NodeRemediation } from "../api/remediation.ts";
import { startSimFromFiles } from "../devcluster/sim-ovh-api.ts";
import { DEFAULT_ACCESS_DENIED_HOLD_MS, OUT_OF_SERVICE_TAINT } from "../controllers/node-doctor/controller.ts";
import { DEFAULT_POLICY, DEFAULT_TIMEOUTS } from "../controllers/node-doctor/policy.ts";
import { DEFAULT_DOCTOR_LEASE, DEFAULT_OVH_SECRET, runNodeDoctor, type DoctorCloud, type SecretRef } from "../controllers/node-doctor/run.ts";
import { failNode, recoverNode, type FailureMode } from "../devcluster/nodes.ts";
import { durationFlag, kubeConfigFromFlags, kubeFromFlags } from "./common.ts";
import { UserError } from "../util/errors.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";

interface KNode {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

function shareFlag(value: string): number {
  const n = Number(value);
  if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(value.trim()) || Number.isNaN(n)) throw new InvalidArgumentError("--max-unhealthy-share must be a fraction from 0 to 1, such as 0.4");
  return n;
}

function secretFlag(value: string): SecretRef {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(value.trim());
  if (!m?.[1] || !m[3]) throw new InvalidArgumentError("--ovh-secret must be namespace/name, such as mms-system/ovh-api");
  return { namespace: m[1], name: m[3] };
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
    .description("dev cluster only: make a simulated node fail: its kubelet stops (heartbeat) or reports NotReady")
    .argument("<name>", "node name")
    .addOption(new Option("--mode <mode>", "heartbeat: the kubelet stops, its Lease goes stale; not-ready: it reports Ready=False").choices(["heartbeat", "not-ready"]).default("heartbeat"))
    .option("--permanent", "reboots do not bring it back; only a replacement does")
    .action(async (name: string, opts: { mode: FailureMode; permanent?: boolean }, cmd: Command) => {
      try {
        await failNode(kubeFromFlags(cmd), name, opts.mode, { permanent: opts.permanent === true });
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      process.stderr.write(`node ${name} now fails (${opts.mode}); ${opts.permanent ? "only a replacement" : "a reboot through the sim OVH API, or `mms node recover`,"} brings it back\n`);
    });

  node
    .command("recover")
    .description("dev cluster only: undo an injected failure (the simulated kubelet runs and reports Ready again)")
    .argument("<name>", "node name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      try {
        await recoverNode(kubeFromFlags(cmd), name);
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      process.stderr.write(`node ${name} recovers; it reports Ready within a few seconds\n`);
    });

  program
    .command("sim-ovh-api")
    .description("dev cluster only: serve the simulated OVH API that reboots and replaces simulated nodes (mms dev up starts it)")
    .requiredOption("--connection <file>", "connection file: address, certificate, credentials (written by mms dev up)")
    .requiredOption("--key <file>", "private key of the certificate")
    .addOption(new Option("--reboot-delay <duration>", "how long a rebooting instance stays down").argParser(durationFlag("--reboot-delay")).default(60_000, "60s"))
    .addOption(new Option("--replace-delay <duration>", "how long after a node's deletion its pool's new node joins").argParser(durationFlag("--replace-delay")).default(60_000, "60s"))
    .action(async (opts: { connection: string; key: string; rebootDelay: number; replaceDelay: number }, cmd: Command) => {
      const sim = await startSimFromFiles({ connection: opts.connection, key: opts.key }, {
        kube: kubeFromFlags(cmd), rebootDelayMs: opts.rebootDelay, replaceDelayMs: opts.replaceDelay,
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
      process.stderr.write(`${new Date().toISOString()} sim OVH API on ${sim.baseUrl} (reboot ${opts.rebootDelay / 1000} s, replacement ${opts.replaceDelay / 1000} s)\n`);
      await new Promise<void>((resolve) => {
        process.once("SIGTERM", resolve);
        process.once("SIGINT", resolve);
      });
      // Closing finishes reboots and replacements in flight, so no node is left down by a stop.
      await sim.close();
    });

  program
    .command("node-doctor")
    .description("run the node doctor: detect unhealthy nodes and remediate them through the cloud API")
    .option("--sim-connection <file>", "use the dev environment's sim OVH API (connection file written by the sim)")
    .addOption(new Option("--ovh-secret <namespace/name>", "Secret with applicationKey, applicationSecret, consumerKey").argParser(secretFlag).default(DEFAULT_OVH_SECRET, `${DEFAULT_OVH_SECRET.namespace}/${DEFAULT_OVH_SECRET.name}`))
    .option("--ovh-endpoint <endpoint>", "OVH API: ovh-eu, ovh-ca, ovh-us, or an https URL with its base path (https://host:port/1.0)", "ovh-eu")
    .option("--ovh-ca <file>", "PEM certificate to trust for the OVH API endpoint (a private CA; the system's are trusted anyway)")
    .option("--service-name <id>", "OVH Public Cloud project id")
    .option("--kube-id <id>", "OVH Managed Kubernetes cluster id")
    .option("--pool <pool...>", "only manage these node pools (default: all)")
    .option("--lease <name>", "leader Lease in mms-system; doctors of disjoint --pool sets may each have their own", DEFAULT_DOCTOR_LEASE)
    .addOption(new Option("--unhealthy-after <duration>", "unhealthy once Ready is not True for this long").argParser(durationFlag("--unhealthy-after")).default(DEFAULT_POLICY.unhealthyAfterMs, "30s"))
    .addOption(new Option("--heartbeat-silence <duration>", "unhealthy once the node Lease is not renewed for this long").argParser(durationFlag("--heartbeat-silence")).default(DEFAULT_POLICY.heartbeatSilenceMs, "30s"))
    .addOption(new Option("--max-unhealthy-share <fraction>", "storm protection: above this share of unhealthy nodes (cluster or pool), remediate nothing").argParser(shareFlag).default(DEFAULT_POLICY.maxUnhealthyShare, "0.4"))
    .addOption(new Option("--storm-settle <duration>", "after a storm, remediate nothing new this long").argParser(durationFlag("--storm-settle")).default(DEFAULT_POLICY.stormSettleMs, "60s"))
    .addOption(new Option("--cooldown <duration>", "leave a node alone this long after its remediation").argParser(durationFlag("--cooldown")).default(DEFAULT_POLICY.cooldownMs, "5m"))
    .addOption(new Option("--soft-reboot-timeout <duration>", "escalate to a hard reboot when not Ready this long after a soft reboot").argParser(durationFlag("--soft-reboot-timeout")).default(DEFAULT_TIMEOUTS.softRebootMs, "2m"))
    .addOption(new Option("--hard-reboot-timeout <duration>", "replace the node when not Ready this long after a hard reboot").argParser(durationFlag("--hard-reboot-timeout")).default(DEFAULT_TIMEOUTS.hardRebootMs, "3m"))
    .addOption(new Option("--replace-timeout <duration>", "give up when no replacement node is Ready this long after the deletion").argParser(durationFlag("--replace-timeout")).default(DEFAULT_TIMEOUTS.replaceMs, "10m"))
    .addOption(new Option("--access-denied-hold <duration>", "after the cloud API refuses the credentials (401/403, bad signature), remediate nothing this long").argParser(durationFlag("--access-denied-hold")).default(DEFAULT_ACCESS_DENIED_HOLD_MS, "15m"))
    .addOption(new Option("--interval <duration>", "how often to look").argParser(durationFlag("--interval")).default(2_000, "2s"))
    .option("--paused", "observe and report only; remediate nothing")
    .addOption(new Option("--health-port <port>", "serve /healthz, /readyz and /metrics on 127.0.0.1:PORT").argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option("--health-address <ip>", "address of the health port; 0.0.0.0 in a pod, so the kubelet's probes reach it").choices(["127.0.0.1", "0.0.0.0"]).default("127.0.0.1"))
    .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]).default("info"))
    .action(async (opts: {
      simConnection?: string; ovhSecret: SecretRef; ovhEndpoint: string; ovhCa?: string; serviceName?: string; kubeId?: string; pool?: string[]; lease: string;
      unhealthyAfter: number; heartbeatSilence: number; maxUnhealthyShare: number; stormSettle: number; cooldown: number;
      softRebootTimeout: number; hardRebootTimeout: number; replaceTimeout: number; accessDeniedHold: number;
      interval: number; paused?: boolean; healthPort?: number; healthAddress: string; logLevel: string;
    }, cmd: Command) => {
      let cloud: DoctorCloud;
      if (opts.simConnection) {
        cloud = { driver: "sim", connectionFile: opts.simConnection };
      } else {
        if (!opts.serviceName || !opts.kubeId) throw new UserError("the OVH driver needs --service-name and --kube-id (or use --sim-connection on the dev cluster)");
        cloud = { driver: "ovh", secret: opts.ovhSecret, serviceName: opts.serviceName, kubeId: opts.kubeId, endpoint: opts.ovhEndpoint, caFile: opts.ovhCa };
      }
      const log = pino({ level: opts.logLevel, base: { component: "node-doctor" } }, pino.destination(2));
      const doctor = await runNodeDoctor({
        kubeconfig: kubeConfigFromFlags(cmd), log, cloud, pools: opts.pool, lease: opts.lease, accessDeniedHoldMs: opts.accessDeniedHold,
        intervalMs: opts.interval, healthPort: opts.healthPort, healthAddress: opts.healthAddress,
        policy: {
          unhealthyAfterMs: opts.unhealthyAfter, heartbeatSilenceMs: opts.heartbeatSilence, maxUnhealthyShare: opts.maxUnhealthyShare,
          stormSettleMs: opts.stormSettle, cooldownMs: opts.cooldown, paused: opts.paused === true,
        },
        timeouts: { softRebootMs: opts.softRebootTimeout, hardRebootMs: opts.hardRebootTimeout, replaceMs: opts.replaceTimeout },
      });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          log.info({ signal }, "stopping");
          void doctor.stop().then(resolve);
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
    });
}
