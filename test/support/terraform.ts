// Checks the Terraform configurations of deploy/terraform with OpenTofu and Terraform against the OVH
// provider v2.19.0's schema, without an OVH account: `fmt -check`, `init -backend=false`, `validate`, and
// `test` where a folder has *.tftest.hcl files (with `mock_provider "ovh" {}`, nothing reaches OVH).
//
// The provider comes from a filesystem mirror and only from there (no registry, no plugin cache, no
// checkpoint calls). By default that mirror holds test/support/ovh-schema-provider, a stand-in built
// from the real provider's schema that accepts exactly what the real one accepts and refuses to plan or
// apply. Environment:
//   MMS_TF_PROVIDER_MIRROR=<folder>  a filesystem mirror holding the real provider ovh/ovh 2.19.0 (e.g. made
//                                    with `terraform providers mirror` and `tofu providers mirror`): nothing
//                                    is built and the same checks run against it.
//   MMS_OVH_SCHEMA_FILE=<file>       where the schema (`terraform providers schema -json`, gzipped) is read
//                                    for the stand-in; default ../shared/tools/ovh-terraform-schema/… beside the repository.
// OpenTofu is built once from the Go module proxy (src/devcluster/versions.ts); Terraform is used when
// it is on PATH and never installed (BUSL).
//
// As a command: `scripts/node test/support/terraform.ts [folder ...]` checks the given folders of
// deploy/terraform (default: every modules/* and environments/*) and prints each result.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { chmod, copyFile, cp, link, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ensureBuilt } from "../../src/devcluster/build.ts";
import { binCacheDir } from "../../src/devcluster/paths.ts";
import { BUILDS } from "../../src/devcluster/versions.ts";
import { UserError } from "../../src/util/errors.ts";
import { onPath } from "../../src/util/exec.ts";
import { createProgress, type Progress } from "../../src/util/progress.ts";

export const OVH_PROVIDER_VERSION = "2.19.0";
/** How test names and reports say what the checks are made against. */
export const AGAINST = `against the OVH provider v${OVH_PROVIDER_VERSION}'s schema (not its API)`;

const ROOT = resolve(import.meta.dirname, "../..");
export const TERRAFORM_DIR = join(ROOT, "deploy/terraform");
const PROVIDER_SOURCE = join(import.meta.dirname, "ovh-schema-provider");
const SCHEMA_NAME = `ovh-${OVH_PROVIDER_VERSION}.schema.json.gz`;
/** The repository's sibling ../shared/tools (the schema is data this project uses from there, never copies in). */
const DEFAULT_SCHEMA = resolve(ROOT, "../shared/tools/ovh-terraform-schema", SCHEMA_NAME);
const PROVIDER_BINARY = `terraform-provider-ovh_v${OVH_PROVIDER_VERSION}`;
/** Both CLIs read `ovh/ovh` as a provider of their own registry. */
const REGISTRY_HOSTS = ["registry.terraform.io", "registry.opentofu.org"];

export type CliName = "tofu" | "terraform";
export const CLIS: readonly CliName[] = ["tofu", "terraform"];

export interface CliResult {
  readonly cli: CliName;
  readonly args: readonly string[];
  /** The folder it ran in, relative to the CLI's scratch folder (e.g. `deploy/terraform/modules/network`). */
  readonly where: string;
  readonly code: number;
  /** stdout and stderr, interleaved as they came. */
  readonly output: string;
}

/** One line naming the run, then its whole output: what a failing assertion or the command prints. */
export function describeRun(r: CliResult): string {
  const outcome = r.code === 0 ? "succeeded" : `failed with exit code ${r.code}`;
  return `\`${r.cli} ${r.args.join(" ")}\` in ${r.where || "."} ${outcome}:\n${r.output.trimEnd()}`;
}

export interface Harness {
  /** What the provider is, for reports: the stand-in or the real provider's mirror. */
  readonly provider: string;
  /** True for the schema-only stand-in, which refuses to plan or apply. */
  readonly standIn: boolean;
  /** The program to run for each CLI found or built. */
  readonly clis: ReadonlyMap<CliName, string>;
  /** Why each CLI that is not there is missing. */
  readonly missing: ReadonlyMap<CliName, string>;
  /** A fresh folder of this run (removed by dispose) for copies and throwaway configurations. */
  readonly scratch: string;
  run(cli: CliName, args: readonly string[], cwd: string): Promise<CliResult>;
  dispose(): Promise<void>;
}

