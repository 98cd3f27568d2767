// The pause image every pod's sandbox runs (registry.k8s.io/pause), built here: no registry serves it
// to this machine. Its source, pause.c, ships inside the k8s.io/kubernetes module the node's programs are
// built from; gcc links it statically and buildah wraps it in an image FROM scratch, cached by version.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import { run } from "../util/exec.ts";
import { cacheRoot } from "./paths.ts";
import { PAUSE_IMAGE } from "./real-node.ts";
import { KUBERNETES_VERSION } from "./versions.ts";

const PAUSE_VERSION = PAUSE_IMAGE.split(":")[1] ?? "";
const RECIPE = 1;

export function pauseArchivePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), "images", `pause-${PAUSE_VERSION}-k${KUBERNETES_VERSION}-r${RECIPE}.oci.tar`);
}

async function must(what: string, cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new UserError(`${what} failed: ${r.stderrTail.trim().split("\n").slice(-2).join(" | ")}`);
  return r.stdout;
}

/** The pause image as an OCI archive in the cache, built the first time. */
export async function ensurePauseArchive(gcc: string, buildah: string, progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const archive = pauseArchivePath(env);
  if (existsSync(archive)) return archive;
  progress.step(`building the pause image ${PAUSE_IMAGE} (first time only)`);
  const mod = JSON.parse(await must("finding the Kubernetes module's source", "go", ["mod", "download", "-json", `k8s.io/kubernetes@v${KUBERNETES_VERSION}`], { cwd: "/" })) as { Dir?: string };
  const source = join(mod.Dir ?? "", "build", "pause", "linux", "pause.c");
  if (!existsSync(source)) throw new UserError(`the pause program's source is not in the Kubernetes module (${source})`);
  await mkdir(join(cacheRoot(env), "images"), { recursive: true });
  const work = await mkdtemp(join(cacheRoot(env), "images", "pause-build-"));
  try {
    await must("compiling pause.c", gcc, ["-Os", "-static", "-Wall", "-Werror", `-DVERSION=v${PAUSE_VERSION}`, "-o", join(work, "pause"), source]);
    await writeFile(join(work, "Containerfile"), 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n');
    const storage = ["--root", join(work, "storage"), "--runroot", join(work, "run"), "--storage-driver", "vfs"];
    await must("building the pause image", buildah, [...storage, "bud", "--isolation", "chroot", "--pull=false", "--layers=false", "-q", "-t", PAUSE_IMAGE, "-f", join(work, "Containerfile"), work]);
    const partial = `${archive}.partial-${process.pid}`;
    await must("exporting the pause image", buildah, [...storage, "push", "-q", PAUSE_IMAGE, `oci-archive:${partial}:${PAUSE_IMAGE}`]);
    await rename(partial, archive);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return archive;
}

/** Loads an OCI archive into a node's containerd (its `k8s.io` namespace) unless the image is there. */
export async function importImage(ctr: string, socket: string, archive: string, ref: string): Promise<boolean> {
  const listed = await must("listing the node's images", ctr, ["--address", socket, "-n", "k8s.io", "images", "ls", "-q"]);
  if (listed.split("\n").includes(ref)) return false;
  await must(`loading ${ref} into the real node`, ctr, ["--address", socket, "-n", "k8s.io", "images", "import", archive]);
  return true;
}
