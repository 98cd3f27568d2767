import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { UserError } from "../util/errors.ts";
import {
  BASE_IMAGE, checkMatomoArchive, compareVersions, contextDigest, digestInListing, dockerfileArgs, failureCause, imageKey,
  cachedMatomoArchives, locateMatomoArchive, matomoImageRef, mmsImageRef, pinnedNodeVersion, pinnedPluginCommits, resolveInputs, stageContext,
} from "./images.ts";
import { createProgress } from "../util/progress.ts";

const REPO = resolve(import.meta.dirname, "../..");
const COMMITS = { ExtraTools: "a".repeat(40), QueuedTracking: "b".repeat(40) };

let dir: string;

/** A gzip tar holding matomo/core/Version.php, with its sha256 sidecar and plugin archives beside it. */
async function fakeRelease(version: string, where: string, opts: { sidecar?: boolean; plugins?: boolean } = {}): Promise<{ path: string; sha256: string }> {
  const tree = join(where, `tree-${version}`);
  await mkdir(join(tree, "matomo/core"), { recursive: true });
  await writeFile(join(tree, "matomo/core/Version.php"), `<?php\nfinal class Version\n{\n    public const VERSION = '${version}';\n}\n`);
  const path = join(where, `matomo-${version}.tar.gz`);
  execFileSync("tar", ["-czf", path, "-C", tree, "matomo"]);
  const sha256 = createHash("sha256").update(await readFile(path)).digest("hex");
  if (opts.sidecar !== false) await writeFile(`${path}.sha256`, `${sha256}  matomo-${version}.tar.gz\n`);
  if (opts.plugins !== false) {
    await mkdir(join(where, "plugins"), { recursive: true });
    for (const [name, commit] of Object.entries(COMMITS)) await writeFile(join(where, "plugins", `${name}-${commit}.tar.gz`), name);
  }
  return { path, sha256 };
}

async function userError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/, "one sentence, one line");
    return err.message;
  }
  assert.fail("expected an error");
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mms-images-test-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("finding the Matomo archive", () => {
  test("a --matomo-archive that does not exist is one sentence naming it", async () => {
    const msg = await userError(locateMatomoArchive({ archive: join(dir, "nope.tar.gz") }, {}));
    assert.match(msg, /--matomo-archive .*nope\.tar\.gz does not exist/);
  });

  test("MMS_MATOMO_ARCHIVE that does not exist is named as the variable", async () => {
    const msg = await userError(locateMatomoArchive({}, { MMS_MATOMO_ARCHIVE: join(dir, "gone.tar.gz") }));
    assert.match(msg, /MMS_MATOMO_ARCHIVE/);
  });

  test("the cache folder's newest version wins; without archives there is none", async () => {
    const cache = join(dir, "cache");
    const archives = join(cache, "matomo-archives");
    assert.equal(await locateMatomoArchive({}, { MMS_CACHE_DIR: cache }), undefined);
    await mkdir(archives, { recursive: true });
    for (const v of ["5.0.3", "5.1.10", "5.1.2", "5.2.0-b5"]) await writeFile(join(archives, `matomo-${v}.tar.gz`), "");
    await writeFile(join(archives, "matomo-5.9.9.tar.gz.sha256"), "");
    assert.equal(await locateMatomoArchive({}, { MMS_CACHE_DIR: cache }), join(archives, "matomo-5.2.0-b5.tar.gz"));
    assert.deepEqual(await cachedMatomoArchives({ MMS_CACHE_DIR: cache }), ["5.0.3", "5.1.2", "5.1.10", "5.2.0-b5"].map((v) => join(archives, `matomo-${v}.tar.gz`)), "--all-versions: every one, oldest first");
  });

  test("the flag beats the variable, the variable beats the cache folder", async () => {
    const a = join(dir, "a.tar.gz");
    const b = join(dir, "b.tar.gz");
    await writeFile(a, "");
    await writeFile(b, "");
    assert.equal(await locateMatomoArchive({ archive: a }, { MMS_MATOMO_ARCHIVE: b }), a);
    assert.equal(await locateMatomoArchive({}, { MMS_MATOMO_ARCHIVE: b, MMS_CACHE_DIR: join(dir, "cache") }), b);
  });

  test("versions order numerically, pre-releases before their release", () => {
    const sorted = ["5.1.2", "5.10.0", "5.2.0", "5.2.0-b5", "5.2.0-rc1", "4.16.1"].sort(compareVersions);
    assert.deepEqual(sorted, ["4.16.1", "5.1.2", "5.2.0-b5", "5.2.0-rc1", "5.2.0", "5.10.0"]);
  });
});

