// `mms dev …`: flag wiring for the local cluster-in-a-box; the work is in src/devcluster.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_NODES, DEFAULT_REAL_NODES, DEV_BACKUP_BUCKET, MAX_DEV_REAL_NODES, MAX_NODES, down, endpoints, readStatus, reset, up, type DevStatus } from "../devcluster/environment.ts";
import { serveLocalJobRunner } from "../devcluster/local-jobs.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";
import { createProgress } from "../util/progress.ts";

export function parseNodeCount(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`--nodes must be a whole number from 1 to ${MAX_NODES}.`);
  const n = Number(raw);
  if (n < 1 || n > MAX_NODES) throw new InvalidArgumentError(`--nodes must be from 1 to ${MAX_NODES}.`);
  return n;
}

export function parseRealNodeCount(raw: string): number {
  const max: number = MAX_DEV_REAL_NODES;
  const range = max === 1 ? "0 or 1" : `from 0 to ${max}`;
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`--real-nodes must be a whole number, ${range}, not "${raw}".`);
  const n = Number(raw);
  if (n > MAX_DEV_REAL_NODES) throw new InvalidArgumentError(`--real-nodes must be ${range}: a dev environment runs at most ${max} real node${max === 1 ? "" : "s"} (docs/dev-environment.md says why).`);
  return n;
}

export function statusTable(s: DevStatus): string {
  const rows = s.components.map((c) => [c.name, c.running ? String(c.pid) : "-", c.healthy ? "yes" : "no", c.endpoint, c.reason ?? ""]);
  rows.push(["nodes", "-", s.nodes.ready >= s.nodes.desired && s.nodes.desired > 0 ? "yes" : "no", `${s.nodes.ready}/${s.nodes.desired} simulated Ready`, ""]);
  if (s.realNodes.desired > 0) {
    rows.push(["real nodes", "-", s.realNodes.ready >= s.realNodes.desired ? "yes" : "no", `${s.realNodes.ready}/${s.realNodes.desired} Ready`, s.realNodes.names.join(" ")]);
  }
  return renderTable(["component", "pid", "healthy", "endpoint", "reason"], rows);
}

function printStatus(s: DevStatus, format: OutputFormat): void {
  process.stdout.write(format === "table" ? statusTable(s) : renderStructured(s, format));
}

