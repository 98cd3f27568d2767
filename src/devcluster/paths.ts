// Where the dev environment keeps things: built binaries in a version-keyed cache shared by every
// checkout, and one environment's state (data, logs, pids, credentials) in its own folder.
import { homedir } from "node:os";
import { join } from "node:path";

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MMS_CACHE_DIR) return env.MMS_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "matomo-multiscale");
}

export function binCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), "bin");
}

export function buildWorkDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), "build");
}

/** One dev environment's home; MMS_DEV_HOME lets tests run a second, isolated one. */
export function devHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MMS_DEV_HOME || join(cacheRoot(env), "dev");
}

export interface DevPaths {
  readonly home: string;
  readonly state: string;
  readonly secrets: string;
  readonly kubeconfig: string;
  readonly pki: string;
  readonly logs: string;
  readonly data: string;
  readonly lock: string;
}

export function devPaths(home: string): DevPaths {
  return {
    home,
    state: join(home, "state.json"),
    secrets: join(home, "secrets.json"),
    kubeconfig: join(home, "kubeconfig"),
    pki: join(home, "pki"),
    logs: join(home, "logs"),
    data: join(home, "data"),
    lock: join(home, "lock"),
  };
}
