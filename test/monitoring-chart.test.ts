// The chart's monitoring stack (templates/monitoring-stack/, monitoring.stack), as helm renders it: off by
// default; on, four restricted pods with read-only RBAC, NetworkPolicies that admit only what each needs, and a
// Prometheus configuration that promtool accepts, carries the platform's rules and applies the platform's
// relabelling (deploy/observability/prometheus/relabelling.yaml) job by job, or none of it when asked.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { ensureBuilt } from "../src/devcluster/build.ts";
import { currentPaths } from "../src/devcluster/environment.ts";
import { helmPath, runHelm } from "../src/devcluster/platform-chart.ts";
import { BUILDS } from "../src/devcluster/versions.ts";
import type { KubeObject } from "../src/kube/http.ts";
import { CHART_DIR, PLATFORM_RELEASE } from "../src/platform/release.ts";
import { run } from "../src/util/exec.ts";
import { createProgress } from "../src/util/progress.ts";

interface PodSpec {
  securityContext: { runAsNonRoot?: boolean; seccompProfile?: unknown };
  automountServiceAccountToken?: boolean;
  containers: { securityContext: unknown }[];
}
type Obj = KubeObject & {
  data?: Record<string, string>;
  rules?: { apiGroups?: string[]; resources: string[]; verbs: string[] }[];
  spec?: { template?: { spec: PodSpec }; ingress?: { from: unknown[]; ports?: unknown[] }[] };
};
const OBSERVABILITY = join(import.meta.dirname, "..", "deploy", "observability");
const STACK = { monitoring: { stack: { enabled: true } } };

/** `helm template` with `values`, keeping the objects of templates/monitoring-stack/. */
async function render(values: Record<string, unknown>): Promise<{ code: number; docs: Obj[]; stderr: string }> {
  const file = join(tmpdir(), `monitoring-values-${process.pid}-${randomBytes(4).toString("hex")}.json`);
  await writeFile(file, JSON.stringify(values));
  try {
    const r = await runHelm(currentPaths(), ["template", PLATFORM_RELEASE, CHART_DIR, "--namespace", SYSTEM_NAMESPACE, "--values", file]);
    if (r.code !== 0) return { code: r.code, docs: [], stderr: r.stderrTail };
    // Helm heads each document with `# Source: <chart>/templates/…`.
    const ours = r.stdout.split(/^---$/m).filter((d) => d.includes("# Source: matomo-multiscale/templates/monitoring-stack/"));
    const docs = ours.map((d) => parse(d) as Obj | null).filter((d): d is Obj => d !== null);
    return { code: 0, docs, stderr: r.stderrTail };
  } finally {
    await rm(file, { force: true });
  }
}

