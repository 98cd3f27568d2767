// The platform's Helm release: installed or upgraded only when it would change. Whether it would is told by
// rendering the chart with the wanted values (`helm template`) and comparing with what the release deployed
// (`helm get manifest`): the same manifest and a deployed release means there is nothing to do, so running the
// install again makes no new revision and restarts nothing.
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { RunResult } from "../util/exec.ts";

export const PLATFORM_RELEASE = "mms";
export const CHART_DIR = join(import.meta.dirname, "..", "..", "deploy", "charts", "matomo-multiscale");

/** Runs helm with the given arguments against the target cluster (kubeconfig, context) and returns its result. */
export type Helm = (args: readonly string[]) => Promise<RunResult>;

export interface ReleaseTarget {
  readonly chartDir: string;
  readonly release: string;
  readonly namespace: string;
  /** A YAML or JSON file with the values (Helm reads it; it may hold what must not be on a command line). */
  readonly valuesFile: string;
  /** More values files, each over the ones before it (Helm's order of --values). */
  readonly moreValuesFiles?: readonly string[];
}

const valuesArgs = (t: ReleaseTarget): string[] => [t.valuesFile, ...(t.moreValuesFiles ?? [])].flatMap((f) => ["--values", f]);

export type ReleaseAction = "installed" | "upgraded" | "unchanged" | "would install" | "would upgrade";

function helmFailed(what: string, r: RunResult): UserError {
  return new UserError(`helm could not ${what}: ${r.stderrTail.trim() || `exit ${r.code}`}`);
}

/** The release's status (deployed, failed, pending-upgrade…), or undefined when there is no such release. */
async function releaseStatus(helm: Helm, t: ReleaseTarget): Promise<string | undefined> {
  const r = await helm(["status", t.release, "--namespace", t.namespace, "--output", "json"]);
  if (r.code !== 0) {
    if (/not found/i.test(r.stderrTail)) return undefined;
    throw helmFailed(`read the release ${t.release} in ${t.namespace}`, r);
  }
  const info = (JSON.parse(r.stdout) as { info?: { status?: string } }).info;
  return info?.status ?? "unknown";
}

/** Manifests compared as documents: Helm's `# Source:` comments and document order do not count. */
function documents(manifest: string): string[] {
  return manifest.split(/^---\s*$/m)
    .map((d) => d.split("\n").filter((l) => !l.startsWith("# Source:")).join("\n").trim())
    .filter((d) => d !== "")
    .sort();
}

/** What `helm upgrade --install` would do to the release, without doing it. */
export async function plannedReleaseAction(helm: Helm, t: ReleaseTarget): Promise<"install" | "upgrade" | "none"> {
  const status = await releaseStatus(helm, t);
  if (status === undefined) return "install";
  if (status !== "deployed") return "upgrade";
  const [want, have] = await Promise.all([
    helm(["template", t.release, t.chartDir, "--namespace", t.namespace, ...valuesArgs(t)]),
    helm(["get", "manifest", t.release, "--namespace", t.namespace]),
  ]);
  if (want.code !== 0) throw helmFailed(`render the chart ${t.chartDir} with ${[t.valuesFile, ...(t.moreValuesFiles ?? [])].join(", ")}`, want);
  if (have.code !== 0) throw helmFailed(`read the manifest of the release ${t.release}`, have);
  const a = documents(want.stdout);
  const b = documents(have.stdout);
  return a.length === b.length && a.every((d, i) => d === b[i]) ? "none" : "upgrade";
}

/** The `helm upgrade --install` of a release, waiting for its Deployments to be Ready. */
export function upgradeInstallArgs(t: ReleaseTarget, opts: { extraArgs?: readonly string[]; timeout?: string } = {}): string[] {
  return [
    "upgrade", "--install", t.release, t.chartDir, "--namespace", t.namespace, "--create-namespace",
    ...valuesArgs(t), "--wait", "--timeout", opts.timeout ?? "5m", ...(opts.extraArgs ?? []),
  ];
}

/**
 * Installs or upgrades the release when it would change, waiting for its Deployments to be Ready.
 * `extraArgs` go to `helm upgrade --install` (e.g. --take-ownership for objects made before the chart).
 */
export async function ensureRelease(helm: Helm, t: ReleaseTarget, opts: { dryRun?: boolean; extraArgs?: readonly string[]; timeout?: string } = {}): Promise<ReleaseAction> {
  const planned = await plannedReleaseAction(helm, t);
  if (planned === "none") return "unchanged";
  if (opts.dryRun) return planned === "install" ? "would install" : "would upgrade";
  const r = await helm(upgradeInstallArgs(t, opts));
  if (r.code !== 0) throw helmFailed(`${planned} the release ${t.release} in ${t.namespace}`, r);
  return planned === "install" ? "installed" : "upgraded";
}
