// The environment's record of itself: ports, node count and the pid of every process it started,
// written after each start so that `dev down` finds them even if `dev up` was interrupted.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile, rename, mkdir, open, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { UserError } from "../util/errors.ts";
import type { BinDirs, ComponentName, NodePrograms, Secrets, SystemPrograms } from "./components.ts";
import type { DevPaths } from "./paths.ts";
import { isOurs } from "./processes.ts";

export interface ProcessRecord {
  readonly pid: number;
  readonly executable: string;
  readonly startedAt: string;
  /** Which command line started it (see specKey in environment.ts); absent in records of older versions. */
  readonly spec?: string;
}

export interface DevState {
  readonly version: 1;
  readonly portBase: number;
  readonly nodes: number;
  /** Real nodes; absent in records of older versions (none). */
  readonly realNodes?: number;
  readonly bins?: BinDirs;
  readonly system?: SystemPrograms;
  readonly nodePrograms?: NodePrograms;
  readonly processes: Partial<Record<ComponentName, ProcessRecord>>;
}

async function writeAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

export async function readState(paths: DevPaths): Promise<DevState | undefined> {
  if (!existsSync(paths.state)) return undefined;
  return JSON.parse(await readFile(paths.state, "utf8")) as DevState;
}

export async function writeState(paths: DevPaths, state: DevState): Promise<void> {
  await writeAtomic(paths.state, JSON.stringify(state, null, 2) + "\n");
}

export async function readSecrets(paths: DevPaths): Promise<Secrets | undefined> {
  if (!existsSync(paths.secrets)) return undefined;
  return JSON.parse(await readFile(paths.secrets, "utf8")) as Secrets;
}

/** Generated once per environment and kept, so data made earlier stays reachable. */
export async function ensureSecrets(paths: DevPaths): Promise<Secrets> {
  const existing = await readSecrets(paths);
  if (existing) return existing;
  const token = (n: number) => randomBytes(n).toString("base64url");
  const secrets: Secrets = {
    mariadbAdminPassword: token(18),
    redisPassword: token(18),
    s3AccessKey: `mms${token(9).replace(/[-_]/g, "x")}`,
    s3SecretKey: token(30),
  };
  await writeAtomic(paths.secrets, JSON.stringify(secrets, null, 2) + "\n", 0o600);
  return secrets;
}

/**
 * A lock file holding our pid, so two `dev up`/`dev down` never run at once on one environment.
 * A lock left by a process that no longer runs is taken over.
 */
export async function withLock<T>(paths: DevPaths, fn: () => Promise<T>): Promise<T> {
  await mkdir(paths.home, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(paths.lock, "wx");
      await fh.writeFile(`${process.pid}\n${process.execPath}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
      const [pidText, exe] = (await readFile(paths.lock, "utf8").catch(() => "")).split("\n");
      const pid = Number(pidText);
      if (exe && isOurs(pid, exe)) {
        throw new UserError(`another mms dev command (pid ${pid}) is working on the environment in ${paths.home}; wait for it to finish`);
      }
      await rm(paths.lock, { force: true });
    }
  }
  try {
    return await fn();
  } finally {
    await rm(paths.lock, { force: true });
  }
}