describe("what a build is asked to make", () => {
  const progress = createProgress(process.stderr, true);

  test("without an archive the control-plane image is still built, and the skip says how to give one", async () => {
    const env = { MMS_CACHE_DIR: join(dir, "no-archives") };
    const inputs = await resolveInputs({ progress }, env, REPO);
    assert.equal(inputs.mms, true);
    assert.equal(inputs.matomo, undefined);
    assert.match(inputs.skipped ?? "", /^tenant image skipped: .*--matomo-archive PATH.*MMS_MATOMO_ARCHIVE.*no-archives\/matomo-archives/);
  });

  test("--only matomo without an archive, or --matomo-archive with --only mms, is an error", async () => {
    const env = { MMS_CACHE_DIR: join(dir, "no-archives") };
    assert.match(await userError(resolveInputs({ progress, only: "matomo" }, env, REPO)), /no Matomo release archive/);
    assert.match(await userError(resolveInputs({ progress, only: "mms", matomoArchive: "x.tar.gz" }, env, REPO)), /cannot go with --only mms/);
    assert.deepEqual(await resolveInputs({ progress, only: "mms" }, env, REPO), { mms: true });
    assert.match(await userError(resolveInputs({ progress, only: "mms", allVersions: true }, env, REPO)), /--all-versions .*cannot go with --only mms/);
    assert.match(await userError(resolveInputs({ progress, allVersions: true, matomoArchive: "x.tar.gz" }, env, REPO)), /cannot go with --matomo-archive/);
  });

  test("the monitoring images: one alone with --only, all four with what dev up asks for", async () => {
    const env = { MMS_CACHE_DIR: join(dir, "no-archives") };
    assert.deepEqual(await resolveInputs({ progress, only: "kube-state-metrics" }, env, REPO), { mms: false, monitoring: ["kube-state-metrics"] });
    assert.match(await userError(resolveInputs({ progress, only: "prometheus", allVersions: true }, env, REPO)), /cannot go with --only prometheus/);
    const devUp = await resolveInputs({ progress, withTraefik: true, withMonitoring: true }, env, REPO);
    assert.deepEqual(devUp.monitoring, ["prometheus", "alertmanager", "blackbox", "kube-state-metrics"]);
    assert.equal((await resolveInputs({ progress }, env, REPO)).monitoring, undefined, "a plain build makes none of them");
  });
});

