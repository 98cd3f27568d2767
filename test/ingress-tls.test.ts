// HTTPS for tenants, as a visitor meets it: the ingress controller the platform's chart installs on the
// real node (Traefik) gets each tenant domain's certificate with its own ACME client through HTTP-01 from
// the dev environment's Pebble, serves it by SNI, redirects HTTP to HTTPS, renews the certificate before it
// expires, and gets none for a domain that cannot be validated.
// Run alone: scripts/test test/ingress-tls.test.ts. Needs the real node with the ingress controller and a
// Matomo archive (tenants run real Matomo); skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { tenantNamespace } from "../src/api/names.ts";
import { PEBBLE_CERT_VALIDITY_SECONDS, type AcmeEndpoints } from "../src/devcluster/acme.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { challtestsrv, curl, ingressBed, traefikLog, verifiedHandshake, type Handshake } from "./support/ingress.ts";
import { createMatomoTenant, domainOf, getTenant, matomoBed, NEWER, removeMatomoTenant, type MatomoBed } from "./support/matomo.ts";

let bed: MatomoBed | undefined;
let acme: AcmeEndpoints | undefined;
let root = "";
let skip: string | undefined;
const tenant = uniqueName("tls");
const unvalidated = uniqueName("tls-nodns");

before(async () => {
  const b = await matomoBed([NEWER]);
  if ("skip" in b) {
    skip = b.skip;
    return;
  }
  const i = await ingressBed(b.http);
  if ("skip" in i) {
    skip = i.skip;
    return;
  }
  bed = b;
  acme = i.acme;
  root = i.root;
});

after(async () => {
  if (!bed || !acme) return;
  await challtestsrv(acme, "clear-servfail", { host: domainOf(unvalidated) }).catch(() => undefined);
  for (const t of [tenant, unvalidated]) await removeMatomoTenant(bed.http, t);
});

/** The tenant's CertificateReady condition, when the operator sets one. */
async function certificateReady(name: string): Promise<{ status: string; reason?: string; message?: string } | undefined> {
  const obj = await getTenant(bed!.http, name);
  return obj.status?.conditions?.find((c) => c.type === "CertificateReady");
}

describe("ingress: HTTPS for tenants with certificates from the local ACME server", () => {
  let first: Handshake | undefined;

  test("a tenant created with the CLI is served over HTTPS with a certificate chained to Pebble's root; HTTP redirects to HTTPS", async (t) => {
    if (!bed || !acme) return t.skip(skip);
    const domain = domainOf(tenant);
    const created = await createMatomoTenant(tenant, NEWER);
    assert.equal(created.code, 0, `mms tenant create --wait: ${created.stderr}`);
    const ingress = await bed.http.get<{ metadata: { annotations?: Record<string, string> } }>("networking.k8s.io/v1", "Ingress", "matomo", tenantNamespace(tenant));
    assert.equal(ingress.metadata.annotations?.["traefik.ingress.kubernetes.io/router.tls.certresolver"], acme.resolver,
      "the operator renders tenants' Ingresses for the ingress controller's ACME resolver (tenants.tls.mode ingress-acme)");

    first = await eventually(`a certificate for ${domain} that verifies against Pebble's root`, () => verifiedHandshake(acme!.ingressAddress, domain, root), 240_000);
    assert.match(first.altNames, new RegExp(`DNS:${domain.replaceAll(".", "\\.")}`));
    assert.match(first.issuer, /Pebble Intermediate CA/);
    const lifetime = (first.validTo.getTime() - first.validFrom.getTime()) / 1000;
    assert.ok(Math.abs(lifetime - PEBBLE_CERT_VALIDITY_SECONDS) <= 2, `Pebble's short validity (${lifetime} s)`);

    // What a user types: curl trusting only Pebble's root, the domain resolved to the ingress address.
    const js = await curl(`https://${domain}/matomo.js`, { resolve: acme.ingressAddress, cacert: acme.rootFile });
    assert.equal(js.status, 200);
    assert.match(js.body, /Matomo|piwik/i, "Matomo's tracker script, from the tenant's tracker");
    const plain = await curl(`http://${domain}/index.php?module=Login`, { resolve: acme.ingressAddress });
    // Permanent: Traefik answers 301 to GET and HEAD, 308 to the other methods (which must keep their body).
    assert.ok([301, 308].includes(plain.status), `plain HTTP is permanently redirected (HTTP ${plain.status})`);
    assert.equal(plain.location, `https://${domain}/index.php?module=Login`);
    const challenge = await curl(`http://${domain}/.well-known/acme-challenge/not-a-token`, { resolve: acme.ingressAddress });
    assert.ok(![301, 308].includes(challenge.status), `ACME HTTP-01 challenges are answered on port 80, not redirected (HTTP ${challenge.status})`);

    // The operator sees it too: it makes the same handshake, trusting Pebble's root.
    await eventually("CertificateReady True", async () => ((await certificateReady(tenant))?.status === "True" ? true : undefined), 180_000);
  });

  test("the certificate is renewed before it expires: a later handshake shows a new serial, still chained to Pebble's root", async (t) => {
    if (!bed || !acme || !first) return t.skip(skip ?? "no certificate was issued above");
    const domain = domainOf(tenant);
    // Traefik renews what expires within 20 minutes, looking every minute: a 22-minute certificate is
    // renewed 2–3 minutes after it was issued.
    const deadline = first.validFrom.getTime() + (PEBBLE_CERT_VALIDITY_SECONDS - 10 * 60) * 1000;
    let latest = first;
    while (latest.serial === first.serial && Date.now() < deadline) {
      await sleep(5_000);
      latest = await verifiedHandshake(acme.ingressAddress, domain, root).catch(() => latest);
    }
    assert.notEqual(latest.serial, first.serial, `a new certificate for ${domain} before ${new Date(deadline).toISOString()}`);
    assert.ok(latest.validTo > first.validTo, "the new one lasts longer");
    assert.equal((await curl(`https://${domain}/matomo.js`, { resolve: acme.ingressAddress, cacert: acme.rootFile })).status, 200);
  });

  test("a domain that cannot be validated gets no certificate, and the tenant says so", async (t) => {
    if (!bed || !acme) return t.skip(skip);
    const domain = domainOf(unvalidated);
    // Pebble's DNS answers SERVFAIL for the domain: the HTTP-01 validation cannot even start.
    await challtestsrv(acme, "set-servfail", { host: domain });
    const since = new Date(Date.now() - 1000);
    const created = await createMatomoTenant(unvalidated, NEWER);
    assert.equal(created.code, 0, `Ready does not wait for a certificate: ${created.stderr}`);
    const log = await eventually(`Traefik's ACME client giving up on ${domain}`, async () => {
      const text = await traefikLog(bed!.kubectl, bed!.kubeconfig, since);
      return text.split("\n").find((l) => l.includes(domain) && /Unable to obtain ACME certificate/i.test(l));
    }, 240_000);
    assert.match(log, /SERVFAIL|DNS problem|dns/i, "refused for its DNS, as set");
    await assert.rejects(verifiedHandshake(acme.ingressAddress, domain, root), /SELF_SIGNED|self.signed|unable to verify|altname/i, "only Traefik's default certificate is served");
    const cond = await eventually("CertificateReady False", async () => {
      const c = await certificateReady(unvalidated);
      return c?.status === "False" ? c : undefined;
    }, 180_000);
    assert.match(cond.message ?? "", new RegExp(domain.replaceAll(".", "\\.")), "the condition names the domain");
  });
});