const of = (docs: Obj[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const configText = (docs: Obj[]) => of(docs, "ConfigMap", `${PLATFORM_RELEASE}-prometheus-config`)?.data?.["prometheus.yml"] ?? "";
const prometheusYml = (docs: Obj[]) => parse(configText(docs)) as {
  scrape_configs: { job_name: string; metric_relabel_configs?: unknown[]; relabel_configs: { target_label?: string; source_labels?: string[]; replacement?: string }[] }[];
};

before(() => {
  assert.ok(existsSync(helmPath()), "mms dev up builds helm");
});

describe("the chart's monitoring stack", () => {
  test("off by default: nothing of it is rendered", async () => {
    const { code, docs, stderr } = await render({});
    assert.equal(code, 0, stderr);
    assert.deepEqual(docs, []);
  });

  test("on: four restricted pods; Prometheus and kube-state-metrics read only what they scrape, the other two call no API", async () => {
    const { code, docs, stderr } = await render(STACK);
    assert.equal(code, 0, stderr);
    const deployments = docs.filter((d) => d.kind === "Deployment");
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(),
      ["alertmanager", "blackbox-exporter", "kube-state-metrics", "prometheus"].map((c) => `${PLATFORM_RELEASE}-${c}`));
    for (const d of deployments) {
      const pod = d.spec!.template!.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, d.metadata.name);
      assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" }, d.metadata.name);
      for (const c of pod.containers) {
        assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } }, d.metadata.name);
      }
    }
    for (const c of ["alertmanager", "blackbox-exporter"]) {
      assert.equal(of(docs, "Deployment", `${PLATFORM_RELEASE}-${c}`)?.spec?.template?.spec.automountServiceAccountToken, false, c);
    }
    const rules = (name: string) => (of(docs, "ClusterRole", name)?.rules ?? []).map((r) => `${r.resources.join(",")}:${r.verbs.join(",")}`);
    assert.deepEqual(rules(`${PLATFORM_RELEASE}-prometheus`), ["services:list,watch", "nodes:list,watch", "nodes/metrics:get"]);
    assert.deepEqual(rules(`${PLATFORM_RELEASE}-kube-state-metrics`), ["deployments:list,watch", "pods:list,watch"]);
    const roles = docs.filter((d) => d.kind === "Role");
    assert.deepEqual(roles.map((r) => r.metadata.namespace).sort(), [SYSTEM_NAMESPACE, "traefik"], "pods are listed where the scrape targets are, nowhere else");
    for (const r of roles) assert.deepEqual(r.rules, [{ apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] }]);
  });

  test("NetworkPolicies: blackbox_exporter and kube-state-metrics answer Prometheus only; Prometheus answers the metricsFrom ranges", async () => {
    const { docs } = await render({ ...STACK, networkPolicies: { metricsFromCidrs: ["198.18.0.1/32"] } });
    const from = (c: string) => (of(docs, "NetworkPolicy", `${PLATFORM_RELEASE}-${c}`)?.spec?.ingress ?? []).flatMap((r) => r.from);
    const prometheus = { podSelector: { matchLabels: { "app.kubernetes.io/name": "matomo-multiscale", "app.kubernetes.io/component": "prometheus" } } };
    assert.deepEqual(from("blackbox-exporter"), [prometheus]);
    assert.deepEqual(from("kube-state-metrics"), [prometheus]);
    assert.deepEqual(from("prometheus"), [{ ipBlock: { cidr: "198.18.0.1/32" } }]);
    const platform = of(docs, "NetworkPolicy", `${PLATFORM_RELEASE}-metrics-from-prometheus`)!;
    assert.deepEqual(platform.spec?.ingress, [{ from: [prometheus], ports: [{ protocol: "TCP", port: 8080 }] }]);
  });

  test("Prometheus's configuration: promtool accepts it; the platform's rules and relabelling, job by job, or no relabelling when asked", async () => {
    const { docs } = await render({ ...STACK, nodeDoctor: { enabled: true, ovh: { projectId: "p", clusterId: "c" } } });
    const config = prometheusYml(docs);
    const relabelling = (parse(await readFile(join(OBSERVABILITY, "prometheus", "relabelling.yaml"), "utf8")) as { jobs: Record<string, unknown[]> }).jobs;
    assert.deepEqual(config.scrape_configs.map((j) => j.job_name).sort(), Object.keys(relabelling).sort(), "one job for each list of the relabelling");
    for (const job of config.scrape_configs) assert.deepEqual(job.metric_relabel_configs, relabelling[job.job_name], job.job_name);
    const probe = config.scrape_configs.find((j) => j.job_name === "tenant-tracker-probe")!;
    assert.ok(probe.relabel_configs.some((r) => r.target_label === "tenant" && r.source_labels?.[0] === "__meta_kubernetes_service_label_multiscale_io_tenant"));
    assert.ok(probe.relabel_configs.some((r) => r.target_label === "instance" && r.source_labels?.[0] === "tenant"), "instance is the tenant, never the probed URL");

    const ruleFiles = (await readdir(join(OBSERVABILITY, "rules"))).filter((f) => f.endsWith(".yaml")).sort();
    assert.deepEqual(Object.keys(of(docs, "ConfigMap", `${PLATFORM_RELEASE}-prometheus-rules`)?.data ?? {}).sort(), ruleFiles);

    const unrelabelled = prometheusYml((await render({ monitoring: { stack: { enabled: true, metricRelabelling: false } } })).docs);
    assert.ok(unrelabelled.scrape_configs.every((j) => j.metric_relabel_configs === undefined));

    const promtool = join(await ensureBuilt(BUILDS.prometheus, createProgress(process.stderr)), "promtool");
    const file = join(tmpdir(), `prometheus-${process.pid}.yml`);
    await writeFile(file, configText(docs));
    try {
      const r = await run(promtool, ["check", "config", "--syntax-only", file]);
      assert.equal(r.code, 0, r.stdout + r.stderrTail);
    } finally {
      await rm(file, { force: true });
    }
  });

  test("a bad value fails with its path", async () => {
    const { code, stderr } = await render({ monitoring: { stack: { enabled: true, scrapeInterval: "ten seconds" } } });
    assert.notEqual(code, 0);
    assert.match(stderr, /monitoring\/stack\/scrapeInterval/);
  });
});
