import { test } from "node:test";
import assert from "node:assert/strict";
import { Command, Option } from "commander";
import {
  analyzeScript, checkArgv, checkTerraformArgv, parseShell, parseTerraformHelp, ShellSyntaxError, TERRAFORM, TerraformCli,
  type ShellCommand, type Word,
} from "./argv-check.ts";

function words(script: string): string[][] {
  return parseShell(script).filter((i): i is ShellCommand => i.kind === "command").map((c) => c.words.map((w) => (w.opaque ? `«${w.text}»` : w.text)));
}

test("shell words: quotes, escapes, continuations, comments and separators", () => {
  assert.deepEqual(words(`bin/mms tenant create 'a b' "c d" e\\ f # a comment\nnext --x="y z";third&&fourth | fifth`), [
    ["bin/mms", "tenant", "create", "a b", "c d", "e f"],
    ["next", "--x=y z"],
    ["third"],
    ["fourth"],
    ["fifth"],
  ]);
  assert.deepEqual(words(`bin/mms upgrade \\\n  --to 5.3.0 \\\n  --dry-run`), [["bin/mms", "upgrade", "--to", "5.3.0", "--dry-run"]]);
  assert.deepEqual(words(`echo "say \\"hi\\" \\$HOME" 'it''s'`), [["echo", "say \"hi\" $HOME", "its"]]);
});

test("shell words: expansions are opaque values, keywords, assignments and redirections are not words", () => {
  assert.deepEqual(words(`if [ -n "\${POOL:-}" ]; then X=1 bin/mms get "$NAME" \${{ inputs.plan }} "$(date +%s)" > out.txt 2>&1; fi`), [
    ["[", "-n", "«${POOL:-}»", "]"],
    ["bin/mms", "get", "«$NAME»", "«${{ inputs.plan }}»", "«$(date +%s)»"],
  ]);
  const [cmd] = parseShell(`printf '%s' "$K" | base64 -d > "$HOME/k"`).filter((i): i is ShellCommand => i.kind === "command");
  assert.equal(cmd?.pipedIntoNext, true);
  const [, decode] = parseShell(`printf '%s' "$K" | base64 -d > "$HOME/k"`) as ShellCommand[];
  assert.deepEqual(decode?.redirects.map((r) => [r.op, r.target?.text]), [[">", "$HOME/k"]]);
  assert.throws(() => parseShell("cat <<EOF\nx\nEOF\n"), ShellSyntaxError);
  assert.throws(() => parseShell(`echo "unclosed`), /unclosed double quote/);
});

test("arrays: the invocation is checked as written and with every appended fragment", () => {
  const analysis = analyzeScript([
    "set -euo pipefail\nread -r -a domains <<< \"$DOMAINS\"\nargs=(--plan small)\n",
    "if [ \"$DRY\" = true ]; then args+=(--dry-run); fi\nif [ -n \"${POOL:-}\" ]; then\n  args+=(--pool \"$POOL\")\nfi\n" +
      "bin/mms tenant create \"$NAME\" --domain \"${domains[@]}\" \"${args[@]}\"",
  ]);
  const show = (argv: readonly Word[]) => argv.map((w) => (w.opaque ? `«${w.text}»` : w.text)).join(" ");
  assert.equal(analysis.invocations.length, 1);
  const [inv] = analysis.invocations;
  assert.equal(inv?.part, 1);
  assert.equal(inv?.line, 5);
  assert.deepEqual(inv?.variants.map((v) => [v.label, show(v.argv)]), [
    ["as written", "tenant create «$NAME» --domain «${domains[@]}» --plan small"],
    ["with every optional flag", "tenant create «$NAME» --domain «${domains[@]}» --plan small --dry-run --pool «$POOL»"],
  ]);
});

test("bin/mms where it cannot be checked is reported", () => {
  const analysis = analyzeScript([`out="$(bin/mms tenant list)"\nbash -c "bin/mms tenant list"\nbin/mms tenant list`]);
  assert.equal(analysis.invocations.length, 1);
  assert.deepEqual(analysis.unchecked.map((u) => u.line), [1, 2]);
});

test("checkArgv against a small program", () => {
  const program = new Command("p").option("--global <v>");
  const group = program.command("group");
  group.command("leaf").argument("<name>").argument("[more...]")
    .requiredOption("--must <v>")
    .option("--flag")
    .option("--maybe [v]")
    .addOption(new Option("--color <c>").choices(["red", "blue"]))
    .addOption(new Option("--from-env <v>").env("P_FROM_ENV").makeOptionMandatory());
  assert.deepEqual(checkArgv(program, ["group", "leaf", "n", "m1", "m2", "--must", "x", "--maybe", "--flag", "--color", "red", "--global", "g"]), []);
  assert.deepEqual(checkArgv(program, ["group", "leaf", "n", "--must=x", "--maybe", "v", "-h"]), []);
  assert.deepEqual(checkArgv(program, ["group", "leaf", "n"]), ["p group leaf needs --must <v>"]);
  assert.match(checkArgv(program, ["group", "leaf", "n", "--must", "x", "--color", "green"])[0] as string, /--color green: .*Allowed choices are red, blue/);
  assert.match(checkArgv(program, ["--must", "x", "group", "leaf", "n"])[0] as string, /unknown option --must for p /);
  assert.match(checkArgv(program, ["group", { text: "$SUB", opaque: true }])[0] as string, /a subcommand must be written out/);
  assert.deepEqual(checkArgv(program, ["group", "leaf", "--must", "x", "--", "-n"]), []);
});

