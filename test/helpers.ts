// Shared helpers of the integration tests: clients for the running dev environment and polling.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { endpoints } from "../src/devcluster/environment.ts";
import { installApi } from "../src/controllers/install.ts";
import type { KubeHttp } from "../src/kube/http.ts";
import { kubeClients, loadKubeConfig, type KubeClients } from "../src/kube/client.ts";

/** The CLI as a user runs it. */
export const MMS = resolve(import.meta.dirname, "../bin/mms");

export interface Run { readonly code: number; readonly stdout: string; readonly stderr: string }

/**
 * Runs `bin/mms args` (or another program, `file`) in a child process with `env` added to this
 * process's environment; resolves with its exit code and output, also when it fails.
 */
export function runMms(args: readonly string[], env: NodeJS.ProcessEnv = {}, file: string = MMS): Promise<Run> {
  return new Promise((done) => {
    const started = Date.now();
    execFile(file, [...args], { env: { ...process.env, ...env }, timeout: 900_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      // A program killed by a signal has no exit code: say so in its stderr, so a failing assertion shows why.
      const killed = err?.signal ? `\n[${file} ${args.join(" ")}: killed by ${err.signal} after ${((Date.now() - started) / 1000).toFixed(1)} s${err.killed ? " (the helper's 900 s limit)" : ""}]\n` : "";
      done({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr: stderr + killed });
    });
  });
}

export async function devKube(): Promise<KubeClients> {
  const e = await endpoints();
  return kubeClients(loadKubeConfig({ kubeconfig: e.kubeconfig }));
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/** Polls until `check` returns a value other than undefined, or fails with the last observation. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ""}`);
}

/**
 * The platform's API, installed as the environment installs it: with a real node the platform's Helm
 * chart owns it (reinstalling it here would take it from the release, and `helm uninstall` would leave it
 * behind), so only an environment without the chart gets it from installApi.
 */
export async function ensureApi(http: KubeHttp): Promise<void> {
  const policy = await http.getOrUndefined<{ metadata: { annotations?: Record<string, string> } }>(
    "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "matomotenants.multiscale.io");
  if (policy?.metadata.annotations?.["meta.helm.sh/release-name"]) return;
  await installApi(http);
}

/** kubectl of the dev environment with `input` on its stdin: its exit code and everything it printed. */
export async function kubectlWithInput(args: readonly string[], input = ""): Promise<{ code: number; out: string }> {
  const e = await endpoints();
  return new Promise((done) => {
    const child = execFile(join(e.kubectlDir, "kubectl"), ["--kubeconfig", e.kubeconfig, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
    child.stdin?.end(input);
  });
}