describe("checking the Matomo archive", () => {
  test("a good archive gives its version, digest and plugin archives", async () => {
    const where = join(dir, "good");
    await mkdir(where);
    const { path, sha256 } = await fakeRelease("5.1.2", where);
    const a = await checkMatomoArchive(path, undefined, COMMITS);
    assert.equal(a.version, "5.1.2");
    assert.equal(a.sha256, sha256);
    assert.deepEqual(a.plugins.map((p) => p.name), ["ExtraTools", "QueuedTracking"]);
    assert.equal(matomoImageRef(a.version), "ghcr.io/matomo-multiscale/matomo:5.1.2");
  });

  test("a wrong digest (flag or sidecar) is refused with both digests", async () => {
    const where = join(dir, "wrong");
    await mkdir(where);
    const { path, sha256 } = await fakeRelease("5.1.2", where);
    const other = "0".repeat(64);
    assert.match(await userError(checkMatomoArchive(path, other, COMMITS)), new RegExp(`sha256 ${sha256}, not the expected ${other}`));
    await writeFile(`${path}.sha256`, `${other}  matomo-5.1.2.tar.gz\n`);
    assert.match(await userError(checkMatomoArchive(path, undefined, COMMITS)), /corrupt/);
    assert.equal((await checkMatomoArchive(path, sha256.toUpperCase(), COMMITS)).version, "5.1.2", "the flag wins over the sidecar");
  });

  test("no digest at all, or one that is not hex, is refused", async () => {
    const where = join(dir, "nodigest");
    await mkdir(where);
    const { path } = await fakeRelease("5.1.2", where, { sidecar: false });
    assert.match(await userError(checkMatomoArchive(path, undefined, COMMITS)), /--matomo-sha256/);
    assert.match(await userError(checkMatomoArchive(path, "abc", COMMITS)), /64 hexadecimal digits/);
  });

  test("a file that is not a Matomo release archive is refused, even with the right digest", async () => {
    const path = join(dir, "matomo-9.9.9.tar.gz");
    await writeFile(path, "not a tarball");
    const sha = createHash("sha256").update("not a tarball").digest("hex");
    assert.match(await userError(checkMatomoArchive(path, sha, COMMITS)), /not a Matomo release archive/);
  });

  test("missing plugin archives are named, with the folder they belong in", async () => {
    const where = join(dir, "noplugins");
    await mkdir(where);
    const { path } = await fakeRelease("5.1.2", where, { plugins: false });
    const msg = await userError(checkMatomoArchive(path, undefined, COMMITS));
    assert.match(msg, /ExtraTools-a{40}\.tar\.gz and QueuedTracking-b{40}\.tar\.gz are missing from .*plugins/);
  });

  test("a plugin archive that does not match its sha256 sidecar is refused", async () => {
    const where = join(dir, "badplugin");
    await mkdir(where);
    const { path } = await fakeRelease("5.1.2", where);
    await writeFile(join(where, "plugins", `ExtraTools-${COMMITS.ExtraTools}.tar.gz.sha256`), `${"1".repeat(64)}  x\n`);
    assert.match(await userError(checkMatomoArchive(path, undefined, COMMITS)), /ExtraTools-a{40}\.tar\.gz has sha256/);
  });
});

describe("the cache key", () => {
  const args = { DEBIAN_IMAGE: BASE_IMAGE, MATOMO_VERSION: "5.1.2" };

  test("stable for the same context, changed by any context file, build argument or base", async () => {
    const ctx = await stageContext("matomo", [], join(dir, "stage"), REPO);
    const same = await stageContext("matomo", [], join(dir, "stage"), REPO);
    const key = async (d: string, a = args, base = "b1") => imageKey({ ref: "r", context: await contextDigest(d), buildArgs: a, base });
    const k = await key(ctx);
    assert.equal(await key(same), k, "two stagings of the same files");
    assert.equal(imageKey({ ref: "r", context: await contextDigest(ctx), buildArgs: { MATOMO_VERSION: "5.1.2", DEBIAN_IMAGE: BASE_IMAGE }, base: "b1" }), k, "argument order does not matter");
    assert.notEqual(await key(ctx, { ...args, MATOMO_VERSION: "5.1.3" }), k);
    assert.notEqual(await key(ctx, args, "b2"), k);
    await writeFile(join(same, "entrypoint.sh"), "#!/bin/bash\necho changed\n");
    assert.notEqual(await key(same), k, "a changed file");
    execFileSync("chmod", ["-x", join(ctx, "healthz.php")]);
    assert.equal(await key(ctx), k, "healthz.php was not executable anyway");
    execFileSync("chmod", ["+x", join(ctx, "healthz.php")]);
    assert.notEqual(await key(ctx), k, "a file that became executable");
  });

  test("an archive added to the context's dist/ changes it", async () => {
    const archive = join(dir, "some.tar.gz");
    await writeFile(archive, "x");
    const plain = await stageContext("matomo", [], join(dir, "stage"), REPO);
    const withDist = await stageContext("matomo", [{ from: archive, to: "matomo-5.1.2.tar.gz" }], join(dir, "stage"), REPO);
    assert.notEqual(await contextDigest(plain), await contextDigest(withDist));
    assert.equal(await readFile(join(withDist, "dist", "matomo-5.1.2.tar.gz"), "utf8"), "x");
  });

  test("the control-plane context holds the sources and the lock file, not the tests", async () => {
    const ctx = await stageContext("mms", [], join(dir, "stage"), REPO);
    const files = execFileSync("find", [".", "-type", "f"], { cwd: ctx, encoding: "utf8" }).split("\n");
    assert.ok(files.includes("./package-lock.json"));
    assert.ok(files.includes("./src/cli/main.ts"));
    assert.ok(files.includes("./deploy/images/mms/Dockerfile"));
    assert.equal(files.filter((f) => f.endsWith(".test.ts")).length, 0);
    assert.equal(files.filter((f) => f.startsWith("./test/") || f.startsWith("./node_modules/")).length, 0);
  });
});

