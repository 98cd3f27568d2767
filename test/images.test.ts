// `mms images build` as a user runs it: the control-plane image from a cold or warm cache, a second build
// that reuses it, bad input that builds nothing, and (with a Matomo release archive) the tenant image.
// Needs no cluster: the images are checked in buildah's storage.
import assert from "node:assert/strict";
import { stat, writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Buildah, locateMatomoArchive, matomoImageRef, mmsImageRef, ociArchivePath } from "../src/devcluster/images.ts";
import { runMms, type Run } from "./helpers.ts";

let buildah: Buildah;
let scratch: string;

/** Every tagged image of the cache's storage, with its id: what a failed build must leave alone. */
async function tags(): Promise<string> {
  const r = await buildah.run(["images", "--format", "{{.Name}}:{{.Tag}} {{.ID}}"]);
  return r.stdout.split("\n").filter((l) => !l.startsWith("<none>")).sort().join("\n");
}

function oneSentence(r: Run): string {
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^error: .+/);
  return lines[0]!;
}

before(async () => {
  buildah = await Buildah.forCache();
  scratch = await mkdtemp(join(tmpdir(), "mms-images-it-"));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("mms images build", { timeout: 30 * 60_000 }, () => {
  test("builds the control-plane image: user 10001, tini running the CLI on the pinned Node, the MariaDB client", async () => {
    const r = await runMms(["images", "build", "--only", "mms", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    const ref = mmsImageRef();
    assert.match(r.stdout, new RegExp(`^${ref.replaceAll(".", "\\.")}\\s+sha256:[0-9a-f]{64}\\s`, "m"));
    const config = await buildah.config(ref);
    assert.equal(config.User, "10001:10001");
    assert.deepEqual(config.Entrypoint, ["/usr/bin/tini", "--", "node", "/opt/mms/src/cli/main.ts"]);
    const inside = await buildah.runIn(ref, ["sh", "-c", "id -u; node --version; command -v mariadb-dump; command -v mariadb; node /opt/mms/src/cli/main.ts --version"]);
    assert.equal(inside.code, 0, inside.stderrTail);
    const [uid, node, dump, client, version] = inside.stdout.trim().split("\n");
    assert.equal(uid, "10001");
    assert.match(node ?? "", /^v24\./);
    assert.equal(dump, "/usr/bin/mariadb-dump");
    assert.equal(client, "/usr/bin/mariadb");
    assert.match(version ?? "", /^\d+\.\d+\.\d+$/);
  });

  test("a second build with nothing changed reuses the image and its archive", async () => {
    const archive = ociArchivePath(mmsImageRef());
    const before = (await stat(archive)).mtimeMs;
    const tagsBefore = await tags();
    const r = await runMms(["images", "build", "--only", "mms", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\bcached\b/);
    assert.equal((await stat(archive)).mtimeMs, before, "the OCI archive was not written again");
    assert.equal(await tags(), tagsBefore);
  });

  test("a missing --matomo-archive is one sentence, a non-zero exit, and builds nothing", async () => {
    const tagsBefore = await tags();
    const missing = join(scratch, "matomo-5.1.2.tar.gz");
    const r = await runMms(["images", "build", "--matomo-archive", missing]);
    assert.notEqual(r.code, 0);
    assert.match(oneSentence(r), new RegExp(`${missing.replaceAll(".", "\\.")} does not exist`));
    assert.equal(r.stdout, "");
    assert.equal(await tags(), tagsBefore);
  });

  test("an archive that does not match its digest is refused before anything is built", async () => {
    const tagsBefore = await tags();
    const archive = join(scratch, "matomo-9.0.0.tar.gz");
    await writeFile(archive, "not what the digest says");
    const r = await runMms(["images", "build", "--matomo-archive", archive, "--matomo-sha256", "0".repeat(64)]);
    assert.notEqual(r.code, 0);
    assert.match(oneSentence(r), /has sha256 [0-9a-f]{64}, not the expected 0{64}/);
    assert.equal(r.stdout, "");
    assert.equal(await tags(), tagsBefore);
    assert.equal(await buildah.exists(matomoImageRef("9.0.0")), false);
  });

  test("with a Matomo release archive: the tenant image runs as uid 33 with the PHP extensions Matomo needs", async (t) => {
    const archive = await locateMatomoArchive({});
    if (archive === undefined) {
      t.skip("no Matomo release archive in ~/.cache/matomo-multiscale/matomo-archives or MMS_MATOMO_ARCHIVE; the tenant image is not built");
      return;
    }
    const r = await runMms(["images", "build", "--only", "matomo", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    const ref = /^(ghcr\.io\/matomo-multiscale\/matomo:\S+)\s/m.exec(r.stdout)?.[1];
    assert.ok(ref, r.stdout);
    const config = await buildah.config(ref);
    assert.equal(config.User, "33:33");
    assert.deepEqual(config.Entrypoint, ["/usr/local/bin/matomo-entrypoint"]);
    const inside = await buildah.runIn(ref, ["sh", "-c", "id -u; php -m; apache2 -v"], "33:33");
    assert.equal(inside.code, 0, inside.stderrTail);
    const [uid, ...rest] = inside.stdout.trim().split("\n");
    assert.equal(uid, "33");
    const modules = new Set(rest.map((l) => l.trim().toLowerCase()));
    // Matomo 5's system check: required, then optional but wanted (graphs, Redis queue, HTTP, i18n).
    for (const ext of ["pdo_mysql", "mysqli", "zlib", "json", "filter", "hash", "session", "dom", "simplexml", "libxml", "openssl",
      "mbstring", "iconv", "curl", "gd", "redis", "intl", "zip", "zend opcache"]) {
      assert.ok(modules.has(ext), `php -m lists ${ext}`);
    }
    assert.match(inside.stdout, /Apache\/2\.4\./);
  });
});