// Help texts in the shape terraform 1.11 prints them, cut down: the checker reads them, not a list of its own.
const HELP: Record<string, string> = {
  "": `Usage: terraform [global options] <subcommand> [args]

Main commands:
  init          Prepare your working directory for other commands
  plan          Show changes required by the current configuration
  apply         Create or update infrastructure
  destroy       Destroy previously-created infrastructure

All other commands:
  output        Show output values from your root module
  state         Advanced state management

Global options (use these before the subcommand, if any):
  -chdir=DIR    Switch to a different working directory before executing the
                given subcommand.
  -help         Show this help output, or the help for a specified subcommand.
`,
  init: `Usage: terraform [global options] init [options]

Options:

  -backend=false          Disable backend or HCP Terraform initialization
                          for this configuration.

                          aliases: -cloud=false

  -backend-config=path    Configuration to be merged with what is in the
                          configuration file's 'backend' block.

  -plugin-dir             Directory containing plugin binaries. This overrides all
                          default search paths for plugins.
`,
  plan: `Usage: terraform [global options] plan [options]

Plan Customization Options:

  -target=resource    Limit the planning operation to only the given module.

  -var 'foo=bar'      Set a value for one of the input variables.

Other Options:

  -input=true                Ask for input for variables if not directly set.

  -out=path                  Write a plan file to the given path.
`,
  apply: `Usage: terraform [global options] apply [options] [PLAN]

Options:

  -auto-approve          Skip interactive approval of plan before applying.

  -input=true            Ask for input for variables if not directly set.

  If you don't provide a saved plan file then this command will also accept
  all of the plan-customization options accepted by the terraform plan command.
`,
  destroy: `Usage: terraform [global options] destroy [options]

  This command is a convenience alias for:
      terraform apply -destroy

  This command also accepts many of the plan-customization options accepted by
  the terraform plan command.
`,
  output: `Usage: terraform [global options] output [options] [NAME]

Options:

  -json            If specified, machine readable output will be
                   printed in JSON format.

  -raw             For value types that can be automatically
                   converted to a string, will print the raw string.
`,
  state: `Usage: terraform [global options] state <subcommand> [options] [args]

Subcommands:
    list                List resources in the state
    rm                  Remove instances from the state
`,
  "state rm": `Usage: terraform [global options] state rm [options] ADDRESS...

Options:

  -dry-run                If set, prints out what would've been removed.
`,
};

const fake = new TerraformCli("terraform", "1.11.4", (path) => {
  const text = HELP[path.join(" ")];
  if (text === undefined) throw new Error(`no help for ${path.join(" ")}`);
  return text;
});
const problems = (...argv: (string | Word)[]) => checkTerraformArgv(fake, argv).problems;

test("terraform help: flags with their kind, aliases, sections, positional arguments", () => {
  const init = parseTerraformHelp(HELP.init as string, ["init"]);
  assert.deepEqual([...init.flags.values()].map((f) => `${f.name}:${f.kind}`), ["-backend:bool", "-cloud:bool", "-backend-config:value", "-plugin-dir:value"]);
  assert.deepEqual(init.operands, { min: 0, max: 0, usage: "terraform [global options] init [options]" });
  const plan = parseTerraformHelp(HELP.plan as string, ["plan"]);
  assert.deepEqual([...plan.flags.values()].map((f) => [f.name, f.kind, f.section]), [
    ["-target", "value", "Plan Customization Options"], ["-var", "value", "Plan Customization Options"],
    ["-input", "bool", "Other Options"], ["-out", "value", "Other Options"],
  ]);
  assert.equal(parseTerraformHelp(HELP.apply as string, ["apply"]).planOptions, "without operands");
  assert.deepEqual(parseTerraformHelp(HELP.destroy as string, ["destroy"]), {
    path: ["destroy"], flags: new Map(), subcommands: [], needsSubcommand: false,
    operands: { min: 0, max: 0, usage: "terraform [global options] destroy [options]" }, planOptions: "always", aliasOf: "apply",
  });
  const state = parseTerraformHelp(HELP.state as string, ["state"]);
  assert.deepEqual([state.subcommands, state.needsSubcommand], [["list", "rm"], true]);
  assert.deepEqual(parseTerraformHelp(HELP["state rm"] as string, ["state", "rm"]).operands.max, Infinity);
});

