import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BUILT_IN_PLANS } from "../api/plan.ts";
import { TenantSpec, type MatomoTenant } from "../api/tenant.ts";
import type { KubeObject } from "../kube/http.ts";
import { DEFAULT_PLATFORM, renderTenant, TRACKING_PATHS, type PlatformSettings, type RenderInput } from "./tenant.ts";

const secrets = { databasePassword: "db-Pass-1234567890", salt: "0123456789abcdef0123456789abcdef", adminUser: "admin", adminPassword: "Adm1n-pass-XYZ", adminEmail: "admin@a.test", apiToken: "fedcba9876543210fedcba9876543210" };

function input(name: string, spec: Record<string, unknown>, planIndex = 0): RenderInput {
  const tenant: MatomoTenant = {
    apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant",
    metadata: { name, uid: "00000000-0000-0000-0000-000000000001" },
    spec: TenantSpec.parse(spec),
  };
  const plan = BUILT_IN_PLANS[planIndex];
  assert.ok(plan);
  return {
    tenant, plan: plan.spec, secrets, platform: DEFAULT_PLATFORM,
    pool: { name: "pool-a", host: "10.1.2.3", port: 3306 },
    database: { name: `mt_${name.replaceAll("-", "_")}`, user: `mt_${name.replaceAll("-", "_")}` },
  };
}

