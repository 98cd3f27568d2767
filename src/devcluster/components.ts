// The programs of the dev environment: how each one is started, what it waits for, and how its
// health is checked. Start order follows `after`; independent ones start together.
import { existsSync } from "node:fs";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Agent, request as httpsRequest } from "node:https";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { createConnection } from "mysql2/promise";
import { createClient } from "redis";
import { UserError } from "../util/errors.ts";
import { installApi } from "../controllers/install.ts";
import { loadKubeConfig } from "../kube/client.ts";
import { KubeHttp, type KubeObject } from "../kube/http.ts";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { ensureSimFiles, type SimFiles } from "./sim-ovh-api.ts";
import type { AddressPlan } from "./addresses.ts";
import { loadSimConnection } from "../cloud/sim-driver.ts";
import { parseDuration } from "../util/duration.ts";
import { run } from "../util/exec.ts";
import { KWOK_NODE_SELECTOR, kwokStages } from "./kwok.ts";
import { parseScheduledJobs, type ScheduledJobs } from "./local-jobs.ts";
import { NODE_POOL } from "./nodes.ts";
import type { DevPaths } from "./paths.ts";
import type { Pki } from "./pki.ts";
import type { PortName, Ports } from "./ports.ts";
import type { ProcessSpec } from "./processes.ts";

export interface Secrets {
  readonly mariadbAdminPassword: string;
  readonly redisPassword: string;
  readonly s3AccessKey: string;
  readonly s3SecretKey: string;
}

export interface BinDirs {
  readonly kubernetes: string;
  readonly etcd: string;
  readonly kwok: string;
  readonly seaweedfs: string;
}

export interface Context {
  readonly paths: DevPaths;
  readonly ports: Ports;
  readonly bins: BinDirs;
  readonly pki: Pki;
  readonly secrets: Secrets;
  readonly system: SystemPrograms;
  readonly timings: DevTimings;
  /** The environment's cluster addresses, all in 198.18.0.0/15 (addresses.ts). */
  readonly addresses: AddressPlan;
}

/** Timings of the sim OVH API and the node doctor, read from the environment of `mms dev up`. */
export interface DevTimings {
  /** MMS_DEV_SIM_REBOOT_DELAY: how long a simulated instance takes to reboot (60 s, like a real one). */
  readonly simRebootDelayMs: number;
  /** MMS_DEV_SIM_REPLACE_DELAY: how long after a node's deletion its pool's new node joins (60 s). */
  readonly simReplaceDelayMs: number;
  /** MMS_DEV_NODE_DOCTOR_ARGS: extra `mms node-doctor` flags, after (and so overriding) the dev ones. */
  readonly doctorArgs: readonly string[];
  /**
   * MMS_DEV_SCHEDULED_JOBS: `run` (default) lets the local Job runner run the backup and drill
   * CronJobs' scheduled runs; `hold` leaves them Pending (runs made by hand, `kubectl create job
   * --from=cronjob/…`, and the operator's Jobs still run). The test command holds them, so a backup
   * firing at a tenant's minute never lands in the middle of a test.
   */
  readonly scheduledJobs: ScheduledJobs;
}

export function devTimings(env: NodeJS.ProcessEnv = process.env): DevTimings {
  const duration = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    try {
      return parseDuration(raw);
    } catch (err) {
      throw new UserError(`${name}: ${(err as Error).message}`);
    }
  };
  return {
    simRebootDelayMs: duration("MMS_DEV_SIM_REBOOT_DELAY", 60_000),
    simReplaceDelayMs: duration("MMS_DEV_SIM_REPLACE_DELAY", 60_000),
    doctorArgs: (env.MMS_DEV_NODE_DOCTOR_ARGS ?? "").split(/\s+/).filter(Boolean),
    scheduledJobs: parseScheduledJobs(env.MMS_DEV_SCHEDULED_JOBS),
  };
}

