// The programs of the dev environment: how each one is started, what it waits for, and how its
// health is checked. Start order follows `after`; independent ones start together.
import { existsSync } from "node:fs";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Agent, request as httpsRequest } from "node:https";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { createConnection } from "mysql2/promise";
import { createClient } from "redis";
import { UserError } from "../util/errors.ts";
import { installApi } from "../controllers/install.ts";
import { kubeClients, loadKubeConfig } from "../kube/client.ts";
import { KubeHttp, type KubeObject } from "../kube/http.ts";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import { PlanSpec, type TenantPlan } from "../api/plan.ts";
import { ensureSimFiles, type SimFiles } from "./sim-ovh-api.ts";
import type { AddressPlan } from "./addresses.ts";
import { loadSimConnection } from "../cloud/sim-driver.ts";
import { parseDuration } from "../util/duration.ts";
import { run } from "../util/exec.ts";
import { KUBELET_LABEL, KWOK_NODE_SELECTOR, kwokStages } from "./kwok.ts";
import { parseScheduledJobs, type ScheduledJobs } from "./local-jobs.ts";
import { NODE_POOL, REGION, waitRealNodeReady, ZONES } from "./nodes.ts";
import {
  cgroupRootName, cniConflist, containerdConfig, ensureCgroupRoot, ensureNodeNetwork, kubeletConfig, kubeProxyConfig, netnsPath, PAUSE_IMAGE, REAL_NODE_LABEL,
  REAL_NODE_TAINT, realNodeDirs, realNodeLabels, realNodeName, writeNodeFiles,
} from "./real-node.ts";
import { ensurePauseArchive, importImage } from "./pause.ts";
import { ensureClientCert, ensureServingCert, writeKubeconfig } from "./pki.ts";
import {
  ACME_ROOT_SECRET, acmeFiles, acmeListeners, challtestsrvArgs, INGRESS_NAMESPACE, INGRESS_POD_SELECTOR, ingressAddress, PEBBLE_CERT_NAME, PEBBLE_ENV, pebbleCertSans,
  pebbleConfig, savePebbleRoot,
} from "./acme.ts";
import { Resolver } from "node:dns/promises";
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
  /** Built only for environments with real nodes. */
  readonly kubernetesNode?: string;
  readonly containerd?: string;
  readonly coredns?: string;
  readonly crictl?: string;
  /** kube-router, whose firewall enforces NetworkPolicies on the real node. */
  readonly kubeRouter?: string;
  /** Pebble and pebble-challtestsrv (the ingress controller's ACME server, with a real node). */
  readonly pebble?: string;
  readonly helm?: string;
}

/** A real node's programs from Debian packages (sysdeps.ts NODE_PROGRAMS). */
export interface NodePrograms {
  readonly runc: string;
  readonly cniBridge: string;
  readonly iptables: string;
  readonly nsenter: string;
  readonly ipset: string;
  readonly gcc: string;
  /** From the image builders' set: wraps the pause program in an image. */
  readonly buildah: string;
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
  /** How many real nodes (kubelet + containerd) run beside the simulated ones: 0 or 1. */
  readonly realNodes: number;
  readonly nodePrograms?: NodePrograms | undefined;
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
  "sim-ovh-api", "node-doctor", "local-jobs", "containerd", "kubelet", "kube-proxy", "kube-router", "coredns", "challtestsrv", "pebble",
] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

