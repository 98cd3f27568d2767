// The chart's ingress controller (templates/ingress-controller/), as helm renders it: production-like (an
// OVH LoadBalancer, cert-manager certificates, two replicas) and the dev environment's (a fixed ClusterIP,
// Traefik's ACME resolver on Pebble): restricted Pod Security, a ClusterRole of reads and one status write,
// the redirect and resolver flags, the API server's acceptance (dry run), and one replica for ACME.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { acmeEndpoints, ingressDevValues } from "../src/devcluster/acme.ts";
import { addressPlan } from "../src/devcluster/addresses.ts";
import { currentPaths, endpoints } from "../src/devcluster/environment.ts";
import { splitImageRef, traefikImageRef } from "../src/devcluster/images.ts";
import { helmPath, runHelm } from "../src/devcluster/platform-chart.ts";
import { CHART_DIR, PLATFORM_RELEASE } from "../src/platform/release.ts";
import { portsFrom } from "../src/devcluster/ports.ts";
import type { KubeObject } from "../src/kube/http.ts";
import { kubectlWithInput } from "./helpers.ts";


interface Container { args: string[]; env?: { name: string; value: string }[]; securityContext: Record<string, unknown>; ports: { containerPort: number }[] }
interface PodSpec { securityContext: Record<string, unknown>; containers: Container[]; volumes: { name: string; emptyDir?: object; secret?: { secretName: string } }[] }
type Obj = KubeObject & { spec?: Record<string, unknown>; rules?: { resources: string[]; verbs: string[] }[] };

const DEV = ingressDevValues(acmeEndpoints({ home: "/h" }, "/h/ca.crt", addressPlan(17000), portsFrom(17000)), {
  image: splitImageRef(traefikImageRef()), serverCa: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  nodeSelector: { "mms.dev/real-node": "true" }, tolerations: [{ key: "mms.dev/real-node", operator: "Exists", effect: "NoSchedule" }],
});

/** `helm template` of the chart with `values` (JSON is YAML), keeping the ingress controller's objects. */
async function render(values: Record<string, unknown>, namespace = "traefik"): Promise<{ code: number; docs: Obj[]; stderr: string }> {
  const file = join(tmpdir(), `ingress-values-${process.pid}-${randomBytes(4).toString("hex")}.json`);
  await writeFile(file, JSON.stringify(values));
  try {
    const r = await runHelm(currentPaths(), ["template", PLATFORM_RELEASE, CHART_DIR, "--namespace", SYSTEM_NAMESPACE, "--values", file]);
    if (r.code !== 0) return { code: r.code, docs: [], stderr: r.stderrTail };
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((d): d is Obj => d !== null);
    const ours = (d: Obj) => d.metadata.namespace === namespace || (d.kind === "Namespace" && d.metadata.name === namespace) || d.metadata.name.endsWith("-traefik") || d.kind === "IngressClass";
    return { code: 0, docs: docs.filter(ours), stderr: r.stderrTail };
  } finally {
    await rm(file, { force: true });
  }
}

const find = (docs: Obj[], kind: string) => docs.find((d) => d.kind === kind);
const pod = (docs: Obj[]) => (find(docs, "Deployment")!.spec as { template: { spec: PodSpec } }).template.spec;

before(() => {
  assert.ok(existsSync(helmPath()), "mms dev up builds helm");
});

