// Pure rendering of one tenant: MatomoTenant + plan + pool + secrets → every Kubernetes object of
// its topology (ARCHITECTURE.md, "One tenant, rendered"). No I/O: the operator applies the result.
import { createHash } from "node:crypto";
import type {
  V1Toleration,
  V1ConfigMap, V1Container, V1CronJob, V1Deployment, V1EnvVar, V1Ingress, V1Job, V1LimitRange, V1Namespace, V1NetworkPolicy,
  V1LimitRangeItem, V1NetworkPolicyIngressRule, V1NetworkPolicySpec, V1PodDisruptionBudget, V1PodSpec, V1ResourceQuota, V1Secret,
  V1SecurityContext, V1Service, V1ServiceAccount, V1Volume, V1VolumeMount, V2HorizontalPodAutoscaler,
} from "@kubernetes/client-node";
import type { KubeObject } from "../kube/http.ts";
import { COMPONENT_LABEL, ownerReference, tenantLabels, type Labels } from "../api/labels.ts";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { tenantNamespace } from "../api/names.ts";
import type { PlanSpec } from "../api/plan.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { renderTenantBackupCronJob } from "./backup-jobs.ts";
import { renderCommonConfig, renderSecretConfig, type MatomoConfigInput } from "./matomo-config.ts";
import { privacySettingsSql } from "./privacy.ts";

export const FIELD_MANAGER = "mms-operator";
export const TABLES_PREFIX = "matomo_";
const PORT = 8080;

export interface PoolPlacement {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly reader?: { readonly host: string; readonly port: number } | undefined;
}

export interface TenantSecrets {
  readonly databasePassword: string;
  readonly salt: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly adminEmail: string;
  /**
   * The platform's own Reporting API token for the tenant's Matomo (32 hex characters): the install Job
   * registers it for the first superuser; the operator's probes and the CLI's reports use it.
   */
  readonly apiToken: string;
}

/**
 * How tenants' Ingresses get their certificates: `cert-manager` (a ClusterIssuer; production on OVH) or
 * `ingress-acme` (the ingress controller's own ACME client, a Traefik certificate resolver; the local cluster).
 */
export const TLS_MODES = ["cert-manager", "ingress-acme"] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** The Secret cert-manager writes a tenant's certificate to; its Certificate has the same name. */
export const TLS_SECRET_NAME = "matomo-tls";

export interface PlatformSettings {
  /** Image repository; the tag is the tenant's Matomo version. */
  readonly image: string;
  readonly ingressClassName: string;
  readonly tlsMode: TlsMode;
  /** cert-manager mode: the ClusterIssuer named on each Ingress. */
  readonly clusterIssuer: string;
  /** ingress-acme mode: the ingress controller's certificate resolver (Traefik `certificatesResolvers.<name>`). */
  readonly acmeResolver: string;
  /** Namespace of the ingress controller, the only source allowed to reach tracker and web. */
  readonly ingressNamespace: string;
  readonly redis?: { readonly host: string; readonly port: number } | undefined;
  /**
   * Resolvers the tenants' pods may reach on port 53 besides the pods in kube-system (NodeLocal DNSCache,
   * or the dev environment's CoreDNS on the host).
   */
  readonly dnsEgressCidrs?: readonly string[] | undefined;
  /**
   * Addresses that may reach tracker and web directly, besides the ingress controller's namespace and the
   * operator (a monitoring prober; the dev environment's host, whose tests and benchmarks compare).
   */
  readonly directAccessCidrs?: readonly string[] | undefined;
  /** Port of the object store the backup jobs talk to (443 on OVH). */
  readonly objectStoragePort: number;
  /** The control plane's image (mms CLI and MariaDB client tools), run by backup and drill jobs. */
  readonly controlImage: string;
  /** Dev environment only: backup, drill and verified-backup pods run on the local Job runner. */
  readonly runJobsLocally?: boolean | undefined;
  /** Where backup and drill pods run; see ControlImage in backup-jobs.ts. */
  readonly jobNodeSelector?: Readonly<Record<string, string>> | undefined;
  readonly jobTolerations?: readonly V1Toleration[] | undefined;
  readonly suspendSchedules?: boolean | undefined;
  /**
   * Dev environment only: pods on nodes with this label are simulated (KWOK) and nothing in them answers,
   * so their tenants' Matomo is not probed.
   */
  readonly simulatedNodeLabel?: string | undefined;
  /**
   * ingress-acme mode: the ingress controller's Service, whose ClusterIP:443 the operator dials with each
   * tenant domain as SNI to see whether a certificate is served (the CertificateReady condition).
   */
  readonly ingressService?: { readonly namespace: string; readonly name: string } | undefined;
  /** ingress-acme mode: PEM file of the CAs that certificates are verified against; the system roots without it. */
  readonly acmeCaFile?: string | undefined;
}