export interface Component {
  readonly name: ComponentName;
  /** Runs only with real nodes (`real`), or only without (`simulated`); unset: always. */
  readonly only?: "real" | "simulated";
  readonly ports: readonly PortName[];
  readonly after: readonly ComponentName[];
  /** Absolute path of the executable, also used to recognise our process by pid. */
  executable(ctx: Context): string;
  prepare?(ctx: Context): Promise<void>;
  /** Runs once the component, started by this `dev up`, is healthy. */
  started?(ctx: Context): Promise<void>;
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
      const req = httpsRequest(url, { agent, timeout: 2000, headers: { "User-Agent": "mms-dev-health" } }, (res) => {
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

/**
 * Where the data services and the API server listen. Without real nodes: loopback only. With them, pods
 * reach the host at its bridge address, so MariaDB, Redis, S3 and the API server listen there as well,
 * and the platform's objects (DatabasePool, BackupStore) name that address, which works from the host too.
 */
export const serviceHost = (ctx: Pick<Context, "realNodes" | "addresses">): string => (ctx.realNodes > 0 ? ctx.addresses.hostIp : loopback);

function apiserverAddressFlags(ctx: Context): string[] {
  if (ctx.realNodes === 0) {
    return [
      `--bind-address=${loopback}`, `--advertise-address=${loopback}`, "--authorization-mode=RBAC",
      // The Service "kubernetes" would point at 127.0.0.1, which endpoint validation refuses.
      "--endpoint-reconciler-type=none",
    ];
  }
  return [
    // Loopback for the host's clients, the bridge address for kubelets and pods (Service "kubernetes").
    "--bind-address=0.0.0.0", `--advertise-address=${ctx.addresses.hostIp}`,
    // Kubelets authenticate as system:node:<name>: the Node authorizer and NodeRestriction limit each to its node.
    "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
  ];
}
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
        ...apiserverAddressFlags(ctx), `--secure-port=${ctx.ports.apiserver}`,
        `--tls-cert-file=${ctx.pki.apiserverCert}`, `--tls-private-key-file=${ctx.pki.apiserverKey}`,
        `--client-ca-file=${ctx.pki.caCert}`,
        // Real nodes' names do not resolve: the API server reaches a kubelet (logs, exec) at its InternalIP.
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        `--kubelet-client-certificate=${ctx.pki.kubeletClientCert}`, `--kubelet-client-key=${ctx.pki.kubeletClientKey}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${ctx.pki.saPub}`, `--service-account-signing-key-file=${ctx.pki.saKey}`,
        `--service-cluster-ip-range=${ctx.addresses.serviceCidr}`,
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
        `--cidr=${ctx.addresses.simulatedPodCidr}`, `--node-ip=${loopback}`,
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
          "--no-defaults", `--datadir=${dir}`, `--port=${ctx.ports.mariadb}`, `--bind-address=${[...new Set([loopback, serviceHost(ctx)])].join(",")}`,
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
        `port ${ctx.ports.redis}`, `bind ${[...new Set([loopback, serviceHost(ctx)])].join(" ")}`, "protected-mode yes", `dir ${dir}`,
        "appendonly yes", "daemonize no", `requirepass "${ctx.secrets.redisPassword}"`,
        // A database number per queued tenant of the dev pool (its spec.queue.redis.databases).
        `databases ${DEV_REDIS_DATABASES}`, "",
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
          `-ip=${loopback}`, `-ip.bind=${ctx.realNodes > 0 ? "0.0.0.0" : loopback}`, `-dir=${join(dir, "volumes")}`, `-master.dir=${join(dir, "meta")}`,
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
    // With a real node the platform's Helm chart runs the operator there instead (platform-chart.ts).
    only: "simulated",
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
        `--simulated-node-label=${KUBELET_LABEL}`,
        ...operatorJobFlags(ctx),
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
    // The operator's start installs the API, NodeRemediation included; with a real node the chart does,
    // once the node is Ready, and the doctor's first looks fail (it logs them and looks again).
    after: ["kube-controller-manager", "sim-ovh-api", "operator"],
    executable: () => process.execPath,
    prepare: async (ctx) => applySystemNamespace(new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }))),
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
    only: "simulated",
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
  // A real node (real-node.ts): containerd, then its kubelet and kube-proxy, each in the node's network
  // namespace, and the cluster DNS on the host's bridge address.
  {
    name: "containerd",
    only: "real",
    ports: [],
    after: [],
    executable: (ctx) => join(nodeBin(ctx, "containerd"), "containerd"),
    prepare: async (ctx) => {
      const programs = nodePrograms(ctx);
      const d = realNodeDirs(ctx.paths, 1);
      await ensureNodeNetwork(ctx.addresses, 1);
      await ensureCgroupRoot(cgroupRootName(ctx.addresses));
      await writeNodeFiles(d, {
        containerd: containerdConfig(d, ctx.addresses, programs.runc, dirname(programs.cniBridge)),
        cni: cniConflist(d, ctx.addresses, 1),
        kubelet: kubeletConfig(d, ctx.addresses, 1, { caCert: ctx.pki.caCert, healthzPort: ctx.ports.kubeletHealthz, dnsServiceIp: ctx.addresses.dnsServiceIp }),
        kubeProxy: kubeProxyConfig(d, ctx.addresses, 1, { healthz: ctx.ports.kubeProxyHealthz, metrics: ctx.ports.kubeProxyMetrics }),
      });
    },
    spec: (ctx) => ({
      command: join(nodeBin(ctx, "containerd"), "containerd"),
      args: ["--config", realNodeDirs(ctx.paths, 1).containerdConfig],
      // containerd finds its shim on PATH; runc is named in its configuration.
      env: { PATH: `${nodeBin(ctx, "containerd")}:/usr/sbin:/usr/bin:/sbin:/bin` },
      netns: netnsPath(ctx.addresses, 1),
    }),
    health: async (ctx) => {
      const r = await run(join(nodeBin(ctx, "containerd"), "ctr"), ["--address", realNodeDirs(ctx.paths, 1).containerdSocket, "version"]);
      if (r.code !== 0) throw new Error(r.stderrTail.trim().split("\n").at(-1) ?? "ctr version failed");
    },
    endpoint: (ctx) => `unix://${realNodeDirs(ctx.paths, 1).containerdSocket}`,
  },
  {
    name: "kubelet",
    only: "real",
    ports: [],
    after: ["kube-apiserver", "containerd"],
    executable: (ctx) => join(nodeBin(ctx, "kubernetesNode"), "kubelet"),
    prepare: async (ctx) => {
      const d = realNodeDirs(ctx.paths, 1);
      const name = realNodeName(1);
      const cert = await ensureClientCert(ctx.paths.pki, `kubelet-${name}`, `/O=system:nodes/CN=system:node:${name}`);
      await writeKubeconfig(d.kubeletKubeconfig, apiserverForNodes(ctx), ctx.pki, cert);
      // Every pod's sandbox; the node pulls nothing from the internet.
      const archive = await ensurePauseArchive(nodePrograms(ctx).gcc, nodePrograms(ctx).buildah, silentProgress);
      await importImage(join(nodeBin(ctx, "containerd"), "ctr"), d.containerdSocket, archive, PAUSE_IMAGE);
    },
    spec: (ctx) => {
      const d = realNodeDirs(ctx.paths, 1);
      const labels = realNodeLabels(1, ZONES[0], REGION);
      return {
        command: join(nodeBin(ctx, "kubernetesNode"), "kubelet"),
        args: [
          `--config=${d.kubeletConfig}`, `--kubeconfig=${d.kubeletKubeconfig}`, `--root-dir=${d.kubeletRoot}`,
          `--cert-dir=${join(d.kubeletRoot, "pki")}`, `--node-ip=${ctx.addresses.nodeIp(1)}`, `--hostname-override=${realNodeName(1)}`,
          `--node-labels=${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",")}`, "--v=0",
        ],
        env: { PATH: `${dirname(nodePrograms(ctx).iptables)}:/usr/sbin:/usr/bin:/sbin:/bin` },
        netns: netnsPath(ctx.addresses, 1),
      };
    },
    health: (ctx) => httpOk(`http://${ctx.addresses.nodeIp(1)}:${ctx.ports.kubeletHealthz}/healthz`, { expect: /^ok/ }),
    endpoint: (ctx) => `https://${ctx.addresses.nodeIp(1)}:10250`,
  },
  {
    name: "kube-proxy",
    only: "real",
    ports: [],
    after: ["kube-apiserver", "containerd"],
    executable: (ctx) => join(nodeBin(ctx, "kubernetesNode"), "kube-proxy"),
    prepare: async (ctx) => {
      const cert = await ensureClientCert(ctx.paths.pki, "kube-proxy", "/CN=system:kube-proxy");
      await writeKubeconfig(realNodeDirs(ctx.paths, 1).kubeProxyKubeconfig, apiserverForNodes(ctx), ctx.pki, cert);
    },
    spec: (ctx) => ({
      command: join(nodeBin(ctx, "kubernetesNode"), "kube-proxy"),
      args: [`--config=${realNodeDirs(ctx.paths, 1).kubeProxyConfig}`, "--v=0"],
      env: { PATH: `${dirname(nodePrograms(ctx).iptables)}:/usr/sbin:/usr/bin:/sbin:/bin` },
      netns: netnsPath(ctx.addresses, 1),
    }),
    health: (ctx) => httpOk(`http://${ctx.addresses.nodeIp(1)}:${ctx.ports.kubeProxyHealthz}/healthz`),
    endpoint: (ctx) => `http://${ctx.addresses.nodeIp(1)}:${ctx.ports.kubeProxyMetrics}/metrics`,
  },
  {
    // The NetworkPolicy engine: kube-router's firewall only (no routing, no service proxy), in the node's
    // namespace beside kube-proxy. Its iptables chains and ipsets live in that namespace, so `dev down`
    // removes them with it.
    name: "kube-router",
    only: "real",
    ports: [],
    // It reads its own Node at start and panics when there is none yet (a new environment): after the kubelet,
    // and only once its node is Ready.
    after: ["kube-apiserver", "containerd", "kubelet"],
    executable: (ctx) => join(nodeBin(ctx, "kubeRouter"), "kube-router"),
    prepare: async (ctx) => {
      const cert = await ensureClientCert(ctx.paths.pki, "kube-router", `/CN=${KUBE_ROUTER_USER}`);
      await writeKubeconfig(realNodeDirs(ctx.paths, 1).kubeRouterKubeconfig, apiserverForNodes(ctx), ctx.pki, cert);
      await applyKubeRouterRbac(ctx);
      if (!(await waitRealNodeReady(kubeClients(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig })), realNodeName(1), 60_000))) {
        throw new UserError(`the real node ${realNodeName(1)} did not become Ready within 60 s; see the kubelet's log`);
      }
    },
    spec: (ctx) => ({
      command: join(nodeBin(ctx, "kubeRouter"), "kube-router"),
      args: kubeRouterArgs(ctx),
      // It calls iptables-save/-restore and ipset.
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      netns: netnsPath(ctx.addresses, 1),
    }),
    health: (ctx) => httpOk(`http://${ctx.addresses.nodeIp(1)}:${ctx.ports.kubeRouterHealth}/healthz`),
    endpoint: (ctx) => `http://${ctx.addresses.nodeIp(1)}:${ctx.ports.kubeRouterMetrics}/metrics`,
  },
  {
    name: "coredns",
    only: "real",
    ports: ["corednsHealth"],
    after: ["kube-apiserver", "containerd"],
    executable: (ctx) => join(nodeBin(ctx, "coredns"), "coredns"),
    prepare: async (ctx) => {
      await writeFile(corefile(ctx), corednsConfig(ctx));
      await applyDnsService(ctx);
    },
    spec: (ctx) => ({ command: join(nodeBin(ctx, "coredns"), "coredns"), args: ["-conf", corefile(ctx)] }),
    health: (ctx) => httpOk(`http://${loopback}:${ctx.ports.corednsHealth}/health`),
    endpoint: (ctx) => `dns://${ctx.addresses.dnsServiceIp}:53 (served on ${ctx.addresses.hostIp}:53)`,
  },
  // Let's Encrypt's stand-in for the ingress controller on the real node (acme.ts): Pebble validates
  // HTTP-01 on port 80 of the address challtestsrv's DNS gives, the ingress controller's by default.
  {
    name: "challtestsrv",
    only: "real",
    ports: ["challtestsrvDns", "challtestsrvManagement"],
    after: [],
    executable: (ctx) => join(acmeBin(ctx), "pebble-challtestsrv"),
    spec: (ctx) => {
      const l = acmeListeners(ctx.addresses, ctx.ports);
      return {
        command: join(acmeBin(ctx), "pebble-challtestsrv"),
        args: challtestsrvArgs({ dns: l.dns, management: l.challtestsrvManagement, defaultIPv4: ingressAddress(ctx.addresses) }),
      };
    },
    // Any name resolves to the ingress controller's address (unless a test said otherwise for it).
    health: async (ctx) => {
      const resolver = new Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([acmeListeners(ctx.addresses, ctx.ports).dnsForPebble]);
      const got = await resolver.resolve4("health-check.mms.test");
      if (!got.includes(ingressAddress(ctx.addresses))) throw new Error(`its DNS answered ${got.join(", ") || "nothing"}`);
    },
    endpoint: (ctx) => `dns://${acmeListeners(ctx.addresses, ctx.ports).dnsForPebble} (management http://${acmeListeners(ctx.addresses, ctx.ports).challtestsrvManagement})`,
  },
  {
    name: "pebble",
    only: "real",
    ports: ["pebble", "pebbleManagement"],
    // The API server: a new Pebble means a new root, and the ingress controller's pods are restarted.
    after: ["challtestsrv", "kube-apiserver"],
    executable: (ctx) => join(acmeBin(ctx), "pebble"),
    prepare: async (ctx) => {
      const l = acmeListeners(ctx.addresses, ctx.ports);
      const files = acmeFiles(ctx.paths);
      const cert = await ensureServingCert(ctx.paths.pki, PEBBLE_CERT_NAME, pebbleCertSans(ctx.addresses));
      await mkdir(files.dir, { recursive: true });
      await writeFile(files.config, pebbleConfig({ listen: l.directory, management: l.management, cert: cert.cert, key: cert.key }));
    },
    spec: (ctx) => ({
      command: join(acmeBin(ctx), "pebble"),
      args: ["-config", acmeFiles(ctx.paths).config, "-dnsserver", acmeListeners(ctx.addresses, ctx.ports).dnsForPebble],
      env: { ...PEBBLE_ENV },
    }),
    health: async (ctx) =>
      httpOk(`https://${acmeListeners(ctx.addresses, ctx.ports).directory}/dir`, { ca: await readFile(ctx.pki.caCert), expect: /"newOrder"/ }),
    started: async (ctx) => {
      const changed = await savePebbleRoot(`https://${acmeListeners(ctx.addresses, ctx.ports).management}`, await readFile(ctx.pki.caCert), acmeFiles(ctx.paths).root);
      await publishAcmeRoot(ctx);
      if (changed) await restartIngressPods(ctx);
    },
    endpoint: (ctx) => `https://${acmeListeners(ctx.addresses, ctx.ports).directory}/dir`,
  },
];