/** Builds (once, cached) or finds the provider mirror and the CLIs, and writes the CLI configuration. */
export async function prepareHarness(progress: Progress): Promise<Harness> {
  const realMirror = process.env.MMS_TF_PROVIDER_MIRROR;
  const mirror = realMirror ? checkedMirror(realMirror) : await standInMirror(progress);
  const clis = new Map<CliName, string>([["tofu", join(await ensureBuilt(BUILDS.opentofu, progress), "tofu")]]);
  const missing = new Map<CliName, string>();
  const noTerraform = await terraformMissing();
  if (noTerraform) missing.set("terraform", noTerraform);
  else clis.set("terraform", "terraform");

  const scratch = await mkdtemp(join(tmpdir(), "mms-terraform-"));
  const configFile = join(scratch, "cli.tfrc");
  await writeFile(configFile, cliConfig(mirror));
  const env = cliEnv(configFile);
  return {
    provider: realMirror
      ? `the provider ovh/ovh in MMS_TF_PROVIDER_MIRROR=${realMirror}`
      : `the schema-only stand-in of the OVH provider v${OVH_PROVIDER_VERSION} (test/support/ovh-schema-provider)`,
    standIn: !realMirror,
    clis,
    missing,
    scratch,
    run: async (cli, args, cwd) => {
      const bin = clis.get(cli);
      if (!bin) throw new Error(`${cli} is not available: ${missing.get(cli) ?? "unknown CLI"}`);
      const { code, output } = await runCaptured(bin, args, cwd, env);
      return { cli, args, where: relative(join(scratch, cli), cwd), code, output };
    },
    dispose: () => rm(scratch, { recursive: true, force: true }),
  };
}

/** Why the terraform checks are skipped, or undefined when terraform is on PATH. */
export async function terraformMissing(): Promise<string | undefined> {
  if (await onPath("terraform")) return undefined;
  return "terraform is not on PATH (it is used when installed, never installed here: BUSL licence)";
}

function checkedMirror(folder: string): string {
  const path = resolve(folder);
  const found = REGISTRY_HOSTS.filter((host) => existsSync(join(path, host, "ovh/ovh")));
  if (found.length === 0) {
    throw new UserError(
      `MMS_TF_PROVIDER_MIRROR=${folder} holds no provider ovh/ovh (looked for ${REGISTRY_HOSTS.map((h) => `${h}/ovh/ovh`).join(" and ")}); ` +
        "fill it with `terraform providers mirror` and `tofu providers mirror`, or unset it to use the schema-only stand-in",
    );
  }
  return path;
}

/** The CLI configuration: providers come only from the mirror, and no version check is made. */
function cliConfig(mirror: string): string {
  const hcl = JSON.stringify(mirror).replaceAll("${", "$${").replaceAll("%{", "%%{");
  return [
    "# Written by test/support/terraform.ts: providers come from this filesystem mirror only.",
    "disable_checkpoint = true",
    "provider_installation {",
    "  filesystem_mirror {",
    `    path = ${hcl}`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * The CLIs' environment: the inherited one without the settings of a person's own Terraform (config file,
 * plugin cache, extra arguments, variables, workspace), TF_LOG* kept for debugging.
 */
function cliEnv(configFile: string): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([k]) => !/^(TF|TOFU)_/.test(k) || k.startsWith("TF_LOG"));
  return {
    ...Object.fromEntries(inherited),
    // OpenTofu 1.12 reads TF_CLI_CONFIG_FILE; TOFU_CLI_CONFIG_FILE is set for versions that read their own name.
    TF_CLI_CONFIG_FILE: configFile,
    TOFU_CLI_CONFIG_FILE: configFile,
    // Terraform would otherwise ask checkpoint-api.hashicorp.com for news; only local addresses are allowed.
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
  };
}

function runCaptured(bin: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(bin, [...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code, signal) => done({ code: code ?? 1, output: signal ? `${output}\n[killed by ${signal}]` : output }));
  });
}

// The stand-in provider: built from the committed sources and the schema, cached by a hash of both.

function schemaFile(): string {
  const file = process.env.MMS_OVH_SCHEMA_FILE || DEFAULT_SCHEMA;
  if (!existsSync(file)) {
    throw new UserError(
      `the OVH provider's schema ${file} is missing; set MMS_OVH_SCHEMA_FILE to the gzipped output of ` +
        `\`terraform providers schema -json\` for ovh/ovh ${OVH_PROVIDER_VERSION}, or MMS_TF_PROVIDER_MIRROR to a filesystem mirror holding the real provider`,
    );
  }
  return file;
}

/** Go's names of this machine's platform, as the mirror's folders are named (`linux_amd64`). */
function platform(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const arch = ({ x64: "amd64", ia32: "386" } as Record<string, string>)[process.arch] ?? process.arch;
  return `${os}_${arch}`;
}

