// The CertificateReady condition, pure: whether the tenant's HTTPS certificate is there, from what the
// snapshot read (tenant-snapshot.ts): cert-manager's Certificate in cert-manager mode, a TLS handshake per
// domain with the ingress controller in ingress-acme mode. It is not needed for Ready: Matomo answers
// before a certificate exists (an ACME issuance can take minutes), and the condition says what is missing.
import { tenantNamespace } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import type { ServedCertificate } from "../matomo/tls-probe.ts";
import { TLS_SECRET_NAME, type PlatformSettings } from "../render/tenant.ts";

/** A cert-manager.io/v1 Certificate, as far as the condition reads it. */
export interface CertManagerCertificate {
  readonly status?: {
    readonly conditions?: readonly { readonly type: string; readonly status: string; readonly reason?: string; readonly message?: string }[];
    readonly notAfter?: string;
  };
}

/** What the snapshot found out about the tenant's certificate. */
export type CertificateObservation =
  /** cert-manager mode: the Certificate named like the Ingress's Secret; `installed` is false without cert-manager's CRD. */
  | { readonly mode: "cert-manager"; readonly installed: boolean; readonly certificate: CertManagerCertificate | undefined }
  /** ingress-acme mode: what the ingress controller serves for each domain. */
  | { readonly mode: "ingress-acme"; readonly served: readonly ServedCertificate[] }
  /** Looking was not possible (the ingress Service is missing, the CA file unreadable, no permission). */
  | { readonly problem: { readonly reason: string; readonly message: string; readonly pending: boolean } }
  /** Not looked at, and why (ingress-acme mode only). */
  | { readonly skipped: "Simulated" | "Suspended" | "WaitingForWorkloads" };

export interface CertificateCondition {
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
  /** The certificate may appear any moment (being issued): worth looking again soon. */
  readonly pending: boolean;
}

/** What the snapshot is to do about the certificate: read cert-manager's Certificate, probe the ingress, or say why not. */
export type CertificateCheck = "cert-manager" | "probe" | { readonly skipped: "Simulated" | "Suspended" | "WaitingForWorkloads" } | undefined;

/**
 * Whether and how the certificate is checked in this reconcile. Nothing before the Ingress is applied
 * (with the Deployments). In ingress-acme mode the probe runs only for a tenant whose tracker and web are
 * available (Traefik makes no router, hence requests no certificate, for a Service without endpoints),
 * that is not suspended, and whose pods run on real nodes (`simulated`: the reader knows).
 */
export function certificateCheck(tenant: MatomoTenant, platform: Pick<PlatformSettings, "tlsMode">,
  available: (deployment: "tracker" | "web") => number | undefined, simulated: boolean): CertificateCheck {
  if (available("web") === undefined) return undefined;
  if (platform.tlsMode === "cert-manager") return "cert-manager";
  if (tenant.spec.suspended) return { skipped: "Suspended" };
  if ((available("tracker") ?? 0) < 1 || (available("web") ?? 0) < 1) return { skipped: "WaitingForWorkloads" };
  return simulated ? { skipped: "Simulated" } : "probe";
}

const MESSAGE_MAX = 2000;
const clip = (m: string) => (m.length > MESSAGE_MAX ? `${m.slice(0, MESSAGE_MAX - 1)}…` : m);

/** The condition from an observation of the tenant `name`'s certificate. */
export function certificateCondition(name: string, obs: CertificateObservation, platform: Pick<PlatformSettings, "clusterIssuer" | "acmeResolver">): CertificateCondition {
  if ("skipped" in obs) return skippedCondition(obs.skipped);
  if ("problem" in obs) return { status: "False", ...obs.problem };
  if (obs.mode === "cert-manager") return certManagerCondition(name, obs, platform.clusterIssuer);
  return servedCondition(obs.served, platform.acmeResolver);
}