test("terraform command lines: accepted as terraform reads them", () => {
  const v = (text: string): Word => ({ text, opaque: true });
  assert.deepEqual(problems("-chdir=envs/prod", "plan", "-input=false", "-out", "tfplan", "-var", "a=b", "-target=x"), []);
  assert.deepEqual(problems(v("-chdir=envs/$ENV"), "init", "-backend=false", "-cloud=false", "-plugin-dir", "/p", v("-backend-config=bucket=$B")), []);
  assert.deepEqual(problems("apply", "-auto-approve", "-input=false", "tfplan"), []);
  assert.deepEqual(problems("apply", "-target=x", "-var=a=b"), [], "apply without a saved plan takes plan's plan options");
  assert.deepEqual(problems("destroy", "-auto-approve", "-target=x"), [], "destroy takes apply's flags and the plan options");
  assert.deepEqual(problems("output", "--raw", "kubeconfig"), [], "Go flags may start with two dashes");
  assert.deepEqual(problems("state", "rm", "-dry-run", "a.b", "c.d"), []);
  const call = checkTerraformArgv(fake, [v("-chdir=envs/$ENV"), "plan", "-out=tfplan", "-input=false"]);
  assert.deepEqual([call.command, call.chdir?.text, call.flags.map((f) => [f.name, f.value?.text])], [["plan"], "envs/$ENV", [["-out", "tfplan"], ["-input", "false"]]]);
});

test("terraform command lines: each mistake in one sentence", () => {
  assert.deepEqual(problems("apply", "-auto-aprove", "tfplan"), ["unknown option -auto-aprove for terraform apply (it takes -auto-approve, -input, -target=…, -var=…)"]);
  assert.deepEqual(problems("plan", "-no-color"), ["unknown option -no-color for terraform plan (it takes -target=…, -var=…, -input, -out=…)"]);
  assert.deepEqual(problems("-input=false", "plan"), ["unknown global option -input for terraform (its global options: -chdir=…, -help); a command's options go after the command"]);
  assert.deepEqual(problems("-chdir", "envs", "plan"), ["-chdir needs its value after an equals sign (-chdir=DIR): terraform does not read \"-chdir DIR\""]);
  assert.deepEqual(problems("-chdir=", "plan"), ["-chdir= needs a value (-chdir=DIR)"]);
  assert.deepEqual(problems("aply"), ["unknown command \"aply\" of terraform (its commands: init, plan, apply, destroy, output, state)"]);
  assert.deepEqual(problems({ text: "$CMD", opaque: true }), ["unknown command $CMD (a command must be written out) of terraform (its commands: init, plan, apply, destroy, output, state)"]);
  assert.deepEqual(problems(), ["terraform needs a command (init, plan, apply, destroy, output, state)"]);
  assert.deepEqual(problems("state"), ["terraform state needs a subcommand (list, rm)"]);
  assert.deepEqual(problems("state", "rm"), ["terraform state rm takes the arguments of \"terraform [global options] state rm [options] ADDRESS...\" but got 0"]);
  assert.deepEqual(problems("apply", "tfplan", "-auto-approve"), ["-auto-approve comes after the argument tfplan: terraform reads options only before the first argument"]);
  assert.deepEqual(problems("apply", "-target=x", "tfplan"), ["-target: terraform apply takes plan options only without a saved plan file (plan with them instead)"]);
  assert.deepEqual(problems("apply", "-input=no", "tfplan"), ["-input=no: -input is a switch; its value can only be true or false"]);
  assert.deepEqual(problems("apply", "a", "b"), ["terraform apply takes the arguments of \"terraform [global options] apply [options] [PLAN]\" but got 2: a b"]);
  assert.deepEqual(problems("plan", "-input", "false"), ["terraform plan takes no positional arguments but got 1: false"]);
  assert.deepEqual(problems("plan", "-out"), ["-out needs a value (-out=VALUE)"]);
  assert.deepEqual(problems("plan", "-out", "-input=false"), ["-out needs a value but is followed by -input=false"]);
  assert.deepEqual(problems("output", "-raw", "a", "b"), ["terraform output takes the arguments of \"terraform [global options] output [options] [NAME]\" but got 2: a b"]);
});

test("terraform mentions that are not a command line it can check are reported; paths and package pins are not mentions", () => {
  const analysis = analyzeScript([
    "out=\"$(terraform output -raw kubeconfig)\"\nbash -c \"terraform plan\"\nterraform -chdir=x plan\n" +
      "apt-get install -y terraform=1.11.4-1\nls deploy/terraform/environments\necho \"hashicorp/setup-terraform\"",
  ], TERRAFORM);
  assert.deepEqual(analysis.invocations.map((i) => i.text), ["terraform -chdir=x plan"]);
  assert.deepEqual(analysis.unchecked.map((u) => u.line), [1, 2]);
});
