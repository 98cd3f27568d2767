// Starting and stopping the environment's long-running programs as detached local processes,
// identified by pid and checked against /proc so a recycled pid is never mistaken for ours.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Run inside this network namespace (a file such as /run/netns/NAME): a real node's programs. */
  readonly netns?: string;
}

/** Starts a program in its own process group, detached from the CLI, logging to a file. */
export function startDetached(spec: ProcessSpec, logFile: string): number {
  const fd = openSync(logFile, "a");
  try {
    // nsenter enters the namespace and then executes the program itself, so the pid stays the program's.
    const [command, args] = spec.netns
      ? ["nsenter", [`--net=${spec.netns}`, "--", spec.command, ...spec.args]]
      : [spec.command, spec.args];
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The executable a live pid runs, or undefined when there is no such process. */
function exeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // A zombie has exited already; it only waits for its parent to reap it.
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return undefined;
    // /proc/PID/exe rather than the command line, which some servers (Redis) rewrite as a title.
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
}

function realpathOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** True when pid is alive and still runs the given executable. */
export function isOurs(pid: number | undefined, command: string): boolean {
  return pid !== undefined && pid > 0 && exeOf(pid) === realpathOr(command);
}

/** Stops a process (and its group) politely, then forcibly; resolves once it is gone. */
export async function stopProcess(pid: number, command: string, graceMs = 10_000): Promise<void> {
  if (!isOurs(pid, command)) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(pid, command)) return;
    await sleep(100);
  }
  signal("SIGKILL");
  while (isOurs(pid, command)) await sleep(50);
}