/**
 * The dev node doctor's flags: production detection for a silent Lease (30 s), Ready not True for 10 s
 * rather than 30 s, a 1 s loop, a 30 s storm settle and a 60 s cooldown rather than 60 s and 5 min, step
 * timeouts that follow the sim's delays, and only the environment's own node pool, so nodes that tests
 * add in pools of their own are left to them.
 */
export function nodeDoctorDevArgs(t: DevTimings): string[] {
  const s = (ms: number) => `${Math.round(ms / 1000)}s`;
  return [
    `--pool=${NODE_POOL}`, "--interval=1s", "--unhealthy-after=10s", "--heartbeat-silence=30s", "--storm-settle=30s", "--cooldown=60s",
    `--soft-reboot-timeout=${s(t.simRebootDelayMs + 30_000)}`, `--hard-reboot-timeout=${s(t.simRebootDelayMs + 30_000)}`,
    `--replace-timeout=${s(t.simReplaceDelayMs + 60_000)}`, "--access-denied-hold=2m",
    ...t.doctorArgs,
  ];
}

/** Programs that come from Debian packages rather than our build cache. */
export interface SystemPrograms {
  readonly mariadbd: string;
  readonly mariadbInstallDb: string;
  readonly redisServer: string;
}

export const COMPONENT_NAMES = [
  "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "mariadb", "redis", "s3", "operator",
  "sim-ovh-api", "node-doctor", "local-jobs",
] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

export interface Component {
  readonly name: ComponentName;
  readonly ports: readonly PortName[];
  readonly after: readonly ComponentName[];
  /** Absolute path of the executable, also used to recognise our process by pid. */
  executable(ctx: Context): string;
  prepare?(ctx: Context): Promise<void>;
  spec(ctx: Context): ProcessSpec;
  /** Resolves when healthy; rejects with a short reason otherwise. */
  health(ctx: Context): Promise<void>;
  endpoint(ctx: Context): string;
}

export const ADMIN_DB_USER = "mms_admin";

const dataDir = (ctx: Context, name: string) => join(ctx.paths.data, name);
const loopback = "127.0.0.1";

async function httpOk(url: string, opts: { ca?: Buffer; insecure?: boolean; expect?: RegExp } = {}): Promise<void> {
  if (url.startsWith("https:")) {
    const agent = new Agent({ ca: opts.ca, rejectUnauthorized: !opts.insecure });
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(url, { agent, timeout: 2000 }, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end();
    });
    if (opts.expect && !opts.expect.test(body)) throw new Error(`unexpected answer ${body.slice(0, 80)}`);
    return;
  }
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  if (opts.expect && !opts.expect.test(body)) throw new Error(`unexpected answer ${body.slice(0, 80)}`);
}

const kubeBin = (ctx: Context, name: string) => join(ctx.bins.kubernetes, name);
const s3IdentitiesFile = (ctx: Context) => join(ctx.paths.home, "s3-identities.json");

/** Flags the controller-manager and the scheduler share: whom to call, where to serve health. */
const controlPlaneClientFlags = (ctx: Context, port: number) => [
  `--kubeconfig=${ctx.paths.kubeconfig}`,
  `--authentication-kubeconfig=${ctx.paths.kubeconfig}`, `--authorization-kubeconfig=${ctx.paths.kubeconfig}`,
  `--bind-address=${loopback}`, `--secure-port=${port}`,
  "--leader-elect=false", "--profiling=false", "--v=0",
];

