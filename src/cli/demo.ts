// `mms demo`: the one command that shows the product working on this machine. For now it brings
// the dev environment up and shows its status; tenants join it as they are built.
import type { Command } from "commander";
import { DEFAULT_NODES, up } from "../devcluster/environment.ts";
import { createProgress } from "./progress.ts";
import { statusTable } from "./dev.ts";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("start the dev environment (building it the first time) and show what runs")
    .action(async () => {
      const result = await up({ nodes: DEFAULT_NODES, progress: createProgress() });
      process.stderr.write(result.alreadyUp ? "dev environment already up\n" : `dev environment up in ${result.seconds.toFixed(1)} s\n`);
      process.stdout.write(statusTable(result.status));
      process.stdout.write(`
Next:
  eval "$(bin/mms dev env)"   # kubeconfig, kubectl and endpoints in this shell
  kubectl get nodes -L topology.kubernetes.io/zone,nodepool
  bin/mms dev down            # stop it (data is kept)
`);
    });
}