/**
 * Where the operator's backup and drill pods run. KWOK's nodes run no containers: without a real node
 * they run on the local Job runner; with one, as real pods from the control-plane image on it. Test runs
 * hold the scheduled runs (MMS_DEV_SCHEDULED_JOBS=hold) either way.
 */
export function operatorJobFlags(ctx: Pick<Context, "realNodes" | "timings">): string[] {
  if (ctx.realNodes === 0) return ["--run-jobs-locally"];
  const t = REAL_NODE_TAINT;
  return [
    `--job-node-selector=${REAL_NODE_LABEL}=true`, `--job-toleration=${t.key}=${t.value}:${t.effect}`,
    ...(ctx.timings.scheduledJobs === "hold" ? ["--suspend-schedules"] : []),
  ];
}

/** The sim OVH API's identity: connection file (address, certificate, credentials) and key. */
const simDir = (ctx: Pick<Context, "paths">) => join(ctx.paths.home, "sim-ovh-api");
export function simFiles(ctx: Pick<Context, "paths">): SimFiles {
  return { connection: join(simDir(ctx), "connection.json"), key: join(simDir(ctx), "tls.key") };
}

export const DEV_POOL = "dev-mariadb";
/** The dev Redis's `databases`: one per queued tenant of the dev pool, 0 left alone. */
export const DEV_REDIS_DATABASES = 1024;
export const DEV_BACKUP_BUCKET = "mms-backups";
const PROJECT_ROOT = join(import.meta.dirname, "..", "..");

