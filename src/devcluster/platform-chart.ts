// The platform on the dev environment's real node, installed as production installs it: `helm upgrade
// --install` of deploy/charts/matomo-multiscale with the values below. The operator's replicas run the
// control-plane image `dev up` built from this checkout, named by digest, so a new build rolls them.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { UserError } from "../util/errors.ts";
import { run } from "../util/exec.ts";
import type { Progress } from "../util/progress.ts";
import { acmeEndpoints, ingressDevValues, tenantsTlsDevValues, type AcmeEndpoints } from "./acme.ts";
import { builtDir } from "./build.ts";
import type { Context } from "./components.ts";
import { monitoringImageRef, splitImageRef, traefikImageRef, type MonitoringImageName } from "./images.ts";
import { KUBELET_LABEL } from "./kwok.ts";
import { otelcolImageRef } from "./otelcol.ts";
import { REAL_NODE_LABEL, REAL_NODE_TAINT, realNodeDirs } from "./real-node.ts";
import { BUILDS } from "./versions.ts";
import { CHART_DIR, ensureRelease, PLATFORM_RELEASE, upgradeInstallArgs, type ReleaseTarget } from "../platform/release.ts";


export function helmPath(): string {
  return join(builtDir(BUILDS.helm), "helm");
}

/** The control-plane image as the chart takes it: repository, tag and, when the build gave one, digest. */
export interface ChartImage {
  readonly repository: string;
  readonly tag: string;
  readonly digest?: string | undefined;
}

/** An image reference as the chart's values take it, by digest when the build gave one. */
export function chartImage(ref: string, digest?: string): ChartImage {
  return { ...splitImageRef(ref), ...(digest ? { digest } : {}) };
}

/** The chart values of the dev environment: everything on the real node, ports of the host's services. */
export function devChartValues(ctx: Pick<Context, "ports" | "timings" | "addresses" | "paths">, image: ChartImage, ingress: { acme: AcmeEndpoints; serverCa: string }): Record<string, unknown> {
  const onRealNode = {
    nodeSelector: { [REAL_NODE_LABEL]: "true" },
    tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists", effect: REAL_NODE_TAINT.effect }],
  };
  return {
    image: { repository: image.repository, tag: image.tag, digest: image.digest ?? "", pullPolicy: "IfNotPresent" },
    tenants: {
      // The cluster DNS is CoreDNS on the host's bridge address, not a pod in kube-system.
      dnsEgressCidrs: [`${ctx.addresses.hostIp}/32`],
      // The host (tests, benchmarks) reaches tracker and web Services directly, as before the ingress existed.
      directAccessCidrs: [`${ctx.addresses.hostIp}/32`],
      // Certificates from Traefik's ACME resolver, on the dev environment's Pebble (acme.ts).
      tls: tenantsTlsDevValues(ingress.acme),
    },
    // Traefik on the real node, from the image built here (deploy/images/traefik).
    ...ingressDevValues(ingress.acme, { image: splitImageRef(traefikImageRef()), serverCa: ingress.serverCa, ...onRealNode }),
    operator: {
      replicas: 2,
      simulatedNodeLabel: KUBELET_LABEL,
      jobs: {
        nodeSelector: { [REAL_NODE_LABEL]: "true" },
        tolerations: [{ key: REAL_NODE_TAINT.key, value: REAL_NODE_TAINT.value, effect: REAL_NODE_TAINT.effect }],
        suspendSchedules: ctx.timings.scheduledJobs === "hold",
      },
      ...onRealNode,
      // Both replicas on the one real node.
      affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
    },
    logs: devLogsValues(ctx.paths, onRealNode),
    // The sim OVH API listens on loopback only; the node doctor runs as a local process (mms dev up).
    nodeDoctor: { enabled: false },
    monitoring: { stack: monitoringDevValues(onRealNode) },
    networkPolicies: {
      // Tests read the operator's metrics from the host.
      metricsFromCidrs: [`${ctx.addresses.hostIp}/32`],
      egress: {
        // The host's services as the pods reach them: API server, MariaDB, Redis, S3 on their dev ports.
        extraPorts: [8443, ctx.ports.apiserver, ctx.ports.mariadb, ctx.ports.redis, ctx.ports.s3],
      },
    },
  };
}

/**
 * The log pipeline on the real node (the collector image built here, deploy/images/otelcol), sending to the
 * local OTLP receiver instead of Better Stack. The node's kubelet keeps its pods' logs in the environment's
 * own folder (its podLogsDir, real-node.ts), not in /var/log/pods.
 */
