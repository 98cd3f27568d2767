// Flag helpers every command group shares: the API client from --kubeconfig/--context, and
// duration flags ("90s", "5m") parsed once with a clear error.
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { loadKubeConfig } from "../kube/client.ts";
import { KubeHttp } from "../kube/http.ts";
import { parseDuration } from "../util/duration.ts";

export function kubeFromFlags(cmd: Command): KubeHttp {
  const g = cmd.optsWithGlobals<{ kubeconfig?: string; context?: string }>();
  return new KubeHttp(loadKubeConfig({ kubeconfig: g.kubeconfig, context: g.context }));
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