/** The plan whose tenants run real Matomo on the dev environment's real node. */
export const REAL_NODE_PLAN = "real-node";

/**
 * A TenantPlan made for the real node of a one-machine environment: one tracker and one web pod with small
 * requests (so that ten tenants fit two cores), limits high enough for Matomo's installer and archiver,
 * and the placement that puts every pod of its tenants on the real node.
 */
export function realNodePlan(): TenantPlan {
  const spec: PlanSpec = PlanSpec.parse({
    description: "Dev environment: the tenant's Matomo runs on the real node (small requests, one pod each)",
    tracker: { minReplicas: 1, maxReplicas: 2, requests: { cpu: "20m", memory: "64Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    web: { minReplicas: 1, maxReplicas: 1, requests: { cpu: "20m", memory: "96Mi" }, limits: { cpu: "1", memory: "768Mi" } },
    jobs: { requests: { cpu: "20m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    quota: { cpu: "16", memory: "16Gi", pods: 30 },
    archiving: { schedule: "5 * * * *" },
    rawDataRetentionDays: 180,
    placement: {
      nodeSelector: { [REAL_NODE_LABEL]: "true" },
      tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Equal", value: REAL_NODE_TAINT.value, effect: REAL_NODE_TAINT.effect }],
    },
  });
  return { apiVersion: API_GROUP_VERSION, kind: "TenantPlan", metadata: { name: REAL_NODE_PLAN, labels: { "app.kubernetes.io/managed-by": "mms-dev" } }, spec };
}

/** Installs the API and registers the dev MariaDB as a DatabasePool, so the CLI works at once. */
async function prepareOperator(ctx: Context): Promise<void> {
  await installApi(new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig })));
  await applyDevObjects(ctx);
}

/**
 * The dev environment's own platform objects, once the API is installed: the dev MariaDB as a
 * DatabasePool (with the dev Redis as its queue), the backup store, the real-node plan.
 */
export async function applyDevObjects(ctx: Pick<Context, "paths" | "ports" | "secrets" | "realNodes" | "addresses">): Promise<void> {
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }));
  const manager = { fieldManager: "mms-dev" };
  const secret: KubeObject = {
    apiVersion: "v1", kind: "Secret", metadata: { name: `${DEV_POOL}-admin`, namespace: SYSTEM_NAMESPACE },
    type: "Opaque", stringData: { username: ADMIN_DB_USER, password: ctx.secrets.mariadbAdminPassword },
  };
  await http.apply(secret, manager);
  await http.apply({
    apiVersion: "v1", kind: "Secret", metadata: { name: `${DEV_POOL}-redis`, namespace: SYSTEM_NAMESPACE },
    type: "Opaque", stringData: { password: ctx.secrets.redisPassword },
  }, manager);
  await http.apply({
    apiVersion: "multiscale.io/v1alpha1", kind: "DatabasePool", metadata: { name: DEV_POOL },
    spec: {
      host: serviceHost(ctx), port: ctx.ports.mariadb, capacity: 1000, adminSecretRef: { namespace: SYSTEM_NAMESPACE, name: `${DEV_POOL}-admin` },
      // Queued tenants queue in the dev Redis, a database number each.
      queue: { redis: { host: serviceHost(ctx), port: ctx.ports.redis, databases: DEV_REDIS_DATABASES, passwordSecretRef: { namespace: SYSTEM_NAMESPACE, name: `${DEV_POOL}-redis` } } },
    },
  }, manager);
  if (ctx.realNodes > 0) await http.apply({ ...realNodePlan() }, manager);
  // The platform-wide backup store: the dev S3 server's bucket, with its key in a Secret.
  await http.apply({
    apiVersion: "v1", kind: "Secret", metadata: { name: "backup-store-default", namespace: SYSTEM_NAMESPACE },
    type: "Opaque", stringData: { "access-key-id": ctx.secrets.s3AccessKey, "secret-access-key": ctx.secrets.s3SecretKey },
  }, manager);
  await http.apply({
    apiVersion: "multiscale.io/v1alpha1", kind: "BackupStore", metadata: { name: "default" },
    spec: {
      endpoint: `http://${serviceHost(ctx)}:${ctx.ports.s3}`, region: "us-east-1", bucket: DEV_BACKUP_BUCKET, forcePathStyle: true,
      credentialsSecretRef: { namespace: SYSTEM_NAMESPACE, name: "backup-store-default" },
    },
  }, manager);
}

