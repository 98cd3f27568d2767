// The log pipeline's OpenTelemetry Collector (deploy/observability/otel), built once by the collector's
// own builder (ocb) from a manifest written here, and cached by version and manifest like the other
// programs: ocb generates the distribution's sources, resolves their modules from the Go module proxy
// and compiles them; the binary is moved into the cache only when the build succeeded.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { UserError } from "../util/errors.ts";
import { run } from "../util/exec.ts";
import type { Progress } from "../util/progress.ts";
import { ensureBuilt } from "./build.ts";
import { binCacheDir, buildWorkDir } from "./paths.ts";
import { isOurs } from "./processes.ts";
import { BUILDS, OTELCOL_STABLE_VERSION, OTELCOL_VERSION } from "./versions.ts";

const CORE = "go.opentelemetry.io/collector";
const CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib";

/**
 * The collector's components: what agent.yaml and receiver.yaml use, and the debug exporter for
 * troubleshooting. k8sattributes is left out (it does not build here): the container parser of the
 * file_log receiver takes namespace, pod and container from each log file's path instead.
 */
export const OTELCOL_COMPONENTS = {
  receivers: [`${CONTRIB}/receiver/filelogreceiver`, `${CORE}/receiver/otlpreceiver`],
  processors: [
    `${CORE}/processor/batchprocessor`,
    `${CORE}/processor/memorylimiterprocessor`,
    `${CONTRIB}/processor/filterprocessor`,
    `${CONTRIB}/processor/transformprocessor`,
    `${CONTRIB}/processor/groupbyattrsprocessor`,
  ],
  exporters: [`${CORE}/exporter/otlphttpexporter`, `${CORE}/exporter/debugexporter`, `${CONTRIB}/exporter/fileexporter`],
  connectors: [`${CONTRIB}/connector/countconnector`],
  extensions: [`${CONTRIB}/extension/healthcheckextension`, `${CONTRIB}/extension/storage/filestorage`],
} as const;

/** ${env:…} in the configurations, and --config=<file>. */
const PROVIDERS = [`${CORE}/confmap/provider/envprovider`, `${CORE}/confmap/provider/fileprovider`];

/** ocb's manifest (its "builder config"): the distribution, then each kind's modules at the pinned versions. */
export function otelcolManifest(outputPath: string): string {
  const at = (modules: readonly string[], version: string) => modules.map((m) => ({ gomod: `${m} v${version}` }));
  const kinds = Object.fromEntries(Object.entries(OTELCOL_COMPONENTS).map(([kind, modules]) => [kind, at(modules, OTELCOL_VERSION)]));
  return stringify({
    dist: {
      module: "mms.local/build/otelcol",
      name: "otelcol",
      description: "Matomo MultiScale's log pipeline collector (deploy/observability/otel)",
      version: OTELCOL_VERSION,
      output_path: outputPath,
    },
    ...kinds,
    providers: at(PROVIDERS, OTELCOL_STABLE_VERSION),
  });
}

/** The cache folder's name: the version and a digest of the manifest, so a changed component list rebuilds. */
function cacheKey(): string {
  const digest = createHash("sha256").update(otelcolManifest("")).digest("hex").slice(0, 16);
  return `otelcol-v${OTELCOL_VERSION}-${digest}`;
}

/** Where the built collector is (it may not be built yet). */
export function otelcolPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(binCacheDir(env), cacheKey(), "otelcol");
}

/** The collector, built the first time (ocb itself first: minutes), then taken from the cache. */
export async function ensureOtelcol(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const bin = otelcolPath(env);
  if (existsSync(bin)) return bin;
  const ocb = join(await ensureBuilt(BUILDS.ocb, progress), "builder");
  const work = join(buildWorkDir(env), cacheKey());
  await mkdir(work, { recursive: true });
  await exclusively(join(work, "build.pid"), () => existsSync(bin), progress, async () => {
    if (!existsSync(bin)) await build(ocb, work, bin, progress);
  });
  return bin;
}

async function build(ocb: string, work: string, bin: string, progress: Progress): Promise<void> {
  const out = join(work, "dist");
  const manifest = join(work, "manifest.yaml");
  const log = join(work, "build.log");
  await rm(out, { recursive: true, force: true });
  await writeFile(manifest, otelcolManifest(out));
  await writeFile(log, `# ${new Date().toISOString()} ocb --config ${manifest}\n`);
  // As for the other builds: a module that needs a newer Go than the installed one gets that toolchain.
  const toolchain = !process.env.GOTOOLCHAIN || process.env.GOTOOLCHAIN === "local" ? "auto" : process.env.GOTOOLCHAIN;
  progress.step(`building the OpenTelemetry Collector v${OTELCOL_VERSION} with ocb (first time only: minutes)`);
  const r = await run(ocb, ["--config", manifest], {
    cwd: work,
    // -e lets `go mod tidy` (the one go command of ocb's that knows the flag) pass over modules only the
    // components' own tests import: the module proxy lacks some of them (otlpencodingextension, which the
    // file exporter's tests use), and the build never compiles them.
    env: { ...process.env, GOWORK: "off", GOTOOLCHAIN: toolchain, GOFLAGS: `${process.env.GOFLAGS ?? ""} -e`.trim() },
    onStderrLine: (line) => void appendFile(log, line + "\n"),
  });
  if (r.code !== 0) {
    const last = r.stderrTail.split("\n").filter(Boolean).slice(-2).join(" | ");
    throw new UserError(`building the OpenTelemetry Collector v${OTELCOL_VERSION} with ocb failed (${last}); the full log is ${log}`);
  }
  const dir = dirname(bin);
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await rename(join(out, "otelcol"), join(partial, "otelcol"));
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  await rm(out, { recursive: true, force: true });
  progress.info(`the OpenTelemetry Collector v${OTELCOL_VERSION} cached in ${dir}`);
}

/**
 * Runs `fn` while holding a pid file: two processes that need the collector at once (a test beside
 * `dev up`) build it once, the second waits until `done()` or the holder is gone.
 */
async function exclusively(lock: string, done: () => boolean, progress: Progress, fn: () => Promise<void>): Promise<void> {
  for (;;) {
    const took = await writeFile(lock, String(process.pid), { flag: "wx" }).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
      return false;
    });
    if (took) break;
    const holder = Number(await readFile(lock, "utf8").catch(() => "0"));
    if (!holder) {
      await sleep(200); // made a moment ago, its pid not written yet
      continue;
    }
    // The holder is a Node process (mms, a test, a benchmark); a pid that is gone or is another program now is stale.
    if (!isOurs(holder, process.execPath)) {
      await rm(lock, { force: true });
      continue;
    }
    progress.step(`waiting for the OpenTelemetry Collector build of process ${holder}`);
    while (!done() && isOurs(holder, process.execPath)) await sleep(2000);
    if (done()) return;
  }
  try {
    await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/**
 * The dev image of the collector (deploy/images/otelcol): a local name, so it is never taken for the
 * official contrib image production pulls.
 */
export function otelcolImageRef(): string {
  return `localhost/mms-dev/otelcol:v${OTELCOL_VERSION}`;
}
