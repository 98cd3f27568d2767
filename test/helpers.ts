// Shared helpers of the integration tests: clients for the running dev environment and polling.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { endpoints } from "../src/devcluster/environment.ts";
import { kubeClients, loadKubeConfig, type KubeClients } from "../src/kube/client.ts";

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
