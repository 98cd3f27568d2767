import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { builtDir, ensureBuilt, wrapperGoMod } from "./build.ts";
import { buildWorkDir } from "./paths.ts";
import { BUILDS, binaryName, cacheKey, type GoBuildRecipe } from "./versions.ts";

test("the Kubernetes wrapper module pins every staging module to the matching published version", () => {
  const mod = wrapperGoMod(BUILDS.kubernetes);
  assert.match(mod, /^\tk8s\.io\/kubernetes v1\.34\.4$/m);
  assert.match(mod, /^\tk8s\.io\/api => k8s\.io\/api v0\.34\.4$/m);
  assert.match(mod, /^\tk8s\.io\/client-go => k8s\.io\/client-go v0\.34\.4$/m);
  assert.doesNotMatch(mod, /=> \.\//, "no local folder replacements");
});

test("binaries are named as users expect and cached under a versioned key", () => {
  assert.equal(binaryName("go.etcd.io/etcd/server/v3"), "etcd");
  assert.equal(binaryName("k8s.io/kubernetes/cmd/kube-apiserver"), "kube-apiserver");
  assert.equal(cacheKey(BUILDS.kwok), "kwok-v0.7.0-r1");
});

test("SeaweedFS's wrapper module repeats the replace directive its own go.mod needs", () => {
  const mod = wrapperGoMod(BUILDS.seaweedfs);
  assert.match(mod, /^go 1\.26\.6$/m);
  assert.match(mod, /^\tgithub\.com\/tyler-smith\/go-bip39 => github\.com\/cosmos\/go-bip39 v1\.0\.0$/m);
});

test("a second build of the same program waits for the running one and builds nothing itself", async (t) => {
  const cache = await mkdtemp(join(tmpdir(), "mms-build-"));
  const saved = process.env.MMS_CACHE_DIR;
  process.env.MMS_CACHE_DIR = cache;
  const holder = spawn("sleep", ["60"], { stdio: "ignore" });
  t.after(async () => {
    holder.kill();
    if (saved === undefined) delete process.env.MMS_CACHE_DIR;
    else process.env.MMS_CACHE_DIR = saved;
    await rm(cache, { recursive: true, force: true });
  });
  // A recipe that cannot build: reaching `go` would fail the test.
  const recipe: GoBuildRecipe = {
    name: "nothing", version: "0.0.1", recipe: 1, goDirective: "1.24.0", require: { "example.invalid/nothing": "v0.0.1" },
    replace: {}, packages: ["example.invalid/nothing/cmd/nothing"], ldflags: "",
  };
  const work = join(buildWorkDir(), cacheKey(recipe));
  await mkdir(work, { recursive: true });
  await writeFile(join(work, "build.pid"), String(holder.pid));
  const steps: string[] = [];
  const progress = { step: (s: string) => steps.push(s), update: () => undefined, info: () => undefined, done: () => undefined };
  const result = ensureBuilt(recipe, progress);
  await sleep(300);
  // The other process finishes its build.
  await mkdir(builtDir(recipe), { recursive: true });
  await writeFile(join(builtDir(recipe), "nothing"), "");
  holder.kill();
  assert.equal(await result, builtDir(recipe));
  assert.match(steps.join("\n"), new RegExp(`waiting for the build of nothing v0\\.0\\.1 by process ${holder.pid}`));
  assert.ok(!steps.some((s) => s.startsWith("resolving")), "it did not build");
});

test("a real node's programs: kubelet and kube-proxy from the pinned Kubernetes, containerd 2 without cgo", () => {
  assert.equal(cacheKey(BUILDS.kubernetes), "kubernetes-v1.34.4-r1", "the control plane's cache stays valid");
  assert.deepEqual(BUILDS.kubernetesNode.packages.map(binaryName), ["kubelet", "kube-proxy"]);
  assert.match(wrapperGoMod(BUILDS.kubernetesNode), /^\tk8s\.io\/kubelet => k8s\.io\/kubelet v0\.34\.4$/m);
  const containerd = wrapperGoMod(BUILDS.containerd);
  assert.match(containerd, /^\tgithub\.com\/containerd\/containerd\/v2 v2\.2\.9$/m);
  assert.doesNotMatch(containerd, /^replace/m, "containerd 2.2 needs no replace directives");
  assert.deepEqual(BUILDS.containerd.packages.map(binaryName), ["containerd", "containerd-shim-runc-v2", "ctr"]);
  assert.ok(BUILDS.containerd.tags?.includes("no_btrfs"), "the btrfs snapshotter needs cgo");
  assert.equal(binaryName(BUILDS.coredns.packages[0] as string), "coredns");
});

test("Traefik's wrapper module repeats its three fork replaces; Pebble builds its server and challtestsrv", () => {
  const mod = wrapperGoMod(BUILDS.traefik);
  assert.match(mod, /^\tgithub\.com\/traefik\/traefik\/v3 v3\.6\.12$/m);
  for (const forked of ["abbot/go-http-auth => github.com/containous/go-http-auth ", "gorilla/mux => github.com/containous/mux ", "mailgun/minheap => github.com/containous/minheap "]) {
    assert.ok(mod.includes(`\tgithub.com/${forked}`), forked);
  }
  assert.match(BUILDS.traefik.ldflags, /traefik\/v3\/pkg\/version\.Version=v3\.6\.12/);
  assert.deepEqual(BUILDS.pebble.packages.map(binaryName), ["pebble", "pebble-challtestsrv"]);
});
