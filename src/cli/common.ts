// Flag helpers every command group shares: the API client from --kubeconfig/--context, and
// duration flags ("90s", "5m") parsed once with a clear error.
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { KubeConfig } from "@kubernetes/client-node";
import { devHome, devPaths } from "../devcluster/paths.ts";
import { loadKubeConfig, type KubeTarget } from "../kube/client.ts";
import { KubeHttp } from "../kube/http.ts";
import { parseDuration } from "../util/duration.ts";

/** The kubeconfig from --kubeconfig/--context, like kubectl, then the dev environment's, so `mms` works right after `mms dev up`. */
export function kubeConfigFromFlags(cmd: Command): KubeConfig {
  return loadKubeConfig(kubeTargetFromFlags(cmd));
}

/** The cluster --kubeconfig/--context name, with the dev environment's kubeconfig as the fallback. */
export function kubeTargetFromFlags(cmd: Command): KubeTarget {
  const g = cmd.optsWithGlobals<{ kubeconfig?: string; context?: string }>();
  return { kubeconfig: g.kubeconfig, context: g.context, fallbackKubeconfig: devPaths(devHome()).kubeconfig };
}

export function kubeFromFlags(cmd: Command): KubeHttp {
  return new KubeHttp(kubeConfigFromFlags(cmd));
}

export function durationFlag(flag: string): (value: string) => number {
  return (value) => {
    try {
      return parseDuration(value);
    } catch (err) {
      throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`);
    }
  };
}