export const COMPONENTS: readonly Component[] = [
  {
    name: "etcd",
    ports: ["etcd", "etcdPeer"],
    after: [],
    executable: (ctx) => join(ctx.bins.etcd, "etcd"),
    spec: (ctx) => {
      const client = `http://${loopback}:${ctx.ports.etcd}`;
      const peer = `http://${loopback}:${ctx.ports.etcdPeer}`;
      return {
        command: join(ctx.bins.etcd, "etcd"),
        args: [
          "--name=mms-dev", `--data-dir=${dataDir(ctx, "etcd")}`,
          `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=mms-dev=${peer}`,
          // A disposable development store: skipping fsync makes the API server several times
          // faster on a small disk; a hard power cut may need `mms dev reset`.
          "--unsafe-no-fsync", "--quota-backend-bytes=4294967296", "--log-level=warn",
        ],
      };
    },
    health: (ctx) => httpOk(`http://${loopback}:${ctx.ports.etcd}/health`, { expect: /"health":\s*"true"/ }),
    endpoint: (ctx) => `http://${loopback}:${ctx.ports.etcd}`,
  },
  {
    name: "kube-apiserver",
    ports: ["apiserver"],
    after: ["etcd"],
    executable: (ctx) => kubeBin(ctx, "kube-apiserver"),
    spec: (ctx) => ({
      command: kubeBin(ctx, "kube-apiserver"),
      args: [
        `--etcd-servers=http://${loopback}:${ctx.ports.etcd}`,
        `--bind-address=${loopback}`, `--advertise-address=${loopback}`, `--secure-port=${ctx.ports.apiserver}`,
        `--tls-cert-file=${ctx.pki.apiserverCert}`, `--tls-private-key-file=${ctx.pki.apiserverKey}`,
        `--client-ca-file=${ctx.pki.caCert}`,
        // Real nodes' names do not resolve: the API server reaches a kubelet (logs, exec) at its InternalIP.
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        `--kubelet-client-certificate=${ctx.pki.kubeletClientCert}`, `--kubelet-client-key=${ctx.pki.kubeletClientKey}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${ctx.pki.saPub}`, `--service-account-signing-key-file=${ctx.pki.saKey}`,
        `--service-cluster-ip-range=${ctx.addresses.serviceCidr}`,
        "--authorization-mode=RBAC",
        // The Service "kubernetes" would point at 127.0.0.1, which endpoint validation refuses.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true", "--profiling=false", "--event-ttl=2h", "--v=0",
      ],
    }),
    health: async (ctx) =>
      httpOk(`https://${loopback}:${ctx.ports.apiserver}/readyz`, { ca: await readFile(ctx.pki.caCert), expect: /^ok/ }),
    endpoint: (ctx) => `https://${loopback}:${ctx.ports.apiserver}`,
  },
  {
    name: "kube-controller-manager",
    ports: ["controllerManager"],
    after: ["kube-apiserver"],
    executable: (ctx) => kubeBin(ctx, "kube-controller-manager"),
    spec: (ctx) => ({
      command: kubeBin(ctx, "kube-controller-manager"),
      args: [
        ...controlPlaneClientFlags(ctx, ctx.ports.controllerManager),
        `--service-account-private-key-file=${ctx.pki.saKey}`, `--root-ca-file=${ctx.pki.caCert}`,
        `--cluster-signing-cert-file=${ctx.pki.caCert}`, `--cluster-signing-key-file=${ctx.pki.caKey}`,
        "--use-service-account-credentials=false",
      ],
    }),
    health: (ctx) => httpOk(`https://${loopback}:${ctx.ports.controllerManager}/healthz`, { insecure: true, expect: /^ok/ }),
    endpoint: (ctx) => `https://${loopback}:${ctx.ports.controllerManager}`,
  },
  {
    name: "kube-scheduler",
    ports: ["scheduler"],
    after: ["kube-apiserver"],
    executable: (ctx) => kubeBin(ctx, "kube-scheduler"),
    spec: (ctx) => ({
      command: kubeBin(ctx, "kube-scheduler"),
      args: controlPlaneClientFlags(ctx, ctx.ports.scheduler),
    }),
    health: (ctx) => httpOk(`https://${loopback}:${ctx.ports.scheduler}/healthz`, { insecure: true, expect: /^ok/ }),
    endpoint: (ctx) => `https://${loopback}:${ctx.ports.scheduler}`,
  },
  {
    name: "kwok",
    ports: ["kwok"],
    after: ["kube-apiserver"],
    executable: (ctx) => join(ctx.bins.kwok, "kwok"),
    prepare: async (ctx) => {
      await writeFile(join(ctx.paths.home, "kwok.yaml"), kwokStages());
    },
    spec: (ctx) => ({
      command: join(ctx.bins.kwok, "kwok"),
      args: [
        `--kubeconfig=${ctx.paths.kubeconfig}`, `--config=${join(ctx.paths.home, "kwok.yaml")}`,
        "--manage-all-nodes=false",
        `--manage-nodes-with-label-selector=${KWOK_NODE_SELECTOR}`,
        "--cidr=10.244.0.1/16", `--node-ip=${loopback}`,
        `--server-address=${loopback}:${ctx.ports.kwok}`,
        "--node-lease-duration-seconds=40",
      ],
    }),
    health: (ctx) => httpOk(`http://${loopback}:${ctx.ports.kwok}/healthz`),
    endpoint: (ctx) => `http://${loopback}:${ctx.ports.kwok}`,
  },
  {
    name: "mariadb",
    ports: ["mariadb"],
    after: [],
    executable: (ctx) => ctx.system.mariadbd,
    prepare: async (ctx) => {
      const dir = dataDir(ctx, "mariadb");
      const initFile = join(ctx.paths.home, "mariadb-init.sql");
      const pw = ctx.secrets.mariadbAdminPassword.replaceAll("'", "''");
      // Runs at every start, so it is written to converge: the admin account always matches secrets.json.
      await writeFile(initFile, [
        `CREATE USER IF NOT EXISTS '${ADMIN_DB_USER}'@'%' IDENTIFIED BY '${pw}';`,
        `ALTER USER '${ADMIN_DB_USER}'@'%' IDENTIFIED BY '${pw}';`,
        `GRANT ALL PRIVILEGES ON *.* TO '${ADMIN_DB_USER}'@'%' WITH GRANT OPTION;`,
        "",
      ].join("\n"), { mode: 0o600 });
      if (existsSync(join(dir, "mysql"))) return;
      await mkdir(dir, { recursive: true });
      const r = await run(ctx.system.mariadbInstallDb, [
        "--no-defaults", `--datadir=${dir}`, "--user=root", "--auth-root-authentication-method=socket",
        "--skip-test-db",
      ]);
      if (r.code !== 0) throw new UserError(`initialising the MariaDB data folder ${dir} failed: ${r.stderrTail.split("\n").at(-1) ?? ""}`);
    },
    spec: (ctx) => {
      const dir = dataDir(ctx, "mariadb");
      return {
        command: ctx.system.mariadbd,
        args: [
          "--no-defaults", `--datadir=${dir}`, `--port=${ctx.ports.mariadb}`, `--bind-address=${loopback}`,
          `--socket=${join(dir, "mariadb.sock")}`, `--pid-file=${join(dir, "mariadb.pid")}`, "--user=root",
          "--skip-name-resolve", `--init-file=${join(ctx.paths.home, "mariadb-init.sql")}`,
          "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
          "--max-connections=1000", "--innodb-buffer-pool-size=256M", "--innodb-flush-log-at-trx-commit=2",
        ],
      };
    },
    health: async (ctx) => {
      const conn = await createConnection({
        host: loopback, port: ctx.ports.mariadb, user: ADMIN_DB_USER,
        password: ctx.secrets.mariadbAdminPassword, connectTimeout: 2000,
      });
      try {
        await conn.query("SELECT 1");
      } finally {
        await conn.end();
      }
    },
    endpoint: (ctx) => `mysql://${loopback}:${ctx.ports.mariadb}`,
  },
  {
    name: "redis",
    ports: ["redis"],
    after: [],
    executable: (ctx) => ctx.system.redisServer,
    prepare: async (ctx) => {
      const dir = dataDir(ctx, "redis");
      await mkdir(dir, { recursive: true });
      // The password goes in a 0600 file rather than on the command line, where ps would show it.
      await writeFile(join(ctx.paths.home, "redis.conf"), [
        `port ${ctx.ports.redis}`, `bind ${loopback}`, "protected-mode yes", `dir ${dir}`,
        "appendonly yes", "daemonize no", `requirepass "${ctx.secrets.redisPassword}"`, "",
      ].join("\n"), { mode: 0o600 });
    },
    spec: (ctx) => ({ command: ctx.system.redisServer, args: [join(ctx.paths.home, "redis.conf")] }),
    health: async (ctx) => {
      const client = createClient({
        socket: { host: loopback, port: ctx.ports.redis, connectTimeout: 2000, reconnectStrategy: false },
        password: ctx.secrets.redisPassword,
      });
      client.on("error", () => undefined);
      await client.connect();
      try {
        const pong = await client.ping();
        if (pong !== "PONG") throw new Error(`PING answered ${pong}`);
      } finally {
        client.destroy();
      }
    },
    endpoint: (ctx) => `redis://${loopback}:${ctx.ports.redis}`,
  },
  {
    name: "s3",
    // SeaweedFS in one process: a master, a volume server, a filer (metadata) and the S3 gateway.
    ports: ["s3", "s3Console", "s3Grpc", "s3Master", "s3MasterGrpc", "s3Volume", "s3VolumeGrpc", "s3FilerGrpc"],
    after: [],
    executable: (ctx) => join(ctx.bins.seaweedfs, "weed"),
    prepare: async (ctx) => {
      await mkdir(join(dataDir(ctx, "seaweedfs"), "volumes"), { recursive: true });
      await mkdir(join(dataDir(ctx, "seaweedfs"), "meta"), { recursive: true });
      await mkdir(join(dataDir(ctx, "seaweedfs"), "tmp"), { recursive: true });
      // The one S3 identity, with every right; in a 0600 file rather than on the command line.
      await writeFile(s3IdentitiesFile(ctx), JSON.stringify({
        identities: [{
          name: "mms-dev",
          credentials: [{ accessKey: ctx.secrets.s3AccessKey, secretKey: ctx.secrets.s3SecretKey }],
          actions: ["Admin", "Read", "List", "Tagging", "Write"],
        }],
      }, null, 2) + "\n", { mode: 0o600 });
    },
    spec: (ctx) => {
      const dir = dataDir(ctx, "seaweedfs");
      const p = ctx.ports;
      return {
        command: join(ctx.bins.seaweedfs, "weed"),
        args: [
          "-logtostderr", "server",
          `-ip=${loopback}`, `-ip.bind=${loopback}`, `-dir=${join(dir, "volumes")}`, `-master.dir=${join(dir, "meta")}`,
          `-master.port=${p.s3Master}`, `-master.port.grpc=${p.s3MasterGrpc}`, "-master.telemetry=false",
          // Volumes of 256 MB, as many as the disk holds; no wait before stopping.
          "-master.volumeSizeLimitMB=256", "-volume.max=0", "-volume.preStopSeconds=0",
          `-volume.port=${p.s3Volume}`, `-volume.port.grpc=${p.s3VolumeGrpc}`,
          "-filer", `-filer.port=${p.s3Console}`, `-filer.port.grpc=${p.s3FilerGrpc}`,
          `-filer.localSocket=${join(ctx.paths.home, "seaweedfs-filer.sock")}`,
          "-s3", `-s3.port=${p.s3}`, `-s3.port.grpc=${p.s3Grpc}`, "-s3.port.iceberg=0", "-s3.port.lance=0",
          `-s3.config=${s3IdentitiesFile(ctx)}`, `-s3.localSocket=${join(ctx.paths.home, "seaweedfs-s3.sock")}`,
        ],
        // Its working folder and temporary files stay in the environment; no error reporting service.
        cwd: dir,
        env: { TMPDIR: join(dir, "tmp"), SENTRY_DSN: "" },
      };
    },
    // A signed request: the gateway is up, has read the identity and reaches its filer.
    health: async (ctx) => {
      const s3 = new S3Client({
        endpoint: `http://${loopback}:${ctx.ports.s3}`, region: "us-east-1", forcePathStyle: true, maxAttempts: 1,
        credentials: { accessKeyId: ctx.secrets.s3AccessKey, secretAccessKey: ctx.secrets.s3SecretKey },
      });
      try {
        await s3.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(2000) });
      } finally {
        s3.destroy();
      }
    },
    endpoint: (ctx) => `http://${loopback}:${ctx.ports.s3}`,
  },
  {
    name: "operator",
    ports: ["operator"],
    after: ["kube-apiserver", "kube-controller-manager", "mariadb"],
    executable: () => process.execPath,
    prepare: prepareOperator,
    spec: (ctx) => ({
      command: process.execPath,
      args: [
        "--disable-warning=ExperimentalWarning",
        // The operator keeps no caches: a small young generation and heap cap keep it near 180 MB
        // at 100 tenants created at once, where Node's defaults let it grow past 350 MB.
        "--max-semi-space-size=2", "--max-old-space-size=192",
        join(PROJECT_ROOT, "src", "cli", "main.ts"),
        `--kubeconfig=${ctx.paths.kubeconfig}`, "operator", `--health-port=${ctx.ports.operator}`, "--no-install-api",
        // KWOK's nodes run no containers: backup and drill pods run on the local Job runner instead.
        "--run-jobs-locally",
      ],
    }),
    health: (ctx) => httpOk(`http://${loopback}:${ctx.ports.operator}/readyz`),
    endpoint: (ctx) => `http://${loopback}:${ctx.ports.operator}`,
  },
  {
    name: "sim-ovh-api",
    ports: ["simOvhApi"],
    after: ["kube-apiserver"],
    executable: () => process.execPath,
    prepare: async (ctx) => {
      await ensureSimFiles(simDir(ctx), ctx.ports.simOvhApi);
    },
    spec: (ctx) => {
      const files = simFiles(ctx);
      return {
        command: process.execPath,
        args: [
          "--disable-warning=ExperimentalWarning", "--max-old-space-size=96", join(PROJECT_ROOT, "src", "cli", "main.ts"),
          `--kubeconfig=${ctx.paths.kubeconfig}`, "sim-ovh-api", `--connection=${files.connection}`, `--key=${files.key}`,
          `--reboot-delay=${ctx.timings.simRebootDelayMs}ms`, `--replace-delay=${ctx.timings.simReplaceDelayMs}ms`,
        ],
      };
    },
    health: async (ctx) => {
      const { baseUrl, ca } = await loadSimConnection(simFiles(ctx).connection);
      await httpOk(`${baseUrl}/auth/time`, { ca: Buffer.from(ca) });
    },
    endpoint: (ctx) => `https://${loopback}:${ctx.ports.simOvhApi}/1.0`,
  },
  {
    name: "node-doctor",
    ports: ["nodeDoctor"],
    // The operator's start installs the API, NodeRemediation included.
    after: ["kube-controller-manager", "sim-ovh-api", "operator"],
    executable: () => process.execPath,
    spec: (ctx) => ({
      command: process.execPath,
      args: [
        "--disable-warning=ExperimentalWarning", "--max-old-space-size=128", join(PROJECT_ROOT, "src", "cli", "main.ts"),
        `--kubeconfig=${ctx.paths.kubeconfig}`, "node-doctor", `--sim-connection=${simFiles(ctx).connection}`,
        `--health-port=${ctx.ports.nodeDoctor}`, ...nodeDoctorDevArgs(ctx.timings),
      ],
    }),
    health: (ctx) => httpOk(`http://${loopback}:${ctx.ports.nodeDoctor}/readyz`),
    endpoint: (ctx) => `http://${loopback}:${ctx.ports.nodeDoctor}`,
  },
  {
    // The kubelet of the pods labelled multiscale.io/run-locally (backup, drill and verified-backup
    // Jobs): runs their mms command here, since the simulated nodes run nothing (local-jobs.ts).
    name: "local-jobs",
    ports: ["localJobs"],
    after: ["kube-apiserver", "kwok"],
    executable: () => process.execPath,
    spec: (ctx) => ({
      command: process.execPath,
      args: [
        "--disable-warning=ExperimentalWarning", "--max-old-space-size=96", join(PROJECT_ROOT, "src", "cli", "main.ts"),
        "dev", "job-runner", `--kubeconfig-file=${ctx.paths.kubeconfig}`, `--health-port=${ctx.ports.localJobs}`,
        `--work-dir=${join(ctx.paths.home, "local-jobs")}`, `--scheduled=${ctx.timings.scheduledJobs}`,
      ],
    }),
    health: (ctx) => httpOk(`http://${loopback}:${ctx.ports.localJobs}/healthz`),
    endpoint: (ctx) => `http://${loopback}:${ctx.ports.localJobs}`,
  },
];

