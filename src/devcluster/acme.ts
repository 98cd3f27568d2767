// The dev environment's stand-in for Let's Encrypt: Pebble (Let's Encrypt's test ACME server) and
// pebble-challtestsrv (the DNS server Pebble resolves names with), for the ingress controller's ACME client
// (Traefik, installed by the platform's chart on the real node). Pure configuration here; the processes
// are components (components.ts).
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { AddressPlan } from "./addresses.ts";
import type { DevPaths } from "./paths.ts";
import type { Ports } from "./ports.ts";

/**
 * Validity of the certificates Pebble issues, in seconds. Traefik renews a certificate when it expires
 * within 20 minutes whenever its resolver's certificatesDuration is under a day, and looks every minute:
 * 22 minutes makes Traefik renew each certificate 2–3 minutes after it was issued (a test sees a new serial
 * within minutes), and so every 2–3 minutes while it serves it: one ACME order per domain at that pace
 * (measured: renewals at 2, 3 and 2 minutes). 5–10 minutes would renew every certificate at every check.
 */
export const PEBBLE_CERT_VALIDITY_SECONDS = 22 * 60;

/** The ingress controller's namespace, Service and certificate resolver: the chart's defaults. */
export const INGRESS_NAMESPACE = "traefik";
export const INGRESS_SERVICE = "traefik";
export const ACME_RESOLVER = "letsencrypt";
/** Pods of the ingress controller, as the chart labels them. */
export const INGRESS_POD_SELECTOR = "app.kubernetes.io/name=traefik";

/** Host of the Service offset in the environment's Service range: the ingress controller's fixed ClusterIP. */
const INGRESS_SERVICE_OFFSET = 80;

/**
 * The ingress controller's address: its Service's fixed ClusterIP, which the host routes to the real node
 * (so Pebble, a host process, validates HTTP-01 on port 80 there) and challtestsrv answers every name with.
 */
export function ingressAddress(addresses: Pick<AddressPlan, "serviceCidr">): string {
  const [base = ""] = addresses.serviceCidr.split("/");
  const parts = base.split(".").map(Number);
  const n = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) + INGRESS_SERVICE_OFFSET;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export interface AcmeFiles {
  readonly dir: string;
  readonly config: string;
  /** Pebble's issuing root, fetched after every start (Pebble makes a new one each time). */
  readonly root: string;
}

export function acmeFiles(paths: Pick<DevPaths, "home">): AcmeFiles {
  const dir = join(paths.home, "pebble");
  return { dir, config: join(dir, "pebble-config.json"), root: join(dir, "root.pem") };
}

/** The Secret (platform namespace, key ca.crt) holding Pebble's current root, for an in-cluster operator. */
export const ACME_ROOT_SECRET = "acme-root-ca";

/** Name of Pebble's serving certificate in the environment's PKI folder. */
export const PEBBLE_CERT_NAME = "pebble";

/** The subjectAltNames of Pebble's serving certificate: the addresses it is reached at. */
export function pebbleCertSans(addresses: Pick<AddressPlan, "hostIp">): string[] {
  return [`IP:${addresses.hostIp}`, "IP:127.0.0.1", "DNS:localhost"];
}

/** Where each part listens: the directory on the bridge address (pods), management on loopback. */
export function acmeListeners(addresses: Pick<AddressPlan, "hostIp">, ports: Pick<Ports, "pebble" | "pebbleManagement" | "challtestsrvDns" | "challtestsrvManagement">) {
  return {
    directory: `${addresses.hostIp}:${ports.pebble}`,
    management: `127.0.0.1:${ports.pebbleManagement}`,
    dns: [`127.0.0.1:${ports.challtestsrvDns}`, `${addresses.hostIp}:${ports.challtestsrvDns}`],
    dnsForPebble: `127.0.0.1:${ports.challtestsrvDns}`,
    challtestsrvManagement: `127.0.0.1:${ports.challtestsrvManagement}`,
  };
}

/** Pebble's configuration file (its JSON format, v2.10). */
export function pebbleConfig(opts: { listen: string; management: string; cert: string; key: string; validitySeconds?: number }): string {
  return JSON.stringify({
    pebble: {
      listenAddress: opts.listen,
      managementListenAddress: opts.management,
      certificate: opts.cert,
      privateKey: opts.key,
      // HTTP-01 is validated on port 80 of the name's address, as Let's Encrypt does (TLS-ALPN-01 on 443).
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      domainBlocklist: [],
      // Seconds a client is asked to wait before polling an authorization or an order again.
      retryAfter: { authz: 1, order: 1 },
      keyAlgorithm: "ecdsa",
      profiles: {
        default: {
          description: "mms dev environment: short-lived certificates, so renewal shows within minutes",
          validityPeriod: opts.validitySeconds ?? PEBBLE_CERT_VALIDITY_SECONDS,
        },
      },
    },
  }, null, 2) + "\n";
}

/**
 * Pebble's environment: no random sleep before validating (it exists to shake out clients that do not
 * poll), no nonce rejected on purpose (by default it refuses 5 % of good nonces, which lego retries, but
 * a test must not depend on that).
 */
