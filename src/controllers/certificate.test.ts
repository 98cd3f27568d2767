import { test } from "node:test";
import assert from "node:assert/strict";
import { TenantSpec, type MatomoTenant } from "../api/tenant.ts";
import { DEFAULT_PLATFORM } from "../render/tenant.ts";
import { CERTIFICATE_RECHECK_MS, CERTIFICATE_RECHECK_WINDOW_MS, certificateCheck, certificateCondition, certificateRequeueMs, type CertificateObservation } from "./certificate.ts";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const platform = { ...DEFAULT_PLATFORM, clusterIssuer: "letsencrypt-prod", acmeResolver: "letsencrypt" };
const condition = (obs: CertificateObservation) => certificateCondition("acme", obs, platform);
const tenant = (spec: Record<string, unknown> = {}): MatomoTenant => ({
  apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant", metadata: { name: "acme" },
  spec: TenantSpec.parse({ domains: ["a.acme.test"], ...spec }),
});

test("cert-manager mode: the Certificate's Ready condition is copied, with the expiry once issued", () => {
  const issued = condition({ mode: "cert-manager", installed: true, certificate: { status: { notAfter: "2027-03-01T12:00:00Z", conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "Certificate is up to date and has not expired" }] } } });
  assert.deepEqual([issued.status, issued.reason], ["True", "Ready"]);
  assert.equal(issued.message, "Certificate mt-acme/matomo-tls: Certificate is up to date and has not expired; valid until 2027-03-01T12:00:00Z");
  assert.equal(issued.pending, false);

  const failing = condition({ mode: "cert-manager", installed: true, certificate: { status: { conditions: [{ type: "Issuing", status: "True" }, { type: "Ready", status: "False", reason: "DoesNotExist", message: "Issuing certificate as Secret does not exist" }] } } });
  assert.deepEqual([failing.status, failing.reason, failing.pending], ["False", "DoesNotExist", true]);
  assert.match(failing.message, /^Certificate mt-acme\/matomo-tls: Issuing certificate as Secret does not exist$/);

  const fresh = condition({ mode: "cert-manager", installed: true, certificate: {} });
  assert.deepEqual([fresh.status, fresh.reason, fresh.pending], ["Unknown", "Pending", true]);
});

test("cert-manager mode: a cluster without cert-manager, and a Certificate cert-manager has not made, say what to do", () => {
  const missing = condition({ mode: "cert-manager", installed: false, certificate: undefined });
  assert.deepEqual([missing.status, missing.reason, missing.pending], ["False", "CertManagerMissing", false]);
  assert.match(missing.message, /^cert-manager is not installed.*ClusterIssuer "letsencrypt-prod".*--tls ingress-acme/);

  const notMade = condition({ mode: "cert-manager", installed: true, certificate: undefined });
  assert.deepEqual([notMade.status, notMade.reason, notMade.pending], ["False", "CertificateMissing", true]);
  assert.match(notMade.message, /kubectl get clusterissuer letsencrypt-prod/);
});