function skippedCondition(why: "Simulated" | "Suspended" | "WaitingForWorkloads"): CertificateCondition {
  switch (why) {
    case "Simulated":
      return { status: "Unknown", reason: why, message: "the tenant's pods run on simulated nodes: its certificate is not checked", pending: false };
    case "Suspended":
      return { status: "Unknown", reason: why, message: "tenant is suspended: the ingress controller has no route to it, so its certificate is not checked", pending: false };
    case "WaitingForWorkloads":
      return { status: "False", reason: why, message: "the ingress controller requests the certificate once tracker and web are available; it is checked then", pending: false };
  }
}

function certManagerCondition(name: string, obs: { installed: boolean; certificate: CertManagerCertificate | undefined }, issuer: string): CertificateCondition {
  const ref = `Certificate ${tenantNamespace(name)}/${TLS_SECRET_NAME}`;
  if (!obs.installed) {
    return {
      status: "False", reason: "CertManagerMissing", pending: false,
      message: `cert-manager is not installed in this cluster (no cert-manager.io/v1 Certificate resource), so nothing issues the tenant's certificate: ` +
        `install cert-manager with a ClusterIssuer "${issuer}", or run the operator with --tls ingress-acme if the ingress controller issues certificates itself`,
    };
  }
  if (!obs.certificate) {
    return {
      status: "False", reason: "CertificateMissing", pending: true,
      message: `cert-manager has not made the ${ref} for the tenant's Ingress yet: check that ClusterIssuer "${issuer}" exists (kubectl get clusterissuer ${issuer}) and that cert-manager's ingress-shim runs`,
    };
  }
  const ready = obs.certificate.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready) return { status: "Unknown", reason: "Pending", message: `cert-manager has not reported on the ${ref} yet`, pending: true };
  const status = ready.status === "True" || ready.status === "False" ? ready.status : "Unknown";
  const until = status === "True" && obs.certificate.status?.notAfter ? `; valid until ${obs.certificate.status.notAfter}` : "";
  return {
    status, reason: ready.reason || (status === "True" ? "Ready" : "NotReady"), pending: status !== "True",
    message: clip(`${ref}: ${ready.message || "(no message)"}${until}`),
  };
}

function servedCondition(served: readonly ServedCertificate[], resolver: string): CertificateCondition {
  const valid = served.flatMap((s) => (s.valid ? [s] : []));
  const invalid = served.flatMap((s) => (s.valid ? [] : [s]));
  if (served.length > 0 && invalid.length === 0) {
    return {
      status: "True", reason: "Issued", pending: false,
      message: clip(`the ingress serves a valid certificate for ${valid.map((s) => `${s.domain} (until ${s.validTo})`).join(", ")}`),
    };
  }
  if (invalid.length > 0 && invalid.every((s) => !s.reached)) {
    return { status: "False", reason: "IngressUnreachable", pending: true, message: clip(`the ingress controller does not answer HTTPS: ${invalid[0]?.error ?? ""}`) };
  }
  const [first, ...others] = invalid;
  const detail = [
    `the ingress serves no valid certificate for ${first?.domain ?? "the tenant's domains"} yet${first ? `: ${first.error}` : ""}`,
    ...others.map((s) => `nor for ${s.domain}: ${s.error}`),
  ].join("; ");
  const each = invalid.length > 1 ? "each of these domains" : "its domain";
  return {
    status: "False", reason: "NotIssued", pending: true,
    message: clip(`${detail}; ${each} must resolve to the ingress for the ACME HTTP-01 challenge (certificate resolver "${resolver}")`),
  };
}

/** Looked at again this soon while a certificate is pending… */
export const CERTIFICATE_RECHECK_MS = 15_000;
/** …for this long after the condition turned False; then only at the periodic resync, so a domain that never resolves costs little. */
export const CERTIFICATE_RECHECK_WINDOW_MS = 15 * 60_000;

/** When to reconcile again for the certificate's sake; undefined leaves it to the resync. */
export function certificateRequeueMs(c: CertificateCondition, lastTransitionTime: string | undefined, now: number): number | undefined {
  if (!c.pending || c.status === "True") return undefined;
  const since = Date.parse(lastTransitionTime ?? "");
  return Number.isFinite(since) && now - since > CERTIFICATE_RECHECK_WINDOW_MS ? undefined : CERTIFICATE_RECHECK_MS;
}
