import { test } from "node:test";
import assert from "node:assert/strict";
import { wrapperGoMod } from "./build.ts";
import { BUILDS, binaryName, cacheKey } from "./versions.ts";

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
