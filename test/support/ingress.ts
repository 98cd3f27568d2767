// What the HTTPS tests and the TLS benchmark share: the dev environment's ingress (Traefik on the real node)
// and ACME pieces (Pebble, challtestsrv), a verified TLS handshake with a tenant domain as a visitor's
// browser makes it, curl as a user runs it, and Traefik's own log.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { INGRESS_NAMESPACE, INGRESS_POD_SELECTOR, type AcmeEndpoints } from "../../src/devcluster/acme.ts";
import { endpoints } from "../../src/devcluster/environment.ts";
import type { KubeHttp, KubeObject } from "../../src/kube/http.ts";

const exec = promisify(execFile);

interface Deployment extends KubeObject { status?: { readyReplicas?: number } }

/**
 * The ACME endpoints when the environment has a real node and the ingress controller runs there with its
 * ACME resolver, or the one line saying what is missing.
 */
export async function ingressBed(http: KubeHttp): Promise<{ acme: AcmeEndpoints; root: string } | { skip: string }> {
  const e = await endpoints();
  if (!e.acme) return { skip: "the dev environment runs without a real node (--real-nodes 0): no ingress controller, no Pebble" };
  const traefik = await http.getOrUndefined<Deployment>("apps/v1", "Deployment", "traefik", INGRESS_NAMESPACE);
  if (!traefik) return { skip: `the ingress controller is not installed (no Deployment ${INGRESS_NAMESPACE}/traefik; the platform's chart installs it with ingressController.enabled)` };
  return { acme: e.acme, root: await readFile(e.acme.rootFile, "utf8") };
}

export interface Handshake {
  readonly serial: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  readonly issuer: string;
  readonly altNames: string;
}

/**
 * A TLS handshake with the ingress at `address:443` for `domain`, verified as a browser does (chain to one
 * of `ca`, name matching the domain); rejects with the TLS error (its code) when it does not verify.
 */
export function verifiedHandshake(address: string, domain: string, ca: string, timeoutMs = 5_000): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: 443, servername: domain, ca, ALPNProtocols: ["http/1.1"] }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({
        serial: cert.serialNumber, validFrom: new Date(cert.valid_from), validTo: new Date(cert.valid_to),
        issuer: String(cert.issuer?.CN ?? ""), altNames: cert.subjectaltname ?? "",
      });
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake with ${address}:443 for ${domain} within ${timeoutMs} ms`)));
    socket.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`${domain}: ${err.code ?? ""} ${err.message}`.trim())));
  });
}

/** `curl` as a user runs it against a tenant domain at the ingress address: status, headers and body. */
export async function curl(url: string, opts: { resolve: string; cacert?: string }): Promise<{ status: number; location: string; body: string }> {
  const { hostname, port, protocol } = new URL(url);
  const p = port || (protocol === "https:" ? "443" : "80");
  const r = await exec("curl", [
    "-sS", "--max-time", "20", "--resolve", `${hostname}:${p}:${opts.resolve}`, ...(opts.cacert ? ["--cacert", opts.cacert] : []),
    "-o", "-", "-w", "\n%{http_code} %{redirect_url}", url,
  ], { maxBuffer: 16 << 20 });
  const cut = r.stdout.lastIndexOf("\n");
  const [status = "0", location = ""] = r.stdout.slice(cut + 1).split(" ");
  return { status: Number(status), location, body: r.stdout.slice(0, cut) };
}

/** One call to challtestsrv's management API (set-servfail, clear-servfail, add-a, clear-a…). */
export async function challtestsrv(acme: AcmeEndpoints, path: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${acme.challtestsrvUrl}/${path}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`challtestsrv ${path}: HTTP ${res.status} ${await res.text()}`);
}

/** The ingress controller's log since `since` (all its pods), for what its ACME client did. */
export async function traefikLog(kubectl: string, kubeconfig: string, since: Date): Promise<string> {
  const r = await exec(kubectl, [
    "--kubeconfig", kubeconfig, "-n", INGRESS_NAMESPACE, "logs", "-l", INGRESS_POD_SELECTOR, "--tail", "-1", `--since-time=${since.toISOString()}`,
  ], { maxBuffer: 64 << 20 });
  return r.stdout;
}