// --- real node helpers ------------------------------------------------------------------------------

/** The platform's namespace, for what the dev environment puts there before the chart is installed. */
async function applySystemNamespace(http: KubeHttp): Promise<void> {
  await http.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: SYSTEM_NAMESPACE } }, { fieldManager: "mms-dev" });
}

function acmeBin(ctx: Context): string {
  if (!ctx.bins.pebble) throw new Error("Pebble was not built");
  return ctx.bins.pebble;
}

/**
 * Pebble's current root as the Secret ACME_ROOT_SECRET (key ca.crt) in the platform's namespace: what an
 * operator in the cluster (the chart's tenants.tls.acmeCaSecret) verifies tenant certificates against.
 */
export async function publishAcmeRoot(ctx: Pick<Context, "paths">): Promise<void> {
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }));
  const manager = { fieldManager: "mms-dev" };
  await applySystemNamespace(http);
  await http.apply({
    apiVersion: "v1", kind: "Secret", metadata: { name: ACME_ROOT_SECRET, namespace: SYSTEM_NAMESPACE, labels: { "app.kubernetes.io/managed-by": "mms-dev" } },
    type: "Opaque", stringData: { "ca.crt": await readFile(acmeFiles(ctx.paths).root, "utf8") },
  }, manager);
}

/**
 * A new Pebble knows neither the ingress controller's ACME account nor the root its certificates chain to:
 * the controller's pods are deleted, and their replacements start with an empty ACME store (an emptyDir)
 * and register and issue again. Nothing to do before the chart installed the controller.
 */
