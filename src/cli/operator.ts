// `mms operator`: runs the tenant operator against the selected cluster until stopped.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import type { V1Toleration } from "@kubernetes/client-node";
import { pino } from "pino";
import { runOperator } from "../controllers/operator.ts";
import { DNS_LABEL_PATTERN } from "../api/names.ts";
import { DEFAULT_PLATFORM, TLS_MODES, type TlsMode } from "../render/tenant.ts";
import { kubeConfigFromFlags } from "./common.ts";

function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a whole number of at least 1`);
    return n;
  };
}

const LABEL_PART = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** `key=value`, repeatable: a node label the backup and drill pods must run on. */
export function parseNodeSelector(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([^=]+)=(.*)$/.exec(raw);
  if (!m || !LABEL_PART.test(m[1] ?? "") || !LABEL_VALUE.test(m[2] ?? "")) {
    throw new InvalidArgumentError(`--job-node-selector takes a node label as key=value (e.g. nodepool=system), not "${raw}"`);
  }
  return { ...previous, [m[1] as string]: m[2] as string };
}

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** `key[=value]:Effect`, repeatable: a taint the backup and drill pods tolerate. */
export function parseToleration(raw: string, previous: V1Toleration[] = []): V1Toleration[] {
  const m = /^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$/.exec(raw);
  if (!m || !LABEL_PART.test(m[1] ?? "") || !LABEL_VALUE.test(m[2] ?? "") || !EFFECTS.includes(m[3] ?? "")) {
    throw new InvalidArgumentError(`--job-toleration takes a taint as key[=value]:Effect with Effect one of ${EFFECTS.join(", ")}, not "${raw}"`);
  }
  const t: V1Toleration = m[2] === undefined
    ? { key: m[1], operator: "Exists", effect: m[3] }
    : { key: m[1], operator: "Equal", value: m[2], effect: m[3] };
  return [...previous, t];
}

const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Kubernetes object name: a DNS label (namespaces) or subdomain (ClusterIssuers, IngressClasses). */
/** An IPv4 CIDR flag (repeatable): `--dns-egress-cidr`, `--direct-access-cidr`. */
export function cidrFlag(flag: string, example: string): (raw: string, previous?: string[]) => string[] {
  return (raw, previous = []) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(raw.trim());
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
      throw new InvalidArgumentError(`${flag} takes an IPv4 range as address/bits (e.g. ${example}), not "${raw}"`);
    }
    return [...previous, raw.trim()];
  };
}

export function kubeName(flag: string, what: string, label = false): (v: string) => string {
  return (v) => {
    const ok = label ? v.length <= 63 && DNS_LABEL.test(v) : v.length <= 253 && DNS_SUBDOMAIN.test(v);
    if (!ok) throw new InvalidArgumentError(`${flag} takes the name of ${what} (lower-case letters, digits, '-'${label ? "" : " and '.'"}), not "${v}"`);
    return v;
  };
}

/** `namespace/name` of the ingress controller's Service. */
export function parseServiceRef(v: string): { namespace: string; name: string } {
  const [namespace = "", name = "", ...rest] = v.split("/");
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_LABEL.test(name)) {
    throw new InvalidArgumentError(`--ingress-service takes the ingress controller's Service as namespace/name (e.g. traefik/traefik), not "${v}"`);
  }
  return { namespace, name };
}

/** A Traefik certificate resolver's name, as its static configuration spells it (certificatesResolvers.<name>). */
export function parseResolver(v: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(v)) {
    throw new InvalidArgumentError(`--acme-resolver takes the name of a certificate resolver of the ingress controller (letters, digits, '-' and '_'), not "${v}"`);
  }
  return v;
}

