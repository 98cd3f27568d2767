// Static checks of `bin/mms …` command lines written in shell scripts (CI pipelines, runbooks): a small
// shell reader that finds each invocation and splits it into words, and a checker that walks the
// commander tree of the real CLI to say whether that command line would be accepted. Nothing is run.
//
// The shell reader knows what the pipelines use: quotes, backslash escapes and line continuations,
// comments, `;` `&&` `||` `|` `&` and newlines between commands, redirections, `if`/`then`/… keywords,
// prefix assignments, and arrays built with `name=(…)` / `name+=(…)`. A word holding an expansion
// (`$VAR`, `${VAR:-x}`, `$(…)`, a GitHub `${{ … }}` expression) is opaque: it stands for one value whose
// text is unknown. `"${name[@]}"` of an array the script builds from literal words is expanded twice:
// with its plain assignment only ("as written") and with every `name+=(…)` fragment too ("with every
// optional flag"), so flags added conditionally are checked as well. Here-documents are not supported.
//
// The same reader finds `terraform …` command lines, which are checked against the help of the real
// terraform CLI (see TerraformCli below): its commands, each command's flags and arguments.
import { spawnSync } from "node:child_process";
import { basename } from "node:path";
import type { Argument, Command, Option } from "commander";

export interface Word {
  /** The word as written, quotes removed; expansions are kept as their source text, e.g. `$NAME`. */
  readonly text: string;
  /** True when the word holds an expansion, so its value is not known before the script runs. */
  readonly opaque: boolean;
  /** The array name when the word is exactly `"${name[@]}"` (or unquoted `${name[@]}`). */
  readonly splat?: string;
}

export interface ShellCommand {
  readonly kind: "command";
  /** The command's words, without prefix assignments, keywords (`if`, `then`, …) and redirections. */
  readonly words: readonly Word[];
  /** Its prefix assignments (`X=value cmd`), or the assignments that make up the whole command. */
  readonly assignments: readonly Word[];
  /** Redirection operators with their targets, e.g. `>` and `$HOME/kubeconfig`. */
  readonly redirects: readonly { readonly op: string; readonly target: Word | undefined }[];
  /** True when the command's output is piped into the next command. */
  readonly pipedIntoNext: boolean;
  /** Index of the script part (see analyzeScript) and 1-based line inside it. */
  readonly part: number;
  readonly line: number;
}

export interface ArrayAssignment {
  readonly kind: "array";
  readonly name: string;
  readonly append: boolean;
  readonly words: readonly Word[];
  readonly part: number;
  readonly line: number;
}

export type ShellItem = ShellCommand | ArrayAssignment;

export class ShellSyntaxError extends Error {}

type Token =
  | { readonly type: "word"; readonly word: Word; readonly line: number }
  | { readonly type: "array"; readonly name: string; readonly append: boolean; readonly words: Word[]; readonly line: number }
  | { readonly type: "op"; readonly op: string; readonly line: number }
  | { readonly type: "redirect"; readonly op: string; readonly line: number };