/** Labels of the operator's pods (deploy/charts/matomo-multiscale/templates/operator.yaml). */
export const OPERATOR_POD_LABELS = { "app.kubernetes.io/name": "matomo-multiscale", "app.kubernetes.io/component": "operator" } as const;
/**
 * Labels of the blackbox_exporter pods of the chart's monitoring stack (templates/monitoring-stack/), which
 * probe every tenant's tracker for the availability SLO.
 */
export const PROBER_POD_LABELS = { "app.kubernetes.io/name": "matomo-multiscale", "app.kubernetes.io/component": "blackbox-exporter" } as const;

export const DEFAULT_PLATFORM: PlatformSettings = {
  image: "ghcr.io/matomo-multiscale/matomo",
  ingressClassName: "traefik",
  tlsMode: "cert-manager",
  clusterIssuer: "letsencrypt-prod",
  acmeResolver: "letsencrypt",
  ingressNamespace: "traefik",
  ingressService: { namespace: "traefik", name: "traefik" },
  objectStoragePort: 443,
  controlImage: "ghcr.io/matomo-multiscale/mms:0.1.0",
};

/**
 * Where an upgrade stands, as far as rendering is concerned (src/controllers/upgrade.ts decides it).
 * Without it the tenant runs its spec's version normally.
 */
export interface Rollout {
  /** The version tracker, web and the scheduled jobs run. */
  readonly servingVersion: string;
  /** Archiving and scheduled tasks stop while the database is being migrated. */
  readonly scheduledPaused: boolean;
  /** Tracking goes through the queue: "hold" only enqueues, "process" also works the queue off. */
  readonly queue?: "hold" | "process" | undefined;
  /** One-off Jobs of the upgrade, each run once by name. */
  readonly jobs: readonly { readonly kind: "update" | "queue-drain"; readonly version: string; readonly name: string }[];
}

/** The tenant's tracking queue on its pool's Redis (spec.tracking.queuedTracking on a pool with spec.queue.redis). */
export interface QueuePlacement {
  readonly host: string;
  readonly port: number;
  readonly database: number;
  readonly password?: string | undefined;
}

export interface RenderInput {
  readonly tenant: MatomoTenant;
  readonly queue?: QueuePlacement | undefined;
  readonly rollout?: Rollout | undefined;
  readonly plan: PlanSpec;
  readonly pool: PoolPlacement;
  readonly database: { readonly name: string; readonly user: string };
  readonly secrets: TenantSecrets;
  readonly platform: PlatformSettings;
}

export const TRACKING_PATHS = [
  { path: "/matomo.php", pathType: "Exact" },
  { path: "/piwik.php", pathType: "Exact" },
  { path: "/matomo.js", pathType: "Exact" },
  { path: "/piwik.js", pathType: "Exact" },
  { path: "/js/", pathType: "Prefix" },
] as const;

type Component = "tracker" | "web" | "archiver" | "scheduled-tasks" | "install" | "update" | "queue-drain" | "settings" | "queue-worker";

/** `matomo-update-5-3-0`: one update Job per tenant and target version. */
export function upgradeJobName(kind: "update" | "queue-drain", version: string): string {
  return `matomo-${kind}-${version.replaceAll(".", "-")}`;
}

export function labels(tenant: string, component?: Component): Labels {
  return tenantLabels(tenant, {
    "app.kubernetes.io/name": "matomo",
    "app.kubernetes.io/instance": tenant,
    ...(component ? { [COMPONENT_LABEL]: component } : {}),
  });
}

function selector(tenant: string, component: Component): Record<string, string> {
  return { "app.kubernetes.io/instance": tenant, [COMPONENT_LABEL]: component };
}

