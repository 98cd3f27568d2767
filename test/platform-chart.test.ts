// The platform's Helm chart (deploy/charts/matomo-multiscale), as a user installs it: lint, render the
// default and a production-like values file and have the dev cluster's API server check the result
// (dry run), refuse bad values with the path of the value, the install `mms dev up` made on the real
// node (operator replicas, leader election, a tenant reaching Ready), and `helm uninstall`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { currentPaths, endpoints, readStatus, up } from "../src/devcluster/environment.ts";
import { helmPath, runHelm } from "../src/devcluster/platform-chart.ts";
import { CHART_DIR, PLATFORM_RELEASE } from "../src/platform/release.ts";
import { realNodeName } from "../src/devcluster/real-node.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { waitReady } from "../src/tenants/service.ts";
import { createProgress } from "../src/util/progress.ts";
import { eventually, kubectlWithInput, runMms, uniqueName } from "./helpers.ts";
import { holds, leaderPod, operatorLease, operatorPods as podsOf } from "./support/operator.ts";

const PRODUCTION_VALUES = join(CHART_DIR, "ci", "production-values.yaml");


let kubeconfig: string;
let http: KubeHttp;
let realNode: string | undefined;
const tenants: string[] = [];

/** Helm as `dev up` runs it (the environment's kubeconfig and Helm folders). */
const helm = (args: readonly string[]) => runHelm(currentPaths(), args);

const operatorPods = () => podsOf(http);

before(async () => {
  const e = await endpoints();
  kubeconfig = e.kubeconfig;
  http = new KubeHttp(loadKubeConfig({ kubeconfig }));
  if ((await readStatus()).realNodes.desired > 0) realNode = realNodeName(1);
  assert.ok(existsSync(helmPath()), "mms dev up builds helm");
});

after(async () => {
  for (const t of tenants) await http.delete(API_GROUP_VERSION, "MatomoTenant", t).catch(() => undefined);
});

describe("the chart's checks", () => {
  test("helm lint --strict passes with the default values and the production-like values", async () => {
    for (const extra of [[], ["--values", PRODUCTION_VALUES]]) {
      const r = await helm(["lint", "--strict", CHART_DIR, "--namespace", SYSTEM_NAMESPACE, ...extra]);
      assert.equal(r.code, 0, `helm lint ${extra.join(" ")}: ${r.stdout}${r.stderrTail}`);
    }
  });

  test("what helm template renders (default and production-like values) is accepted by the API server (kubectl apply --dry-run=server)", async () => {
    const crds = (await kubectlWithInput(["get", "crd", "-o", "name"])).out;
    for (const extra of [[], ["--values", PRODUCTION_VALUES]]) {
      const r = await helm(["template", PLATFORM_RELEASE, CHART_DIR, "--namespace", SYSTEM_NAMESPACE, ...extra]);
      assert.equal(r.code, 0, r.stderrTail);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject | null).filter((d): d is KubeObject => d !== null);
      assert.ok(docs.some((d) => d.kind === "Deployment" && d.metadata.name === `${PLATFORM_RELEASE}-operator`), "the operator's Deployment is rendered");
      // The dev cluster has no Prometheus Operator: its kinds are checked for shape only.
      const monitoring = docs.filter((d) => d.apiVersion.startsWith("monitoring.coreos.com/"));
      const checkable = crds.includes("servicemonitors.monitoring.coreos.com") ? docs : docs.filter((d) => !monitoring.includes(d));
      for (const m of monitoring) assert.ok(m.metadata.name && (m as { spec?: object }).spec, `${m.kind} has a name and a spec`);
      const yaml = checkable.map((d) => JSON.stringify(d)).join("\n");
      const dry = await kubectlWithInput(["apply", "--dry-run=server", "--server-side", "--force-conflicts", "--field-manager=chart-test", "-f", "-"], yaml);
      assert.equal(dry.code, 0, `kubectl apply --dry-run=server ${extra.join(" ")}:\n${dry.out}`);
      if (extra.length > 0) {
        assert.ok(docs.some((d) => d.kind === "Deployment" && d.metadata.name === `${PLATFORM_RELEASE}-node-doctor`), "the node doctor runs in production");
        const op = docs.find((d) => d.kind === "Deployment" && d.metadata.name === `${PLATFORM_RELEASE}-operator`) as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } };
        assert.match(op.spec.template.spec.containers[0]?.image ?? "", /@sha256:[0-9a-f]{64}$/, "production values name the image by digest");
      }
    }
  });

  test("bad values fail helm install with the path of the bad value, and install nothing", async () => {
    const release = uniqueName("bad");
    const cases: [string[], RegExp][] = [
      [["--set", "operator.replicas=two"], /\/operator\/replicas.*want integer/],
      [["--set", "tenants.tls.mode=letsencrypt"], /\/tenants\/tls\/mode.*cert-manager.*ingress-acme/],
      [["--set", "operator.replicaz=2"], /\/operator.*replicaz/],
      [["--set", "image.digest=latest"], /\/image\/digest/],
      [["--set", "nodeDoctor.enabled=true"], /\/nodeDoctor\/ovh\/projectId/],
      [["--namespace", "default"], /install this chart into the namespace mms-system/],
    ];
    for (const [args, message] of cases) {
      const r = await helm(["install", release, CHART_DIR, "--namespace", SYSTEM_NAMESPACE, ...args]);
      assert.notEqual(r.code, 0, `helm install ${args.join(" ")} should fail`);
      assert.match(r.stderrTail, message, `helm install ${args.join(" ")}`);
    }
    const list = await helm(["list", "--all-namespaces", "--all", "-q"]);
    assert.doesNotMatch(list.stdout, new RegExp(release), "no release was made");
  });
});