async function restartIngressPods(ctx: Context): Promise<void> {
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }));
  await http.request("DELETE", `/api/v1/namespaces/${INGRESS_NAMESPACE}/pods?labelSelector=${encodeURIComponent(INGRESS_POD_SELECTOR)}`).catch((err: unknown) => {
    if ((err as { status?: number }).status !== 404) throw err;
  });
}

function nodeBin(ctx: Context, name: "kubernetesNode" | "containerd" | "coredns" | "crictl" | "kubeRouter"): string {
  const dir = ctx.bins[name];
  if (!dir) throw new Error(`the real node's ${name} was not built`);
  return dir;
}

function nodePrograms(ctx: Context): NodePrograms {
  if (!ctx.nodePrograms) throw new Error("the real node's Debian programs were not found");
  return ctx.nodePrograms;
}

const silentProgress = { step: () => undefined, update: () => undefined, info: () => undefined, done: () => undefined };

/** The API server as the node's programs reach it: at the host's bridge address. */
const apiserverForNodes = (ctx: Context) => `https://${ctx.addresses.hostIp}:${ctx.ports.apiserver}`;

/** kube-router's identity (its client certificate's CN), bound to a ClusterRole of what it reads. */
export const KUBE_ROUTER_USER = "mms-dev:kube-router";