describe("the Dockerfiles and the code agree", () => {
  test("both build FROM the base tag the code makes, and the control-plane image runs the pinned Node", async () => {
    for (const f of ["deploy/images/matomo/Dockerfile", "deploy/images/mms/Dockerfile"]) {
      assert.equal(dockerfileArgs(await readFile(join(REPO, f), "utf8")).DEBIAN_IMAGE, BASE_IMAGE, f);
    }
    const mms = dockerfileArgs(await readFile(join(REPO, "deploy/images/mms/Dockerfile"), "utf8"));
    assert.equal(mms.NODE_VERSION, await pinnedNodeVersion(REPO), "deploy/images/mms/Dockerfile's NODE_VERSION is scripts/lib/toolchain.sh's");
    assert.match(mms.NODE_INTEGRITY ?? "", /^sha512-/);
    assert.equal(mmsImageRef(), "ghcr.io/matomo-multiscale/mms:0.1.0");
    const commits = await pinnedPluginCommits(REPO);
    for (const c of Object.values(commits)) assert.match(c, /^[0-9a-f]{40}$/);
  });
});

describe("build output and node listings", () => {
  test("a failed build names what the failing step said, not buildah's own lines", () => {
    const lines = ["  12.0 [2/2] STEP 5/9: RUN apt-get install nope", "  13.1 E: Unable to locate package nope", "  13.2 subprocess exited with status 100", "  13.2 Error: building at STEP \"RUN apt-get install nope\": exit status 100"];
    assert.equal(failureCause(lines), "E: Unable to locate package nope");
  });

  test("ctr's listing gives the digest of exactly that reference", () => {
    const listing = [
      "REF                                 TYPE                                       DIGEST                                                                  SIZE      PLATFORMS   LABELS",
      "ghcr.io/matomo-multiscale/mms:0.1.0 application/vnd.oci.image.manifest.v1+json sha256:bc03643b5ae827f5e8bbe3de780ea8a6d7356105cdfe2fae8ec78d47e83e1b78 134.6 MiB linux/amd64 io.cri-containerd.image=managed",
      "ghcr.io/matomo-multiscale/mms:0.1.0-rc application/vnd.oci.image.manifest.v1+json sha256:aaaa 1 MiB linux/amd64 -",
    ].join("\n");
    assert.equal(digestInListing(listing, "ghcr.io/matomo-multiscale/mms:0.1.0"), "sha256:bc03643b5ae827f5e8bbe3de780ea8a6d7356105cdfe2fae8ec78d47e83e1b78");
    assert.equal(digestInListing(listing, "ghcr.io/matomo-multiscale/matomo:5.1.2"), undefined);
  });
});