/** The sim OVH API's identity: connection file (address, certificate, credentials) and key. */
const simDir = (ctx: Pick<Context, "paths">) => join(ctx.paths.home, "sim-ovh-api");
export function simFiles(ctx: Pick<Context, "paths">): SimFiles {
  return { connection: join(simDir(ctx), "connection.json"), key: join(simDir(ctx), "tls.key") };
}

export const DEV_POOL = "dev-mariadb";
export const DEV_BACKUP_BUCKET = "mms-backups";
const PROJECT_ROOT = join(import.meta.dirname, "..", "..");

/** Installs the API and registers the dev MariaDB as a DatabasePool, so the CLI works at once. */
async function prepareOperator(ctx: Context): Promise<void> {
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }));
  await installApi(http);
  const manager = { fieldManager: "mms-dev" };
  const secret: KubeObject = {
    apiVersion: "v1", kind: "Secret", metadata: { name: `${DEV_POOL}-admin`, namespace: SYSTEM_NAMESPACE },
    type: "Opaque", stringData: { username: ADMIN_DB_USER, password: ctx.secrets.mariadbAdminPassword },
  };
  await http.apply(secret, manager);
  await http.apply({
    apiVersion: "multiscale.io/v1alpha1", kind: "DatabasePool", metadata: { name: DEV_POOL },
    spec: { host: loopback, port: ctx.ports.mariadb, capacity: 1000, adminSecretRef: { namespace: SYSTEM_NAMESPACE, name: `${DEV_POOL}-admin` } },
  }, manager);
  // The platform-wide backup store: the dev S3 server's bucket, with its key in a Secret.
  await http.apply({
    apiVersion: "v1", kind: "Secret", metadata: { name: "backup-store-default", namespace: SYSTEM_NAMESPACE },
    type: "Opaque", stringData: { "access-key-id": ctx.secrets.s3AccessKey, "secret-access-key": ctx.secrets.s3SecretKey },
  }, manager);
  await http.apply({
    apiVersion: "multiscale.io/v1alpha1", kind: "BackupStore", metadata: { name: "default" },
    spec: {
      endpoint: `http://${loopback}:${ctx.ports.s3}`, region: "us-east-1", bucket: DEV_BACKUP_BUCKET, forcePathStyle: true,
      credentialsSecretRef: { namespace: SYSTEM_NAMESPACE, name: "backup-store-default" },
    },
  }, manager);
}


export function component(name: ComponentName): Component {
  const c = COMPONENTS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown component ${name}`);
  return c;
}
