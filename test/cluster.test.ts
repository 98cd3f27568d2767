// The local cluster is a real Kubernetes control plane: scheduler, controllers, CEL validation
// and garbage collection all behave as on a real cluster.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ApiextensionsV1Api, CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { apiStatus, type KubeClients } from "../src/kube/client.ts";
import { devKube, eventually, uniqueName } from "./helpers.ts";

let kube: KubeClients;
const namespace = uniqueName("it-cluster");

before(async () => {
  kube = await devKube();
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
});

after(async () => {
  await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe("the local Kubernetes cluster", () => {
  test("a Deployment with 3 replicas gets 3 Running pods spread over the simulated nodes", async () => {
    const labels = { app: "spread" };
    await kube.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "spread" },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              topologySpreadConstraints: [{
                maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: labels },
              }],
              containers: [{ name: "web", image: "nginx:1.27", resources: { requests: { cpu: "100m", memory: "64Mi" } } }],
            },
          },
        },
      },
    });
    const pods = await eventually("3 Running pods", async () => {
      const list = await kube.core.listNamespacedPod({ namespace, labelSelector: "app=spread" });
      const running = list.items.filter((p: V1Pod) => p.status?.phase === "Running");
      return running.length === 3 ? running : undefined;
    });
    const nodes = new Set(pods.map((p) => p.spec?.nodeName));
    assert.equal(nodes.size, 3, `pods should land on 3 different nodes, got ${[...nodes].join(", ")}`);
    const dep = await eventually("Deployment available", async () => {
      const d = await kube.apps.readNamespacedDeployment({ name: "spread", namespace });
      return d.status?.availableReplicas === 3 ? d : undefined;
    });
    assert.equal(dep.status?.readyReplicas, 3);
  });

  test("a Job's pod reaches Succeeded and the Job completes", async () => {
    await kube.batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: "once" },
        spec: {
          backoffLimit: 0,
          template: { spec: { restartPolicy: "Never", containers: [{ name: "task", image: "busybox:1.36", command: ["true"] }] } },
        },
      },
    });
    const job = await eventually("Job Complete", async () => {
      const j = await kube.batch.readNamespacedJob({ name: "once", namespace });
      return j.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True") ? j : undefined;
    });
    assert.equal(job.status?.succeeded, 1);
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: "job-name=once" });
    assert.deepEqual(pods.items.map((p) => p.status?.phase), ["Succeeded"]);
  });

  test("the API server rejects an object that breaks a CRD's CEL rule, with the rule's message", async () => {
    const group = "it.multiscale.dev";
    const plural = `widgets${namespace.replace(/[^a-z0-9]/g, "")}`;
    const ext = kube.config.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural, singular: plural.slice(0, -1), kind: `Widget${plural.slice(7)}` },
          versions: [{
            name: "v1", served: true, storage: true,
            schema: { openAPIV3Schema: {
              type: "object",
              properties: { spec: {
                type: "object",
                properties: { replicas: { type: "integer" }, maxReplicas: { type: "integer" } },
                x_kubernetes_validations: [{ rule: "self.replicas <= self.maxReplicas", message: "replicas must not exceed maxReplicas" }],
              } },
            } },
          }],
        },
      },
    });
    try {
      await eventually("CRD established", async () => {
        const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
        return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? crd : undefined;
      });
      const custom = kube.config.makeApiClient(CustomObjectsApi);
      const create = (replicas: number) => custom.createNamespacedCustomObject({
        group, version: "v1", namespace, plural,
        body: { apiVersion: `${group}/v1`, kind: `Widget${plural.slice(7)}`, metadata: { name: `w${replicas}` }, spec: { replicas, maxReplicas: 3 } },
      });
      // The resource may take a moment to be served after Established.
      await eventually("a valid object accepted", async () => (await create(2)) as object);
      await assert.rejects(create(5), (err: unknown) => {
        assert.equal(apiStatus(err), 422);
        assert.match(String((err as { body?: unknown }).body), /replicas must not exceed maxReplicas/);
        return true;
      });
    } finally {
      await ext.deleteCustomResourceDefinition({ name: `${plural}.${group}` }).catch(() => undefined);
    }
  });

  test("the garbage collector deletes objects whose owner is deleted", async () => {
    const owner = await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "owner" }, data: { a: "1" } } });
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: { name: "dependent", ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid ?? "" }] },
        data: { b: "2" },
      },
    });
    await kube.core.deleteNamespacedConfigMap({ name: "owner", namespace });
    await eventually("dependent ConfigMap deleted", async () => {
      try {
        await kube.core.readNamespacedConfigMap({ name: "dependent", namespace });
        return undefined;
      } catch (err) {
        return apiStatus(err) === 404 ? true : undefined;
      }
    });
  });

  test("deleting a namespace removes it and every object in it", async () => {
    const ns = uniqueName("it-doomed");
    await kube.core.createNamespace({ body: { metadata: { name: ns } } });
    await kube.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "settings" }, data: { k: "v" } } });
    await kube.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "app" },
        spec: {
          replicas: 1, selector: { matchLabels: { app: "x" } },
          template: { metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "c", image: "nginx:1.27" }] } },
        },
      },
    });
    await eventually("the pod Running", async () => {
      const pods = await kube.core.listNamespacedPod({ namespace: ns });
      return pods.items.some((p) => p.status?.phase === "Running") ? true : undefined;
    });
    await kube.core.deleteNamespace({ name: ns });
    await eventually("namespace gone", async () => {
      try {
        await kube.core.readNamespace({ name: ns });
        return undefined;
      } catch (err) {
        return apiStatus(err) === 404 ? true : undefined;
      }
    }, 120_000);
    const leftovers = await kube.core.listPodForAllNamespaces({ fieldSelector: `metadata.namespace=${ns}` });
    assert.equal(leftovers.items.length, 0);
  });
});