async function standInMirror(progress: Progress): Promise<string> {
  const schema = schemaFile();
  const sources = readdirSync(PROVIDER_SOURCE).filter((f) => statSync(join(PROVIDER_SOURCE, f)).isFile()).sort();
  const hash = createHash("sha256");
  for (const f of sources) hash.update(`${f}\0`).update(await readFile(join(PROVIDER_SOURCE, f))).update("\0");
  hash.update(await readFile(schema));
  const dir = join(binCacheDir(), `ovh-schema-provider-v${OVH_PROVIDER_VERSION}-${hash.digest("hex").slice(0, 16)}`);
  const mirror = join(dir, "mirror");
  const complete = () => REGISTRY_HOSTS.every((host) => existsSync(join(mirror, host, "ovh/ovh", OVH_PROVIDER_VERSION, platform(), PROVIDER_BINARY)));
  if (complete()) return mirror;
  if (!(await onPath("go"))) {
    throw new UserError("the Go toolchain is needed to build the OVH provider's schema-only stand-in once; install Go 1.25 or newer and run again");
  }

  progress.step(`building the schema-only stand-in of the OVH provider v${OVH_PROVIDER_VERSION} (first time only)`);
  const work = await mkdtemp(join(tmpdir(), "mms-ovh-schema-provider-"));
  const out = `${dir}.partial-${process.pid}`;
  try {
    for (const f of sources) await copyFile(join(PROVIDER_SOURCE, f), join(work, f));
    await copyFile(schema, join(work, SCHEMA_NAME));
    await rm(out, { recursive: true, force: true });
    const built = join(out, "mirror", REGISTRY_HOSTS[0]!, "ovh/ovh", OVH_PROVIDER_VERSION, platform(), PROVIDER_BINARY);
    const toolchain = !process.env.GOTOOLCHAIN || process.env.GOTOOLCHAIN === "local" ? "auto" : process.env.GOTOOLCHAIN;
    const env = { ...process.env, GOFLAGS: "-mod=readonly", GOWORK: "off", CGO_ENABLED: "0", GOTOOLCHAIN: toolchain };
    const go = await runCaptured("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", built, "."], work, env);
    if (go.code !== 0) throw new UserError(`building the OVH provider's schema-only stand-in failed:\n${go.output.trim()}`);
    // The program loads the embedded schema and counts it: a schema it cannot serve fails here, not in a test.
    const check = await runCaptured(built, ["-summary"], work, env);
    if (check.code !== 0) throw new UserError(`the OVH provider's schema-only stand-in cannot serve ${schema}: ${check.output.trim()}`);
    progress.info(check.output.trim());
    for (const host of REGISTRY_HOSTS.slice(1)) {
      const copy = join(out, "mirror", host, "ovh/ovh", OVH_PROVIDER_VERSION, platform(), PROVIDER_BINARY);
      await mkdir(join(copy, ".."), { recursive: true });
      await link(built, copy);
    }
    await chmod(built, 0o755);
    // Another process may have finished the same build meanwhile: its copy, possibly in use, stays.
    if (!complete()) {
      await rm(dir, { recursive: true, force: true });
      await rename(out, dir);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  }
  progress.info(`OVH provider stand-in cached in ${dir}`);
  return mirror;
}

// The checks.

/** The folders to check, relative to deploy/terraform: every modules/* and environments/*. */
export function configurationFolders(root: string = TERRAFORM_DIR): string[] {
  return ["modules", "environments"].flatMap((group) => {
    const dir = join(root, group);
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => `${group}/${e.name}`)
      .sort();
  });
}

/** True when `test` has something to run: *.tftest.hcl (and for tofu *.tofutest.hcl) in the folder or its tests/. */
export function hasTestFiles(dir: string, cli: CliName): boolean {
  const suffixes = cli === "tofu" ? [".tftest.hcl", ".tofutest.hcl"] : [".tftest.hcl"];
  return [dir, join(dir, "tests")].some((d) => existsSync(d) && readdirSync(d).some((f) => suffixes.some((s) => f.endsWith(s))));
}

/**
 * A copy of a folder (by default deploy/terraform) in the scratch folder, for one CLI, without what a
 * local run leaves behind (.terraform, lock files, state): init writes there, never in the repository.
 */
export async function copyForCli(h: Harness, cli: CliName, from: string = TERRAFORM_DIR): Promise<string> {
  const to = join(h.scratch, cli, relative(ROOT, from));
  await rm(to, { recursive: true, force: true });
  await cp(from, to, {
    recursive: true,
    filter: (src) => !/^(\.terraform|\.terraform\.lock\.hcl|terraform\.tfstate\.d)$|\.tfstate(\.backup)?$/.test(basename(src)),
  });
  return to;
}