export function configInput(input: RenderInput): MatomoConfigInput {
  const { tenant, pool, database } = input;
  return {
    domains: tenant.spec.domains,
    database: { host: pool.host, port: pool.port, name: database.name, user: database.user, tablesPrefix: TABLES_PREFIX },
    ...(pool.reader ? { reader: pool.reader } : {}),
    // Matomo's defaults for the INI-level privacy switches; Do Not Track and IP masking are
    // database settings of the PrivacyManager plugin, applied by the install Job.
    privacy: { fingerprintAcrossWebsites: false, thirdPartyCookie: false, userIdOverwritesVisitorId: true },
    // An upgrade queues in the tenant's own database (MySQL backend); otherwise a queued tenant queues in
    // its pool's Redis, worked off by its queue worker, or, on a pool without Redis, in its database with
    // tracking requests working the queue off.
    queue: input.rollout?.queue ? { process: input.rollout.queue === "process" }
      : tenant.spec.tracking.queuedTracking && input.queue ? { process: false, redis: { host: input.queue.host, port: input.queue.port, database: input.queue.database } }
        : tenant.spec.tracking.queuedTracking ? { process: true } : undefined,
  };
}

export const TEMPLATE_HASH = "multiscale.io/template-hash";

/**
 * Records a digest of the pod template on the Deployment itself (not on the pods, so it rolls nothing):
 * the operator compares it with what it is about to apply to know whether applying starts a rollout.
 */
function withTemplateHash<T extends { metadata: Record<string, unknown>; spec: { template: unknown } }>(d: T): T {
  return { ...d, metadata: { ...d.metadata, annotations: { [TEMPLATE_HASH]: digest(JSON.stringify(d.spec.template)) } } };
}

