// Entry point of the `mms` CLI: global flags, command groups, and the one place errors become
// a single sentence on stderr and a non-zero exit code.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerBackup } from "./backup.ts";
import { registerChart } from "./chart.ts";
import { registerCost } from "./cost.ts";
import { registerDemo } from "./demo.ts";
import { registerDev } from "./dev.ts";
import { registerDr } from "./dr.ts";
import { registerImages } from "./images.ts";
import { registerMigrate } from "./migrate.ts";
import { registerNode } from "./node.ts";
import { registerOperator } from "./operator.ts";
import { registerPlatform } from "./platform.ts";
import { registerStatus } from "./status.ts";
import { registerTenant } from "./tenant.ts";
import { registerUpgrade } from "./upgrade.ts";
import { UserError } from "../util/errors.ts";

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command("mms")
    .description("Matomo MultiScale: run many isolated Matomo tenants on Kubernetes")
    .version(VERSION, "-V, --version")
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use")
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false })
    .exitOverride();
  registerStatus(program);
  registerTenant(program);
  registerBackup(program);
  registerDr(program);
  registerMigrate(program);
  registerUpgrade(program);
  registerDev(program);
  registerImages(program);
  registerDemo(program);
  registerOperator(program);
  registerNode(program);
  registerChart(program);
  registerCost(program);
  registerPlatform(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its own one-line message already (or the help, or the version).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
    if (process.env.MMS_DEBUG) process.stderr.write(`${(err as Error).stack ?? ""}\n`);
    return 1;
  }
}

// Run only as the program itself: importing this module (tests build the command tree) does nothing.
if (import.meta.main) {
  // A reader that stops early (`mms … --help | head`) closes the pipe: that ends the output, not in a crash.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(process.exitCode ?? 0);
  });
  process.exitCode = await main(process.argv.slice(2));
}