/**
 * kube-router's flags on the real node: only the firewall; the node's pods, Services and addresses as the
 * rest of the environment has them. Its sync period is shorter than the default 5 min, so rules someone
 * flushed by hand come back within a minute (policy changes are applied at once either way).
 */
export function kubeRouterArgs(ctx: Pick<Context, "paths" | "addresses" | "ports">): string[] {
  return [
    "--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
    `--kubeconfig=${realNodeDirs(ctx.paths, 1).kubeRouterKubeconfig}`, `--hostname-override=${realNodeName(1)}`,
    `--service-cluster-ip-range=${ctx.addresses.serviceCidr}`,
    `--health-port=${ctx.ports.kubeRouterHealth}`,
    `--metrics-port=${ctx.ports.kubeRouterMetrics}`, `--metrics-addr=${ctx.addresses.nodeIp(1)}`,
    "--iptables-sync-period=1m", "--v=0",
  ];
}

/** What kube-router reads (its informers start on all of these even with the firewall alone) and may record. */
async function applyKubeRouterRbac(ctx: Context): Promise<void> {
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }));
  const manager = { fieldManager: "mms-dev" };
  const name = "mms-dev:kube-router";
  const read = ["get", "list", "watch"];
  await http.apply({
    apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name, labels: { "app.kubernetes.io/managed-by": "mms-dev" } },
    rules: [
      { apiGroups: [""], resources: ["pods", "namespaces", "nodes", "services", "endpoints"], verbs: read },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: read },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: read },
      { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch", "update"] },
    ],
  }, manager);
  await http.apply({
    apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name, labels: { "app.kubernetes.io/managed-by": "mms-dev" } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: KUBE_ROUTER_USER }],
  }, manager);
}