describe("the platform installed by the chart on the real node", () => {
  test("the operator runs as two replicas on the real node, one holds the leader Lease, and a tenant created with the CLI reaches Ready", async (t) => {
    if (!realNode) return t.skip("the dev environment runs without a real node (--real-nodes 0): it runs the operator as a local process");
    const status = await helm(["status", PLATFORM_RELEASE, "--namespace", SYSTEM_NAMESPACE]);
    assert.match(status.stdout, /STATUS: deployed/, status.stdout + status.stderrTail);
    const pods = await eventually("two Ready operator pods", async () => {
      const p = await operatorPods();
      return p.length === 2 && p.every((x) => x.status?.phase === "Running" && x.status.containerStatuses?.[0]?.ready) ? p : undefined;
    }, 180_000);
    for (const p of pods) assert.equal(p.spec.nodeName, realNode, `${p.metadata.name} runs on the real node`);
    const lease = await operatorLease(http);
    assert.ok(pods.some((p) => holds(lease, p)), `the Lease is held by one of the pods (holder ${lease?.spec.holderIdentity})`);

    const name = uniqueName("chart");
    tenants.push(name);
    const created = await runMms(["tenant", "create", name, "--domain", `analytics.${name}.test`]);
    assert.equal(created.code, 0, created.stderr);
    const ready = await waitReady(http, name, 180_000);
    assert.ok(ready.ok, `tenant ${name} should become Ready: ${ready.failing?.message}`);
  });

  test("when the leading replica is deleted, the other takes the Lease over and tenants are still reconciled", async (t) => {
    if (!realNode) return t.skip("the dev environment runs without a real node (--real-nodes 0)");
    const leader = await leaderPod(http);
    assert.ok(leader, "a replica leads");
    await kubectlWithInput(["delete", "pod", "-n", SYSTEM_NAMESPACE, leader.metadata.name, "--wait=false"]);
    const next = await eventually("another replica holding the Lease", async () => {
      const l = await operatorLease(http);
      return l?.spec.holderIdentity && !holds(l, leader) ? l.spec.holderIdentity : undefined;
    }, 120_000);
    assert.ok(next);
    const name = uniqueName("chart");
    tenants.push(name);
    const created = await runMms(["tenant", "create", name, "--domain", `analytics.${name}.test`, "--wait"]);
    assert.equal(created.code, 0, created.stderr);
  });

  test("helm uninstall removes every object of the release but the tenants' admission policy; tenants, their namespaces and the CRDs stay; mms dev up installs it again", async (t) => {
    if (!realNode) return t.skip("the dev environment runs without a real node (--real-nodes 0)");
    const name = uniqueName("keep");
    tenants.push(name);
    assert.equal((await runMms(["tenant", "create", name, "--domain", `analytics.${name}.test`, "--wait"])).code, 0);
    const manifest = await helm(["get", "manifest", PLATFORM_RELEASE, "--namespace", SYSTEM_NAMESPACE]);
    const objects = parseAllDocuments(manifest.stdout).map((d) => d.toJS() as KubeObject | null).filter((d): d is KubeObject => d !== null);
    assert.ok(objects.length > 10, `the release has its objects (${objects.length})`);
    try {
      const r = await helm(["uninstall", PLATFORM_RELEASE, "--namespace", SYSTEM_NAMESPACE, "--wait", "--timeout", "3m"]);
      assert.equal(r.code, 0, r.stderrTail);
      // What the API server still has of the release's objects (kubectl knows every kind of them): only the
      // tenant admission policy and its binding, which the chart keeps on purpose (they guard the tenants that
      // stay; README.md, "Uninstall").
      const left = await kubectlWithInput(["get", "-f", "-", "--ignore-not-found", "-o", "name"], manifest.stdout);
      assert.deepEqual(left.out.trim().split("\n").filter(Boolean).sort(), [
        "validatingadmissionpolicy.admissionregistration.k8s.io/matomotenants.multiscale.io",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/matomotenants.multiscale.io",
      ], "nothing else of the release is left");
      assert.ok(await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", name), "the tenant stays");
      assert.ok(await http.getOrUndefined("v1", "Namespace", `mt-${name}`), "its namespace stays");
      assert.ok(await http.getOrUndefined("apiextensions.k8s.io/v1", "CustomResourceDefinition", "matomotenants.multiscale.io"), "the CRDs stay");
    } finally {
      await up({ nodes: 3, progress: createProgress(process.stderr, true) });
    }
    assert.equal((await operatorPods()).length, 2, "mms dev up installed the platform again");
  });
});
