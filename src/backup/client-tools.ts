// Runs MariaDB's own client programs (mariadb-dump, mariadb) against a pool. Credentials reach them
// through a defaults file readable only by us and deleted afterwards, never through the command line,
// where any user of the machine could read them in the process list.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PoolEndpoint } from "../db/pool.ts";

export const MARIADB_DUMP = "/usr/bin/mariadb-dump";
export const MARIADB = "/usr/bin/mariadb";

export interface Credentials {
  /** `--defaults-extra-file=…`: must come first on the command line. */
  readonly option: string;
  dispose(): Promise<void>;
}

/** Quotes a value for a MariaDB option file, whose parser understands these escapes inside quotes. */
export function optionFileValue(value: string): string {
  const escaped = value.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"").replaceAll("\n", "\\n").replaceAll("\r", "\\r").replaceAll("\t", "\\t");
  return `"${escaped}"`;
}

export async function writeCredentials(pool: PoolEndpoint): Promise<Credentials> {
  const dir = await mkdtemp(join(tmpdir(), "mms-db-"));
  const file = join(dir, "client.cnf");
  try {
    await writeFile(file, `[client]\nuser=${optionFileValue(pool.adminUser)}\npassword=${optionFileValue(pool.adminPassword)}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { option: `--defaults-extra-file=${file}`, dispose: () => rm(dir, { recursive: true, force: true }) };
}

export function connectionArgs(pool: PoolEndpoint): string[] {
  return [`--host=${pool.host}`, `--port=${pool.port}`, "--protocol=TCP"];
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines the program wrote to stderr. */
  readonly stderr: string;
}

/** Starts a program with piped stdio; `exit` settles when it has exited and its output is closed. */
export function start(command: string, args: readonly string[], stdin: "pipe" | "ignore"): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(command, args, { stdio: [stdin, "pipe", "pipe"], env: { ...process.env, MYSQL_PWD: undefined } });
  const tail: string[] = [];
  let size = 0;
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    tail.push(text);
    size += text.length;
    while (size > 4096 && tail.length > 1) size -= (tail.shift() as string).length;
  });
  const exit = new Promise<Exit>((resolve) => {
    child.once("error", (err) => resolve({ code: null, signal: null, stderr: err.message }));
    child.once("close", (code, signal) => resolve({ code, signal, stderr: tail.join("") }));
  });
  return { child, exit };
}

/** The last meaningful line of a program's stderr, for a one-sentence error. */
export function lastLine(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l.length > 0 && !/^Warning: /i.test(l));
  return lines.at(-1) ?? "";
}

export function describeExit(program: string, e: Exit): string {
  const how = e.signal ? `was killed by ${e.signal}` : e.code === null ? "could not be started" : `exited with code ${e.code}`;
  const why = lastLine(e.stderr);
  return `${program} ${how}${why ? ` (${why.replace(/[.\s]+$/, "")})` : ""}`;
}

export async function toolVersion(command: string): Promise<string> {
  const { child, exit } = start(command, ["--version"], "ignore");
  let out = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (t: string) => (out += t));
  const e = await exit;
  if (e.code !== 0) throw new Error(describeExit(command, e));
  return out.trim();
}
