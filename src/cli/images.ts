// `mms images …`: flag wiring for the project's container images; the work is in src/devcluster/images.ts.
import type { Command } from "commander";
import { Option } from "commander";
import { buildImages, IMAGE_NAMES, matomoArchivesDir, imagePaths, type ImageName, type ImageResult } from "../devcluster/images.ts";
import { createProgress } from "../util/progress.ts";
import { outputOption, renderStructured, renderTable, type OutputFormat } from "./output.ts";

function size(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(0)} MB`;
}

/** One row per image: ref, digest, size, cached or built, and where it was loaded. */
export function imagesTable(images: readonly ImageResult[]): string {
  return renderTable(["image", "digest", "size", "build", "real nodes"], images.map((i) => {
    const nodes = [
      ...(i.loadedInto.length ? [`loaded into ${i.loadedInto.join(", ")}`] : []),
      ...(i.alreadyOn.length ? [`already on ${i.alreadyOn.join(", ")}`] : []),
    ];
    return [i.ref, i.digest, size(i.size), i.cached ? "cached" : `built in ${i.seconds.toFixed(0)} s`, nodes.join("; ") || "none running"];
  }));
}

export function registerImages(program: Command): void {
  const images = program
    .command("images")
    .description("build the tenant and control-plane images without a Docker daemon and load them into the real nodes");

  images
    .command("build")
    .description("build deploy/images/{matomo,mms} with buildah on a local Debian base; cached by content")
    .addOption(new Option("--only <image>", "build one image only").choices([...IMAGE_NAMES]))
    .option("--matomo-archive <path>", "Matomo release archive (matomo-<version>.tar.gz) for the tenant image")
    .option("--matomo-sha256 <hex>", "the archive's sha256 (default: the first word of <archive>.sha256)")
    .option("--all-versions", "a tenant image for every Matomo archive in the cache folder, not only the newest (what `mms dev up` builds)")
    .addOption(outputOption())
    .option("-q, --quiet", "no progress output")
    .addHelpText("after", `
The tenant image (ghcr.io/matomo-multiscale/matomo:<version>) needs a Matomo release archive: from
--matomo-archive, else $MMS_MATOMO_ARCHIVE, else the newest matomo-<version>.tar.gz (every one with
--all-versions) in ${matomoArchivesDir()} (with a sha256sum line in matomo-<version>.tar.gz.sha256, and the
ExtraTools and QueuedTracking archives in its plugins/ folder). Without one, only the control-plane
image (ghcr.io/matomo-multiscale/mms) is built, unless --only matomo asks for the tenant image.

The first build makes a Debian bookworm base with mmdebstrap and takes minutes; a build whose
Dockerfile, context, archives and build arguments are unchanged takes seconds. Images, their OCI
archives and buildah's storage live in ${imagePaths().dir}. Every image is loaded into each running
real node of the dev environment that lacks it (ctr images import).

Prints one row per image on stdout (-o json|yaml: the same as data): reference, digest, size, cached
or built, the real nodes it was loaded into.

Environment:
  MMS_MATOMO_ARCHIVE          the Matomo release archive, when --matomo-archive is not given
  MMS_IMAGES_STORAGE_DRIVER   buildah's storage driver: overlay (default where the kernel mounts it) or vfs
  MMS_CACHE_DIR               the cache (default ~/.cache/matomo-multiscale)`)
    .action(async (opts: { only?: ImageName; matomoArchive?: string; matomoSha256?: string; allVersions?: boolean; output: OutputFormat; quiet?: boolean }) => {
      const progress = createProgress(process.stderr, opts.quiet === true);
      const result = await buildImages({ only: opts.only, matomoArchive: opts.matomoArchive, matomoSha256: opts.matomoSha256, allVersions: opts.allVersions, progress });
      if (result.base && !result.base.cached) process.stderr.write(`made the Debian base ${result.base.ref} in ${result.base.seconds.toFixed(0)} s\n`);
      process.stdout.write(opts.output === "table" ? imagesTable(result.images) : renderStructured(result, opts.output));
      if (result.skipped) process.stderr.write(`${result.skipped}\n`);
    });
}
