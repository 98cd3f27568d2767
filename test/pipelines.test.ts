// The CI/CD pipelines in deploy/pipelines (Bitbucket and GitHub Actions) are parsed, and every
// `bin/mms …` command line in them is checked against the real CLI's commander tree: the command
// exists, its flags are accepted, flags that take a value get one, required options and positional
// arguments are there. Also: the pipelines the operations need exist, the default/CI pipeline lints,
// type-checks and runs ./scripts/test, every input is wired through, and secrets are never printed.
// The infrastructure pipelines' `terraform …` command lines are checked against the help of the
// terraform installed here (its commands, flags and arguments), their -chdir folders against the
// repository, and the way a saved plan goes from the plan step to the protected, manual apply step.
// Nothing is run on Bitbucket or GitHub, terraform only with -help; no dev environment is needed.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, resolve } from "node:path";
import type { Command } from "commander";
import { parse } from "yaml";
import { HELM_VERSION } from "../src/devcluster/versions.ts";
import {
  analyzeScript, checkArgv, checkTerraformArgv, commandOf, TERRAFORM, TerraformCli,
  type ScriptAnalysis, type ShellCommand, type TerraformCall, type Word,
} from "./support/argv-check.ts";

const ROOT = resolve(import.meta.dirname, "..");
const BITBUCKET = "deploy/pipelines/bitbucket-pipelines.yml";
const WORKFLOWS = "deploy/pipelines/github/workflows";

/** Each operations pipeline, the CLI command it must call, and its inputs (Bitbucket / GitHub names). */
const OPERATIONS = {
  "create-tenant": { command: "mms tenant create", bitbucket: ["NAME", "DOMAINS", "PLAN", "POOL"], github: ["name", "domains", "plan", "pool"] },
  "migrate-tenant": { command: "mms migrate import", bitbucket: ["NAME", "DOMAINS", "DUMP_URL", "FROM_MYSQL", "DRY_RUN"], github: ["name", "domains", "dump_url", "from_mysql", "dry_run"] },
  "upgrade-fleet": {
    command: "mms upgrade",
    bitbucket: ["VERSION", "SELECTOR", "CANARY", "WAVE_SIZE", "PAUSE_BETWEEN", "DRY_RUN"],
    github: ["version", "selector", "canary", "wave_size", "pause_between", "dry_run"],
  },
  "restore-tenant": { command: "mms backup restore", bitbucket: ["NAME", "BACKUP_ID", "INTO", "REPLACE"], github: ["name", "backup_id", "mode", "into"] },
} as const;

/** Secrets: they may reach a file through `printf '%s' "$X" | base64 -d > FILE`, or a program through its environment, never a command line or the log. */
const SECRETS = [
  "KUBECONFIG_B64", "MMS_S3_ACCESS_KEY_ID", "MMS_S3_SECRET_ACCESS_KEY", "MMS_MIGRATE_SOURCE_PASSWORD",
  // The infrastructure pipelines': the OVH provider's and the S3 state backend's credentials.
  "OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
];
/** Variables a script may read besides its own inputs: repository variables (see the README) and the runners' own. */
const AMBIENT = new Set([...SECRETS, "MMS_KUBE_CONTEXT", "TF_STATE_BUCKET", "OVH_ENDPOINT", "HOME", "PATH", "RUNNER_TEMP", "GITHUB_STEP_SUMMARY", "BITBUCKET_CLONE_DIR"]);

/** The example roots of deploy/terraform, one per environment: the infrastructure pipelines plan and apply each. */
const TERRAFORM_ROOTS = "deploy/terraform/environments";
const INFRA_ENVIRONMENTS = ["staging", "production"];
/** The infrastructure pipelines, by system. */
const INFRA = { github: { plan: "infra-plan.yml", apply: "infra-apply.yml" }, bitbucket: { plan: "pull-requests", apply: "custom infra-apply" } } as const;
/** terraform commands that change the infrastructure or its state: only in manual, protected steps. */
const CHANGING = new Set(["apply", "destroy", "import", "refresh", "taint", "untaint", "force-unlock", "state mv", "state rm", "state push", "state replace-provider", "workspace new", "workspace delete"]);

/** The terraform the command lines are checked against (MMS_TERRAFORM: another binary, e.g. tofu). */
const terraform = TerraformCli.installed(process.env.MMS_TERRAFORM ?? "terraform");
const needsTerraform = terraform ? false : `${process.env.MMS_TERRAFORM ?? "terraform"} is not installed here: the terraform command lines are not checked`;

