import { test } from "node:test";
import assert from "node:assert/strict";
import { Command, Option } from "commander";
import { analyzeScript, checkArgv, parseShell, ShellSyntaxError, type ShellCommand, type Word } from "./argv-check.ts";

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