/** A short, stable digest of a text, used to roll pods when their configuration changes. */
export function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export function renderTenant(input: RenderInput): KubeObject[] {
  const { tenant, plan, platform } = input;
  const name = tenant.metadata.name;
  const ns = tenantNamespace(name);
  const owner = ownerReference("MatomoTenant", tenant);
  const meta = (objName: string, component?: Component, extra: { annotations?: Record<string, string> } = {}) => ({
    name: objName, namespace: ns, labels: labels(name, component), ownerReferences: [owner], ...extra,
  });
  const suspended = tenant.spec.suspended;
  const primary = tenant.spec.domains[0] ?? "";
  const url = `https://${primary}`;
  const rollout = input.rollout;
  const image = `${platform.image}:${rollout?.servingVersion ?? tenant.spec.matomoVersion}`;

  const cfg = configInput(input);
  const commonConfig = renderCommonConfig(cfg);
  const secretConfig = renderSecretConfig(cfg, { databasePassword: input.secrets.databasePassword, salt: input.secrets.salt, redisPassword: input.queue?.password });
  const configHash = digest(commonConfig + secretConfig);

  const securityContext: V1SecurityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: 33,
    runAsGroup: 33,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
  const volumes: V1Volume[] = [
    { name: "config", configMap: { name: "matomo-config" } },
    { name: "secret-config", secret: { secretName: "matomo-secrets", items: [{ key: "config.ini.php", path: "config.ini.php" }] } },
    { name: "matomo-tmp", emptyDir: {} },
    { name: "tmp", emptyDir: {} },
    { name: "apache-run", emptyDir: {} },
  ];
  const volumeMounts: V1VolumeMount[] = [
    { name: "config", mountPath: "/var/www/html/config/common.config.ini.php", subPath: "common.config.ini.php", readOnly: true },
    { name: "secret-config", mountPath: "/var/www/html/config/config.ini.php", subPath: "config.ini.php", readOnly: true },
    { name: "matomo-tmp", mountPath: "/var/www/html/tmp" },
    { name: "tmp", mountPath: "/tmp" },
    { name: "apache-run", mountPath: "/var/run/apache2" },
  ];
  const baseEnv = (role: string): V1EnvVar[] => [
    { name: "MATOMO_ROLE", value: role },
    { name: "MATOMO_URL", value: url },
  ];
  const placement = plan.placement;
  const podSpec = (role: Component, resources: PlanSpec["jobs"], extra: Partial<V1PodSpec> = {}, podImage = image): V1PodSpec => ({
    serviceAccountName: "matomo",
    ...(placement?.nodeSelector && Object.keys(placement.nodeSelector).length > 0 ? { nodeSelector: { ...placement.nodeSelector } } : {}),
    ...(placement?.tolerations?.length ? { tolerations: placement.tolerations.map((t) => ({ ...t })) } : {}),
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { runAsNonRoot: true, fsGroup: 33, seccompProfile: { type: "RuntimeDefault" } },
    volumes,
    containers: [{
      name: "matomo",
      image: podImage,
      env: baseEnv(role),
      resources,
      securityContext,
      volumeMounts,
      ...(role === "tracker" || role === "web" ? {
        ports: [{ name: "http", containerPort: PORT }],
        readinessProbe: { httpGet: { path: "/healthz.php", port: "http" }, periodSeconds: 5, failureThreshold: 3 },
        livenessProbe: { httpGet: { path: "/healthz.php", port: "http" }, periodSeconds: 20, failureThreshold: 3, initialDelaySeconds: 10 },
      } : {}),
    }],
    ...extra,
  });

  const deployment = (component: "tracker" | "web", sizing: PlanSpec["tracker"]) => withTemplateHash({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(component, component),
    spec: {
      // Replicas are the HPA's to set; only a suspended tenant pins them to zero.
      ...(suspended ? { replicas: 0 } : {}),
      revisionHistoryLimit: 3,
      selector: { matchLabels: selector(name, component) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels(name, component), annotations: { "multiscale.io/config-hash": configHash } },
        spec: podSpec(component, { requests: sizing.requests, limits: sizing.limits }, {
          // Honor: a cordoned or fenced node (e.g. during a node-doctor remediation) does not count.
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", nodeTaintsPolicy: "Honor", labelSelector: { matchLabels: selector(name, component) } },
            { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: component === "tracker" ? "DoNotSchedule" : "ScheduleAnyway", nodeTaintsPolicy: "Honor", labelSelector: { matchLabels: selector(name, component) } },
          ],
        }),
      },
    },
  } satisfies V1Deployment);
  const hpa = (component: "tracker" | "web", sizing: PlanSpec["tracker"]) => ({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: meta(component, component),
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: component },
      minReplicas: sizing.minReplicas,
      maxReplicas: sizing.maxReplicas,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
    },
  } satisfies V2HorizontalPodAutoscaler);
  const pdb = (component: "tracker" | "web") => ({
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(component, component),
    spec: { maxUnavailable: 1, selector: { matchLabels: selector(name, component) } },
  } satisfies V1PodDisruptionBudget);
  const service = (component: "tracker" | "web") => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(component, component),
    spec: { selector: selector(name, component), ports: [{ name: "http", port: 80, targetPort: "http" }] },
  } satisfies V1Service);
  // spec.privacy lives in Matomo's database: the install and update Jobs set it once their schema work is
  // done, and every later spec change gets a settings Job of its own (named by the generation, so that
  // going back to an earlier value runs again; a fresh tenant's install Job covers generation 1).
  const settingsEnv = [{ name: "MMS_SETTINGS_SQL", value: privacySettingsSql(tenant.spec.privacy, TABLES_PREFIX) }];
  const generation = tenant.metadata.generation ?? 1;
  const settingsJob = () => generation <= 1 ? [] : [{
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta(`matomo-settings-${generation}`, "settings"),
    spec: {
      backoffLimit: 6,
      activeDeadlineSeconds: 6 * 3600,
      ttlSecondsAfterFinished: 24 * 3600,
      template: { metadata: { labels: labels(name, "settings") }, spec: withEnv(podSpec("settings", plan.jobs, { restartPolicy: "Never" }), settingsEnv) },
    },
  } satisfies V1Job];
  const cronJob = (component: "archiver" | "scheduled-tasks", schedule: string) => ({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: meta(component, component),
    spec: {
      schedule,
      suspend: suspended || (rollout?.scheduledPaused ?? false),
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: 6 * 3600,
          template: { metadata: { labels: labels(name, component) }, spec: podSpec(component, plan.jobs, { restartPolicy: "Never" }) },
        },
      },
    },
  } satisfies V1CronJob);

  // Works the tenant's Redis queue off into its database, one batch after another. It stops (0 replicas)
  // while the tenant is suspended or upgraded: an upgrade must not have it write while the schema changes,
  // and the hits it would process wait in Redis meanwhile.
  const queueWorker = () => withTemplateHash({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta("queue-worker", "queue-worker"),
    spec: {
      replicas: suspended || rollout ? 0 : 1,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selector(name, "queue-worker") },
      // One worker at a time: QueuedTracking's lock would make a second one wait anyway.
      strategy: { type: "Recreate" },
      template: {
        metadata: { labels: labels(name, "queue-worker"), annotations: { "multiscale.io/config-hash": configHash } },
        spec: { ...podSpec("queue-worker", plan.jobs), terminationGracePeriodSeconds: 120 },
      },
    },
  } satisfies V1Deployment);
  const egressPort = (port: number) => ({ ports: [{ protocol: "TCP", port }] });
  const tls = ingressTls(platform);
  const objects: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: ns,
        labels: {
          ...labels(name),
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
          "pod-security.kubernetes.io/warn": "restricted",
          "pod-security.kubernetes.io/audit": "restricted",
        },
        ownerReferences: [owner],
      },
    } satisfies V1Namespace,
    {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: meta("tenant-quota"),
      spec: { hard: { "limits.cpu": plan.quota.cpu, "limits.memory": plan.quota.memory, pods: String(plan.quota.pods) } },
    } satisfies V1ResourceQuota,
    {
      apiVersion: "v1",
      kind: "LimitRange",
      metadata: meta("tenant-defaults"),
      spec: { limits: [{ type: "Container", defaultRequest: plan.jobs.requests, default: plan.jobs.limits }] },
    } satisfies LimitRange,
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("default-deny"),
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    } satisfies V1NetworkPolicy,
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-ingress-controller"),
      spec: {
        podSelector: { matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["tracker", "web"] }] },
        policyTypes: ["Ingress"],
        ingress: [{
          from: [
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": platform.ingressNamespace } } },
            // The operator's probes behind MatomoAnswering (its replicas, as the platform's chart labels them).
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": SYSTEM_NAMESPACE } }, podSelector: { matchLabels: OPERATOR_POD_LABELS } },
            // The availability probes of the tracker (the platform's blackbox_exporter, beside the operator).
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": SYSTEM_NAMESPACE } }, podSelector: { matchLabels: PROBER_POD_LABELS } },
            ...(platform.directAccessCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
          ],
          ports: [{ protocol: "TCP", port: PORT }],
        }],
      },
    } satisfies NetworkPolicy,
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-egress"),
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } },
              ...(platform.dnsEgressCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
            ],
            ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
          },
          egressPort(input.pool.port),
          ...(input.queue ? [egressPort(input.queue.port)] : []),
          ...(input.pool.reader && input.pool.reader.port !== input.pool.port ? [egressPort(input.pool.reader.port)] : []),
          ...(platform.redis ? [egressPort(platform.redis.port)] : []),
          egressPort(platform.objectStoragePort),
        ],
      },
    } satisfies V1NetworkPolicy,
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: meta("matomo"),
      automountServiceAccountToken: false,
    } satisfies V1ServiceAccount,
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: meta("matomo-secrets"),
      type: "Opaque",
      stringData: {
        "config.ini.php": secretConfig,
        "database-password": input.secrets.databasePassword,
        salt: input.secrets.salt,
        "admin-user": input.secrets.adminUser,
        "admin-password": input.secrets.adminPassword,
        "admin-email": input.secrets.adminEmail,
        "api-token": input.secrets.apiToken,
      },
    } satisfies V1Secret,
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta("matomo-config"),
      data: { "common.config.ini.php": commonConfig },
    } satisfies V1ConfigMap,
    deployment("tracker", plan.tracker),
    deployment("web", plan.web),
    ...(suspended ? [] : [hpa("tracker", plan.tracker), hpa("web", plan.web)]),
    pdb("tracker"),
    pdb("web"),
    service("tracker"),
    service("web"),
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: meta("matomo", undefined, { annotations: tls.annotations }),
      spec: {
        ingressClassName: platform.ingressClassName,
        tls: [{ hosts: [...tenant.spec.domains], ...tls.secret }],
        rules: tenant.spec.domains.map((host) => ({
          host,
          http: {
            paths: [
              ...TRACKING_PATHS.map((p) => ({ path: p.path, pathType: p.pathType, backend: { service: { name: "tracker", port: { name: "http" } } } })),
              { path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { name: "http" } } } },
            ],
          },
        })),
      },
    } satisfies V1Ingress,
    ...(tenant.spec.tracking.queuedTracking && input.queue ? [queueWorker()] : []),
    cronJob("archiver", plan.archiving.schedule),
    cronJob("scheduled-tasks", "*/15 * * * *"),
    installJob(input, podSpec, settingsEnv),
    renderTenantBackupCronJob(tenant, plan, platform),
    ...settingsJob(),
    ...(rollout?.jobs ?? []).map((j) => ({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: meta(j.name, j.kind),
      spec: {
        // A failed migration must stop the upgrade for a person to look at, not be retried blindly.
        backoffLimit: j.kind === "update" ? 0 : 2,
        activeDeadlineSeconds: 6 * 3600,
        ttlSecondsAfterFinished: 30 * 24 * 3600,
        template: { metadata: { labels: labels(name, j.kind) }, spec: withEnv(podSpec(j.kind, plan.jobs, { restartPolicy: "Never" }, `${platform.image}:${j.version}`), j.kind === "update" ? [...settingsEnv, API_TOKEN_ENV] : []) },
      },
    } satisfies V1Job)),
  ];
  return objects;
}

