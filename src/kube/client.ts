// The one place that turns a kubeconfig path and context into API clients.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { UserError } from "../util/errors.ts";

export interface KubeTarget {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** Used when neither `kubeconfig`, KUBECONFIG nor ~/.kube/config is there (the CLI passes the dev environment's). */
  readonly fallbackKubeconfig?: string | undefined;
}

/**
 * The kubeconfig file a target names: the flag, then $KUBECONFIG, then the fallback when ~/.kube/config is
 * not there (like kubectl, then the dev environment's, so `mms` works right after `mms dev up`); undefined
 * means the client library's default (~/.kube/config, or in-cluster).
 */
export function kubeconfigFile(target: KubeTarget = {}): string | undefined {
  const devConfig = target.fallbackKubeconfig;
  const fallback = devConfig && !existsSync(join(homedir(), ".kube", "config")) && existsSync(devConfig) ? devConfig : undefined;
  return target.kubeconfig ?? (process.env.KUBECONFIG || fallback);
}

export function loadKubeConfig(target: KubeTarget = {}): KubeConfig {
  const kc = new KubeConfig();
  const file = kubeconfigFile(target);
  if (file) {
    if (!existsSync(file)) throw new UserError(`kubeconfig file ${file} does not exist`);
    kc.loadFromFile(file);
  } else {
    kc.loadFromDefault();
  }
  if (target.context) {
    if (!kc.getContexts().some((c) => c.name === target.context)) {
      throw new UserError(`context "${target.context}" is not in the kubeconfig (it has: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
    }
    kc.setCurrentContext(target.context);
  }
  return kc;
}

export interface KubeClients {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly batch: BatchV1Api;
}

export function kubeClients(kc: KubeConfig): KubeClients {
  return {
    config: kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
  };
}

/** The HTTP status of a failed API call, when the error carries one. */
export function apiStatus(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number") return err.code;
  return undefined;
}
