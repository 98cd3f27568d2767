// Runs a child process to completion, handing each output line to a callback and keeping the last
// lines for error messages.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  /** The last lines of stderr, for error messages. */
  readonly stderrTail: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly onStderrLine?: (line: string) => void;
  readonly onStdoutLine?: (line: string) => void;
  readonly input?: string;
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  const tail: string[] = [];
  let stdout = "";
  const errLines = createInterface({ input: child.stderr! });
  errLines.on("line", (line) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    opts.onStderrLine?.(line);
  });
  const outLines = createInterface({ input: child.stdout! });
  outLines.on("line", (line) => {
    stdout += line + "\n";
    opts.onStdoutLine?.(line);
  });
  if (opts.input !== undefined && child.stdin) {
    child.stdin.on("error", () => undefined); // the child may exit without reading its input
    child.stdin.end(opts.input);
  }
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c ?? 1));
  });
  return { code, stdout, stderrTail: tail.join("\n") };
}

/** True when a program of that name is on PATH. */
export async function onPath(program: string): Promise<boolean> {
  try {
    const r = await run("sh", ["-c", `command -v ${program}`]);
    return r.code === 0;
  } catch {
    return false;
  }
}