export const PEBBLE_ENV: Readonly<Record<string, string>> = { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" };

/**
 * challtestsrv as the DNS of the dev environment's ACME validations only: every A query is answered with
 * the ingress controller's address unless the management API says otherwise for a name; no AAAA answer
 * (Pebble would try it first); its own HTTP-01, HTTPS, DoH and TLS-ALPN-01 servers are off (Traefik
 * answers the challenges).
 */
export function challtestsrvArgs(opts: { dns: readonly string[]; management: string; defaultIPv4: string }): string[] {
  return [
    "-dnsserver", opts.dns.join(","), "-management", opts.management,
    "-defaultIPv4", opts.defaultIPv4, "-defaultIPv6", "",
    "-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
  ];
}

/** GET over HTTPS trusting `ca`: the body, or an error with the status. */
export function httpsGet(url: string, ca: Buffer | string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent: new Agent({ ca }), timeout: timeoutMs }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (data += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`HTTP ${res.statusCode} from ${url}`))));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Stores Pebble's current issuing root (its management interface's /roots/0) in `file`. Resolves with
 * whether it differs from the stored one: a new Pebble, whose root no certificate issued before chains to.
 */
export async function savePebbleRoot(managementUrl: string, ca: Buffer, file: string): Promise<boolean> {
  const pem = await httpsGet(`${managementUrl}/roots/0`, ca);
  if (!pem.includes("BEGIN CERTIFICATE")) throw new Error(`Pebble's /roots/0 answered no certificate: ${pem.slice(0, 80)}`);
  const before = await readFile(file, "utf8").catch(() => "");
  if (before === pem) return false;
  await mkdir(join(file, ".."), { recursive: true });
  await writeFile(`${file}.tmp`, pem);
  await rename(`${file}.tmp`, file);
  return true;
}

export function fingerprint(pem: string): string {
  return createHash("sha256").update(pem).digest("hex").slice(0, 16);
}

/** Connection details of the ACME pieces, for `dev env`, `dev status -o json` and the tests. */
export interface AcmeEndpoints {
  /** The ACME directory URL (what an ACME client's caServer is). */
  readonly directory: string;
  /** The CA of Pebble's own HTTPS listeners: the environment's CA (LEGO_CA_CERTIFICATES for Traefik). */
  readonly serverCaFile: string;
  /** Pebble's issuing root, which tenant certificates chain to: `curl --cacert` it. */
  readonly rootFile: string;
  readonly managementUrl: string;
  /** challtestsrv's management API (add-a, clear-a, set-servfail…). */
  readonly challtestsrvUrl: string;
  /** challtestsrv's DNS, as Pebble queries it. */
  readonly dns: string;
  /** The ingress controller's address: where tenant domains resolve, and where `curl --resolve` goes. */
  readonly ingressAddress: string;
  readonly resolver: string;
}

export function acmeEndpoints(paths: Pick<DevPaths, "home">, caCert: string, addresses: Pick<AddressPlan, "hostIp" | "serviceCidr">, ports: Ports): AcmeEndpoints {
  const l = acmeListeners(addresses, ports);
  return {
    directory: `https://${l.directory}/dir`,
    serverCaFile: caCert,
    rootFile: acmeFiles(paths).root,
    managementUrl: `https://${l.management}`,
    challtestsrvUrl: `http://${l.challtestsrvManagement}`,
    dns: l.dnsForPebble,
    ingressAddress: ingressAddress(addresses),
    resolver: ACME_RESOLVER,
  };
}

/**
 * Values of the platform's chart for the dev environment's ingress controller: Traefik from the image
 * built here on the real node, a fixed ClusterIP, its ACME resolver on Pebble with short certificates, and
 * `serverCa` (the PEM of the environment's CA, which signed Pebble's HTTPS certificate) for its ACME client.
 */
export function ingressDevValues(acme: AcmeEndpoints, opts: { image: { repository: string; tag: string }; serverCa: string; nodeSelector: Record<string, string>; tolerations: readonly object[] }): Record<string, unknown> {
  return {
    ingressController: {
      enabled: true,
      namespace: INGRESS_NAMESPACE,
      replicas: 1,
      image: { ...opts.image, digest: "", pullPolicy: "Never" },
      service: { type: "ClusterIP", clusterIP: acme.ingressAddress },
      acme: {
        enabled: true,
        resolver: acme.resolver,
        caServer: acme.directory,
        email: "platform@mms.test",
        // Hours, Traefik's smallest: it then renews what expires within 20 minutes (see PEBBLE_CERT_VALIDITY_SECONDS).
        certificatesDuration: 1,
        caBundle: opts.serverCa,
        storage: { persistentVolumeClaim: { enabled: false } },
      },
      resources: { requests: { cpu: "20m", memory: "48Mi" }, limits: { memory: "256Mi" } },
      nodeSelector: opts.nodeSelector,
      tolerations: opts.tolerations,
    },
  };
}

/**
 * The chart's `tenants.tls` for the dev environment: tenants' Ingresses name Traefik's resolver, and the
 * operator checks their certificates through the ingress Service against Pebble's current root (the Secret
 * ACME_ROOT_SECRET, refreshed at each Pebble start; the operator reads the file at each check).
 */
export function tenantsTlsDevValues(acme: Pick<AcmeEndpoints, "resolver">): Record<string, string> {
  return { mode: "ingress-acme", acmeResolver: acme.resolver, ingressService: `${INGRESS_NAMESPACE}/${INGRESS_SERVICE}`, acmeCaSecret: ACME_ROOT_SECRET };
}