describe("the chart's ingress controller", () => {
  test("production-like: its own restricted namespace, non-root read-only Traefik, a LoadBalancer, reads-only RBAC, no ACME", async () => {
    const { code, docs, stderr } = await render({ ingressController: { enabled: true, service: { annotations: { "service.beta.kubernetes.io/ovh-loadbalancer-proxy-protocol": "v2" } }, proxyProtocol: { trustedIPs: ["10.0.0.0/8"] } } });
    assert.equal(code, 0, stderr);
    assert.deepEqual(docs.map((d) => d.kind).sort(), ["ClusterRole", "ClusterRoleBinding", "Deployment", "IngressClass", "Namespace", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    assert.equal(find(docs, "Namespace")!.metadata.labels && (find(docs, "Namespace")!.metadata.labels as Record<string, string>)["pod-security.kubernetes.io/enforce"], "restricted");
    assert.equal((find(docs, "IngressClass")!.spec as { controller: string }).controller, "traefik.io/ingress-controller");
    const p = pod(docs);
    assert.deepEqual(p.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } });
    const c = p.containers[0]!;
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    assert.deepEqual(c.ports.map((x) => x.containerPort), [8000, 8443, 9100]);
    for (const a of ["--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", "--entryPoints.web.http.redirections.entryPoint.to=:443",
      "--entryPoints.web.http.redirections.entryPoint.permanent=true", "--providers.kubernetesIngress.ingressClass=traefik",
      "--entryPoints.websecure.proxyProtocol.trustedIPs=10.0.0.0/8"]) {
      assert.ok(c.args.includes(a), a);
    }
    assert.ok(!c.args.some((a) => a.startsWith("--certificatesResolvers.")), "no ACME resolver unless asked");
    const svc = find(docs, "Service")!.spec as { type: string; ports: { port: number }[] };
    assert.equal(svc.type, "LoadBalancer");
    assert.deepEqual(svc.ports.map((x) => x.port), [80, 443], "the metrics port stays off the load balancer");
    const rules = find(docs, "ClusterRole")!.rules!;
    for (const r of rules) {
      const allowed = r.resources.includes("ingresses/status") ? ["update"] : ["list", "watch"];
      assert.deepEqual(r.verbs, allowed, `${r.resources.join(",")}: ${r.verbs.join(",")}`);
    }
  });

  test("the dev values: one replica at a fixed ClusterIP, the resolver on Pebble with its CA, accepted by the API server", async () => {
    const { code, docs, stderr } = await render(DEV);
    assert.equal(code, 0, stderr);
    const c = pod(docs).containers[0]!;
    const ic = (DEV as { ingressController: { acme: { caServer: string }; service: { clusterIP: string } } }).ingressController;
    for (const a of [`--certificatesResolvers.letsencrypt.acme.caServer=${ic.acme.caServer}`, "--certificatesResolvers.letsencrypt.acme.httpChallenge.entryPoint=web",
      "--certificatesResolvers.letsencrypt.acme.certificatesDuration=1", "--certificatesResolvers.letsencrypt.acme.storage=/data/acme.json"]) {
      assert.ok(c.args.includes(a), a);
    }
    assert.deepEqual(c.env, [{ name: "LEGO_CA_CERTIFICATES", value: "/etc/traefik/acme-ca/ca.crt" }]);
    assert.ok(find(docs, "Secret"), "the CA bundle becomes a Secret");
    assert.equal((find(docs, "Service")!.spec as { clusterIP: string }).clusterIP, ic.service.clusterIP);
    assert.equal((find(docs, "Deployment")!.spec as { strategy: { type: string } }).strategy.type, "Recreate", "never two ACME stores at once");
    assert.ok(pod(docs).volumes.some((v) => v.name === "data" && v.emptyDir));

    // The API server's own checks (schemas, Pod Security "restricted" of the namespace) in a namespace of the test's.
    const e = await endpoints().catch(() => undefined);
    if (!e) return;
    const ns = `ingress-chart-${randomBytes(3).toString("hex")}`;
    // Its own ClusterIP: the dev one is the installed controller's (the ingress TLS test uses that one).
    const mine = { ingressController: { ...DEV.ingressController as object, namespace: ns, service: { type: "ClusterIP", clusterIP: "" } }, tenants: { ingress: { namespace: ns } } };
    const rendered = await render(mine, ns);
    assert.equal(rendered.code, 0, rendered.stderr);
    const kubectl = (args: string[], input = "") => kubectlWithInput(args, input);
    const namespace = rendered.docs.filter((d) => d.kind === "Namespace");
    assert.equal((await kubectl(["apply", "--server-side", "--field-manager=ingress-chart-test", "-f", "-"], JSON.stringify(namespace[0]))).code, 0);
    try {
      const rest = rendered.docs.filter((d) => d.kind !== "Namespace").map((d) => JSON.stringify(d)).join("\n");
      const dry = await kubectl(["apply", "--dry-run=server", "--server-side", "--force-conflicts", "--field-manager=ingress-chart-test", "-f", "-"], rest);
      assert.equal(dry.code, 0, dry.out);
      assert.doesNotMatch(dry.out, /would violate PodSecurity/);
    } finally {
      await kubectl(["delete", "namespace", ns, "--wait=false"]);
    }
  });

  test("Traefik's ACME store is one pod's: the ACME resolver with two replicas is refused", async () => {
    const { code, stderr } = await render({ ingressController: { enabled: true, replicas: 2, acme: { enabled: true } } });
    assert.notEqual(code, 0);
    assert.match(stderr, /ingressController\/replicas/);
  });
});
