// Benchmark: create N real-Matomo tenants at once on the running dev environment (its real node, with the
// ingress controller and Pebble) and measure, for each, the time from create to the first certificate for
// its domain that verifies against Pebble's root at the ingress address (a TLS handshake every second);
// also create → Ready, for comparison (the certificate does not wait for Ready). Prints one JSON object as its last line.
// Usage: scripts/node bench/ingress-tls.ts [--count 10] [--timeout-seconds 900]
// Timings are never asserted anywhere: they depend on the machine and on Pebble's retry hints.
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { REAL_NODE_PLAN } from "../src/devcluster/components.ts";
import { archiveVersion, locateMatomoArchive } from "../src/devcluster/images.ts";
import { condition, createTenant } from "../src/tenants/service.ts";
import { ingressBed, verifiedHandshake } from "../test/support/ingress.ts";
import { matomoBed, NEWER, removeMatomoTenant } from "../test/support/matomo.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "10" },
    "timeout-seconds": { type: "string", default: "900" },
  },
});
const count = Number(values.count);
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const round = (x: number) => Math.round(x * 10) / 10;

const bed = await matomoBed([NEWER]);
if ("skip" in bed) throw new Error(`cannot run: ${bed.skip}`);
const ing = await ingressBed(bed.http);
if ("skip" in ing) throw new Error(`cannot run: ${ing.skip}`);
const archive = await locateMatomoArchive({});
const version = archive ? await archiveVersion(archive) : NEWER;
const tag = Date.now().toString(36).slice(-5);
const names = Array.from({ length: count }, (_, i) => `tlsb-${tag}-${String(i).padStart(2, "0")}`);
const domain = (n: string) => `analytics.${n}.bench.test`;

const createdAt = new Map<string, number>();
const certAt = new Map<string, number>();
const readyAt = new Map<string, number>();
const deadline = Date.now() + Number(values["timeout-seconds"]) * 1000;
try {
  const t0 = Date.now();
  await Promise.all(names.map(async (name) => {
    createdAt.set(name, Date.now());
    await createTenant(bed.http, { name, domains: [domain(name)], plan: REAL_NODE_PLAN, matomoVersion: version });
  }));
  const watchReady = (async () => {
    while (readyAt.size < count && Date.now() < deadline) {
      for (const t of (await bed.http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant")).items) {
        if (createdAt.has(t.metadata.name) && !readyAt.has(t.metadata.name) && condition(t, "Ready")?.status === "True") readyAt.set(t.metadata.name, Date.now());
      }
      await sleep(500);
    }
  })();
  await Promise.all(names.map(async (name) => {
    while (Date.now() < deadline) {
      const ok = await verifiedHandshake(ing.acme.ingressAddress, domain(name), ing.root).then(() => true, () => false);
      if (ok) {
        certAt.set(name, Date.now());
        return;
      }
      await sleep(1_000);
    }
  }));
  await watchReady;
  const since = (m: Map<string, number>) => [...m].map(([n, at]) => (at - (createdAt.get(n) ?? t0)) / 1000);
  const cert = since(certAt);
  const ready = since(readyAt);
  console.log(JSON.stringify({
    benchmark: "ingress-tls", measure: "create → first certificate verified against Pebble's root at the ingress", tenants: count, matomoVersion: version,
    certificates: certAt.size, p50Seconds: round(quantile(cert, 0.5)), p95Seconds: round(quantile(cert, 0.95)), maxSeconds: round(Math.max(...cert)),
    // Ready waits for Matomo's own probes; the certificate comes as soon as tracker and web have endpoints.
    readyP50Seconds: round(quantile(ready, 0.5)), readyP95Seconds: round(quantile(ready, 0.95)),
  }));
} finally {
  for (const name of names) await removeMatomoTenant(bed.http, name).catch(() => undefined);
}