/** A readable PEM file holding at least one certificate; its absolute path (it is read again at each check, so it may be rotated). */
export function parseCaFile(v: string): string {
  const path = resolve(v);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InvalidArgumentError(`--acme-ca-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  try {
    if (!first) throw new Error("no PEM certificate in it");
    new X509Certificate(first);
  } catch (err) {
    throw new InvalidArgumentError(`--acme-ca-file: ${path} is not a PEM bundle of CA certificates (${(err as Error).message})`);
  }
  return path;
}

// An image repository: lower-case path components, the first of which may be a registry host with a port.
const REPOSITORY = "[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?::[0-9]+(?=/))?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*";
const TAG = ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST = "@sha256:[a-f0-9]{64}";

/** The tenant image's repository; each tenant's Matomo version is its tag, so it must have none. */
export function parseTenantImage(v: string): string {
  if (new RegExp(`^${REPOSITORY}(${TAG})?(${DIGEST})?$`).test(v) && !new RegExp(`^${REPOSITORY}$`).test(v)) {
    throw new InvalidArgumentError(`--tenant-image takes a repository without tag or digest (each tenant's Matomo version is the tag), e.g. ghcr.io/matomo-multiscale/matomo, not "${v}"`);
  }
  if (!new RegExp(`^${REPOSITORY}$`).test(v)) throw new InvalidArgumentError(`--tenant-image: "${v}" is not an image repository (e.g. ghcr.io/matomo-multiscale/matomo)`);
  return v;
}

/** The control plane's image, pinned: with a tag or a digest. */
export function parseControlImage(v: string): string {
  if (!new RegExp(`^${REPOSITORY}(${TAG})?(${DIGEST})?$`).test(v)) throw new InvalidArgumentError(`--control-image: "${v}" is not an image reference (e.g. ghcr.io/matomo-multiscale/mms:0.1.0)`);
  if (new RegExp(`^${REPOSITORY}$`).test(v)) throw new InvalidArgumentError(`--control-image needs a tag or a digest, so that every job runs the operator's own version: "${v}:<version>"`);
  return v;
}

export function registerOperator(program: Command): void {
  program
    .command("operator")
    .description("run the tenant operator (reconciles MatomoTenant objects) until stopped")
    .addOption(new Option("--concurrency <n>", "tenants reconciled in parallel").argParser((v) => Number.parseInt(v, 10)).default(8))
    .addOption(new Option("--health-port <port>", "serve /healthz, /readyz and /metrics on 127.0.0.1:PORT").argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option("--health-address <ip>", "address of the health port; 0.0.0.0 in a pod, so the kubelet's probes reach it").choices(["127.0.0.1", "0.0.0.0"]).default("127.0.0.1"))
    .addOption(new Option("--resync <seconds>", "re-check every tenant this often").argParser((v) => Number.parseInt(v, 10)).default(300))
    .addOption(new Option("--max-rolling-tenants <n>", "tenants whose pods may roll at the same moment (plan changes, upgrades)").argParser(positiveInt("--max-rolling-tenants")).default(10))
    .option("--no-install-api", "do not install or update the CRDs, plans and admission policy at start")
    .option("--run-jobs-locally", "dev environment only: label backup and drill pods for the local Job runner (mms dev job-runner)")
    .addOption(new Option("--job-node-selector <key=value>", "run backup and drill pods only on nodes with this label (repeatable)").argParser(parseNodeSelector))
    .addOption(new Option("--job-toleration <key[=value]:Effect>", "let backup and drill pods run on nodes with this taint (repeatable)").argParser(parseToleration))
    .option("--suspend-schedules", "render backup and drill CronJobs suspended: runs made by hand still run (test environments)")
    .option("--simulated-node-label <label>", "dev environment only: pods on nodes with this label are simulated (KWOK), so their tenants' Matomo is not probed before Ready")
    .addOption(new Option("--tls <mode>", "how tenants' Ingresses get certificates: cert-manager (a ClusterIssuer, --cluster-issuer) or ingress-acme (the ingress controller's own ACME client, a Traefik certificate resolver, --acme-resolver)")
      .choices(TLS_MODES).default(DEFAULT_PLATFORM.tlsMode))
    .addOption(new Option("--cluster-issuer <name>", "cert-manager mode: the ClusterIssuer each tenant's Ingress names").argParser(kubeName("--cluster-issuer", "a cert-manager ClusterIssuer")).default(DEFAULT_PLATFORM.clusterIssuer))
    .addOption(new Option("--acme-resolver <name>", "ingress-acme mode: the Traefik certificate resolver that issues tenants' certificates (HTTP-01)").argParser(parseResolver).default(DEFAULT_PLATFORM.acmeResolver))
    .addOption(new Option("--ingress-class <name>", "the IngressClass of tenants' Ingresses").argParser(kubeName("--ingress-class", "an IngressClass")).default(DEFAULT_PLATFORM.ingressClassName))
    .addOption(new Option("--ingress-namespace <ns>", "namespace of the ingress controller: the only one whose pods may reach tenants' tracker and web (NetworkPolicy)").argParser(kubeName("--ingress-namespace", "a namespace", true)).default(DEFAULT_PLATFORM.ingressNamespace))
    .addOption(new Option("--ingress-service <namespace/name>", "ingress-acme mode: the ingress controller's Service; its cluster IP, port 443, is dialled with each tenant domain to check the certificate (CertificateReady)").argParser(parseServiceRef).default(DEFAULT_PLATFORM.ingressService, "traefik/traefik"))
    .addOption(new Option("--acme-ca-file <path>", "ingress-acme mode: PEM bundle of the CAs tenant certificates are verified against (the ACME server's roots, e.g. Pebble's); the system roots without it").argParser(parseCaFile))
    .addOption(new Option("--tenant-image <repository>", "repository of the tenant (Matomo) image, without tag: the tag is each tenant's Matomo version").argParser(parseTenantImage).default(DEFAULT_PLATFORM.image))
    .addOption(new Option("--control-image <ref>", "the control plane's image (mms, MariaDB client tools), with tag or digest: backup, drill and upgrade jobs run it").argParser(parseControlImage).default(DEFAULT_PLATFORM.controlImage))
    .addOption(new Option("--dns-egress-cidr <cidr>", "tenants' pods may also send DNS (port 53) to this range, for a resolver that is not a pod in kube-system, e.g. NodeLocal DNSCache (repeatable)").argParser(cidrFlag("--dns-egress-cidr", "169.254.20.10/32 for NodeLocal DNSCache")))
    .addOption(new Option("--direct-access-cidr <cidr>", "besides the ingress controller, this range may reach tenants' tracker and web pods directly, e.g. a synthetic-monitoring prober (repeatable)").argParser(cidrFlag("--direct-access-cidr", "203.0.113.7/32")))
    .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]).default("info"))
    .action(async (opts: {
      concurrency: number; healthPort?: number; healthAddress: string; resync: number; installApi: boolean; runJobsLocally?: boolean; logLevel: string; maxRollingTenants: number;
      jobNodeSelector?: Record<string, string>; jobToleration?: V1Toleration[]; suspendSchedules?: boolean; simulatedNodeLabel?: string;
      tls: TlsMode; clusterIssuer: string; acmeResolver: string; ingressClass: string; ingressNamespace: string; ingressService: { namespace: string; name: string };
      acmeCaFile?: string; tenantImage: string; controlImage: string; dnsEgressCidr?: string[]; directAccessCidr?: string[];
    }, cmd: Command) => {
      const log = pino({ level: opts.logLevel, base: { component: "operator" } }, pino.destination(2));
      const operator = await runOperator({
        kubeconfig: kubeConfigFromFlags(cmd),
        log,
        concurrency: opts.concurrency,
        healthPort: opts.healthPort,
        healthAddress: opts.healthAddress,
        resyncMs: opts.resync * 1000,
        installApi: opts.installApi,
        maxRollingTenants: opts.maxRollingTenants,
        platform: {
          ...DEFAULT_PLATFORM,
          image: opts.tenantImage,
          controlImage: opts.controlImage,
          tlsMode: opts.tls,
          clusterIssuer: opts.clusterIssuer,
          acmeResolver: opts.acmeResolver,
          ingressClassName: opts.ingressClass,
          ingressNamespace: opts.ingressNamespace,
          ingressService: opts.ingressService,
          ...(opts.acmeCaFile ? { acmeCaFile: opts.acmeCaFile } : {}),
          ...(opts.dnsEgressCidr ? { dnsEgressCidrs: opts.dnsEgressCidr } : {}),
          ...(opts.directAccessCidr ? { directAccessCidrs: opts.directAccessCidr } : {}),
          ...(opts.runJobsLocally ? { runJobsLocally: true } : {}),
          ...(opts.jobNodeSelector ? { jobNodeSelector: opts.jobNodeSelector } : {}),
          ...(opts.jobToleration ? { jobTolerations: opts.jobToleration } : {}),
          ...(opts.suspendSchedules ? { suspendSchedules: true } : {}),
          ...(opts.simulatedNodeLabel ? { simulatedNodeLabel: opts.simulatedNodeLabel } : {}),
        },
      });
      await new Promise<void>((resolve) => {
        const shutdown = (sig: string) => {
          log.info({ signal: sig }, "stopping");
          void operator.stop().then(resolve);
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
    });
}