const find = (objs: KubeObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} is rendered`);
  return o as KubeObject & { spec: Record<string, unknown> };
};

test("a plan's placement puts every Matomo pod (and only those) on its nodes", () => {
  const base = input("acme", { domains: ["analytics.acme.test"] });
  const placement = { nodeSelector: { nodepool: "tenants-large" }, tolerations: [{ key: "dedicated", operator: "Equal" as const, value: "large", effect: "NoSchedule" as const }] };
  const objs = renderTenant({ ...base, plan: { ...base.plan, placement } });
  const pods = objs.flatMap((o) => {
    const spec = o.spec as { template?: { spec?: unknown }; jobTemplate?: { spec?: { template?: { spec?: unknown } } } } | undefined;
    const pod = (spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec) as { nodeSelector?: unknown; tolerations?: unknown; containers: { image: string }[] } | undefined;
    return pod ? [[`${o.kind}/${o.metadata.name}`, pod] as const] : [];
  });
  const matomo = pods.filter(([, p]) => p.containers[0]?.image.startsWith(DEFAULT_PLATFORM.image));
  assert.ok(matomo.length >= 5, "tracker, web, archiver, scheduled tasks and the install Job");
  for (const [name, p] of matomo) {
    assert.deepEqual(p.nodeSelector, placement.nodeSelector, name);
    assert.deepEqual(p.tolerations, placement.tolerations, name);
  }
  const backup = pods.find(([name]) => name.startsWith("CronJob/backup-"));
  assert.equal(backup?.[1].nodeSelector, undefined, "backup pods follow the operator's job placement, not the plan's");
  const none = renderTenant(base).find((o) => o.kind === "Deployment") as { spec: { template: { spec: Record<string, unknown> } } } | undefined;
  assert.ok(none && !("nodeSelector" in none.spec.template.spec) && !("tolerations" in none.spec.template.spec), "no placement: any node");
});

test("a tenant renders the whole topology in its own restricted namespace, owned by the tenant", () => {
  const objs = renderTenant(input("acme", { domains: ["analytics.acme.test", "stats.acme.test"] }));
  const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    "ConfigMap/matomo-config", "CronJob/archiver", "CronJob/backup-acme", "CronJob/scheduled-tasks", "Deployment/tracker", "Deployment/web",
    "HorizontalPodAutoscaler/tracker", "HorizontalPodAutoscaler/web", "Ingress/matomo", "Job/matomo-install",
    "LimitRange/tenant-defaults", "Namespace/mt-acme", "NetworkPolicy/allow-egress", "NetworkPolicy/allow-ingress-controller",
    "NetworkPolicy/default-deny", "PodDisruptionBudget/tracker", "PodDisruptionBudget/web", "ResourceQuota/tenant-quota",
    "Secret/matomo-secrets", "Service/tracker", "Service/web", "ServiceAccount/matomo",
  ]);
  const ns = find(objs, "Namespace", "mt-acme");
  assert.equal((ns.metadata.labels as Record<string, string>)["pod-security.kubernetes.io/enforce"], "restricted");
  for (const o of objs) {
    // The backup job needs the pool's admin credentials, so it runs in the platform namespace.
    const expectedNs = o.metadata.name === "backup-acme" ? "mms-system" : "mt-acme";
    if (o.kind !== "Namespace") assert.equal(o.metadata.namespace, expectedNs, `${o.kind}/${o.metadata.name}`);
    assert.equal((o.metadata.ownerReferences as { kind: string }[] | undefined)?.[0]?.kind, "MatomoTenant", `${o.kind} is owned by the tenant`);
    // What the operator's selectors and `kubectl get -l multiscale.io/tenant=acme` find.
    const labels = o.metadata.labels as Record<string, string>;
    assert.equal(labels["app.kubernetes.io/managed-by"], "mms", `${o.kind}/${o.metadata.name} is labelled as managed by mms`);
    assert.equal(labels["multiscale.io/tenant"], "acme", `${o.kind}/${o.metadata.name} is labelled with its tenant`);
  }
});

test("the ingress sends tracking paths to the tracker and everything else to the web side, on every domain, with TLS", () => {
  const objs = renderTenant(input("acme", { domains: ["analytics.acme.test", "stats.acme.test"] }));
  const ing = find(objs, "Ingress", "matomo") as unknown as { metadata: { annotations: Record<string, string> }; spec: { tls: { hosts: string[] }[]; rules: { host: string; http: { paths: { path: string; backend: { service: { name: string } } }[] } }[] } };
  assert.deepEqual(ing.spec.tls[0]?.hosts, ["analytics.acme.test", "stats.acme.test"]);
  for (const rule of ing.spec.rules) {
    const byPath = Object.fromEntries(rule.http.paths.map((p) => [p.path, p.backend.service.name]));
    for (const p of TRACKING_PATHS) assert.equal(byPath[p.path], "tracker", `${rule.host}${p.path}`);
    assert.equal(byPath["/"], "web");
  }
});

type RenderedIngress = { metadata: { annotations: Record<string, string> }; spec: { ingressClassName: string; tls: { hosts: string[]; secretName?: string }[] } };
const ingressWith = (platform: Partial<PlatformSettings>): RenderedIngress => {
  const base = input("acme", { domains: ["analytics.acme.test", "stats.acme.test"] });
  return find(renderTenant({ ...base, platform: { ...DEFAULT_PLATFORM, ...platform } }), "Ingress", "matomo") as unknown as RenderedIngress;
};

test("cert-manager mode: the Ingress names the ClusterIssuer, and cert-manager keeps every domain's certificate in matomo-tls", () => {
  const ing = ingressWith({ tlsMode: "cert-manager", clusterIssuer: "letsencrypt-staging", ingressClassName: "nginx" });
  assert.deepEqual(ing.metadata.annotations, { "cert-manager.io/cluster-issuer": "letsencrypt-staging" });
  assert.deepEqual(ing.spec.tls, [{ hosts: ["analytics.acme.test", "stats.acme.test"], secretName: "matomo-tls" }]);
  assert.equal(ing.spec.ingressClassName, "nginx");
  assert.equal(DEFAULT_PLATFORM.tlsMode, "cert-manager", "production's mode is the default");
});

test("ingress-acme mode: Traefik terminates TLS with its resolver's certificates; no Secret, no issuer, port 80 left to the ACME challenge", () => {
  const ing = ingressWith({ tlsMode: "ingress-acme", acmeResolver: "pebble" });
  assert.deepEqual(ing.metadata.annotations, {
    "traefik.ingress.kubernetes.io/router.tls": "true",
    "traefik.ingress.kubernetes.io/router.tls.certresolver": "pebble",
  });
  // A secretName would make Traefik look for a Secret that nothing writes (and log an error per sync).
  assert.deepEqual(ing.spec.tls, [{ hosts: ["analytics.acme.test", "stats.acme.test"] }]);
  assert.ok(!("traefik.ingress.kubernetes.io/router.entrypoints" in ing.metadata.annotations), "no entry point pinned: the TLS router serves only TLS, and HTTP on port 80 stays Traefik's (challenge, redirect)");
  assert.ok(!Object.keys(ing.metadata.annotations).some((k) => k.startsWith("cert-manager.io/")), "cert-manager, if installed, must not issue a second certificate");
});

test("the plan sizes the workloads; the tracker must spread across nodes", () => {
  const objs = renderTenant(input("acme", { domains: ["a.acme.test"] }, 2));
  const plan = BUILT_IN_PLANS[2]?.spec;
  const hpa = find(objs, "HorizontalPodAutoscaler", "tracker").spec as { minReplicas: number; maxReplicas: number };
  assert.deepEqual([hpa.minReplicas, hpa.maxReplicas], [plan?.tracker.minReplicas, plan?.tracker.maxReplicas]);
  const tracker = find(objs, "Deployment", "tracker").spec as { replicas?: number; template: { spec: { topologySpreadConstraints: { topologyKey: string; whenUnsatisfiable: string }[]; containers: { resources: unknown }[] } } };
  assert.equal(tracker.replicas, undefined, "replicas belong to the HPA");
  assert.deepEqual(tracker.template.spec.containers[0]?.resources, { requests: plan?.tracker.requests, limits: plan?.tracker.limits });
  const spread = tracker.template.spec.topologySpreadConstraints;
  assert.ok(spread.some((c) => c.topologyKey === "kubernetes.io/hostname" && c.whenUnsatisfiable === "DoNotSchedule"));
  assert.ok(spread.some((c) => c.topologyKey === "topology.kubernetes.io/zone"));
});

test("a suspended tenant keeps its objects but runs no pods", () => {
  const objs = renderTenant(input("acme", { domains: ["a.acme.test"], suspended: true }));
  assert.equal((find(objs, "Deployment", "web").spec as { replicas?: number }).replicas, 0);
  assert.equal((find(objs, "CronJob", "archiver").spec as { suspend: boolean }).suspend, true);
  assert.ok(!objs.some((o) => o.kind === "HorizontalPodAutoscaler"));
});

test("secrets appear only in the Secret, never in other objects", () => {
  fc.assert(fc.property(
    fc.stringMatching(/^[a-z][a-z0-9]{1,20}$/),
    fc.stringMatching(/^[A-Za-z0-9_-]{16,40}$/),
    (name, password) => {
      const i = input(name, { domains: [`${name}.example.com`] });
      const objs = renderTenant({ ...i, secrets: { ...secrets, databasePassword: password, adminPassword: `${password}x` } });
      for (const o of objs) {
        if (o.kind === "Secret") continue;
        const text = JSON.stringify(o);
        assert.ok(!text.includes(password), `${o.kind}/${o.metadata.name} leaks the database password`);
        assert.ok(!text.includes(secrets.salt), `${o.kind}/${o.metadata.name} leaks the salt`);
      }
    },
  ), { numRuns: 50 });
});

test("rendering is deterministic and a config change rolls the pods", () => {
  const a = renderTenant(input("acme", { domains: ["a.acme.test"] }));
  assert.deepEqual(a, renderTenant(input("acme", { domains: ["a.acme.test"] })));
  const hash = (objs: KubeObject[]) => (find(objs, "Deployment", "web").spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations["multiscale.io/config-hash"];
  assert.notEqual(hash(a), hash(renderTenant(input("acme", { domains: ["a.acme.test", "b.acme.test"] }))));
});

test("each tenant gets an hourly backup CronJob in the platform namespace, at its own minute, running mms backup run", () => {
  const minutes = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const objs = renderTenant(input(`tenant-${i}`, { domains: [`t${i}.example.test`] }));
    const cj = find(objs, "CronJob", `backup-tenant-${i}`) as unknown as {
      metadata: { namespace: string };
      spec: { schedule: string; concurrencyPolicy: string; suspend: boolean; jobTemplate: { spec: { template: { spec: { serviceAccountName: string; containers: { image: string; args: string[] }[] } } } } };
    };
    assert.equal(cj.metadata.namespace, "mms-system");
    assert.match(cj.spec.schedule, /^\d{1,2} \* \* \* \*$/, "hourly, at a fixed minute");
    assert.equal(cj.spec.concurrencyPolicy, "Forbid");
    const pod = cj.spec.jobTemplate.spec.template.spec;
    assert.deepEqual(pod.containers[0]?.args, ["backup", "run", "--tenant", `tenant-${i}`]);
    assert.equal(pod.serviceAccountName, "mms-backup");
    assert.equal(pod.containers[0]?.image, DEFAULT_PLATFORM.controlImage);
    minutes.add(cj.spec.schedule);
  }
  assert.ok(minutes.size >= 25, `50 tenants start at ${minutes.size} different minutes`);
  const suspended = find(renderTenant(input("sleepy", { domains: ["s.example.test"], suspended: true })), "CronJob", "backup-sleepy");
  assert.equal((suspended.spec as { suspend: boolean }).suspend, true);
});

test("a queued tenant with a Redis queue: its own database number in the config, the password only in the Secret, a queue worker that stops during upgrades", () => {
  const base = input("acme", { domains: ["analytics.acme.test"], tracking: { queuedTracking: true } });
  const queue = { host: "redis.pool-a.internal", port: 6380, database: 7, password: "r3dis-Secret-pass" };
  const objs = renderTenant({ ...base, queue });
  const common = String((find(objs, "ConfigMap", "matomo-config") as unknown as { data: Record<string, string> }).data["common.config.ini.php"]);
  assert.match(common, /\[QueuedTracking\][\s\S]*backend = "redis"[\s\S]*redisHost = "redis\.pool-a\.internal"[\s\S]*redisPort = "6380"[\s\S]*redisDatabase = "7"[\s\S]*processDuringTrackingRequest = "0"/);
  assert.ok(!common.includes(queue.password), "no password in the ConfigMap");
  const secret = (find(objs, "Secret", "matomo-secrets") as unknown as { stringData: Record<string, string> }).stringData["config.ini.php"] ?? "";
  assert.match(secret, /\[QueuedTracking\]\nredisPassword = "r3dis-Secret-pass"/);
  const worker = find(objs, "Deployment", "queue-worker") as unknown as { spec: { replicas: number; template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
  assert.equal(worker.spec.replicas, 1);
  assert.equal(worker.spec.template.spec.containers[0]?.env.find((e) => e.name === "MATOMO_ROLE")?.value, "queue-worker");
  const egress = JSON.stringify(find(objs, "NetworkPolicy", "allow-egress").spec);
  assert.match(egress, /"port":6380/, "the pods may reach the queue's Redis");
  const upgrading = renderTenant({ ...base, queue, rollout: { servingVersion: "5.1.2", scheduledPaused: true, queue: "hold", jobs: [] } });
  assert.equal((find(upgrading, "Deployment", "queue-worker") as unknown as { spec: { replicas: number } }).spec.replicas, 0, "stopped while an upgrade queues in the database");
  const noRedis = renderTenant(base);
  assert.ok(!noRedis.some((o) => o.metadata.name === "queue-worker"), "a pool without Redis: the MySQL queue, worked off by tracking requests");
});

test("only the ingress controller's namespace, the operator's replicas and the platform's prober may reach tracker and web", () => {
  const objs = renderTenant(input("acme", { domains: ["analytics.acme.test"] }));
  const from = (find(objs, "NetworkPolicy", "allow-ingress-controller") as unknown as { spec: { ingress: { from: unknown[] }[] } }).spec.ingress[0]?.from;
  assert.deepEqual(from, [
    { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "traefik" } } },
    { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mms-system" } }, podSelector: { matchLabels: { "app.kubernetes.io/name": "matomo-multiscale", "app.kubernetes.io/component": "operator" } } },
    { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mms-system" } }, podSelector: { matchLabels: { "app.kubernetes.io/name": "matomo-multiscale", "app.kubernetes.io/component": "blackbox-exporter" } } },
  ]);
});

test("DNS: the tenant's pods reach kube-system's pods on port 53, and the resolvers the platform names", () => {
  const egress = (objs: KubeObject[]) => (find(objs, "NetworkPolicy", "allow-egress") as unknown as { spec: { egress: { to?: unknown[]; ports: { port: number }[] }[] } }).spec.egress;
  const dns = (objs: KubeObject[]) => egress(objs).find((r) => r.ports.some((p) => p.port === 53));
  const plain = input("acme", { domains: ["analytics.acme.test"] });
  assert.deepEqual(dns(renderTenant(plain))?.to, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }]);
  const local = renderTenant({ ...plain, platform: { ...plain.platform, dnsEgressCidrs: ["169.254.20.10/32"] } });
  assert.deepEqual(dns(local)?.to?.[1], { ipBlock: { cidr: "169.254.20.10/32" } });
});

test("a range the platform names (a prober) may reach tracker and web directly too", () => {
  const plain = input("acme", { domains: ["analytics.acme.test"] });
  const objs = renderTenant({ ...plain, platform: { ...plain.platform, directAccessCidrs: ["203.0.113.7/32"] } });
  const from = (find(objs, "NetworkPolicy", "allow-ingress-controller") as unknown as { spec: { ingress: { from: unknown[] }[] } }).spec.ingress[0]?.from;
  assert.deepEqual(from?.at(-1), { ipBlock: { cidr: "203.0.113.7/32" } });
  assert.equal(from?.length, 4);
});