const SEPARATORS = new Set(["\n", ";", ";;", "&", "&&", "|", "||", "(", ")"]);
const KEYWORDS = new Set(["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "time", "exec", "command", "esac"]);
const REDIRECT = /^(\d*)(&>>|&>|>>|>&|>\||<<<|<<|<&|<>|>|<)/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Lexer {
  private i = 0;
  private line = 1;
  readonly tokens: Token[] = [];

  private readonly s: string;

  constructor(script: string) {
    this.s = script;
  }

  run(): Token[] {
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (c === " " || c === "\t" || c === "\r") { this.i++; continue; }
      if (c === "\\" && this.s[this.i + 1] === "\n") { this.i += 2; this.line++; continue; }
      if (c === "#") { this.skipComment(); continue; }
      if (c === "\n") { this.tokens.push({ type: "op", op: "\n", line: this.line }); this.i++; this.line++; continue; }
      const redirect = REDIRECT.exec(this.s.slice(this.i));
      if (redirect) {
        if (redirect[2] === "<<") throw new ShellSyntaxError(`line ${this.line}: here-documents (<<) are not supported by this checker`);
        this.tokens.push({ type: "redirect", op: redirect[0], line: this.line });
        this.i += redirect[0].length;
        continue;
      }
      const op = this.operator();
      if (op) { this.tokens.push({ type: "op", op, line: this.line }); this.i += op.length; continue; }
      const line = this.line;
      const word = this.word();
      const assign = /^([A-Za-z_][A-Za-z0-9_]*)(\+?)=$/.exec(word.text);
      if (assign && !word.opaque && this.s[this.i] === "(") {
        this.i++;
        this.tokens.push({ type: "array", name: assign[1] as string, append: assign[2] === "+", words: this.arrayWords(), line });
        continue;
      }
      this.tokens.push({ type: "word", word, line });
    }
    return this.tokens;
  }

  private operator(): string | undefined {
    const two = this.s.slice(this.i, this.i + 2);
    if (two === "&&" || two === "||" || two === ";;") return two;
    const one = this.s[this.i] as string;
    return ";&|()".includes(one) ? one : undefined;
  }

  private skipComment(): void {
    while (this.i < this.s.length && this.s[this.i] !== "\n") this.i++;
  }

  private arrayWords(): Word[] {
    const words: Word[] = [];
    for (;;) {
      if (this.i >= this.s.length) throw new ShellSyntaxError(`line ${this.line}: unclosed array assignment`);
      const c = this.s[this.i] as string;
      if (c === ")") { this.i++; return words; }
      if (c === " " || c === "\t" || c === "\r") { this.i++; continue; }
      if (c === "\n") { this.i++; this.line++; continue; }
      if (c === "\\" && this.s[this.i + 1] === "\n") { this.i += 2; this.line++; continue; }
      if (c === "#") { this.skipComment(); continue; }
      words.push(this.word());
    }
  }

  /** Reads one word from the current position up to an unquoted blank or operator. */
  private word(): Word {
    let text = "";
    let opaque = false;
    let parts = 0;
    let splat: string | undefined;
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (" \t\r\n;&|()<>".includes(c)) break;
      parts++;
      if (c === "\\") {
        const next = this.s[this.i + 1];
        if (next === "\n") { this.i += 2; this.line++; parts--; continue; }
        text += next ?? "";
        this.i += 2;
      } else if (c === "'") {
        const end = this.s.indexOf("'", this.i + 1);
        if (end < 0) throw new ShellSyntaxError(`line ${this.line}: unclosed single quote`);
        const body = this.s.slice(this.i + 1, end);
        this.line += countNewlines(body);
        text += body;
        this.i = end + 1;
      } else if (c === "\"") {
        this.i++;
        let inner = 0;
        let innerSplat: string | undefined;
        for (;;) {
          if (this.i >= this.s.length) throw new ShellSyntaxError(`line ${this.line}: unclosed double quote`);
          const d = this.s[this.i] as string;
          if (d === "\"") { this.i++; break; }
          inner++;
          if (d === "\\") {
            const next = this.s[this.i + 1] ?? "";
            if (next === "\n") { this.line++; inner--; } else if ("$`\"\\".includes(next)) text += next; else text += `\\${next}`;
            this.i += 2;
          } else if (d === "$" || d === "`") {
            const exp = this.expansion();
            text += exp.raw;
            opaque ||= exp.opaque;
            innerSplat = exp.splat;
          } else {
            if (d === "\n") this.line++;
            text += d;
            this.i++;
          }
        }
        if (inner === 1 && innerSplat) splat = innerSplat;
      } else if (c === "$" || c === "`") {
        const exp = this.expansion();
        text += exp.raw;
        opaque ||= exp.opaque;
        if (exp.splat) splat = exp.splat;
      } else {
        text += c;
        this.i++;
      }
    }
    return parts === 1 && splat ? { text, opaque: true, splat } : { text, opaque };
  }

  /** Reads an expansion starting at `$` or a backtick; returns its source text. */
  private expansion(): { raw: string; opaque: boolean; splat?: string } {
    const start = this.i;
    const c = this.s[this.i];
    if (c === "`") {
      const end = this.s.indexOf("`", this.i + 1);
      if (end < 0) throw new ShellSyntaxError(`line ${this.line}: unclosed backtick`);
      this.i = end + 1;
      return this.raw(start, true);
    }
    const next = this.s[this.i + 1] ?? "";
    if (next === "{" && this.s[this.i + 2] === "{") {
      const end = this.s.indexOf("}}", this.i + 3);
      if (end < 0) throw new ShellSyntaxError(`line ${this.line}: unclosed \${{ expression`);
      this.i = end + 2;
      return this.raw(start, true);
    }
    if (next === "{" || next === "(") {
      this.i = this.closing(this.i + 1);
      const r = this.raw(start, true);
      const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\[@\]\}$/.exec(r.raw);
      return m ? { ...r, splat: m[1] } : r;
    }
    const name = /^([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(this.s.slice(this.i + 1));
    if (name) {
      this.i += 1 + name[0].length;
      return this.raw(start, true);
    }
    this.i++;
    return { raw: "$", opaque: false };
  }

  private raw(start: number, opaque: boolean): { raw: string; opaque: boolean } {
    const raw = this.s.slice(start, this.i);
    this.line += countNewlines(raw);
    return { raw, opaque };
  }

  /** Index just past the bracket closing the one at `open`, skipping quoted text inside $( … ). */
  private closing(open: number): number {
    const pairs: Record<string, string> = { "{": "}", "(": ")" };
    const stack: string[] = [pairs[this.s[open] as string] as string];
    let j = open + 1;
    while (j < this.s.length && stack.length > 0) {
      const c = this.s[j] as string;
      if (c === "\\") { j += 2; continue; }
      // Quotes matter inside $( … ); inside ${ … } (in double quotes, as the scripts write it) a ' is literal.
      if ((c === "'" || c === "\"") && this.s[open] === "(") {
        const end = this.s.indexOf(c, j + 1);
        if (end < 0) break;
        j = end + 1;
        continue;
      }
      if (c === "{" || c === "(") stack.push(pairs[c] as string);
      else if (c === stack[stack.length - 1]) stack.pop();
      j++;
    }
    if (stack.length > 0) throw new ShellSyntaxError(`line ${this.line}: unclosed ${this.s[open] === "{" ? "${" : "$("}`);
    return j;
  }
}

function countNewlines(s: string): number {
  let n = 0;
  for (const c of s) if (c === "\n") n++;
  return n;
}

/** Splits a shell script into commands and array assignments, in order. */
export function parseShell(script: string, part = 0): ShellItem[] {
  const tokens = new Lexer(script).run();
  const items: ShellItem[] = [];
  let words: Word[] = [];
  let assignments: Word[] = [];
  let redirects: { op: string; target: Word | undefined }[] = [];
  let line = 0;
  let atStart = true;
  const finish = (sep: string | undefined) => {
    if (words.length > 0 || assignments.length > 0) items.push({ kind: "command", words, assignments, redirects, pipedIntoNext: sep === "|", part, line });
    words = [];
    assignments = [];
    redirects = [];
    atStart = true;
  };
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t] as Token;
    if (token.type === "op") {
      if (SEPARATORS.has(token.op)) finish(token.op);
      continue;
    }
    if (token.type === "redirect") {
      const next = tokens[t + 1];
      let target: Word | undefined;
      if (next?.type === "word") { target = next.word; t++; }
      redirects.push({ op: token.op, target });
      if (words.length === 0) line = token.line;
      continue;
    }
    if (token.type === "array") {
      items.push({ kind: "array", name: token.name, append: token.append, words: token.words, part, line: token.line });
      continue;
    }
    if (atStart) {
      if (!token.word.opaque && KEYWORDS.has(token.word.text)) continue;
      const eq = token.word.text.indexOf("=");
      if (words.length === 0 && assignments.length === 0) line = token.line;
      if (eq > 0 && NAME.test(token.word.text.slice(0, token.word.text[eq - 1] === "+" ? eq - 1 : eq))) {
        assignments.push(token.word);
        continue;
      }
      atStart = false;
      if (words.length === 0) line = token.line;
    }
    words.push(token.word);
  }
  finish(undefined);
  return items;
}