async function loadProgram(): Promise<Command> {
  // src/cli/main.ts runs the CLI only as the program itself (import.meta.main): importing it is quiet.
  const { buildProgram } = await import("../src/cli/main.ts");
  return buildProgram();
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value as Record<string, unknown> : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function readYaml(file: string): unknown {
  return parse(readFileSync(join(ROOT, file), "utf8")) as unknown;
}

/** One shell script of a pipeline: the parts run one after the other in the same shell. */
interface Script {
  readonly where: string;
  readonly pipeline: string;
  readonly parts: readonly string[];
  /** Environment the runner gives the script (GitHub `env:`), when known. */
  readonly env?: ReadonlySet<string>;
  /** GitHub: the `env:` values of the workflow, job and step as written (`${{ … }}` included). */
  readonly envValues?: ReadonlyMap<string, string>;
}

/** A pipeline's steps in order, by group: the steps of a parallel group run side by side. */
function bitbucketStepGroups(items: unknown): Record<string, unknown>[][] {
  return list(items).flatMap((raw) => {
    const item = record(raw);
    if (item.step) return [[record(item.step)]];
    if (item.parallel) return [(Array.isArray(item.parallel) ? item.parallel : list(record(item.parallel).steps)).map((s) => record(record(s).step))];
    if (item.stage) return bitbucketStepGroups(record(item.stage).steps);
    return [];
  });
}

function bitbucketSteps(items: unknown): Record<string, unknown>[] {
  return bitbucketStepGroups(items).flat();
}

/** Every pipeline of a bitbucket-pipelines.yml document, by name: `default`, `custom create-tenant`, `branches main`, … */
function bitbucketPipelines(doc: unknown): Map<string, unknown[]> {
  const pipelines = record(record(doc).pipelines);
  const out = new Map<string, unknown[]>();
  if (pipelines.default) out.set("default", list(pipelines.default));
  for (const kind of ["custom", "branches", "tags", "bookmarks", "pull-requests"]) {
    for (const [name, items] of Object.entries(record(pipelines[kind]))) out.set(`${kind} ${name}`, list(items));
  }
  return out;
}

function stepScripts(file: string, pipeline: string, step: Record<string, unknown>): Script[] {
  return (["script", "after-script"] as const).filter((key) => step[key]).map((key) => ({
    where: `${file}: pipeline "${pipeline}", step "${typeof step.name === "string" ? step.name : "(unnamed)"}"${key === "after-script" ? " (after-script)" : ""}`,
    pipeline,
    parts: list(step[key]).filter((p): p is string => typeof p === "string"),
  }));
}

function bitbucketScripts(file: string, doc: unknown): Script[] {
  return [...bitbucketPipelines(doc)].flatMap(([pipeline, items]) => bitbucketSteps(items).flatMap((step) => stepScripts(file, pipeline, step)));
}

/** The script of a GitHub `run:` step, with the environment the workflow, its job and the step give it. */
function runScript(file: string, workflow: Record<string, unknown>, job: string, step: Record<string, unknown>): Script {
  const envValues = new Map([workflow.env, record(record(workflow.jobs)[job]).env, step.env]
    .flatMap((env) => Object.entries(record(env)).map(([k, v]): [string, string] => [k, scalar(v)])));
  return {
    where: `${file}: job "${job}", step "${typeof step.name === "string" ? step.name : String(step.run)}"`,
    pipeline: typeof workflow.name === "string" ? workflow.name : file,
    parts: [String(step.run)],
    env: new Set(envValues.keys()),
    envValues,
  };
}

function workflowScripts(file: string, doc: unknown): Script[] {
  const workflow = record(doc);
  return Object.entries(record(workflow.jobs)).flatMap(([job, raw]) =>
    list(record(raw).steps).map(record).filter((step) => typeof step.run === "string").map((step) => runScript(file, workflow, job, step)));
}

function describeInvocation(script: Script, part: number, line: number, text: string): string {
  return `${script.where}${script.parts.length > 1 ? `, script item ${part + 1}` : ""}, line ${line}: \`${text}\``;
}

/** Checks every bin/mms command line of the scripts; returns one message per problem, naming file, pipeline, step and flag. */
function checkScripts(program: Command, scripts: readonly Script[]): string[] {
  const problems: string[] = [];
  for (const script of scripts) {
    let analysis: ScriptAnalysis;
    try {
      analysis = analyzeScript(script.parts);
    } catch (err) {
      problems.push(`${script.where}: cannot read the script: ${(err as Error).message}`);
      continue;
    }
    for (const u of analysis.unchecked) {
      problems.push(`${describeInvocation(script, u.part, u.line, u.text)}: bin/mms is used where it cannot be checked; call it as a plain command`);
    }
    for (const inv of analysis.invocations) {
      for (const variant of inv.variants) {
        for (const p of checkArgv(program, variant.argv)) {
          problems.push(`${describeInvocation(script, inv.part, inv.line, inv.text)}${inv.variants.length > 1 ? ` (${variant.label})` : ""}: ${p}`);
        }
      }
    }
  }
  return problems;
}

function commands(analysis: ScriptAnalysis): ShellCommand[] {
  return analysis.items.filter((i): i is ShellCommand => i.kind === "command");
}

function mentions(w: Word | undefined, name: string): boolean {
  return w !== undefined && new RegExp(`\\$\\{?${name}\\b`).test(w.text);
}

/** Secrets printed, put on a command line, or exposed by tracing or dumping the environment. */
function secretProblems(scripts: readonly Script[]): string[] {
  const problems: string[] = [];
  for (const script of scripts) {
    if (script.parts.some((p) => p.includes("${{"))) {
      problems.push(`${script.where}: \${{ … }} inside a script (pass inputs and secrets through env: and quote "$VAR")`);
    }
    const cmds = commands(analyzeScript(script.parts));
    cmds.forEach((cmd, i) => {
      const [head, ...args] = cmd.words.map((w) => w.text);
      const where = `${script.where}, line ${cmd.line}: ${cmd.words.map((w) => w.text).join(" ")}`;
      if ((head === "set" && args.some((a) => /^-[a-z]*x/.test(a) || a === "xtrace")) || (head === "bash" && args.some((a) => /^-[a-z]*x/.test(a)))) {
        problems.push(`${where}: tracing prints every command with its values`);
      }
      if (head === "printenv" || ((head === "env" || head === "set" || head === "export" || head === "declare") && (args.length === 0 || args.includes("-p")))) {
        problems.push(`${where}: dumps the environment, secrets included`);
      }
      const secrets = SECRETS.filter((s) => cmd.words.some((w) => mentions(w, s)) || cmd.redirects.some((r) => mentions(r.target, s)));
      if (secrets.length === 0 || [":", "[", "[[", "test"].includes(head ?? "")) return;
      const next = cmds[i + 1];
      const intoFile = (head === "printf" || head === "echo") && cmd.pipedIntoNext && next?.words[0]?.text === "base64" &&
        next.words.some((w) => w.text === "-d" || w.text === "--decode") &&
        next.redirects.some((r) => r.op.endsWith(">") && r.target !== undefined && !/^\/dev\/(stdout|stderr|tty)/.test(r.target.text));
      if (!intoFile) problems.push(`${where}: ${secrets.join(", ")} must not be printed or put on a command line (only \`printf '%s' "$X" | base64 -d > FILE\`)`);
    });
  }
  return problems;
}

/** Variables a script reads that are neither its inputs, its runner's, assigned by itself, nor documented repository variables. */
function unknownVariables(script: Script, inputs: ReadonlySet<string>): string[] {
  const text = script.parts.join("\n").replace(/'[^'\n]*'/g, "");
  const assigned = new Set<string>();
  for (const m of text.matchAll(/(?:^|[\s;(])([A-Za-z_]\w*)\+?=/gm)) assigned.add(m[1] as string);
  for (const m of text.matchAll(/\bread\b[^\n;]*?\s-a\s+([A-Za-z_]\w*)/g)) assigned.add(m[1] as string);
  for (const m of text.matchAll(/\bfor\s+([A-Za-z_]\w*)\s+in\b/g)) assigned.add(m[1] as string);
  const read = new Set<string>();
  for (const m of text.matchAll(/\$\{!?([A-Za-z_]\w*)|\$([A-Za-z_]\w*)/g)) read.add((m[1] ?? m[2]) as string);
  return [...read].filter((v) => !inputs.has(v) && !assigned.has(v) && !AMBIENT.has(v) && !(script.env?.has(v) ?? false))
    .map((v) => `${script.where}: reads $${v}, which is not an input, an env: entry, nor a documented repository variable`);
}

function assertNoProblems(problems: readonly string[], what: string): void {
  assert.deepEqual(problems, [], `${what}:\n  ${problems.join("\n  ")}`);
}

function dispatchInputs(doc: unknown): Record<string, unknown> {
  return record(record(record(record(doc).on).workflow_dispatch).inputs);
}

/** A workflow's inputs: each described and typed, a choice's default among its options, each used, none used undeclared. */
function inputProblems(file: string, inputs: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [key, raw] of Object.entries(inputs)) {
    const input = record(raw);
    if (typeof input.description !== "string" || !["string", "boolean", "number", "choice"].includes(String(input.type))) problems.push(`${file}: input ${key} needs a description and a type`);
    if (input.type === "choice" && !list(input.options).includes(input.default)) problems.push(`${file}: the default of ${key} is not one of its options`);
  }
  const raw = readFileSync(join(ROOT, WORKFLOWS, file), "utf8");
  const referenced = new Set([...raw.matchAll(/\binputs\.([A-Za-z_][\w-]*)/g)].map((m) => m[1] as string));
  for (const r of referenced) if (!(r in inputs)) problems.push(`${file}: inputs.${r} is used but not declared`);
  for (const i of Object.keys(inputs)) if (!referenced.has(i)) problems.push(`${file}: the input ${i} is declared but never used`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// Infrastructure pipelines: terraform command lines, where they run, and how a saved plan travels.

/** `${{ inputs.x }}` and `${{ matrix.x }}` values of one run of a workflow (e.g. inputs.environment=staging). */
type Scenario = ReadonlyMap<string, string>;

function combinations(axes: readonly (readonly [string, readonly string[]])[]): Map<string, string>[] {
  return axes.reduce<Map<string, string>[]>((acc, [key, values]) => acc.flatMap((s) => values.map((v) => new Map([...s, [key, v]]))), [new Map<string, string>()]);
}

function scenarioLabel(scenario: Scenario): string {
  return scenario.size === 0 ? "" : ` (with ${[...scenario].map(([k, v]) => `${k}=${v}`).join(", ")})`;
}

/** A GitHub value with its `${{ inputs.x }}` / `${{ matrix.x }}` filled in; undefined when it holds another expression. */
function evaluate(text: string, scenario: Scenario): string | undefined {
  let unknown = false;
  const out = text.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (_m, expr: string) => {
    const v = scenario.get(expr);
    if (v === undefined) unknown = true;
    return v ?? "";
  });
  return unknown ? undefined : out;
}

/** A shell word's value where the variables it reads are known; undefined when one is not. */
function expand(w: Word, vars: ReadonlyMap<string, string>): string | undefined {
  if (!w.opaque) return w.text;
  let unknown = false;
  const out = w.text.replace(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (_m, braced?: string, plain?: string) => {
    const v = vars.get((braced ?? plain) as string);
    if (v === undefined) unknown = true;
    return v ?? "";
  });
  return unknown || /[$`]/.test(out) ? undefined : out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** One terraform command line of a pipeline, as checked, with what is known where it runs. */
interface TerraformRun {
  readonly where: string;
  readonly call: TerraformCall;
  readonly command: ShellCommand;
  /** The folder it runs in (-chdir, relative to the repository); undefined when it cannot be told. */
  readonly dir: string | undefined;
  /** Shell variables with known values at that line. */
  readonly vars: ReadonlyMap<string, string>;
  /** True when `umask 077` ran before it in the same shell, so the files it writes are private. */
  readonly privateFiles: boolean;
}

/** A bin/mms command line of the same steps, with the variables known where it runs. */
interface MmsRun {
  readonly where: string;
  readonly argv: readonly Word[];
  readonly vars: ReadonlyMap<string, string>;
}

/** Where the terraform and bin/mms command lines of one GitHub job or one Bitbucket step run, and how they are protected. */
interface InfraUnit {
  readonly name: string;
  readonly runs: readonly TerraformRun[];
  readonly mms: readonly MmsRun[];
  /** GitHub: the job's `environment:` (its name) for this scenario; Bitbucket: the step's `deployment:`. */
  readonly environment: string | undefined;
  /** Bitbucket: `trigger: manual`; GitHub: the workflow runs only by hand (workflow_dispatch). */
  readonly manual: boolean;
  readonly pipeline: string;
  /** Files the unit published as artifacts, by artifact (GitHub) or "artifacts" (Bitbucket). */
  readonly published: ReadonlyMap<string, readonly string[]>;
}

interface InfraAnalysis {
  readonly units: readonly InfraUnit[];
  /** Command lines terraform would refuse, -chdir folders that do not exist, a missing CHECKPOINT_DISABLE. */
  readonly problems: readonly string[];
  /** Saved plans applied or shown without being written before, artifacts that do not carry them. */
  readonly flow: readonly string[];
}

/**
 * Reads the terraform and bin/mms command lines of one script, in order, following the shell variables
 * it sets (`dir="…/$TF_ENVIRONMENT"`, `export X=…`) from the values it starts with.
 */
function readRuns(cli: TerraformCli, script: Script, start: ReadonlyMap<string, string>): { runs: TerraformRun[]; mms: MmsRun[]; problems: string[] } {
  const analysis = analyzeScript(script.parts, TERRAFORM);
  const mmsInvocations = analyzeScript(script.parts).invocations;
  const problems = analysis.unchecked.map((u) => `${describeInvocation(script, u.part, u.line, u.text)}: terraform is used where it cannot be checked; call it as a plain command`);
  const vars = new Map(start);
  const runs: TerraformRun[] = [];
  const mms: MmsRun[] = [];
  let umask = false;
  for (const item of analysis.items) {
    if (item.kind !== "command") continue;
    const invocation = analysis.invocations.find((i) => i.command === item);
    if (invocation) {
      for (const variant of invocation.variants) {
        const call = checkTerraformArgv(cli, variant.argv);
        const where = describeInvocation(script, invocation.part, invocation.line, invocation.text) + (invocation.variants.length > 1 ? ` (${variant.label})` : "");
        for (const p of call.problems) problems.push(`${where}: ${p}`);
        const dir = call.chdir ? expand(call.chdir, vars) : ".";
        runs.push({ where, call, command: item, dir: dir === undefined ? undefined : posix.normalize(dir), vars: new Map(vars), privateFiles: umask });
      }
      continue;
    }
    const m = mmsInvocations.find((i) => i.part === item.part && i.line === item.line && i.text === item.words.map((w) => w.text).join(" "));
    if (m) mms.push({ where: describeInvocation(script, m.part, m.line, m.text), argv: m.variants[0]?.argv ?? [], vars: new Map(vars) });
    const [head, ...args] = item.words;
    if (head?.text === "umask") umask = args[0]?.text === "077" || args[0]?.text === "0077";
    const assignments = item.words.length === 0 ? item.assignments : head && !head.opaque && ["export", "declare", "readonly", "local"].includes(head.text) ? args : [];
    for (const a of assignments) {
      const eq = a.text.indexOf("=");
      if (eq <= 0) continue;
      const value = expand({ text: a.text.slice(eq + 1), opaque: a.opaque }, vars);
      if (value === undefined) vars.delete(a.text.slice(0, eq));
      else vars.set(a.text.slice(0, eq), value);
    }
  }
  for (const run of runs) {
    if (run.call.chdir && run.dir === undefined) {
      problems.push(`${run.where}: cannot tell which folder -chdir=${run.call.chdir.text} is; set its variables in the script, from a choice input or from a matrix`);
    } else if (run.dir !== undefined && (run.dir.startsWith("..") || posix.isAbsolute(run.dir) || !isDirectory(join(ROOT, run.dir)))) {
      problems.push(`${run.where}: -chdir=${run.dir} is not a folder of the repository`);
    }
    if (run.vars.get("CHECKPOINT_DISABLE") !== "1") problems.push(`${run.where}: runs without CHECKPOINT_DISABLE=1, so terraform would call HashiCorp's checkpoint service`);
  }
  return { runs, mms, problems };
}

/**
 * Follows the saved plans through one job or step: `plan -out=F` writes F (in its -chdir folder);
 * `apply F` and `show F` must read a plan written before them there or received as an artifact;
 * `apply` without a plan file would plan again and apply what nobody reviewed.
 */
function followPlans(runs: readonly TerraformRun[], files: Set<string>, label: string): string[] {
  const problems: string[] = [];
  for (const run of runs) {
    // A command line terraform refuses, or in an unknown folder, is reported already.
    if (run.dir === undefined || run.call.problems.length > 0) continue;
    const command = run.call.command.join(" ");
    if (command === "plan") {
      const out = run.call.flags.find((f) => f.name === "-out")?.value;
      const file = out && expand(out, run.vars);
      if (out && file === undefined) problems.push(`${run.where}: cannot tell which file -out=${out.text} writes${label}`);
      if (file !== undefined) files.add(posix.join(run.dir, file));
    } else if (command === "apply" || command === "destroy" || command === "show") {
      const operand = run.call.operands[0];
      if (!operand) {
        if (command !== "show") problems.push(`${run.where}: terraform ${command} without a saved plan plans again and applies what nobody reviewed; apply the file a terraform plan -out wrote`);
        continue;
      }
      const file = expand(operand, run.vars);
      const path = file === undefined ? undefined : posix.join(run.dir, file);
      if (path === undefined || !files.has(path)) {
        problems.push(`${run.where}: ${command} reads ${path ?? operand.text}, which no terraform plan -out wrote before it in this job or step nor in an artifact it received${label}`);
      }
    }
  }
  return problems;
}

function globRegExp(glob: string): RegExp {
  const body = glob.split(/(\*\*\/?|\*|\?)/).map((part) =>
    part.startsWith("**") ? ".*" : part === "*" ? "[^/]*" : part === "?" ? "[^/]" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&")).join("");
  return new RegExp(`^${body}$`);
}

/** The steps of every Bitbucket pipeline that runs terraform: artifacts go from a step to the steps of later groups. */
function bitbucketInfra(cli: TerraformCli, file: string, doc: unknown): InfraAnalysis {
  const units: InfraUnit[] = [];
  const problems: string[] = [];
  const flow: string[] = [];
  for (const [pipeline, items] of bitbucketPipelines(doc)) {
    const published: { group: number; files: string[] }[] = [];
    bitbucketStepGroups(items).forEach((group, g) => {
      for (const step of group) {
        const files = new Set(published.filter((p) => p.group < g).flatMap((p) => p.files));
        const runs: TerraformRun[] = [];
        const mms: MmsRun[] = [];
        for (const script of stepScripts(file, pipeline, step)) {
          const read = readRuns(cli, script, new Map());
          problems.push(...read.problems);
          flow.push(...followPlans(read.runs, files, ""));
          runs.push(...read.runs);
          mms.push(...read.mms);
        }
        const globs = (Array.isArray(step.artifacts) ? step.artifacts : list(record(step.artifacts).paths)).map((a) => globRegExp(String(a)));
        const out = [...files].filter((f) => globs.some((r) => r.test(f)));
        published.push({ group: g, files: out });
        if (runs.length === 0) continue;
        units.push({
          name: `${file}: pipeline "${pipeline}", step "${String(step.name)}"`, runs, mms, pipeline,
          environment: typeof step.deployment === "string" ? step.deployment : undefined,
          manual: step.trigger === "manual", published: new Map([["artifacts", out]]),
        });
      }
    });
  }
  return { units, problems, flow };
}

/** Jobs that run before `job` (its `needs`, and theirs). */
function upstream(jobs: Record<string, unknown>, job: string, seen = new Set<string>()): Set<string> {
  const needs = record(jobs[job]).needs;
  for (const n of Array.isArray(needs) ? needs.map(String) : typeof needs === "string" ? [needs] : []) {
    if (!seen.has(n)) { seen.add(n); upstream(jobs, n, seen); }
  }
  return seen;
}

function commonFolder(paths: readonly string[]): string {
  const split = paths.map((p) => p.split("/"));
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length && split.every((p) => p[n] === first[n])) n++;
  return first.slice(0, n).join("/") || ".";
}

/** A list of paths as GitHub's artifact actions take them (one per line). */
function pathList(value: unknown): string[] {
  return scalar(value).split("\n").map((p) => p.trim()).filter((p) => p !== "");
}

/** A YAML scalar as text ("" for anything else). */
function scalar(value: unknown, otherwise = ""): string {
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : otherwise;
}

/**
 * The jobs of a workflow that run terraform, once per scenario (every choice input value × every
 * matrix value). Artifacts: upload-artifact keeps the plan files under its paths relative to their
 * common folder, download-artifact puts them under its path, in a job that needs the uploader.
 */
function githubInfra(cli: TerraformCli, file: string, doc: unknown): InfraAnalysis {
  const workflow = record(doc);
  const jobs = record(workflow.jobs);
  const units: InfraUnit[] = [];
  const problems: string[] = [];
  const flow: string[] = [];
  const inputs = Object.entries(dispatchInputs(doc)).filter(([, i]) => record(i).type === "choice")
    .map(([k, i]): [string, string[]] => [`inputs.${k}`, list(record(i).options).map(String)]);
  // `on:` is an event, a list of events or a map of them.
  const events = typeof workflow.on === "string" ? [workflow.on] : Array.isArray(workflow.on) ? workflow.on.map(String) : Object.keys(record(workflow.on));
  const byHand = events.length > 0 && events.every((event) => event === "workflow_dispatch");
  for (const base of combinations(inputs)) {
    const artifacts = new Map<string, { job: string; files: Map<string, string> }>();
    for (const [jobId, rawJob] of Object.entries(jobs)) {
      const job = record(rawJob);
      const matrix = Object.entries(record(record(job.strategy).matrix)).filter(([, v]) => Array.isArray(v))
        .map(([k, v]): [string, string[]] => [`matrix.${k}`, list(v).map(String)]);
      for (const scenario of combinations(matrix).map((m) => new Map([...base, ...m]))) {
        const label = scenarioLabel(scenario);
        const files = new Set<string>();
        const runs: TerraformRun[] = [];
        const mms: MmsRun[] = [];
        const published = new Map<string, string[]>();
        for (const step of list(job.steps).map(record)) {
          const uses = typeof step.uses === "string" ? step.uses : "";
          const wth = record(step.with);
          if (uses.startsWith("actions/upload-artifact@")) {
            const name = evaluate(scalar(wth.name, "artifact"), scenario);
            const paths = pathList(wth.path).map((p) => evaluate(p, scenario));
            if (name === undefined || paths.some((p) => p === undefined)) { flow.push(`${file}: job "${jobId}" uploads an artifact whose name or paths cannot be told${label}`); continue; }
            const globs = (paths as string[]).map((p) => ({ path: posix.normalize(p), regexp: globRegExp(posix.normalize(p)) }));
            const kept = [...files].filter((f) => globs.some((g) => g.regexp.test(f) || f.startsWith(`${g.path}/`)));
            // The artifact's root is the paths' longest common folder (a single file's own folder).
            const single = globs.length === 1 && !isDirectory(join(ROOT, globs[0]?.path ?? ""));
            const root = single ? posix.dirname(globs[0]?.path ?? ".") : commonFolder(globs.map((g) => g.path));
            artifacts.set(name, { job: jobId, files: new Map(kept.map((f) => [posix.relative(root, f), f])) });
            published.set(name, kept);
          } else if (uses.startsWith("actions/download-artifact@")) {
            const name = evaluate(scalar(wth.name), scenario);
            const path = evaluate(scalar(wth.path, "."), scenario);
            const artifact = name === undefined ? undefined : artifacts.get(name);
            if (!artifact || path === undefined) { flow.push(`${file}: job "${jobId}" downloads the artifact ${scalar(wth.name)}, which no job before it uploads${label}`); continue; }
            if (!upstream(jobs, jobId).has(artifact.job)) flow.push(`${file}: job "${jobId}" downloads ${name ?? ""} from job "${artifact.job}" without needing it (needs: ${artifact.job})`);
            for (const rel of artifact.files.keys()) files.add(posix.join(path, rel));
          } else if (typeof step.run === "string") {
            const script = runScript(file, workflow, jobId, step);
            const start = new Map([...(script.envValues ?? [])].flatMap(([k, v]): [string, string][] => {
              const value = evaluate(v, scenario);
              return value === undefined ? [] : [[k, value]];
            }));
            const read = readRuns(cli, script, start);
            problems.push(...read.problems);
            flow.push(...followPlans(read.runs, files, label));
            runs.push(...read.runs);
            mms.push(...read.mms);
          }
        }
        if (runs.length === 0) continue;
        const environment = typeof job.environment === "string" ? job.environment : record(job.environment).name;
        units.push({
          name: `${file}: job "${jobId}"${label}`, runs, mms, pipeline: file, manual: byHand, published,
          environment: typeof environment === "string" ? evaluate(environment, scenario) : undefined,
        });
      }
    }
  }
  return { units, problems: [...new Set(problems)], flow: [...new Set(flow)] };
}

/** Changing commands only in manual units bound to the environment whose root folder they change. */
function protectionProblems(units: readonly InfraUnit[], system: "github" | "bitbucket"): string[] {
  const problems: string[] = [];
  for (const unit of units) {
    for (const run of unit.runs) {
      const command = run.call.command.join(" ");
      if (!CHANGING.has(command)) continue;
      const target = run.dir?.startsWith(`${TERRAFORM_ROOTS}/`) ? run.dir.slice(TERRAFORM_ROOTS.length + 1) : undefined;
      if (!unit.manual) problems.push(`${run.where}: terraform ${command} in ${unit.name}, which does not wait for a person (${system === "github" ? "run the workflow only on workflow_dispatch" : "trigger: manual"})`);
      if (system === "bitbucket" && !unit.pipeline.startsWith("custom ")) problems.push(`${run.where}: terraform ${command} in pipeline "${unit.pipeline}", which runs on its own; only custom pipelines change infrastructure`);
      if (target === undefined || unit.environment !== target) {
        problems.push(`${run.where}: terraform ${command} of ${run.dir ?? "an unknown folder"} in ${unit.name}, which is bound to ${unit.environment === undefined ? "no" : `the ${unit.environment}`} ` +
          `${system === "github" ? "GitHub environment (environment:)" : "deployment environment (deployment:)"}: its protection must be that of ${target ?? "the environment it changes"}`);
      }
    }
  }
  return problems;
}

/** `terraform output` and `show -json` print sensitive values: only into a private file, one named output at a time. */
function sensitiveOutputProblems(units: readonly InfraUnit[]): string[] {
  const problems: string[] = [];
  for (const run of units.flatMap((u) => u.runs)) {
    const command = run.call.command.join(" ");
    const json = run.call.flags.some((f) => f.name === "-json");
    if (!(command === "output" || command === "state pull" || command === "state show" || (command === "show" && json))) continue;
    if (command === "output" && run.call.operands.length !== 1) problems.push(`${run.where}: name one output; without a name terraform output prints them all (with -json, the sensitive ones in clear)`);
    const intoFile = !run.command.pipedIntoNext && run.command.redirects.some((r) =>
      /^1?>>?$/.test(r.op) && r.target !== undefined && !/^\/dev\/(stdout|stderr|tty|fd)/.test(r.target.text));
    if (!intoFile) problems.push(`${run.where}: prints sensitive values into the log; write them into a file (> FILE)`);
    else if (!run.privateFiles) problems.push(`${run.where}: writes sensitive values before \`umask 077\`, so other users of the runner could read the file`);
  }
  return problems;
}

/**
 * After an apply, `bin/mms platform bootstrap` in the same job or step gets --kubeconfig and --values
 * from files that `terraform output -raw kubeconfig` and `terraform output -json platform` of the
 * applied folder wrote.
 */
function bootstrapProblems(units: readonly InfraUnit[]): string[] {
  const problems: string[] = [];
  for (const unit of units) {
    const apply = unit.runs.find((r) => r.call.command.join(" ") === "apply");
    if (!apply) continue;
    const written = (flag: string, name: string): Set<string> => new Set(unit.runs
      .filter((r) => r.dir === apply.dir && r.call.command[0] === "output" && r.call.flags.some((f) => f.name === flag) && r.call.operands[0]?.text === name)
      .flatMap((r) => r.command.redirects.flatMap((d) => (d.target ? [expand(d.target, r.vars) ?? d.target.text] : []))));
    const kubeconfigs = written("-raw", "kubeconfig");
    const values = written("-json", "platform");
    const valueOf = (run: MmsRun, flag: string) => {
      const i = run.argv.findIndex((w) => w.text === flag);
      const w = i < 0 ? undefined : run.argv[i + 1];
      // A file under a folder made at run time ("$(mktemp -d)") is the same file when written the same way.
      return w && (expand(w, run.vars) ?? w.text);
    };
    const bootstraps = unit.mms.filter((m) => m.argv.filter((w) => !w.opaque).map((w) => w.text).join(" ").includes("platform bootstrap"));
    if (bootstraps.length === 0) problems.push(`${unit.name}: applies ${apply.dir ?? ""} but does not run bin/mms platform bootstrap`);
    for (const b of bootstraps) {
      const k = valueOf(b, "--kubeconfig");
      const v = valueOf(b, "--values");
      if (k === undefined || !kubeconfigs.has(k)) problems.push(`${b.where}: --kubeconfig ${k ?? "(none)"} is not the file terraform output -raw kubeconfig of ${apply.dir ?? ""} wrote`);
      if (v === undefined || !values.has(v)) problems.push(`${b.where}: --values ${v ?? "(none)"} is not the file terraform output -json platform of ${apply.dir ?? ""} wrote`);
    }
  }
  return problems;
}

let program: Command;
before(async () => {
  program = await loadProgram();
});

describe("the command-line checker can fail", () => {
  test("an unknown command", () => {
    const problems = checkArgv(program, ["tenant", "creat", "acme", "--domain", "acme.example"]);
    assert.equal(problems.length, 1);
    assert.match(problems[0] as string, /unknown command "creat" of mms tenant \(its commands: create, get/);
    assert.match(checkArgv(program, ["tenants", "list"])[0] as string, /unknown command "tenants" of mms/);
  });

  test("an unknown flag, naming the command and the flags it takes", () => {
    const problems = checkArgv(program, ["tenant", "create", "acme", "--domain", "acme.example", "--plna", "small"]);
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0] as string, /unknown option --plna for mms tenant create \(mms tenant create takes --domain, --plan,.*; global: .*--kubeconfig, --context\)/);
    assert.match(checkArgv(program, ["migrate", "import", "x1", "--domain", "d", "--dump", "f", "--wait"])[0] as string, /unknown option --wait/,
      "only --no-wait is defined");
  });

  test("a missing required option, a missing value, wrong positional arguments", () => {
    assert.deepEqual(checkArgv(program, ["tenant", "create", "acme"]), ["mms tenant create needs --domain <domain...>"]);
    assert.deepEqual(checkArgv(program, ["backup", "restore", "--tenant", "acme"]), ["mms backup restore needs --backup <id>"]);
    assert.match(checkArgv(program, ["upgrade", "--to"])[0] as string, /--to needs a value/);
    assert.match(checkArgv(program, ["upgrade", "--to", "--dry-run"])[0] as string, /--to needs a value .* but is followed by --dry-run/);
    assert.match(checkArgv(program, ["tenant", "create", "--domain", "acme.example"])[0] as string, /mms tenant create needs <name>/);
    // A variadic option eats the words after it, so the name must come before it.
    assert.match(checkArgv(program, ["tenant", "create", "--domain", "acme.example", "acme"])[0] as string, /needs <name>/);
    assert.match(checkArgv(program, ["tenant", "get", "a1", "b2"])[0] as string, /takes 1 positional argument\(s\) but got 2/);
    assert.match(checkArgv(program, ["tenant"])[0] as string, /mms tenant needs a subcommand \(create, get/);
    assert.match(checkArgv(program, ["upgrade", "--to", "5.3.0", "--dry-run=yes"])[0] as string, /--dry-run does not take a value/);
  });

  test("literal values go through the option's own parser (choices, durations, names)", () => {
    assert.match(checkArgv(program, ["tenant", "list", "-o", "xml"])[0] as string, /-o xml: .*Allowed choices are table, json, yaml/);
    assert.match(checkArgv(program, ["upgrade", "--to", "5.3.0", "--wave-size", "0"])[0] as string, /--wave-size 0: /);
    assert.match(checkArgv(program, ["upgrade", "--to", "5.3.0", "--pause-between", "soon"])[0] as string, /is not a duration/);
    assert.match(checkArgv(program, ["backup", "restore", "--tenant", "Not_A_Name", "--backup", "b"])[0] as string, /is not a tenant name/);
  });

  test("accepts what the CLI accepts: global options anywhere, opaque values, -o json, --flag=value", () => {
    const v = (text: string) => ({ text, opaque: true });
    assert.deepEqual(checkArgv(program, ["--kubeconfig", v("$K"), "tenant", "create", v("$NAME"), "--domain", v("${domains[@]}"),
      "--plan", "small", "-o", "json", "--wait", "--timeout=90s"]), []);
    assert.deepEqual(checkArgv(program, ["tenant", "get", "acme", "--context", "prod", "-ojson"]), []);
    assert.deepEqual(checkArgv(program, ["migrate", "import", v("$NAME"), "--domain", "a.example", "b.example", "--dump", v("$F"), "--no-wait", "--dry-run"]), []);
    assert.equal(commandOf(program, ["--kubeconfig", v("$K"), "backup", "restore", "--tenant", "a1", "--backup", "b"]), "mms backup restore");
  });

  test("a bad flag in a pipeline file is reported with the file, the pipeline, the step and the flag", () => {
    const doc = parse([
      "pipelines:",
      "  custom:",
      "    create-tenant:",
      "      - variables:",
      "          - name: NAME",
      "      - step:",
      "          name: Create",
      "          script:",
      "            - |",
      "              set -euo pipefail",
      "              args=()",
      "              if [ -n \"${POOL:-}\" ]; then args+=(--pol \"$POOL\"); fi",
      "              bin/mms --kubeconfig \"$HOME/k\" tenant create \"$NAME\" \\",
      "                --domain a.example \"${args[@]}\"",
      "              bin/mms tenant create \"$NAME\" --domian a.example",
      "              out=\"$(bin/mms tenant list -o json)\"",
    ].join("\n")) as unknown;
    const problems = checkScripts(program, bitbucketScripts("example.yml", doc));
    assert.equal(problems.length, 3, problems.join("\n"));
    assert.match(problems[0] as string, /^example\.yml: pipeline "custom create-tenant", step "Create", line 7: `out=\$\(bin\/mms tenant list -o json\)`: bin\/mms is used where it cannot be checked/);
    assert.match(problems[1] as string, /^example\.yml: pipeline "custom create-tenant", step "Create", line 4: `bin\/mms --kubeconfig \$HOME\/k tenant create \$NAME --domain a\.example \$\{args\[@\]\}` \(with every optional flag\): unknown option --pol for mms tenant create/);
    assert.match(problems[2] as string, /^example\.yml: .*line 6: `bin\/mms tenant create \$NAME --domian a\.example`: unknown option --domian/);
  });

  test("secrets printed or put on a command line are reported", () => {
    const script = (text: string): Script => ({ where: "x.yml: step", pipeline: "p", parts: [text] });
    assert.deepEqual(secretProblems([script("printf '%s' \"$KUBECONFIG_B64\" | base64 -d > \"$HOME/k\"\n: \"${KUBECONFIG_B64:?missing}\"")]), []);
    for (const bad of [
      "echo \"$KUBECONFIG_B64\"",
      "printf '%s' \"$KUBECONFIG_B64\" | base64 -d",
      "echo \"$KUBECONFIG_B64\" | base64 -d > /dev/stderr",
      "curl -u \"me:$MMS_S3_SECRET_ACCESS_KEY\" https://example.org",
      "set -x",
      "printenv",
      "echo ${{ secrets.KUBECONFIG_B64 }}",
    ]) {
      assert.notDeepEqual(secretProblems([script(bad)]), [], bad);
    }
  });

  test("terraform: a misspelled flag, an option after the plan file, -chdir without =, a plan option with a saved plan", { skip: needsTerraform }, () => {
    const cli = terraform as TerraformCli;
    const check = (...argv: string[]) => checkTerraformArgv(cli, argv).problems;
    const [misspelled, ...more] = check("apply", "-auto-aprove", "tfplan");
    assert.deepEqual(more, []);
    assert.match(misspelled as string, /^unknown option -auto-aprove for (terraform|tofu) apply \(it takes -auto-approve, -backup=…, /);
    assert.deepEqual(check("apply", "-auto-approve", "tfplan"), [], "the flag spelled right is accepted");
    assert.match(check("plan", "-out=tfplan", "-lock-timout=5m")[0] as string, /unknown option -lock-timout for (terraform|tofu) plan/);
    assert.match(check("apply", "tfplan", "-input=false")[0] as string, /-input=false comes after the argument tfplan: (terraform|tofu) reads options only before the first argument/);
    assert.match(check("-chdir", "deploy/terraform", "init")[0] as string, /-chdir needs its value after an equals sign/);
    assert.match(check("apply", "-target=module.x", "tfplan")[0] as string, /-target: (terraform|tofu) apply takes plan options only without a saved plan file/);
    assert.match(check("apply", "-auto-approve=yes", "tfplan")[0] as string, /-auto-approve is a switch; its value can only be true or false/);
    assert.match(check("output", "-raw", "kubeconfig", "platform")[0] as string, /(terraform|tofu) output takes the arguments of .*\[NAME\].* but got 2/);
    assert.match(check("plan", "-out")[0] as string, /-out needs a value/);
    assert.match(check("aply")[0] as string, /unknown command "aply" of (terraform|tofu) \(its commands: init, validate, plan, apply/);
    assert.match(check("state")[0] as string, /(terraform|tofu) state needs a subcommand \(list, mv/);
  });

  test("infrastructure pipelines: a bad terraform line, a missing folder, a plan that does not reach the apply, an unprotected apply, a printed output", { skip: needsTerraform }, () => {
    const cli = terraform as TerraformCli;
    const doc = parse(`
pipelines:
  pull-requests:
    '**':
      - step:
          name: Plan
          script:
            - export CHECKPOINT_DISABLE=1
            - |
              dir="deploy/terraform/environments/staging"
              terraform -chdir="$dir" plan -input=false -out=tfplan
              terraform -chdir="$dir" apply -input=false tfplan
              terraform -chdir="$dir" validate -no-colour
              terraform -chdir=deploy/terraform/environments/qa init -input=false
              terraform -chdir="$dir" output -json platform
  custom:
    infra-apply:
      - step:
          name: Plan
          script:
            - export CHECKPOINT_DISABLE=1
            - terraform -chdir=deploy/terraform/environments/staging plan -out=tfplan
          artifacts:
            - deploy/terraform/environments/staging/plan.txt
      - step:
          name: Apply
          trigger: manual
          deployment: production
          script:
            - terraform -chdir=deploy/terraform/environments/staging apply tfplan
`) as unknown;
    const analysis = bitbucketInfra(cli, "example.yml", doc);
    const all = [...analysis.problems, ...analysis.flow, ...protectionProblems(analysis.units, "bitbucket"), ...sensitiveOutputProblems(analysis.units)];
    const expect = (re: RegExp) => assert.ok(all.some((p) => re.test(p)), `a problem matching ${String(re)} among:\n  ${all.join("\n  ")}`);
    expect(/step "Plan", script item 2, line 4: `terraform -chdir=\$dir validate -no-colour`: unknown option -no-colour for (terraform|tofu) validate \(it takes .*-no-color,/);
    expect(/script item 2, line 5: .*: -chdir=deploy\/terraform\/environments\/qa is not a folder of the repository/);
    expect(/script item 2, line 6: .*output -json platform`: prints sensitive values into the log/);
    expect(/pipeline "pull-requests \*\*", step "Plan", script item 2, line 3: .*apply -input=false tfplan`: terraform apply in .* which does not wait for a person \(trigger: manual\)/);
    expect(/line 3: .*terraform apply in pipeline "pull-requests \*\*", which runs on its own/);
    expect(/line 3: .*terraform apply of deploy\/terraform\/environments\/staging in .*bound to no deployment environment/);
    expect(/step "Apply", line 1: .*: apply reads deploy\/terraform\/environments\/staging\/tfplan, which no terraform plan -out wrote before it/);
    expect(/step "Apply", line 1: .*: runs without CHECKPOINT_DISABLE=1/);
    expect(/step "Apply", line 1: .*terraform apply of deploy\/terraform\/environments\/staging in .*bound to the production deployment environment .*: its protection must be that of staging/);
    assert.equal(all.length, 9, all.join("\n"));
  });

  test("infrastructure workflows: an apply job that does not need the plan job, on a workflow that also runs on push", { skip: needsTerraform }, () => {
    const cli = terraform as TerraformCli;
    const doc = parse(`
on:
  push:
  workflow_dispatch:
    inputs:
      environment: { description: d, type: choice, options: [staging, production], default: staging }
env: { CHECKPOINT_DISABLE: '1' }
jobs:
  plan:
    steps:
      - run: terraform -chdir="deploy/terraform/environments/$E" plan -out=tfplan
        env: { E: '\${{ inputs.environment }}' }
      - uses: actions/upload-artifact@v4
        with: { name: 'plan-\${{ inputs.environment }}', path: 'deploy/terraform/environments/\${{ inputs.environment }}/tfplan' }
  apply:
    environment: \${{ inputs.environment }}
    steps:
      - uses: actions/download-artifact@v4
        with: { name: 'plan-\${{ inputs.environment }}', path: 'deploy/terraform/environments/\${{ inputs.environment }}' }
      - run: terraform -chdir="deploy/terraform/environments/$E" apply tfplan
        env: { E: '\${{ inputs.environment }}' }
`) as unknown;
    const analysis = githubInfra(cli, "x.yml", doc);
    assert.deepEqual(analysis.problems, []);
    assert.deepEqual(analysis.flow, [
      "x.yml: job \"apply\" downloads plan-staging from job \"plan\" without needing it (needs: plan)",
      "x.yml: job \"apply\" downloads plan-production from job \"plan\" without needing it (needs: plan)",
    ]);
    const protection = protectionProblems(analysis.units, "github");
    assert.equal(protection.length, 2, protection.join("\n"));
    assert.match(protection[0] as string, /x\.yml: job "apply", step .*: terraform apply in x\.yml: job "apply" \(with inputs\.environment=staging\), which does not wait for a person \(run the workflow only on workflow_dispatch\)/);
  });
});

describe("Bitbucket pipelines (deploy/pipelines/bitbucket-pipelines.yml)", () => {
  const doc = readYaml(BITBUCKET);
  const pipelines = bitbucketPipelines(doc);
  const scripts = bitbucketScripts(BITBUCKET, doc);

  test("every bin/mms command line is accepted by the CLI", () => {
    assert.ok(scripts.length > 0);
    assertNoProblems(checkScripts(program, scripts), "command lines the CLI would refuse");
  });

  test("the default pipeline lints, type-checks and runs ./scripts/test", () => {
    const words = scripts.filter((s) => s.pipeline === "default").flatMap((s) => commands(analyzeScript(s.parts))).map((c) => c.words.map((w) => w.text));
    assert.ok(words.some((w) => w.some((t) => /(^|\/)eslint(\.js)?$/.test(t)) && w.includes("--max-warnings")), "eslint with --max-warnings");
    assert.ok(words.some((w) => w.some((t) => /(^|\/)tsc$/.test(t))), "tsc");
    assert.ok(words.some((w) => w[0] === "./scripts/test" || w[0] === "scripts/test"), "./scripts/test");
  });

  for (const [name, spec] of Object.entries(OPERATIONS)) {
    test(`custom pipeline ${name}: inputs, credentials, and \`${spec.command}\``, () => {
      const items = pipelines.get(`custom ${name}`);
      assert.ok(items, `custom pipeline ${name} is missing`);
      const variables = new Set(items.flatMap((i) => list(record(i).variables)).map((v) => String(record(v).name)));
      for (const v of spec.bitbucket) assert.ok(variables.has(v), `${name} declares the variable ${v}`);
      const own = scripts.filter((s) => s.pipeline === `custom ${name}`);
      const text = own.flatMap((s) => s.parts).join("\n");
      for (const v of variables) assert.match(text, new RegExp(`\\$\\{?${v}\\b`), `${name} uses its variable ${v}`);
      assertNoProblems(own.flatMap((s) => unknownVariables(s, variables)), "variables");
      const invocations = own.flatMap((s) => analyzeScript(s.parts).invocations);
      assert.deepEqual(invocations.map((i) => commandOf(program, i.variants[0]?.argv ?? [])), [spec.command]);
      assert.ok(invocations.every((i) => i.variants.every((v) => v.argv.some((w) => w.text === "--kubeconfig"))), "--kubeconfig is passed");
      assert.match(text, /printf '%s' "\$KUBECONFIG_B64" \| base64 -d > /, "the kubeconfig comes from the secured variable KUBECONFIG_B64");
      for (const s of own) {
        for (const part of s.parts.filter((p) => p.includes("\n"))) assert.match(part, /^set -euo pipefail\n/, `${s.where}: scripts start with set -euo pipefail`);
      }
    });
  }

  test("two fleet upgrades never run at once", () => {
    const steps = bitbucketSteps(pipelines.get("custom upgrade-fleet"));
    assert.ok(steps.length > 0 && steps.every((s) => s["concurrency-group"] === "mms-fleet-upgrade"));
  });

  test("secrets are never printed nor put on a command line", () => {
    assertNoProblems(secretProblems(scripts), "secret handling");
  });
});

describe("GitHub Actions workflows (deploy/pipelines/github/workflows)", () => {
  const files = readdirSync(join(ROOT, WORKFLOWS)).filter((f) => f.endsWith(".yml")).sort();
  const docs = new Map(files.map((f) => [f, readYaml(join(WORKFLOWS, f))]));
  const scripts = [...docs].flatMap(([f, doc]) => workflowScripts(`${WORKFLOWS}/${f}`, doc));

  test("the expected workflows are there", () => {
    assert.deepEqual(files, ["ci.yml", ...Object.keys(OPERATIONS).map((n) => `${n}.yml`), ...Object.values(INFRA.github)].sort());
  });

  test("every bin/mms command line is accepted by the CLI", () => {
    assertNoProblems(checkScripts(program, scripts), "command lines the CLI would refuse");
  });

  test("ci.yml runs on push and pull requests, lints, type-checks and runs ./scripts/test", () => {
    const on = record(record(docs.get("ci.yml")).on);
    assert.ok("push" in on && "pull_request" in on);
    const words = scripts.filter((s) => s.where.startsWith(`${WORKFLOWS}/ci.yml`)).flatMap((s) => commands(analyzeScript(s.parts))).map((c) => c.words.map((w) => w.text));
    assert.ok(words.some((w) => w.some((t) => /(^|\/)eslint(\.js)?$/.test(t)) && w.includes("--max-warnings")), "eslint");
    assert.ok(words.some((w) => w.some((t) => /(^|\/)tsc$/.test(t))), "tsc");
    assert.ok(words.some((w) => w[0] === "./scripts/test"), "./scripts/test");
  });

  for (const [name, spec] of Object.entries(OPERATIONS)) {
    test(`${name}.yml: workflow_dispatch inputs, credentials, and \`${spec.command}\``, () => {
      const file = `${name}.yml`;
      const inputs = dispatchInputs(docs.get(file));
      for (const i of spec.github) assert.ok(i in inputs, `${file} has the input ${i}`);
      assertNoProblems(inputProblems(file, inputs), "inputs");
      const raw = readFileSync(join(ROOT, WORKFLOWS, file), "utf8");
      const own = scripts.filter((s) => s.where.startsWith(`${WORKFLOWS}/${file}:`));
      assertNoProblems(own.flatMap((s) => unknownVariables(s, new Set())), "variables");
      const invocations = own.flatMap((s) => analyzeScript(s.parts).invocations);
      assert.deepEqual(invocations.map((i) => commandOf(program, i.variants[0]?.argv ?? [])), [spec.command]);
      assert.ok(invocations.every((i) => i.variants.every((v) => v.argv.some((w) => w.text === "--kubeconfig"))), "--kubeconfig is passed");
      assert.match(raw, /KUBECONFIG_B64: \$\{\{ secrets\.KUBECONFIG_B64 \}\}/, "the kubeconfig comes from the secret KUBECONFIG_B64");
      for (const s of own) assert.match(s.parts[0] ?? "", /^set -euo pipefail\n/, `${s.where}: scripts start with set -euo pipefail`);
    });
  }

  test("two fleet upgrades never run at once", () => {
    const concurrency = record(record(docs.get("upgrade-fleet.yml")).concurrency);
    assert.equal(concurrency.group, "mms-fleet-upgrade", "one fixed group, whatever the inputs");
    assert.equal(concurrency["cancel-in-progress"], false, "a running upgrade is never cancelled by the next one");
  });

  test("secrets are never printed, put on a command line, or written into scripts with ${{ }}", () => {
    assertNoProblems(secretProblems(scripts), "secret handling");
  });
});

describe("infrastructure pipelines: terraform plan on pull requests, protected manual apply, platform bootstrap", () => {
  const bitbucketDoc = readYaml(BITBUCKET);
  const workflows = new Map(Object.values(INFRA.github).map((f) => [f, readYaml(join(WORKFLOWS, f))]));
  const ownScripts = [
    ...bitbucketScripts(BITBUCKET, bitbucketDoc).filter((s) => s.pipeline.startsWith(INFRA.bitbucket.plan) || s.pipeline === INFRA.bitbucket.apply),
    ...[...workflows].flatMap(([f, doc]) => workflowScripts(`${WORKFLOWS}/${f}`, doc)),
  ];
  let bitbucket: InfraAnalysis;
  let github: Map<string, InfraAnalysis>;
  before(() => {
    if (!terraform) return;
    bitbucket = bitbucketInfra(terraform, BITBUCKET, bitbucketDoc);
    github = new Map([...workflows].map(([f, doc]) => [f, githubInfra(terraform, `${WORKFLOWS}/${f}`, doc)]));
  });
  const units = (system: "github" | "bitbucket", pipeline: "plan" | "apply"): InfraUnit[] => system === "github"
    ? [...(github.get(INFRA.github[pipeline])?.units ?? [])]
    : bitbucket.units.filter((u) => (pipeline === "plan" ? u.pipeline.startsWith(INFRA.bitbucket.plan) : u.pipeline === INFRA.bitbucket.apply));
  const runsOf = (list: readonly InfraUnit[], command: string) => list.flatMap((u) => u.runs).filter((r) => r.call.command.join(" ") === command);

  test(`every terraform command line is accepted by the terraform installed here, in a folder of the repository`, { skip: needsTerraform }, () => {
    const cli = terraform as TerraformCli;
    const all = [bitbucket, ...github.values()];
    assert.ok(all.every((a) => a.units.length > 0), "each file runs terraform");
    assertNoProblems(all.flatMap((a) => a.problems), `command lines terraform ${cli.version} would refuse`);
    const folders = new Set(all.flatMap((a) => a.units.flatMap((u) => u.runs.map((r) => r.dir))));
    assert.deepEqual([...folders].sort(), [".", ...INFRA_ENVIRONMENTS.map((e) => `${TERRAFORM_ROOTS}/${e}`)].sort(), "fmt runs at the top, everything else in an environment's root");
  });

  test("the plan applied is the saved plan a plan step wrote in the same folder, passed on as an artifact", { skip: needsTerraform }, () => {
    assertNoProblems([bitbucket, ...github.values()].flatMap((a) => a.flow), "saved plans");
    for (const system of ["github", "bitbucket"] as const) {
      const applies = runsOf(units(system, "apply"), "apply");
      assert.deepEqual([...new Set(applies.map((r) => r.dir))].sort(), INFRA_ENVIRONMENTS.map((e) => `${TERRAFORM_ROOTS}/${e}`).sort(), `${system}: an apply for each environment`);
      assert.ok(applies.every((r) => r.call.operands.length === 1), `${system}: each apply names its saved plan`);
    }
  });

  test("the plan runs on pull requests that change deploy/terraform, keeps the plan as an artifact, and changes nothing", { skip: needsTerraform }, () => {
    const on = record(record(workflows.get(INFRA.github.plan)).on);
    assert.ok(list(record(on.pull_request).paths).includes("deploy/terraform/**"), "infra-plan.yml runs on pull requests touching deploy/terraform");
    assert.match(String(record(record(record(workflows.get(INFRA.github.plan)).jobs).plan).if), /head\.repo\.full_name == github\.repository/, "no plan with the secrets for a fork's pull request");
    const prSteps = [...bitbucketPipelines(bitbucketDoc)].filter(([name]) => name.startsWith(INFRA.bitbucket.plan)).flatMap(([, items]) => bitbucketSteps(items));
    for (const step of prSteps) {
      assert.ok(list(record(record(step.condition).changesets).includePaths).includes("deploy/terraform/**"), `Bitbucket step "${String(step.name)}" runs only when deploy/terraform changes`);
    }
    for (const system of ["github", "bitbucket"] as const) {
      const plan = units(system, "plan");
      assert.deepEqual(plan.flatMap((u) => u.runs).filter((r) => CHANGING.has(r.call.command.join(" "))).map((r) => r.where), [], `${system}: the pull-request pipeline changes nothing`);
      assert.ok(runsOf(plan, "fmt").some((r) => r.call.flags.some((f) => f.name === "-check") && r.call.operands.some((o) => o.text === "deploy/terraform")), `${system}: terraform fmt -check deploy/terraform`);
      for (const env of INFRA_ENVIRONMENTS) {
        const dir = `${TERRAFORM_ROOTS}/${env}`;
        const here = (command: string) => runsOf(plan, command).filter((r) => r.dir === dir);
        assert.ok(here("init").length > 0 && here("validate").length > 0, `${system}: init and validate ${dir}`);
        assert.ok(here("plan").some((r) => r.call.flags.some((f) => f.name === "-out")), `${system}: a saved plan of ${dir}`);
        assert.ok(here("show").some((r) => r.call.flags.some((f) => f.name === "-no-color") && r.command.redirects.some((d) => d.target?.text.endsWith("/plan.txt"))), `${system}: the plan as text in plan.txt`);
        assert.ok(plan.some((u) => [...u.published.values()].flat().includes(`${dir}/tfplan`)), `${system}: the saved plan of ${dir} is kept as an artifact`);
      }
    }
    assert.ok(prSteps.every((s) => list(s.artifacts).some((a) => String(a).endsWith("/plan.txt")) || !list(s.artifacts).length), "Bitbucket keeps plan.txt with the plan");
    const summary = ownScripts.filter((s) => s.where.startsWith(`${WORKFLOWS}/${INFRA.github.plan}`)).map((s) => s.parts.join("\n")).join("\n");
    assert.match(summary, />> "\$GITHUB_STEP_SUMMARY"/, "the plan goes into the run's summary");
    assert.match(summary, /<details><summary>.*```diff/s, "as a collapsible diff block");
  });

  test("apply runs only by hand, bound to the environment whose folder it changes (reviewers / deployment permissions)", { skip: needsTerraform }, () => {
    assertNoProblems([...protectionProblems(bitbucket.units, "bitbucket"), ...[...github.values()].flatMap((a) => protectionProblems(a.units, "github"))], "unprotected changes");
    const apply = record(workflows.get(INFRA.github.apply));
    assert.deepEqual(Object.keys(record(apply.on)), ["workflow_dispatch"], "infra-apply.yml starts only by hand");
    const environment = record(dispatchInputs(apply).environment);
    assert.equal(environment.type, "choice");
    assert.deepEqual(list(environment.options), INFRA_ENVIRONMENTS, "one choice per environment root");
    for (const env of INFRA_ENVIRONMENTS) assert.ok(isDirectory(join(ROOT, TERRAFORM_ROOTS, env)), `${TERRAFORM_ROOTS}/${env} exists`);
    assertNoProblems(inputProblems(INFRA.github.apply, dispatchInputs(apply)), "inputs");
    const bitbucketApplies = units("bitbucket", "apply").filter((u) => runsOf([u], "apply").length > 0);
    assert.deepEqual(bitbucketApplies.map((u) => [u.manual, u.environment]), INFRA_ENVIRONMENTS.map((e) => [true, e]), "Bitbucket: staging, then production, each a manual deployment step");
  });

  test("after apply, bin/mms platform bootstrap gets the kubeconfig and values Terraform wrote into private files; nothing sensitive is printed", { skip: needsTerraform }, () => {
    const all = [bitbucket, ...github.values()].flatMap((a) => a.units);
    assertNoProblems([...bootstrapProblems(all), ...sensitiveOutputProblems(all)], "bootstrap and sensitive outputs");
    for (const [file, doc] of workflows) {
      for (const step of Object.values(record(record(doc).jobs)).flatMap((j) => list(record(j).steps).map(record))) {
        if (String(step.uses).startsWith("hashicorp/setup-terraform@")) {
          assert.equal(record(step.with).terraform_wrapper, false, `${file}: setup-terraform's wrapper is off (it would copy terraform's output into step outputs)`);
        }
      }
    }
  });

  test("the scripts declare what they read, start with set -euo pipefail, and never print a secret", () => {
    assert.ok(ownScripts.length > 0);
    assertNoProblems([...ownScripts.flatMap((s) => unknownVariables(s, new Set())), ...secretProblems(ownScripts)], "variables and secrets");
    for (const s of ownScripts) {
      for (const part of s.parts.filter((p) => p.includes("\n"))) assert.match(part, /^set -euo pipefail\n/, `${s.where}: scripts start with set -euo pipefail`);
    }
  });

  test("terraform and Helm versions are pinned, the same on both systems; actions by major version or commit", { skip: needsTerraform }, () => {
    const cli = terraform as TerraformCli;
    const steps = [...readdirSync(join(ROOT, WORKFLOWS)).filter((f) => f.endsWith(".yml"))]
      .flatMap((f) => Object.values(record(record(readYaml(join(WORKFLOWS, f))).jobs)).flatMap((j) => list(record(j).steps).map(record)));
    for (const step of steps.filter((st) => typeof st.uses === "string")) assert.match(String(step.uses), /^[\w.-]+\/[\w.-]+@(v\d+|[0-9a-f]{40})$/, "pinned by major version or full commit SHA");
    const withOf = (prefix: string, key: string) => new Set(steps.filter((st) => String(st.uses).startsWith(prefix)).map((st) => String(record(st.with)[key])));
    const words = bitbucketScripts(BITBUCKET, bitbucketDoc).flatMap((s) => s.parts).join("\n");
    const terraformPins = new Set([...withOf("hashicorp/setup-terraform@", "terraform_version"), ...[...words.matchAll(/\bterraform=(\d+\.\d+\.\d+)-\d+\b/g)].map((m) => m[1] as string)]);
    assert.equal(terraformPins.size, 1, `one terraform version everywhere: ${[...terraformPins].join(", ")}`);
    const [pinned] = terraformPins;
    // With MMS_TERRAFORM=tofu the command lines are checked against OpenTofu, whose versions are its own.
    if (cli.name === "terraform") {
      assert.equal(pinned?.split(".").slice(0, 2).join("."), cli.version.split(".").slice(0, 2).join("."), `the pipelines' terraform ${pinned ?? ""} is the ${cli.version} the command lines are checked against (same minor version)`);
    }
    const helmPins = new Set([...withOf("azure/setup-helm@", "version"), ...[...words.matchAll(/helm-(v\d+\.\d+\.\d+)-linux-amd64\.tar\.gz/g)].map((m) => m[1] as string)]);
    assert.deepEqual([...helmPins], [`v${HELM_VERSION}`], "the Helm of the dev environment (src/devcluster/versions.ts)");
  });
});
