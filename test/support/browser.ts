// The web UI in a real browser: Debian's Chromium driven by playwright-core (which downloads nothing),
// reaching a tenant by its domain through a small TLS-terminating stand-in for the ingress controller
// (the platform's Ingress does the same routing: tracking paths to tracker, the rest to web), because the
// tenant's Matomo is told TLS ends before it (`assume_secure_protocol`, `force_ssl`) and makes https URLs.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";
import { BROWSER_PROGRAMS, ensureDebianPrograms } from "../../src/devcluster/sysdeps.ts";
import { TRACKING_PATHS } from "../../src/render/tenant.ts";
import { createProgress } from "../../src/util/progress.ts";
import type { TenantMatomo } from "./matomo.ts";

const exec = promisify(execFile);

/** A loopback address of its own for the stand-in ingress, so that it can listen on 443 beside anything else. */
export const INGRESS_ADDRESS = "127.77.0.1";

export interface TestIngress {
  readonly address: string;
  close(): Promise<void>;
}

function isTracking(path: string): boolean {
  const p = path.split("?")[0] ?? "";
  return TRACKING_PATHS.some((t) => (t.pathType === "Exact" ? p === t.path : p.startsWith(t.path)));
}

/** HTTPS on INGRESS_ADDRESS:443 for `domain`, with a self-signed certificate, routing as the tenant's Ingress. */
export async function startTestIngress(domain: string, m: TenantMatomo): Promise<TestIngress> {
  const dir = await mkdtemp(join(tmpdir(), "mms-ingress-"));
  try {
    await exec("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${domain}`,
      "-addext", `subjectAltName=DNS:${domain}`, "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]);
    const [key, cert] = await Promise.all([readFile(join(dir, "key.pem")), readFile(join(dir, "cert.pem"))]);
    const server: Server = createServer({ key, cert }, (req, res) => {
      const target = isTracking(req.url ?? "/") ? m.tracker : m.web;
      const upstream = httpRequest({
        host: target.address, port: target.port, path: req.url, method: req.method,
        headers: { ...req.headers, host: domain, "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.200" },
      }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on("error", (err) => {
        res.writeHead(502);
        res.end(`test ingress: ${err.message}`);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(443, INGRESS_ADDRESS, resolve);
    });
    return { address: INGRESS_ADDRESS, close: () => new Promise((r) => server.close(() => r())) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Debian's Chromium (installed with apt when missing), headless, with every name of `domain` resolved to the
 * stand-in ingress and nothing else reachable: no background networking, no component updates.
 */
export async function launchBrowser(domain: string, ingress: TestIngress): Promise<Browser> {
  const { chromium: executablePath } = await ensureDebianPrograms(BROWSER_PROGRAMS, createProgress(process.stderr, true));
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-domain-reliability", "--no-default-browser-check",
      `--host-resolver-rules=MAP ${domain} ${ingress.address}, MAP * ~NOTFOUND`,
    ],
  });
}