// client-node's models name two fields as its own serializer writes them (`_default`, `_from`); these
// objects are sent as JSON, where the API calls them `default` and `from`.
type LimitRange = Omit<V1LimitRange, "spec"> & {
  spec: { limits: (Omit<V1LimitRangeItem, "_default"> & { default?: V1LimitRangeItem["_default"] })[] };
};
type NetworkPolicy = Omit<V1NetworkPolicy, "spec"> & {
  spec: Omit<V1NetworkPolicySpec, "ingress"> & { ingress?: (Omit<V1NetworkPolicyIngressRule, "_from"> & { from?: V1NetworkPolicyIngressRule["_from"] })[] };
};

/**
 * The TLS part of a tenant's Ingress in each mode. cert-manager: its ingress-shim sees the ClusterIssuer
 * annotation and keeps a Certificate (and the Secret of the same name) for the hosts of `tls`.
 * ingress-acme: Traefik terminates TLS on the router (`router.tls`) with a certificate its resolver issues
 * through HTTP-01 for each Host of the rules; `spec.tls` only names the hosts, since Traefik loads no Secret
 * for an entry without secretName and an ACME certificate lives in its own store. No entry point is pinned:
 * a TLS router serves only TLS connections (websecure), so port 80 keeps Traefik's ACME challenge answer
 * and the entry point's redirect to HTTPS, both configured with the controller.
 */
