// What a visitor's browser finds at https://<tenant domain>: a TLS handshake with the ingress controller,
// the domain as SNI, the chain verified against the given CAs (the system roots without) and the name
// against the domain. The operator's CertificateReady condition rests on this in ingress-acme mode, where
// the certificate lives in the ingress controller's own store and nothing in the cluster shows it.
import { connect, type PeerCertificate } from "node:tls";

export type ServedCertificate =
  | { readonly domain: string; readonly valid: true; readonly validTo: string }
  /** `reached`: a TLS handshake took place (the certificate is wrong), rather than no answer at all. */
  | { readonly domain: string; readonly valid: false; readonly reached: boolean; readonly error: string };

export interface TlsProbeOptions {
  /** PEM of the CAs to trust; Node's bundled roots when undefined. */
  readonly ca?: string | undefined;
  readonly timeoutMs?: number | undefined;
}

/** OpenSSL's verification codes, as an operator reads them. */
const CODES: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "the chain ends in a CA that is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the certificate is not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the certificate is not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT: "the certificate is not signed by a trusted CA",
  CERT_HAS_EXPIRED: "the certificate has expired",
  CERT_NOT_YET_VALID: "the certificate is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate is for other names",
};

function names(cert: PeerCertificate): string {
  const cn = cert.subject?.CN;
  const alt = cert.subjectaltname?.replaceAll("DNS:", "");
  const issuer = cert.issuer?.CN ?? cert.issuer?.O;
  return `${cn ? `CN=${String(cn)}` : "no CN"}${alt ? ` (${alt})` : ""}${issuer ? `, issued by ${String(issuer)}` : ""}`;
}

/** One handshake with `address:port` for `domain`; never throws: a failure is a result that says why. */
export function probeCertificate(address: string, port: number, domain: string, opts: TlsProbeOptions = {}): Promise<ServedCertificate> {
  const timeoutMs = opts.timeoutMs ?? 3_000;
  return new Promise((resolve) => {
    const done = (r: ServedCertificate) => {
      socket.destroy();
      resolve(r);
    };
    // Verification is done below, not by refusing the handshake: the certificate served tells why it fails.
    const socket = connect({ host: address, port, servername: domain, ...(opts.ca !== undefined ? { ca: opts.ca } : {}), rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    socket.setTimeout(timeoutMs, () => done({ domain, valid: false, reached: false, error: `no TLS handshake with ${address}:${port} within ${timeoutMs} ms` }));
    socket.once("error", (err: NodeJS.ErrnoException) => done({ domain, valid: false, reached: false, error: `cannot reach ${address}:${port}: ${err.code ?? err.message}` }));
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      if (!cert.raw) {
        done({ domain, valid: false, reached: true, error: "the ingress sends no certificate" });
        return;
      }
      const code = socket.authorizationError ? String(socket.authorizationError) : undefined;
      if (code) {
        done({ domain, valid: false, reached: true, error: `${CODES[code] ?? "the certificate does not verify"} (${code}); it serves ${names(cert)}` });
        return;
      }
      done({ domain, valid: true, validTo: new Date(cert.valid_to).toISOString() });
    });
  });
}