const corefile = (ctx: Context) => join(ctx.paths.home, "Corefile");

/**
 * Cluster DNS: names of Services and pods in cluster.local, answered from the API; every other name is
 * refused, so nothing is forwarded outside the cluster.
 */
export function corednsConfig(ctx: Pick<Context, "addresses" | "ports" | "paths">): string {
  return `.:53 {
    bind ${ctx.addresses.hostIp}
    errors
    health ${loopback}:${ctx.ports.corednsHealth}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${ctx.paths.kubeconfig} mms-dev
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
}
`;
}

/** The Service kube-dns at the plan's DNS address, with the host's CoreDNS as its one endpoint. */
async function applyDnsService(ctx: Context): Promise<void> {
  const http = new KubeHttp(loadKubeConfig({ kubeconfig: ctx.paths.kubeconfig }));
  const manager = { fieldManager: "mms-dev" };
  const ports = [{ name: "dns", port: 53, protocol: "UDP" }, { name: "dns-tcp", port: 53, protocol: "TCP" }];
  const labels = { "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" };
  await http.apply({
    apiVersion: "v1", kind: "Service", metadata: { name: "kube-dns", namespace: "kube-system", labels },
    spec: { clusterIP: ctx.addresses.dnsServiceIp, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
  }, manager);
  await http.apply({
    apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice",
    metadata: { name: "kube-dns-host", namespace: "kube-system", labels: { ...labels, "kubernetes.io/service-name": "kube-dns", "endpointslice.kubernetes.io/managed-by": "mms-dev" } },
    addressType: "IPv4",
    endpoints: [{ addresses: [ctx.addresses.hostIp], conditions: { ready: true } }],
    ports,
  }, manager);
}

/** The components an environment with `realNodes` real nodes runs, in start order. */
export function componentsFor(realNodes: number): readonly Component[] {
  return COMPONENTS.filter((c) => c.only === undefined || (c.only === "real") === realNodes > 0);
}

export function component(name: ComponentName): Component {
  const c = COMPONENTS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown component ${name}`);
  return c;
}