export function ingressTls(platform: Pick<PlatformSettings, "tlsMode" | "clusterIssuer" | "acmeResolver">): { annotations: Record<string, string>; secret: { secretName?: string } } {
  if (platform.tlsMode === "ingress-acme") {
    return {
      annotations: { "traefik.ingress.kubernetes.io/router.tls": "true", "traefik.ingress.kubernetes.io/router.tls.certresolver": platform.acmeResolver },
      secret: {},
    };
  }
  return { annotations: { "cert-manager.io/cluster-issuer": platform.clusterIssuer }, secret: { secretName: TLS_SECRET_NAME } };
}

/** The platform's Reporting API token, which the install and update Jobs register in Matomo. */
const API_TOKEN_ENV: V1EnvVar = { name: "MMS_API_TOKEN", valueFrom: { secretKeyRef: { name: "matomo-secrets", key: "api-token" } } };

/** A pod spec whose (only) container also gets these environment variables. */
function withEnv(spec: V1PodSpec, env: readonly V1EnvVar[]): V1PodSpec {
  return { ...spec, containers: spec.containers.map((c: V1Container) => ({ ...c, env: [...(c.env ?? []), ...env] })) };
}

/** The one-time install Job; its name is fixed so it runs once per tenant, never at pod start. */
function installJob(input: RenderInput, podSpec: (role: Component, r: PlanSpec["jobs"], extra?: Partial<V1PodSpec>) => V1PodSpec,
  settingsEnv: readonly V1EnvVar[]): KubeObject {
  const name = input.tenant.metadata.name;
  const spec = podSpec("install", input.plan.jobs, { restartPolicy: "Never" });
  const fromSecret = (env: string, key: string) => ({ name: env, valueFrom: { secretKeyRef: { name: "matomo-secrets", key } } });
  const container = spec.containers[0];
  if (container) {
    container.env = [
      ...(container.env ?? []),
      fromSecret("MATOMO_ADMIN_USER", "admin-user"),
      fromSecret("MATOMO_ADMIN_PASSWORD", "admin-password"),
      fromSecret("MATOMO_ADMIN_EMAIL", "admin-email"),
      API_TOKEN_ENV,
      { name: "MATOMO_FIRST_SITE_NAME", value: name },
      { name: "MATOMO_FIRST_SITE_URL", value: `https://${input.tenant.spec.domains[0] ?? ""}` },
      ...settingsEnv,
    ];
  }
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: "matomo-install",
      namespace: tenantNamespace(name),
      labels: labels(name, "install"),
      ownerReferences: [ownerReference("MatomoTenant", input.tenant)],
    },
    spec: {
      backoffLimit: 3,
      ttlSecondsAfterFinished: 7 * 24 * 3600,
      template: { metadata: { labels: labels(name, "install") }, spec },
    },
  } satisfies V1Job;
}
