// Real nodes of the dev environment: a kubelet with its own containerd, runc and CNI bridge, beside the
// simulated (KWOK) nodes. This file holds where a real node keeps its pieces; starting and stopping
// them is in the functions below.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { builtDir } from "./build.ts";
import { devHome, devPaths, type DevPaths } from "./paths.ts";
import { BUILDS } from "./versions.ts";

/** Kubernetes name of real node `n` (1-based). */
export function realNodeName(n: number): string {
  return `mms-real-${n}`;
}

export interface RealNodeDirs {
  readonly root: string;
  /** containerd's persistent root (images, snapshots). */
  readonly containerdRoot: string;
  /** containerd's state (sockets, shims), removed at `dev down`. */
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly kubeletRoot: string;
  readonly cniConf: string;
  readonly cniData: string;
}

export function realNodeDirs(paths: DevPaths, n: number): RealNodeDirs {
  const root = join(paths.home, "nodes", realNodeName(n));
  return {
    root,
    containerdRoot: join(root, "containerd"),
    containerdState: join(root, "run"),
    containerdSocket: join(root, "run", "containerd.sock"),
    kubeletRoot: join(root, "kubelet"),
    cniConf: join(root, "cni", "net.d"),
    cniData: join(root, "cni", "data"),
  };
}

/** What `ctr` needs to reach one real node's containerd (image loads, tests). */
export interface NodeRuntime {
  readonly node: string;
  /** The `ctr` program built with containerd. */
  readonly ctr: string;
  readonly socket: string;
  /** containerd namespace the kubelet's images live in. */
  readonly namespace: "k8s.io";
}

/** The runtimes of the environment's real nodes whose containerd is running (its socket exists). */
export function realNodeRuntimes(env: NodeJS.ProcessEnv = process.env, maxNodes = 3): NodeRuntime[] {
  const paths = devPaths(devHome(env));
  const ctr = join(builtDir(BUILDS.containerd, env), "ctr");
  const out: NodeRuntime[] = [];
  for (let n = 1; n <= maxNodes; n++) {
    const d = realNodeDirs(paths, n);
    if (existsSync(d.containerdSocket)) out.push({ node: realNodeName(n), ctr, socket: d.containerdSocket, namespace: "k8s.io" });
  }
  return out;
}