export interface Invocation {
  readonly part: number;
  readonly line: number;
  /** The command line as written (arrays not expanded), for messages. */
  readonly text: string;
  /** The words after the program's name, once per way of expanding the script's arrays. */
  readonly variants: readonly { readonly label: string; readonly argv: readonly Word[] }[];
  /** The command as read: its redirections and whether it is piped into the next one. */
  readonly command: ShellCommand;
}

export interface ScriptAnalysis {
  readonly items: readonly ShellItem[];
  readonly invocations: readonly Invocation[];
  /** Mentions of the program that are not a command this reader can check (e.g. inside `$(…)` or `bash -c`). */
  readonly unchecked: readonly { readonly part: number; readonly line: number; readonly text: string }[];
}

export function isMmsWord(w: Word): boolean {
  return w.text === "bin/mms" || w.text === "mms" || w.text.endsWith("/bin/mms");
}

/** A program whose command lines analyzeScript collects. */
export interface Program {
  /** True when a command's first word runs the program. */
  readonly isHead: (w: Word) => boolean;
  /** True when a word that is not a command's first word runs it anyway (`$(…)`, `bash -c "…"`). */
  readonly mentionedIn: (text: string) => boolean;
}

export const MMS: Program = { isHead: isMmsWord, mentionedIn: (text) => text.includes("bin/mms") };

