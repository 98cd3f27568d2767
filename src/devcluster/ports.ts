// Loopback ports of the dev environment: fixed offsets from one base (MMS_DEV_PORT_BASE), checked
// free before anything starts.
import { createServer } from "node:net";
import { run } from "../util/exec.ts";
import { UserError } from "../util/errors.ts";

export const DEFAULT_PORT_BASE = 17000;

export const PORT_OFFSETS = {
  etcd: 379,
  etcdPeer: 380,
  apiserver: 443,
  controllerManager: 257,
  scheduler: 259,
  kwok: 247,
  // A real node's kubelet and kube-proxy health and metrics (on the node's address, in its namespace)
  // and the cluster DNS's health (loopback).
  kubeletHealthz: 248,
  kubeProxyHealthz: 249,
  kubeProxyMetrics: 250,
  corednsHealth: 251,
  // The real node's NetworkPolicy engine (kube-router's firewall, in the node's namespace): health, metrics.
  kubeRouterHealth: 252,
  kubeRouterMetrics: 253,
  operator: 280,
  simOvhApi: 281,
  nodeDoctor: 282,
  localJobs: 283,
  // The local ACME server (Pebble: its directory on the host's bridge address, its management interface
  // on loopback) and the DNS it resolves names with (pebble-challtestsrv: DNS, management on loopback).
  pebble: 290,
  pebbleManagement: 291,
  challtestsrvDns: 292,
  challtestsrvManagement: 293,
  mariadb: 306,
  redis: 639,
  // SeaweedFS, one process: the S3 gateway (s3), the filer's web UI (s3Console), and the gRPC and
  // HTTP ports of its S3 gateway, master, volume server and filer.
  s3: 900,
  s3Console: 901,
  s3Grpc: 902,
  s3Master: 903,
  s3MasterGrpc: 904,
  s3Volume: 905,
  s3VolumeGrpc: 906,
  s3FilerGrpc: 907,
} as const;

export type PortName = keyof typeof PORT_OFFSETS;
export type Ports = Readonly<Record<PortName, number>>;

export function parsePortBase(raw: string | undefined): number {
  if (raw === undefined || raw === "") return DEFAULT_PORT_BASE;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1024 || n > 64000) {
    throw new UserError(`MMS_DEV_PORT_BASE must be a whole number from 1024 to 64000, not "${raw}"`);
  }
  return n;
}

export function portsFrom(base: number): Ports {
  return Object.fromEntries(Object.entries(PORT_OFFSETS).map(([k, off]) => [k, base + off])) as Record<PortName, number>;
}

export function isPortFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Best effort: "pid 123 (nc)" for the program listening on a port, using ss when it exists. */
export async function portHolder(port: number): Promise<string | undefined> {
  try {
    const r = await run("ss", ["-ltnpH", `sport = :${port}`]);
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(r.stdout);
    return m ? `pid ${m[2]} (${m[1]})` : undefined;
  } catch {
    return undefined;
  }
}
