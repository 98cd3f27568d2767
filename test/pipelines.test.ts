// The CI/CD pipelines in deploy/pipelines (Bitbucket and GitHub Actions) are parsed, and every
// `bin/mms …` command line in them is checked against the real CLI's commander tree: the command
// exists, its flags are accepted, flags that take a value get one, required options and positional
// arguments are there. Also: the pipelines the operations need exist, the default/CI pipeline lints,
// type-checks and runs ./scripts/test, every input is wired through, and secrets are never printed.
// Nothing is run on Bitbucket or GitHub; no dev environment is needed.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { parse } from "yaml";
import { analyzeScript, checkArgv, commandOf, type ScriptAnalysis, type ShellCommand, type Word } from "./support/argv-check.ts";

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
const SECRETS = ["KUBECONFIG_B64", "MMS_S3_ACCESS_KEY_ID", "MMS_S3_SECRET_ACCESS_KEY", "MMS_MIGRATE_SOURCE_PASSWORD"];
/** Variables a script may read besides its own inputs: repository variables (see the README) and the runners' own. */
const AMBIENT = new Set([...SECRETS, "MMS_KUBE_CONTEXT", "HOME", "PATH", "RUNNER_TEMP", "BITBUCKET_CLONE_DIR"]);

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
}

function bitbucketSteps(items: unknown): Record<string, unknown>[] {
  return list(items).flatMap((raw) => {
    const item = record(raw);
    if (item.step) return [record(item.step)];
    if (item.parallel) return bitbucketSteps(Array.isArray(item.parallel) ? item.parallel : record(item.parallel).steps);
    if (item.stage) return bitbucketSteps(record(item.stage).steps);
    return [];
  });
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

function bitbucketScripts(file: string, doc: unknown): Script[] {
  return [...bitbucketPipelines(doc)].flatMap(([pipeline, items]) => bitbucketSteps(items).flatMap((step) =>
    (["script", "after-script"] as const).filter((key) => step[key]).map((key) => ({
      where: `${file}: pipeline "${pipeline}", step "${typeof step.name === "string" ? step.name : "(unnamed)"}"${key === "after-script" ? " (after-script)" : ""}`,
      pipeline,
      parts: list(step[key]).filter((p): p is string => typeof p === "string"),
    }))));
}

function workflowScripts(file: string, doc: unknown): Script[] {
  const workflow = record(doc);
  const workflowEnv = Object.keys(record(workflow.env));
  return Object.entries(record(workflow.jobs)).flatMap(([job, raw]) => {
    const jobEnv = Object.keys(record(record(raw).env));
    return list(record(raw).steps).map(record).filter((step) => typeof step.run === "string").map((step) => ({
      where: `${file}: job "${job}", step "${typeof step.name === "string" ? step.name : String(step.run)}"`,
      pipeline: typeof workflow.name === "string" ? workflow.name : file,
      parts: [step.run as string],
      env: new Set([...workflowEnv, ...jobEnv, ...Object.keys(record(step.env))]),
    }));
  });
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
    assert.deepEqual(files, ["ci.yml", ...Object.keys(OPERATIONS).map((n) => `${n}.yml`)].sort());
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
      const doc = record(docs.get(file));
      const inputs = record(record(record(doc.on).workflow_dispatch).inputs);
      for (const i of spec.github) assert.ok(i in inputs, `${file} has the input ${i}`);
      for (const [key, raw] of Object.entries(inputs)) {
        const input = record(raw);
        assert.ok(typeof input.description === "string" && ["string", "boolean", "number", "choice"].includes(String(input.type)), `${file}: input ${key} has a description and a type`);
        if (input.type === "choice") assert.ok(list(input.options).includes(input.default), `${file}: the default of ${key} is one of its options`);
      }
      const raw = readFileSync(join(ROOT, WORKFLOWS, file), "utf8");
      const referenced = new Set([...raw.matchAll(/\binputs\.([A-Za-z_][\w-]*)/g)].map((m) => m[1] as string));
      assert.deepEqual([...referenced].filter((r) => !(r in inputs)), [], `${file}: every inputs.X referenced is declared`);
      assert.deepEqual(Object.keys(inputs).filter((i) => !referenced.has(i)), [], `${file}: every input is used`);
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