// A mention is `terraform` followed by a subcommand or flag at the start of a word or of a command
// inside it, so paths (deploy/terraform/…), package pins (terraform=1.11.4-1) and action names are not.
const TERRAFORM_MENTION = /(?:^|\$\(|`|[;&|]\s*)\s*(?:\S*bin\/)?terraform\s+-{0,2}[a-z]/;

export const TERRAFORM: Program = {
  isHead: (w) => !w.opaque && (w.text === "terraform" || w.text.endsWith("bin/terraform")),
  mentionedIn: (text) => TERRAFORM_MENTION.test(text),
};

/**
 * Reads the parts of one script that run in the same shell, one after the other (e.g. the lines of
 * one Bitbucket step), and finds each invocation of the program (by default `bin/mms`) in them.
 */
export function analyzeScript(parts: readonly string[], program: Program = MMS): ScriptAnalysis {
  const items = parts.flatMap((p, i) => parseShell(p, i));
  const arrays = new Map<string, { base: Word[]; fragments: Word[][] }>();
  const invocations: Invocation[] = [];
  const unchecked: { part: number; line: number; text: string }[] = [];
  for (const item of items) {
    if (item.kind === "array") {
      const a = arrays.get(item.name) ?? { base: [], fragments: [] };
      if (item.append) a.fragments.push([...item.words]);
      else { a.base = [...item.words]; a.fragments = []; }
      arrays.set(item.name, a);
      for (const w of item.words) if (program.mentionedIn(w.text)) unchecked.push({ part: item.part, line: item.line, text: w.text });
      continue;
    }
    const [head, ...rest] = item.words;
    const invoked = head !== undefined && program.isHead(head);
    if (invoked) {
      const expand = (full: boolean) => rest.flatMap((w) => {
        const a = w.splat === undefined ? undefined : arrays.get(w.splat);
        return a ? [...a.base, ...(full ? a.fragments.flat() : [])] : [w];
      });
      const text = item.words.map((w) => w.text).join(" ");
      const optional = rest.some((w) => w.splat !== undefined && (arrays.get(w.splat)?.fragments.length ?? 0) > 0);
      invocations.push({
        part: item.part, line: item.line, text, command: item,
        variants: optional
          ? [{ label: "as written", argv: expand(false) }, { label: "with every optional flag", argv: expand(true) }]
          : [{ label: "as written", argv: expand(false) }],
      });
    }
    for (const w of [...item.assignments, ...(invoked ? item.words.slice(1) : item.words)]) {
      if (program.mentionedIn(w.text)) unchecked.push({ part: item.part, line: item.line, text: w.text });
    }
  }
  return { items, invocations, unchecked };
}

// ---------------------------------------------------------------------------------------------------
// The checker: would commander accept this command line?

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

function ancestry(cmd: Command): Command[] {
  const list: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) list.push(c);
  return list;
}

function findOption(cmd: Command, flag: string): Option | undefined {
  for (const c of ancestry(cmd)) {
    const o = c.options.find((opt) => opt.long === flag || opt.short === flag);
    if (o) return o;
  }
  return undefined;
}

function flagOf(o: Option): string {
  return o.long ?? o.short ?? o.flags;
}

function optionList(cmd: Command): string {
  const own = cmd.options.map(flagOf);
  const global = ancestry(cmd).slice(1).flatMap((c) => c.options.map(flagOf));
  return `${commandPath(cmd)} takes ${own.length > 0 ? own.join(", ") : "no options of its own"}` +
    (global.length > 0 ? `; global: ${global.join(", ")}` : "");
}

function looksLikeOption(w: Word): boolean {
  return !w.opaque && w.text.length > 1 && w.text.startsWith("-");
}

function tryParse(parse: ((value: string, previous: unknown) => unknown) | undefined, value: string): string | undefined {
  if (!parse) return undefined;
  try {
    parse(value, undefined);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function toWord(w: Word | string): Word {
  return typeof w === "string" ? { text: w, opaque: false } : w;
}

/**
 * Checks the words after `mms` against the program's command tree as commander would parse them:
 * the command path exists and ends at a command (not a group), each option is one of that command or
 * of a parent (global), options taking a value get one, literal values pass the option's own parser
 * (choices, durations, …), mandatory options are present, and the number of positional arguments fits.
 * Returns the problems found, each one sentence; none means the command line is accepted.
 */
export function checkArgv(program: Command, argv: readonly (Word | string)[]): string[] {
  return walk(program, argv).problems;
}

/** The command a command line resolves to, e.g. `mms tenant create` (as far as it resolves). */
export function commandOf(program: Command, argv: readonly (Word | string)[]): string {
  return commandPath(walk(program, argv).cmd);
}

function walk(program: Command, argv: readonly (Word | string)[]): { cmd: Command; problems: string[] } {
  const words = argv.map(toWord);
  const problems: string[] = [];
  const given = new Set<Option>();
  const operands: Word[] = [];
  let cmd = program;
  let endOfOptions = false;

  const takeValues = (o: Option, flag: string, inline: Word | undefined, at: number): number => {
    // Returns how many following words the option consumed.
    const values: Word[] = [];
    let used = 0;
    if (inline) values.push(inline);
    if (o.required) {
      if (!inline) {
        const next = words[at];
        if (!next || (!next.opaque && next.text === "--")) {
          problems.push(`${flag} needs a value (${o.flags})`);
          return 0;
        }
        if (looksLikeOption(next)) {
          problems.push(`${flag} needs a value (${o.flags}) but is followed by ${next.text}`);
          return 0;
        }
        values.push(next);
        used++;
      }
      if (o.variadic) {
        for (let w = words[at + used]; w && !looksLikeOption(w) && !(w.text === "--" && !w.opaque); w = words[at + used]) {
          values.push(w);
          used++;
        }
      }
    } else if (o.optional) {
      const next = words[at];
      if (!inline && next && !looksLikeOption(next) && !(next.text === "--" && !next.opaque)) {
        values.push(next);
        used++;
      }
    } else if (inline) {
      problems.push(`${flag} does not take a value (got ${flag}=${inline.text})`);
    }
    for (const v of values) {
      if (v.opaque) continue;
      const why = tryParse(o.parseArg, v.text);
      if (why) problems.push(`${flag} ${v.text}: ${why}`);
    }
    return used;
  };

  for (let i = 0; i < words.length;) {
    const w = words[i++] as Word;
    if (!endOfOptions && !w.opaque && w.text === "--") { endOfOptions = true; continue; }
    if (!endOfOptions && looksLikeOption(w)) {
      if (w.text === "-h" || w.text === "--help") continue;
      if (w.text.startsWith("--")) {
        const eq = w.text.indexOf("=");
        const flag = eq > 0 ? w.text.slice(0, eq) : w.text;
        const o = findOption(cmd, flag);
        if (!o) {
          // Commander stops at the first unknown option; so does this check (what follows would be guesses).
          problems.push(`unknown option ${flag} for ${commandPath(cmd)} (${optionList(cmd)})`);
          return { cmd, problems };
        }
        given.add(o);
        i += takeValues(o, flag, eq > 0 ? { text: w.text.slice(eq + 1), opaque: w.opaque } : undefined, i);
        continue;
      }
      // Short flags: -o VALUE, -oVALUE, or several boolean ones together (-ab).
      for (let k = 1; k < w.text.length; k++) {
        const flag = `-${w.text[k] as string}`;
        const o = findOption(cmd, flag);
        if (!o) {
          problems.push(`unknown option ${flag} for ${commandPath(cmd)} (${optionList(cmd)})`);
          return { cmd, problems };
        }
        given.add(o);
        if (o.required || o.optional) {
          const rest = w.text.slice(k + 1);
          i += takeValues(o, flag, rest ? { text: rest, opaque: false } : undefined, i);
          break;
        }
      }
      continue;
    }
    if (cmd.commands.length > 0) {
      const sub = w.opaque ? undefined : cmd.commands.find((c) => c.name() === w.text || c.aliases().includes(w.text));
      if (!sub) {
        problems.push(`unknown command ${w.opaque ? `${w.text} (a subcommand must be written out)` : `"${w.text}"`} of ${commandPath(cmd)} ` +
          `(its commands: ${cmd.commands.map((c) => c.name()).join(", ")})`);
        return { cmd, problems };
      }
      cmd = sub;
      continue;
    }
    operands.push(w);
  }

  if (cmd.commands.length > 0) {
    problems.push(`${commandPath(cmd)} needs a subcommand (${cmd.commands.map((c) => c.name()).join(", ")})`);
    return { cmd, problems };
  }
  for (const c of ancestry(cmd)) {
    for (const o of c.options) {
      if (o.mandatory && !given.has(o) && !o.envVar) problems.push(`${commandPath(cmd)} needs ${o.flags}`);
    }
  }
  const args: readonly Argument[] = cmd.registeredArguments;
  const required = args.filter((a) => a.required).length;
  const variadic = args.at(-1)?.variadic ?? false;
  if (operands.length < required) {
    const missing = args.slice(operands.length).filter((a) => a.required).map((a) => `<${a.name()}>`);
    problems.push(`${commandPath(cmd)} needs ${missing.join(" ")} (got ${operands.length} positional argument(s))`);
  } else if (!variadic && operands.length > args.length) {
    problems.push(`${commandPath(cmd)} takes ${args.length} positional argument(s) but got ${operands.length}: ${operands.map((o) => o.text).join(" ")}`);
  }
  operands.forEach((value, n) => {
    const a = args[Math.min(n, args.length - 1)];
    if (!a || value.opaque) return;
    const why = tryParse(a.parseArg, value.text);
    if (why) problems.push(`<${a.name()}> ${value.text}: ${why}`);
  });
  return { cmd, problems };
}

// ---------------------------------------------------------------------------------------------------
// terraform: would the installed CLI accept this command line? Its commands, each command's flags and
// its arguments are read from its own help (`terraform -help`, `terraform <command> -help`), so the
// check follows the version on the machine instead of a list kept here.

/** How a flag takes its value in Go's flag package, which terraform parses its flags with. */
export type TerraformFlagKind = "bool" | "value";

export interface TerraformFlag {
  readonly name: string;
  readonly kind: TerraformFlagKind;
  /** The help section that lists it, e.g. "Options" or "Plan Customization Options". */
  readonly section: string;
}

export interface TerraformCommandHelp {
  /** The command path, e.g. ["plan"] or ["workspace", "select"]. */
  readonly path: readonly string[];
  readonly flags: ReadonlyMap<string, TerraformFlag>;
  readonly subcommands: readonly string[];
  /** True when the command does nothing without one of its subcommands (`terraform state`). */
  readonly needsSubcommand: boolean;
  /** Positional arguments the usage line allows (max is Infinity for `[target...]`). */
  readonly operands: { readonly min: number; readonly max: number; readonly usage: string };
  /** "always" (destroy), "without operands" (apply: only when no saved plan is given), or "never". */
  readonly planOptions: "always" | "without operands" | "never";
  /** The command it is an alias of (`destroy` is `apply -destroy`), whose flags it takes too. */
  readonly aliasOf?: string;
}

export interface TerraformTopHelp {
  readonly commands: readonly string[];
  readonly globalFlags: ReadonlyMap<string, TerraformFlag>;
}

/** Go's strconv.ParseBool, which a bool flag's `-flag=value` goes through. */
const GO_BOOLS = new Set(["1", "0", "t", "f", "T", "F", "true", "false", "TRUE", "FALSE", "True", "False"]);
/** Help lines that show a value-taking flag without its value (checked against terraform 1.11's behaviour). */
const VALUE_FLAGS_SHOWN_BARE = new Set(["init -plugin-dir"]);
// `  -out=path   Write…`, `  -var 'foo=bar'   Set…`, `  -auto-approve   Skip…` (at most 6 spaces or a tab
// of indent, so wrapped description lines that start with a dash are not read as flags).
const FLAG_LINE = /^(?: {1,6}|\t)(-{1,2}[A-Za-z][\w-]*)(?:=(\S*)| (?=\S)(\S+))?(?=\s|$)/;
const FLAG_WORD = /^(-{1,2}[A-Za-z][\w-]*)(?:=([^]*))?$/;

function helpSections(text: string): { section: string; line: string }[] {
  let section = "";
  const out: { section: string; line: string }[] = [];
  for (const line of text.split("\n")) {
    const header = /^(\S[^:]*):\s*$/.exec(line);
    if (header) section = header[1] as string;
    else out.push({ section, line });
  }
  return out;
}

function readFlags(lines: readonly { section: string; line: string }[], path: readonly string[]): Map<string, TerraformFlag> {
  const flags = new Map<string, TerraformFlag>();
  const add = (section: string, name: string, eq: string | undefined, spaced: string | undefined) => {
    const shownBare = eq === undefined && spaced === undefined;
    const kind: TerraformFlagKind = eq !== undefined ? (GO_BOOLS.has(eq) ? "bool" : "value")
      : spaced !== undefined || (shownBare && VALUE_FLAGS_SHOWN_BARE.has(`${path.join(" ")} ${name}`)) ? "value" : "bool";
    const key = name.replace(/^--/, "-");
    if (!flags.has(key)) flags.set(key, { name: key, kind, section });
  };
  for (const { section, line } of lines) {
    if (!/options/i.test(section)) continue;
    const m = FLAG_LINE.exec(line);
    if (m) { add(section, m[1] as string, m[2], m[3]); continue; }
    const alias = /^\s+aliases?:\s+(.*)$/.exec(line);
    for (const a of alias ? (alias[1] as string).split(/[\s,]+/) : []) {
      const f = FLAG_WORD.exec(a);
      if (f) add(section, f[1] as string, f[2], undefined);
    }
  }
  return flags;
}

function readCommandNames(lines: readonly { section: string; line: string }[], sections: RegExp): string[] {
  return lines.filter((l) => sections.test(l.section)).flatMap((l) => {
    const m = /^\s+([a-z][\w-]*)\s{2,}\S/.exec(l.line);
    return m ? [m[1] as string] : [];
  });
}

/** Reads `terraform -help`: the commands and the global options. */
export function parseTerraformTopHelp(text: string): TerraformTopHelp {
  const lines = helpSections(text);
  const commands = readCommandNames(lines, /commands/i);
  if (commands.length === 0) throw new Error(`cannot read terraform's commands from its help:\n${text}`);
  return { commands, globalFlags: readFlags(lines.filter((l) => /^global options/i.test(l.section)), []) };
}

/** Reads `terraform <path…> -help`: its flags, subcommands and positional arguments. */
export function parseTerraformHelp(text: string, path: readonly string[]): TerraformCommandHelp {
  const lines = helpSections(text);
  const usage = /^Usage:\s*(.*)$/m.exec(text)?.[1]?.trim();
  if (usage === undefined) throw new Error(`terraform ${path.join(" ")} -help has no Usage line:\n${text}`);
  const tokens = usage.split(/\s+/);
  // `terraform [global options] workspace select NAME`: skip up to and including the command path.
  let at = tokens.indexOf(path.at(-1) ?? "terraform", tokens.indexOf("options]") + 1) + 1;
  if (at === 0) at = tokens.length;
  const rest = tokens.slice(at);
  const hasOptions = rest.some((t) => t.toLowerCase() === "[options]");
  const subcommands = readCommandNames(lines, /^subcommands$/i);
  const flags = readFlags(lines, path);
  let min = 0;
  let max = 0;
  for (const t of rest) {
    if (t.toLowerCase() === "[options]" || t === "<subcommand>" || t === "[args]") continue;
    // A flag written into the usage line itself (`metadata functions -json`).
    const flag = FLAG_WORD.exec(t);
    if (flag) {
      const name = (flag[1] as string).replace(/^--/, "-");
      if (!flags.has(name)) flags.set(name, { name, kind: flag[2] === undefined || GO_BOOLS.has(flag[2]) ? "bool" : "value", section: "Usage" });
      continue;
    }
    const optional = t.startsWith("[");
    const variadic = t.endsWith("...") || t.endsWith("...]");
    if (!optional) min++;
    max = variadic ? Infinity : max + 1;
  }
  const alias = /convenience\s+alias\s+for:\s+terraform\s+([a-z][\w-]*)/.exec(text)?.[1];
  const planOptions = /accepts?\s+(?:all|many)\s+of\s+the\s+plan-customization\s+options/i.test(text)
    ? (/if\s+you\s+don't\s+provide\s+a\s+saved\s+plan/i.test(text) ? "without operands" : "always")
    : "never";
  return {
    path,
    flags,
    subcommands,
    needsSubcommand: subcommands.length > 0 && (rest.includes("<subcommand>") || !hasOptions),
    operands: { min, max, usage },
    planOptions,
    ...(alias ? { aliasOf: alias } : {}),
  };
}

/** A terraform (or OpenTofu) CLI whose help is read once per command, when first needed. */
export class TerraformCli {
  readonly name: string;
  readonly version: string;
  private readonly help: (path: readonly string[]) => string;
  private readonly cache = new Map<string, TerraformCommandHelp>();
  private top: TerraformTopHelp | undefined;

  /** `help(path)` returns the output of `<cli> <path…> -help` (`<cli> -help` for []). */
  constructor(name: string, version: string, help: (path: readonly string[]) => string) {
    this.name = name;
    this.version = version;
    this.help = help;
  }

  /**
   * The CLI installed as `bin`, or undefined when it cannot be run. It runs with CHECKPOINT_DISABLE=1
   * so it never calls HashiCorp's update check, and only ever with -help or version.
   */
  static installed(bin = "terraform"): TerraformCli | undefined {
    const run = (args: readonly string[]) =>
      spawnSync(bin, args, { encoding: "utf8", timeout: 60_000, env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
    const v = run(["version", "-json"]);
    if (v.error || v.status !== 0) return undefined;
    // OpenTofu prints warnings about its CLI configuration on stdout, before the JSON.
    const version = /"terraform_version"\s*:\s*"([^"]+)"/.exec(v.stdout)?.[1];
    if (version === undefined) return undefined;
    return new TerraformCli(basename(bin), version, (path) => {
      const r = run([...path, "-help"]);
      if (r.error) throw r.error;
      if (r.status !== 0) throw new Error(`${bin} ${[...path, "-help"].join(" ")} exited with ${String(r.status)}: ${r.stderr.trim()}`);
      return r.stdout;
    });
  }

  topLevel(): TerraformTopHelp {
    this.top ??= parseTerraformTopHelp(this.help([]));
    return this.top;
  }

  command(path: readonly string[]): TerraformCommandHelp {
    const key = path.join(" ");
    let help = this.cache.get(key);
    if (!help) {
      help = parseTerraformHelp(this.help(path), path);
      this.cache.set(key, help);
    }
    return help;
  }
}

export interface TerraformCall {
  /** The command path, e.g. ["plan"]; as far as it resolved when there are problems. */
  readonly command: readonly string[];
  /** The value of the global -chdir, when given. */
  readonly chdir?: Word;
  /** The command's flags in order; a bool flag has a value only when written -flag=value. */
  readonly flags: readonly { readonly name: string; readonly value?: Word }[];
  readonly operands: readonly Word[];
  /** Each problem is one sentence; none means the CLI accepts the command line. */
  readonly problems: readonly string[];
}

function flagNames(flags: Iterable<TerraformFlag>): string {
  return [...flags].map((f) => (f.kind === "value" ? `${f.name}=…` : f.name)).join(", ");
}

/**
 * Checks the words after `terraform` as terraform would read them: global options (only -chdir=DIR,
 * -help, -version; -chdir needs the equals sign) before a command it lists, subcommands where the
 * command has them, then the flags its help lists (Go flag rules: `-flag=value` or `-flag value` for
 * a value, `-flag` or `-flag=true|false` for a bool; flags end at the first argument or `--`), then
 * as many positional arguments as its usage line allows.
 */
export function checkTerraformArgv(cli: TerraformCli, argv: readonly (Word | string)[]): TerraformCall {
  const words = argv.map(toWord);
  const problems: string[] = [];
  const flags: { name: string; value?: Word }[] = [];
  let chdir: Word | undefined;
  const top = cli.topLevel();
  const done = (command: readonly string[], operands: readonly Word[] = []): TerraformCall =>
    ({ command, ...(chdir ? { chdir } : {}), flags, operands, problems });

  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i] as Word;
    const m = FLAG_WORD.exec(w.text);
    if (!m) break;
    const name = (m[1] as string).replace(/^--/, "-");
    const global = top.globalFlags.get(name);
    if (!global) {
      problems.push(`unknown global option ${name} for ${cli.name} (its global options: ${flagNames(top.globalFlags.values())}); a command's options go after the command`);
      return done([]);
    }
    if (global.kind === "value") {
      if (m[2] === undefined) {
        problems.push(`${name} needs its value after an equals sign (${name}=DIR): ${cli.name} does not read "${name} DIR"`);
        return done([]);
      }
      if (m[2] === "") {
        problems.push(`${name}= needs a value (${name}=DIR)`);
        return done([]);
      }
      if (name === "-chdir") chdir = { text: m[2], opaque: w.opaque };
    }
  }
  const first = words[i++];
  if (!first) {
    problems.push(`${cli.name} needs a command (${top.commands.join(", ")})`);
    return done([]);
  }
  if (first.opaque || !top.commands.includes(first.text)) {
    problems.push(`unknown command ${first.opaque ? `${first.text} (a command must be written out)` : `"${first.text}"`} of ${cli.name} (its commands: ${top.commands.join(", ")})`);
    return done([]);
  }
  const path = [first.text];
  let help = cli.command(path);
  for (let w = words[i]; w && !w.opaque && help.subcommands.includes(w.text); w = words[i]) {
    path.push(w.text);
    help = cli.command(path);
    i++;
  }
  const where = `${cli.name} ${path.join(" ")}`;
  if (help.needsSubcommand) {
    problems.push(`${where} needs a subcommand (${help.subcommands.join(", ")})`);
    return done(path);
  }
  const own = new Map(help.flags);
  if (help.aliasOf) for (const [k, f] of cli.command([help.aliasOf]).flags) if (!own.has(k)) own.set(k, f);
  const planOnly = new Map<string, TerraformFlag>();
  if (help.planOptions !== "never") {
    for (const [k, f] of cli.command(["plan"]).flags) if (/plan customization/i.test(f.section) && !own.has(k)) planOnly.set(k, f);
  }
  const known = (): string => flagNames([...own.values(), ...(help.planOptions === "never" ? [] : planOnly.values())]) || "no options";

  const usedPlanOnly: string[] = [];
  for (; i < words.length; i++) {
    const w = words[i] as Word;
    if (!w.opaque && w.text === "--") { i++; break; }
    if (!w.text.startsWith("-") || w.text === "-") break;
    const m = FLAG_WORD.exec(w.text);
    if (!m) {
      problems.push(`${w.text}: a flag's name must be written out`);
      return done(path);
    }
    const name = (m[1] as string).replace(/^--/, "-");
    const flag = own.get(name) ?? planOnly.get(name);
    if (!flag) {
      // Go's flag package stops at the first unknown flag; so does this check.
      problems.push(`unknown option ${name} for ${where} (it takes ${known()})`);
      return done(path);
    }
    if (!own.has(name)) usedPlanOnly.push(name);
    const inline = m[2] === undefined ? undefined : { text: m[2], opaque: w.opaque };
    if (flag.kind === "bool") {
      if (inline && !inline.opaque && !GO_BOOLS.has(inline.text)) problems.push(`${name}=${inline.text}: ${name} is a switch; its value can only be true or false`);
      flags.push(inline ? { name, value: inline } : { name });
      continue;
    }
    if (inline) { flags.push({ name, value: inline }); continue; }
    const next = words[i + 1];
    if (!next) {
      problems.push(`${name} needs a value (${name}=VALUE)`);
      return done(path);
    }
    if (!next.opaque && next.text.startsWith("-") && next.text.length > 1) problems.push(`${name} needs a value but is followed by ${next.text}`);
    flags.push({ name, value: next });
    i++;
  }
  const operands = words.slice(i);
  if (usedPlanOnly.length > 0 && help.planOptions === "without operands" && operands.length > 0) {
    problems.push(`${usedPlanOnly.join(", ")}: ${where} takes plan options only without a saved plan file (plan with them instead)`);
  }
  const late = operands.find((w) => !w.opaque && /^-{1,2}[A-Za-z]/.test(w.text));
  if (late) {
    problems.push(`${late.text} comes after the argument ${operands[0]?.text ?? ""}: ${cli.name} reads options only before the first argument`);
  } else if (operands.length < help.operands.min || operands.length > help.operands.max) {
    problems.push(`${where} takes ${help.operands.max === 0 ? "no positional arguments" : `the arguments of "${help.operands.usage}"`} but got ${operands.length}` +
      (operands.length > 0 ? `: ${operands.map((o) => o.text).join(" ")}` : ""));
  }
  return done(path, operands);
}
