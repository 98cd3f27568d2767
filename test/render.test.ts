// Everything the renderer produces is accepted by the real API server (server-side dry run), for
// every built-in plan, and its pods pass Pod Security "restricted" admission.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BUILT_IN_PLANS } from "../src/api/plan.ts";
import { TenantSpec } from "../src/api/tenant.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { renderVerifiedBackupJob } from "../src/render/backup-jobs.ts";
import { DEFAULT_PLATFORM, renderTenant } from "../src/render/tenant.ts";
import { ensureApi, uniqueName } from "./helpers.ts";

let http: KubeHttp;
const namespaces: string[] = [];
const manager = { fieldManager: "it-render" };

before(async () => {
  http = new KubeHttp(loadKubeConfig({ kubeconfig: (await endpoints()).kubeconfig }));
  await ensureApi(http);
});
after(async () => {
  for (const ns of namespaces) await http.delete("v1", "Namespace", ns);
});

type PodTemplate = { spec: Record<string, unknown> };
function podTemplates(obj: KubeObject): PodTemplate[] {
  const spec = obj.spec as { template?: PodTemplate; jobTemplate?: { spec: { template: PodTemplate } } } | undefined;
  if ((obj.kind === "Deployment" || obj.kind === "Job") && spec?.template) return [spec.template];
  if (obj.kind === "CronJob" && spec?.jobTemplate) return [spec.jobTemplate.spec.template];
  return [];
}

describe("rendered tenant objects on the real API server", () => {
  for (const plan of BUILT_IN_PLANS) {
    test(`plan ${plan.metadata.name}: every object passes a server-side dry run, and every pod passes restricted Pod Security`, async () => {
      const name = uniqueName(`r-${plan.metadata.name}`);
      const objects = renderTenant({
        tenant: {
          apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant",
          metadata: { name, uid: "6f1c2a4e-0000-4000-8000-000000000001" },
          spec: TenantSpec.parse({ domains: [`${name}.example.com`, `www.${name}.example.com`], plan: plan.metadata.name }),
        },
        plan: plan.spec,
        pool: { name: "pool-a", host: "10.0.0.10", port: 3306, reader: { host: "10.0.0.11", port: 3306 } },
        database: { name: `mt_${name.replaceAll("-", "_")}`, user: `mt_${name.replaceAll("-", "_")}` },
        secrets: { databasePassword: "p4ssw0rd-Example", salt: "0123456789abcdef0123456789abcdef", adminUser: "admin", adminPassword: "secret-Example1", adminEmail: "admin@example.com", apiToken: "0123456789abcdef0123456789abcdef" },
        platform: DEFAULT_PLATFORM,
      });
      const ns = objects.find((o) => o.kind === "Namespace");
      assert.ok(ns);
      // The namespace and the pods' service account are created for real (without the owner, whose
      // uid is made up) so that the other objects and the pods can be dry-run into them.
      namespaces.push(ns.metadata.name);
      const real = objects.filter((o) => o.kind === "Namespace" || o.kind === "ServiceAccount");
      for (const o of real) await http.apply({ ...o, metadata: { ...o.metadata, ownerReferences: undefined } }, manager);
      const accepted: string[] = [];
      for (const obj of objects) {
        if (real.includes(obj)) continue;
        await http.apply(obj, { ...manager, dryRun: true });
        accepted.push(`${obj.kind}/${obj.metadata.name}`);
        for (const [i, tpl] of podTemplates(obj).entries()) {
          // The backup CronJob runs in the platform namespace, where its service account is.
          const pod: KubeObject = { apiVersion: "v1", kind: "Pod", metadata: { name: `${obj.metadata.name}-${i}`, namespace: obj.metadata.namespace ?? ns.metadata.name }, spec: tpl.spec };
          await http.create(pod, { ...manager, dryRun: true });
        }
      }
      assert.equal(accepted.length, objects.length - real.length);
      // The namespace really enforces "restricted": a pod without our security settings is refused.
      const plain: KubeObject = { apiVersion: "v1", kind: "Pod", metadata: { name: "plain", namespace: ns.metadata.name }, spec: { containers: [{ name: "c", image: "busybox" }] } };
      await assert.rejects(http.create(plain, { ...manager, dryRun: true }), /violates PodSecurity "restricted/);
    });
  }
});

describe("verified-backup Jobs on the real API server", () => {
  test("the Job passes a server-side dry run and its pod passes the platform namespace's admission", async () => {
    for (const purpose of ["pre-upgrade", "final"] as const) {
      for (const platform of [DEFAULT_PLATFORM, { ...DEFAULT_PLATFORM, runJobsLocally: true }]) {
        const { job } = renderVerifiedBackupJob({ tenant: "a-tenant-name-of-28-chars-xy", purpose, key: "6f1c2a4e", platform });
        const accepted = await http.apply(job, { ...manager, dryRun: true });
        assert.equal(accepted.metadata.name, job.metadata.name);
        const [tpl] = podTemplates(job);
        assert.ok(tpl);
        await http.create({ apiVersion: "v1", kind: "Pod", metadata: { name: `${job.metadata.name}-x`, namespace: job.metadata.namespace }, spec: tpl.spec }, { ...manager, dryRun: true });
      }
    }
  });
});