test("ingress-acme mode: True with the expiry dates when every domain gets a valid certificate, else which domain and why", () => {
  const ok = condition({ mode: "ingress-acme", served: [
    { domain: "a.acme.test", valid: true, validTo: "2027-02-28T10:00:00.000Z" },
    { domain: "b.acme.test", valid: true, validTo: "2027-02-28T10:05:00.000Z" },
  ] });
  assert.deepEqual([ok.status, ok.reason, ok.pending], ["True", "Issued", false]);
  assert.equal(ok.message, "the ingress serves a valid certificate for a.acme.test (until 2027-02-28T10:00:00.000Z), b.acme.test (until 2027-02-28T10:05:00.000Z)");

  const one = condition({ mode: "ingress-acme", served: [
    { domain: "a.acme.test", valid: true, validTo: "2027-02-28T10:00:00.000Z" },
    { domain: "b.acme.test", valid: false, reached: true, error: "the certificate is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT); it serves CN=TRAEFIK DEFAULT CERT" },
  ] });
  assert.deepEqual([one.status, one.reason, one.pending], ["False", "NotIssued", true]);
  assert.equal(one.message, "the ingress serves no valid certificate for b.acme.test yet: the certificate is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT); it serves CN=TRAEFIK DEFAULT CERT; " +
    "its domain must resolve to the ingress for the ACME HTTP-01 challenge (certificate resolver \"letsencrypt\")");

  const two = condition({ mode: "ingress-acme", served: [
    { domain: "a.acme.test", valid: false, reached: true, error: "e1" },
    { domain: "b.acme.test", valid: false, reached: true, error: "e2" },
  ] });
  assert.match(two.message, /a\.acme\.test yet: e1; nor for b\.acme\.test: e2; each of these domains must resolve/);

  const down = condition({ mode: "ingress-acme", served: [{ domain: "a.acme.test", valid: false, reached: false, error: "cannot reach 10.0.0.9:443: ECONNREFUSED" }] });
  assert.deepEqual([down.status, down.reason, down.pending], ["False", "IngressUnreachable", true]);
});

test("no secret or oversized text reaches the condition: messages are bounded", () => {
  const long = condition({ mode: "ingress-acme", served: Array.from({ length: 40 }, (_, i) => ({ domain: `d${i}.acme.test`, valid: false as const, reached: true, error: "x".repeat(200) })) });
  assert.ok(long.message.length <= 2000, "within the CRD's 2048 characters");
});

test("what is checked: cert-manager's Certificate once the Ingress exists; the ingress only for a running tenant on real nodes", () => {
  const up = (d: "tracker" | "web") => (d === "web" ? 1 : 2);
  assert.equal(certificateCheck(tenant(), { tlsMode: "cert-manager" }, () => undefined, false), undefined, "nothing applied yet");
  assert.equal(certificateCheck(tenant({ suspended: true }), { tlsMode: "cert-manager" }, up, true), "cert-manager", "cert-manager issues whatever the pods do");
  assert.equal(certificateCheck(tenant(), { tlsMode: "ingress-acme" }, up, false), "probe");
  assert.deepEqual(certificateCheck(tenant(), { tlsMode: "ingress-acme" }, up, true), { skipped: "Simulated" });
  assert.deepEqual(certificateCheck(tenant({ suspended: true }), { tlsMode: "ingress-acme" }, up, false), { skipped: "Suspended" });
  assert.deepEqual(certificateCheck(tenant(), { tlsMode: "ingress-acme" }, (d) => (d === "web" ? 0 : 1), false), { skipped: "WaitingForWorkloads" });
  const sim = condition({ skipped: "Simulated" });
  assert.deepEqual([sim.status, sim.reason, sim.pending], ["Unknown", "Simulated", false]);
});

test("a pending certificate is looked at every 15 s for 15 minutes after it went False, then at the resync only", () => {
  const pending = condition({ mode: "ingress-acme", served: [{ domain: "a.acme.test", valid: false, reached: true, error: "e" }] });
  assert.equal(certificateRequeueMs(pending, new Date(NOW - 60_000).toISOString(), NOW), CERTIFICATE_RECHECK_MS);
  assert.equal(certificateRequeueMs(pending, new Date(NOW - CERTIFICATE_RECHECK_WINDOW_MS - 1).toISOString(), NOW), undefined, "a domain that never resolves costs little");
  const missing = condition({ mode: "cert-manager", installed: false, certificate: undefined });
  assert.equal(certificateRequeueMs(missing, new Date(NOW).toISOString(), NOW), undefined, "installing cert-manager takes a person: the resync is soon enough");
  const ok = condition({ mode: "ingress-acme", served: [{ domain: "a.acme.test", valid: true, validTo: "2027-01-01T00:00:00.000Z" }] });
  assert.equal(certificateRequeueMs(ok, new Date(NOW).toISOString(), NOW), undefined);
});
