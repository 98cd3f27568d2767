// Builds the dev environment's programs once from pinned Go modules and caches them by version.
// Each build goes to a temporary folder that is renamed into place only when complete, so an
// interrupted build is never mistaken for a finished one.
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile, appendFile, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import { onPath, run } from "../util/exec.ts";
import { binCacheDir, buildWorkDir } from "./paths.ts";
import { binaryName, cacheKey, type GoBuildRecipe } from "./versions.ts";

export function builtDir(recipe: GoBuildRecipe, env: NodeJS.ProcessEnv = process.env): string {
  return join(binCacheDir(env), cacheKey(recipe));
}

export function isBuilt(recipe: GoBuildRecipe, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = builtDir(recipe, env);
  return recipe.packages.every((p) => existsSync(join(dir, binaryName(p))));
}

/** The go.mod of the wrapper module that pins one component. */
export function wrapperGoMod(recipe: GoBuildRecipe): string {
  const lines = [`module mms.local/build/${recipe.name}`, "", `go ${recipe.goDirective}`, ""];
  lines.push("require (", ...Object.entries(recipe.require).map(([m, v]) => `\t${m} ${v}`), ")", "");
  const replaces = Object.entries(recipe.replace);
  if (replaces.length > 0) lines.push("replace (", ...replaces.map(([m, to]) => `\t${m} => ${to}`), ")", "");
  return lines.join("\n");
}

export async function ensureBuilt(recipe: GoBuildRecipe, progress: Progress): Promise<string> {
  const dir = builtDir(recipe);
  if (isBuilt(recipe)) return dir;
  if (!(await onPath("go"))) {
    throw new UserError(`the Go toolchain is needed to build ${recipe.name} once; install Go 1.24 or newer (apt-get install golang-go) and run again`);
  }
  const key = cacheKey(recipe);
  const work = join(buildWorkDir(), key);
  await mkdir(work, { recursive: true });
  // Two `dev up`s at once (two environments, two terminals) build each program once: the second waits.
  const lock = join(work, "build.pid");
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number(await readFile(lock, "utf8").catch(() => ""));
    if (!holder) {
      await sleep(200); // created a moment ago, its pid not written yet
      continue;
    }
    if (!pidAlive(holder)) {
      await rm(lock, { force: true });
      continue;
    }
    progress.step(`waiting for the build of ${recipe.name} v${recipe.version} by process ${holder} (first time only)`);
    while (pidAlive(holder) && !isBuilt(recipe)) await sleep(2000);
    if (isBuilt(recipe)) return dir;
  }
  try {
    if (isBuilt(recipe)) return dir; // the build we waited for finished
    return await build(recipe, progress, dir, work, key);
  } finally {
    await rm(lock, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function build(recipe: GoBuildRecipe, progress: Progress, dir: string, work: string, key: string): Promise<string> {
  const out = `${dir}.partial-${process.pid}`;
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const log = join(work, "build.log");
  await writeFile(join(work, "go.mod"), wrapperGoMod(recipe));
  await writeFile(log, `# ${new Date().toISOString()} building ${key}\n`);
  // A module that needs a newer Go than the installed one (SeaweedFS needs 1.26.6) gets that toolchain
  // from the Go module proxy, even where GOTOOLCHAIN=local is the default (the golang images).
  const toolchain = !process.env.GOTOOLCHAIN || process.env.GOTOOLCHAIN === "local" ? "auto" : process.env.GOTOOLCHAIN;
  const env = { ...process.env, GOFLAGS: "-mod=mod", GOWORK: "off", CGO_ENABLED: "0", GOTOOLCHAIN: toolchain };

  const tagArgs = recipe.tags?.length ? ["-tags", recipe.tags.join(",")] : [];

  progress.step(`resolving ${recipe.name} v${recipe.version} modules (first time only)`);
  let downloaded = 0;
  const listed = await run("go", ["list", "-deps", ...tagArgs, "-f", "{{.ImportPath}}", ...recipe.packages], {
    cwd: work,
    env,
    onStderrLine: (line) => {
      void appendFile(log, line + "\n");
      if (line.startsWith("go: downloading")) progress.update(`${++downloaded} modules downloaded`);
    },
  });
  if (listed.code !== 0) throw buildFailure(recipe, listed.stderrTail, log);
  const total = listed.stdout.split("\n").filter(Boolean).length;

  let compiled = 0;
  for (const pkg of recipe.packages) {
    const bin = binaryName(pkg);
    progress.step(`building ${bin} v${recipe.version} (${total} packages in all; cached after the first build)`);
    const built = await run(
      "go",
      ["build", "-v", "-trimpath", ...tagArgs, "-ldflags", recipe.ldflags, "-o", join(out, bin), pkg],
      {
        cwd: work,
        env,
        onStderrLine: (line) => {
          void appendFile(log, line + "\n");
          if (!line.startsWith("go: ") && !line.includes(" ")) progress.update(`${++compiled}/${total} packages compiled`);
        },
      },
    );
    if (built.code !== 0) throw buildFailure(recipe, built.stderrTail, log);
  }
  await rm(dir, { recursive: true, force: true });
  await rename(out, dir);
  progress.info(`${recipe.name} v${recipe.version} cached in ${dir}`);
  return dir;
}

function buildFailure(recipe: GoBuildRecipe, tail: string, log: string): UserError {
  const last = tail.split("\n").filter(Boolean).slice(-3).join(" | ");
  return new UserError(`building ${recipe.name} v${recipe.version} from the Go module proxy failed (${last}); the full log is ${log}`);
}