/** Writes a throwaway configuration (file name → content) into the scratch folder of one CLI. */
export async function writeConfiguration(h: Harness, cli: CliName, name: string, files: Readonly<Record<string, string>>): Promise<string> {
  const dir = join(h.scratch, cli, "controls", name);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(join(dir, file, ".."), { recursive: true });
    await writeFile(join(dir, file), content);
  }
  return dir;
}

export function fmtCheck(h: Harness, cli: CliName, dir: string): Promise<CliResult> {
  return h.run(cli, ["fmt", "-check", "-recursive", "-diff", "-no-color"], dir);
}

/** init, validate and (when it has tests) test, in that order; stops at the first that fails. */
export async function checkFolder(h: Harness, cli: CliName, dir: string): Promise<CliResult[]> {
  const steps = [
    ["init", "-backend=false", "-input=false", "-no-color"],
    ["validate", "-no-color"],
    ...(hasTestFiles(dir, cli) ? [["test", "-no-color"]] : []),
  ];
  const results: CliResult[] = [];
  for (const args of steps) {
    const r = await h.run(cli, args, dir);
    results.push(r);
    if (r.code !== 0) break;
  }
  return results;
}

// The command for module authors.

/** A folder given on the command line, as a path relative to deploy/terraform. */
function folderArgument(arg: string): string {
  const candidates = [resolve(arg), join(TERRAFORM_DIR, arg)];
  for (const path of candidates) {
    const rel = relative(TERRAFORM_DIR, path);
    if (!rel.startsWith("..") && !isAbsolute(rel) && existsSync(path) && statSync(path).isDirectory()) return rel;
  }
  throw new UserError(`${arg} is not a folder of deploy/terraform; give folders like modules/network or environments/production`);
}

const USAGE = `Usage: scripts/node test/support/terraform.ts [folder ...]

Checks folders of deploy/terraform (default: every modules/* and environments/*)
${AGAINST}: fmt -check -recursive over deploy/terraform,
then init -backend=false, validate, and test when the folder has *.tftest.hcl files (in it or in
tests/; for tofu also *.tofutest.hcl), with tofu and, when it is on PATH, terraform.

Environment:
  MMS_TF_PROVIDER_MIRROR=<folder>  check against the real provider ovh/ovh ${OVH_PROVIDER_VERSION} in this filesystem mirror
  MMS_OVH_SCHEMA_FILE=<file>       the provider's schema for the stand-in (default ${DEFAULT_SCHEMA})
`;

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: { help: { type: "boolean", short: "h" } } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(TERRAFORM_DIR)) throw new UserError("deploy/terraform does not exist yet; there is nothing to check");
  const folders = positionals.length > 0 ? positionals.map(folderArgument) : configurationFolders();
  if (folders.length === 0) throw new UserError("deploy/terraform has no modules/* or environments/* folder to check");

  const progress = createProgress();
  const h = await prepareHarness(progress);
  progress.done();
  let failed = 0;
  const report = (ok: boolean, line: string, r?: CliResult) => {
    if (!ok) failed++;
    process.stdout.write(`${ok ? "✓" : "✗"} ${line}\n`);
    if (!ok && r) process.stdout.write(describeRun(r).replace(/^/gm, "    ") + "\n");
  };
  try {
    process.stdout.write(`Checking ${folders.join(", ")} ${AGAINST}, with ${h.provider}.\n`);
    for (const [cli, reason] of h.missing) process.stdout.write(`- ${cli}: skipped, ${reason}\n`);
    for (const cli of h.clis.keys()) {
      const copy = await copyForCli(h, cli);
      const fmt = await fmtCheck(h, cli, copy);
      report(fmt.code === 0, `${cli} fmt -check -recursive deploy/terraform`, fmt);
      for (const folder of folders) {
        const results = await checkFolder(h, cli, join(copy, folder));
        const last = results.at(-1)!;
        const steps = results.map((r) => r.args[0]).join(", ");
        report(last.code === 0, `${cli} ${folder}: ${last.code === 0 ? steps : `${last.args[0]} failed`}`, last);
      }
    }
  } finally {
    await h.dispose();
  }
  process.stdout.write(failed === 0 ? "All checks passed.\n" : `${failed} check(s) failed.\n`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
    if (!(err instanceof UserError)) throw err;
    process.stderr.write(`Error: ${err.message}\n`);
    return err.exitCode;
  });
}