function devLogsValues(paths: Context["paths"], onRealNode: { nodeSelector: Record<string, string>; tolerations: unknown[] }): Record<string, unknown> {
  const node = realNodeDirs(paths, 1).root;
  return {
    enabled: true,
    image: { ...splitImageRef(otelcolImageRef()), pullPolicy: "IfNotPresent" },
    // Counts every 15 s instead of every minute: tests and bench/log-cost see them sooner.
    countInterval: "15s",
    agent: { podLogsPath: join(node, "pod-logs"), statePath: join(node, "mms-logs"), ...onRealNode },
    localReceiver: { enabled: true, ...onRealNode },
  };
}

/**
 * The monitoring stack on the real node, from the images built here (deploy/images/<name>), scraping and
 * evaluating every 10 s so that an alert fires and resolves within a test's patience (test/alerting.test.ts).
 */
function monitoringDevValues(placement: { nodeSelector: Record<string, string>; tolerations: readonly object[] }): Record<string, unknown> {
  const image = (name: MonitoringImageName) => ({ ...splitImageRef(monitoringImageRef(name)), digest: "", pullPolicy: "Never" });
  return {
    enabled: true,
    scrapeInterval: "10s",
    evaluationInterval: "10s",
    ...placement,
    prometheus: { image: image("prometheus"), retention: "2d", resources: { requests: { cpu: "50m", memory: "192Mi" }, limits: { memory: "1Gi" } } },
    alertmanager: { image: image("alertmanager") },
    blackboxExporter: { image: image("blackbox") },
    kubeStateMetrics: { image: image("kube-state-metrics") },
  };
}

/** Helm with the environment's kubeconfig and its own cache/config folders (nothing in ~/.config/helm). */
export async function runHelm(paths: Pick<Context["paths"], "home" | "kubeconfig">, args: readonly string[]): Promise<{ code: number; stdout: string; stderrTail: string }> {
  const dir = (d: string) => join(paths.home, "helm", d);
  return run(helmPath(), args, { env: { ...process.env, KUBECONFIG: paths.kubeconfig, HELM_CACHE_HOME: dir("cache"), HELM_CONFIG_HOME: dir("config"), HELM_DATA_HOME: dir("data") } });
}

/** Where `dev up` writes the values it installs the chart with. */
export const platformValuesFile = (paths: Pick<Context["paths"], "home">): string => join(paths.home, "platform-values.yaml");

/** The platform's release in the dev environment, with the values `dev up` wrote. */
const devRelease = (valuesFile: string): ReleaseTarget => ({ chartDir: CHART_DIR, release: PLATFORM_RELEASE, namespace: SYSTEM_NAMESPACE, valuesFile });
/**
 * Environments made before the chart have the API objects the operator installed: the chart adopts them
 * (and their fields: the old installer was another field manager).
 */
const ADOPT = { extraArgs: ["--take-ownership", "--force-conflicts"] };

/** The `helm upgrade --install` of the platform `dev up` runs when the release would change (bench/platform-install.ts times it). */
export function platformInstallArgs(valuesFile: string): string[] {
  return upgradeInstallArgs(devRelease(valuesFile), ADOPT);
}

/**
 * `helm upgrade --install` of the platform into the dev cluster when the release would change (a new image
 * digest, new values, a changed chart); waits until its Deployments are Ready.
 */
export async function installPlatformChart(ctx: Pick<Context, "ports" | "timings" | "paths" | "addresses" | "pki">, image: ChartImage, progress: Progress): Promise<void> {
  const valuesFile = platformValuesFile(ctx.paths);
  const acme = acmeEndpoints(ctx.paths, ctx.pki.caCert, ctx.addresses, ctx.ports);
  await writeFile(valuesFile, stringify(devChartValues(ctx, image, { acme, serverCa: await readFile(acme.serverCaFile, "utf8") })));
  progress.step(`the platform's Helm chart (release ${PLATFORM_RELEASE} in ${SYSTEM_NAMESPACE})`);
  try {
    const action = await ensureRelease((args) => runHelm(ctx.paths, args), devRelease(valuesFile), ADOPT);
    progress.step(`the platform's release: ${action}`);
  } catch (err) {
    throw new UserError(`${(err as Error).message}; values in ${valuesFile}`);
  }
}
