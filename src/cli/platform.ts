// `mms platform bootstrap`: the step after `terraform apply` (deploy/terraform): the platform's chart and
// the BackupStore/DatabasePool made from Terraform's outputs, on the cluster Terraform created.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { isBuilt } from "../devcluster/build.ts";
import { helmPath } from "../devcluster/platform-chart.ts";
import { BUILDS } from "../devcluster/versions.ts";
import { kubeconfigFile } from "../kube/client.ts";
import { bootstrapPlatform } from "../platform/bootstrap.ts";
import { parseBootstrapValues } from "../platform/bootstrap-values.ts";
import { CHART_DIR, PLATFORM_RELEASE, type Helm } from "../platform/release.ts";
import { UserError } from "../util/errors.ts";
import { onPath, run } from "../util/exec.ts";
import { createProgress } from "../util/progress.ts";
import { kubeFromFlags, kubeTargetFromFlags } from "./common.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";

/** Helm from --helm, $MMS_HELM, PATH, or the one `mms dev up` built, in that order. */
async function findHelm(flag: string | undefined): Promise<string> {
  const chosen = flag ?? process.env.MMS_HELM;
  if (chosen) {
    if (!existsSync(chosen)) throw new UserError(`helm was not found at ${chosen}`, 2);
    return chosen;
  }
  if (await onPath("helm")) return "helm";
  if (isBuilt(BUILDS.helm)) return helmPath();
  throw new UserError("helm is not on PATH: install Helm 4 (https://helm.sh/docs/intro/install/) or pass --helm <path>", 2);
}

export function registerPlatform(program: Command): void {
  const platform = program.command("platform").description("install the platform on a cluster (after terraform apply)");
  platform
    .command("bootstrap")
    .description("install or upgrade the platform's Helm chart and create the BackupStore and DatabasePool from Terraform's outputs; a second run changes nothing")
    .requiredOption("--values <file>", "the platform values: `terraform output -json platform > platform.json` (JSON or YAML; the whole `terraform output -json` is accepted too)")
    .option("--chart-values <file>", "a values file for the chart over Terraform's (e.g. image.digest of the build you deploy); repeatable, later ones win", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option("--chart <dir>", "the chart's folder", CHART_DIR)
    .option("--release <name>", "Helm release name", PLATFORM_RELEASE)
    .option("--namespace <ns>", "namespace of the release and of the credentials Secrets", SYSTEM_NAMESPACE)
    .option("--helm <path>", "the helm 4 binary (default: $MMS_HELM, then helm on PATH)")
    .option("--dry-run", "change nothing; say what would be installed, created or updated")
    .option("-q, --quiet", "no progress output")
    .addOption(outputOption())
    .addHelpText("after", `
The values file (from deploy/terraform/environments/*, output "platform"):
  chart          values for the chart (deploy/charts/matomo-multiscale/values.yaml)
  backupStore    name, endpoint, region, bucket, prefix, accessKeyId, secretAccessKey
                 -> Secret <namespace>/backup-store-<name> and BackupStore <name>
  databasePool   null, or name, host, port, username, password, capacity
                 -> Secret <namespace>/<name>-admin and DatabasePool <name>

The chart is upgraded only when its rendered manifest differs from the deployed release; objects are
server-side applied (field manager mms-bootstrap) and reported created, updated or unchanged.
The file holds credentials: keep it private (umask 077) and delete it afterwards.

Example, after terraform apply in deploy/terraform/environments/production:
  terraform output -raw kubeconfig > kubeconfig.yaml
  terraform output -json platform > platform.json
  mms platform bootstrap --kubeconfig kubeconfig.yaml --values platform.json --chart-values values-image.yaml`)
    .action(async (opts: { values: string; chartValues?: string[]; chart: string; release: string; namespace: string; helm?: string; dryRun?: boolean; quiet?: boolean; output: OutputFormat }, cmd: Command) => {
      const text = await readFile(opts.values, "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new UserError(`cannot read the values file ${opts.values}: ${err.code === "ENOENT" ? "it does not exist" : err.message}`, 2);
      });
      const values = parseBootstrapValues(text, opts.values);
      if (!existsSync(join(opts.chart, "Chart.yaml"))) throw new UserError(`${opts.chart} is not a Helm chart (no Chart.yaml)`, 2);
      for (const f of opts.chartValues ?? []) if (!existsSync(f)) throw new UserError(`the chart values file ${f} does not exist`, 2);
      const helmBin = await findHelm(opts.helm);
      // Helm talks to the same cluster as the API client: the same kubeconfig file and context.
      const target = kubeTargetFromFlags(cmd);
      const { context } = target;
      const kubeconfig = kubeconfigFile(target);
      const helm: Helm = (args) => run(helmBin, [...args, ...(context ? ["--kube-context", context] : [])], { env: { ...process.env, ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}) } });
      const steps = await bootstrapPlatform({
        http: kubeFromFlags(cmd), helm, values, chartDir: opts.chart, chartValuesFiles: opts.chartValues ?? [], release: opts.release, namespace: opts.namespace,
        dryRun: opts.dryRun === true, progress: createProgress(process.stderr, opts.quiet === true || opts.output !== "table"),
      });
      if (opts.output !== "table") {
        process.stdout.write(renderStructured({ dryRun: opts.dryRun === true, steps }, opts.output));
        return;
      }
      process.stdout.write(renderTable(["kind", "name", "action"], steps.map((s) => [s.kind, s.namespace ? `${s.namespace}/${s.name}` : s.name, s.action])));
      const changed = steps.filter((s) => s.action !== "unchanged").length;
      process.stdout.write(changed === 0 ? "nothing to change: the platform is as the values say\n" : `${changed} of ${steps.length} ${opts.dryRun ? "would change" : "changed"}\n`);
    });
}