function shellQuote(v: string): string {
  return `'${v.replaceAll("'", `'\\''`)}'`;
}

export function registerDev(program: Command): void {
  const dev = program
    .command("dev")
    .description("run the local cluster-in-a-box: Kubernetes control plane, simulated nodes, MariaDB, Redis, S3")
    .addHelpText("after", `
The first \`dev up\` builds etcd, Kubernetes, KWOK and SeaweedFS from pinned Go modules (many minutes)
and caches them under ~/.cache/matomo-multiscale; later starts take seconds.

Environment:
  MMS_DEV_HOME        folder of the environment's data, logs and credentials (default ~/.cache/matomo-multiscale/dev)
  MMS_DEV_PORT_BASE   first port of the environment's loopback port range (default 17000)
  MMS_CACHE_DIR       cache of built binaries (default ~/.cache/matomo-multiscale)
  MMS_DEV_SIM_REBOOT_DELAY    how long a simulated instance takes to reboot (default 60s)
  MMS_DEV_SIM_REPLACE_DELAY   how long a deleted node's replacement takes to join (default 60s)
  MMS_DEV_NODE_DOCTOR_ARGS    extra flags for the dev node doctor, e.g. "--unhealthy-after=30s"
A running component whose command line changed (these settings, a newer checkout) is restarted by \`dev up\`.`);

  dev
    .command("up")
    .description("build once, then start the environment (does nothing if it is already up)")
    .addOption(new Option("--nodes <n>", `number of simulated nodes, 1-${MAX_NODES}`).argParser(parseNodeCount).default(DEFAULT_NODES))
    .addOption(new Option("--real-nodes <n>", "real nodes (kubelet + containerd, running real containers; needs root); 0: simulated nodes only")
      .argParser(parseRealNodeCount).default(DEFAULT_REAL_NODES))
    .addOption(outputOption())
    .option("-q, --quiet", "no progress output")
    .action(async (opts: { nodes: number; realNodes: number; output: OutputFormat; quiet?: boolean }) => {
      const progress = createProgress(process.stderr, opts.quiet === true);
      const result = await up({ nodes: opts.nodes, realNodes: opts.realNodes, progress });
      if (result.alreadyUp) process.stderr.write(`dev environment is already up (${result.status.home})\n`);
      else process.stderr.write(`dev environment is up in ${result.seconds.toFixed(1)} s; run \`eval "$(bin/mms dev env)"\` to use it\n`);
      printStatus(result.status, opts.output);
    });

  dev
    .command("down")
    .description("stop every process the environment started; data is kept")
    .action(async () => {
      const { stopped } = await down();
      process.stderr.write(stopped.length ? `stopped ${stopped.join(", ")}\n` : "dev environment is not running\n");
    });

  dev
    .command("reset")
    .description("stop the environment and delete its data (built binaries stay cached)")
    .action(async () => {
      const { stopped } = await reset();
      process.stderr.write(`${stopped.length ? `stopped ${stopped.join(", ")}; ` : ""}environment data deleted\n`);
    });

  dev
    .command("status")
    .description("show each component and whether it is healthy")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }) => {
      printStatus(await readStatus(), opts.output);
    });

  dev
    .command("job-runner")
    .description("run the pods of backup Jobs as local processes, as a kubelet would (mms dev up starts it; dev environment only)")
    .requiredOption("--kubeconfig-file <file>", "the dev environment's kubeconfig, also handed to each process")
    .requiredOption("--health-port <port>", "serve /healthz on 127.0.0.1:PORT", (v) => Number.parseInt(v, 10))
    .requiredOption("--work-dir <dir>", "scratch folders and one log per pod")
    .addOption(new Option("--scheduled <mode>", "the CronJobs' scheduled runs: run them, or hold them Pending (runs made by hand still run)").choices(["run", "hold"]).default("run"))
    .action(async (opts: { kubeconfigFile: string; healthPort: number; workDir: string; scheduled: "run" | "hold" }) => {
      await serveLocalJobRunner({
        kubeconfig: opts.kubeconfigFile, healthPort: opts.healthPort, workDir: opts.workDir, scheduled: opts.scheduled,
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
    });

  dev
    .command("env")
    .description("print shell export lines for the kubeconfig and every endpoint (eval \"$(mms dev env)\")")
    .action(async () => {
      const e = await endpoints();
      const lines: [string, string][] = [
        ["KUBECONFIG", e.kubeconfig],
        ["PATH", `${e.kubectlDir}:${process.env.PATH ?? ""}`],
        ["MMS_DEV_MARIADB_HOST", e.mariadb.host],
        ["MMS_DEV_MARIADB_PORT", String(e.mariadb.port)],
        ["MMS_DEV_MARIADB_USER", e.mariadb.user],
        ["MMS_DEV_MARIADB_PASSWORD", e.mariadb.password],
        ["MMS_DEV_REDIS_URL", e.redis.url],
        ["MMS_DEV_S3_ENDPOINT", e.s3.endpoint],
        ["MMS_DEV_S3_REGION", e.s3.region],
        ["MMS_DEV_S3_ACCESS_KEY_ID", e.s3.accessKeyId],
        ["MMS_DEV_S3_SECRET_ACCESS_KEY", e.s3.secretAccessKey],
        // The bucket of the BackupStore "default", e.g. for `mms dr restore-all --from`.
        ["MMS_DEV_BACKUP_BUCKET", DEV_BACKUP_BUCKET],
        // For `mms node-doctor --sim-connection` and tests that drive the sim OVH API.
        ["MMS_DEV_SIM_OVH_CONNECTION", e.simOvhApi.connectionFile],
        ["MMS_DEV_NODE_DOCTOR_URL", e.nodeDoctor.url],
        // With a real node: the ACME server (Pebble), the root its certificates chain to (curl --cacert),
        // challtestsrv's management API, and the ingress controller's address (curl --resolve DOMAIN:443:ADDRESS).
        ...(e.acme
          ? [
            ["MMS_DEV_ACME_DIRECTORY", e.acme.directory], ["MMS_DEV_ACME_SERVER_CA", e.acme.serverCaFile], ["MMS_DEV_ACME_ROOT", e.acme.rootFile],
            ["MMS_DEV_ACME_MANAGEMENT_URL", e.acme.managementUrl], ["MMS_DEV_CHALLTESTSRV_URL", e.acme.challtestsrvUrl], ["MMS_DEV_INGRESS_ADDRESS", e.acme.ingressAddress],
          ] satisfies [string, string][]
          : []),
      ];
      process.stdout.write(lines.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("\n") + "\n");
    });
}
