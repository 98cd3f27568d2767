import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acmeEndpoints, challtestsrvArgs, ingressAddress, ingressDevValues, PEBBLE_CERT_VALIDITY_SECONDS, PEBBLE_ENV, pebbleConfig, tenantsTlsDevValues } from "./acme.ts";
import { addressPlan, inClusterRange } from "./addresses.ts";
import { COMPONENTS, componentsFor, devTimings, type Context } from "./components.ts";
import { resolveInputs, splitImageRef, stageContext, traefikImageRef } from "./images.ts";
import { devPaths } from "./paths.ts";
import { pkiFiles } from "./pki.ts";
import { portsFrom } from "./ports.ts";
import { createProgress } from "../util/progress.ts";

const plan = addressPlan(35300);
const ports = portsFrom(35300);

function ctx(): Context {
  return {
    paths: devPaths("/tmp/mms-acme-unit"), ports, pki: pkiFiles("/tmp/mms-acme-unit/pki"), timings: devTimings({}), addresses: plan, realNodes: 1,
    bins: { kubernetes: "/b/k", etcd: "/b/e", kwok: "/b/w", seaweedfs: "/b/s", pebble: "/b/p" },
    secrets: { mariadbAdminPassword: "pw-m", redisPassword: "pw-r", s3AccessKey: "key-a", s3SecretKey: "secret-s" },
    system: { mariadbd: "/m", mariadbInstallDb: "/mi", redisServer: "/r" },
  };
}

test("the ingress controller's address is a fixed ClusterIP of the environment's Service range", () => {
  const ip = ingressAddress(plan);
  assert.ok(inClusterRange(ip), ip);
  const [net] = plan.serviceCidr.split("/");
  assert.equal(ip.split(".").slice(0, 2).join("."), net!.split(".").slice(0, 2).join("."));
  assert.equal(Number(ip.split(".")[3]), Number(net!.split(".")[3]) + 80);
  assert.notEqual(ip, plan.dnsServiceIp);
});

test("Pebble: validates HTTP-01 on port 80, short certificates, no sleep and no nonce rejected on purpose", () => {
  const config = JSON.parse(pebbleConfig({ listen: "198.18.80.1:35590", management: "127.0.0.1:35591", cert: "/c", key: "/k" })) as { pebble: Record<string, unknown> };
  assert.equal(config.pebble.httpPort, 80);
  assert.deepEqual(config.pebble.profiles, { default: { description: (config.pebble.profiles as { default: { description: string } }).default.description, validityPeriod: PEBBLE_CERT_VALIDITY_SECONDS } });
  assert.ok(PEBBLE_CERT_VALIDITY_SECONDS > 20 * 60 && PEBBLE_CERT_VALIDITY_SECONDS < 30 * 60, "renewed a few minutes after each issuance, within Traefik's 20-minute window");
  assert.deepEqual(PEBBLE_ENV, { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" });
  const args = challtestsrvArgs({ dns: ["127.0.0.1:1"], management: "127.0.0.1:2", defaultIPv4: "198.18.84.80" });
  assert.equal(args[args.indexOf("-defaultIPv4") + 1], "198.18.84.80");
  for (const off of ["-defaultIPv6", "-http01", "-https01", "-doh", "-tlsalpn01"]) assert.equal(args[args.indexOf(off) + 1], "", `${off} is off`);
});

test("Pebble and challtestsrv run with a real node only, listening on loopback or the environment's bridge address", () => {
  assert.ok(!componentsFor(0).some((c) => c.name === "pebble" || c.name === "challtestsrv"));
  assert.ok(componentsFor(1).some((c) => c.name === "pebble") && componentsFor(1).some((c) => c.name === "challtestsrv"));
  const c = ctx();
  const challtestsrv = COMPONENTS.find((x) => x.name === "challtestsrv")!.spec(c).args;
  const listens = [challtestsrv[challtestsrv.indexOf("-dnsserver") + 1]!.split(","), challtestsrv[challtestsrv.indexOf("-management") + 1]!].flat();
  const config = JSON.parse(pebbleConfig({ listen: `${plan.hostIp}:${ports.pebble}`, management: `127.0.0.1:${ports.pebbleManagement}`, cert: "", key: "" })) as { pebble: { listenAddress: string; managementListenAddress: string } };
  for (const l of [...listens, config.pebble.listenAddress, config.pebble.managementListenAddress]) {
    const host = l.slice(0, l.lastIndexOf(":"));
    assert.ok(host === "127.0.0.1" || (inClusterRange(host) && host === plan.hostIp), `${l} is loopback or the bridge address`);
  }
  const pebble = COMPONENTS.find((x) => x.name === "pebble")!.spec(c);
  assert.equal(pebble.args[pebble.args.indexOf("-dnsserver") + 1], `127.0.0.1:${ports.challtestsrvDns}`);
  assert.equal(pebble.env?.PEBBLE_VA_NOSLEEP, "1");
});

test("the dev values put Traefik's resolver on Pebble, one replica on the real node, at the fixed address", () => {
  const e = acmeEndpoints({ home: "/h" }, "/h/pki/ca.crt", plan, ports);
  assert.equal(e.directory, `https://${plan.hostIp}:${ports.pebble}/dir`);
  assert.equal(e.rootFile, "/h/pebble/root.pem");
  const v = ingressDevValues(e, { image: splitImageRef(traefikImageRef()), serverCa: "-----BEGIN CERTIFICATE-----\n", nodeSelector: { a: "b" }, tolerations: [] }) as { ingressController: Record<string, Record<string, unknown>> };
  const ic = v.ingressController;
  assert.equal(ic.replicas, 1);
  assert.deepEqual(ic.image, { repository: "localhost/mms-dev/traefik", tag: "v3.6.12", digest: "", pullPolicy: "Never" });
  assert.deepEqual(ic.service, { type: "ClusterIP", clusterIP: ingressAddress(plan) });
  assert.equal(ic.acme!.caServer, e.directory);
  assert.deepEqual(tenantsTlsDevValues(e), { mode: "ingress-acme", acmeResolver: "letsencrypt", ingressService: "traefik/traefik", acmeCaSecret: "acme-root-ca" });
});

test("the Traefik image: a local name, built from the Go binary alone, only when asked for", async () => {
  assert.match(traefikImageRef(), /^localhost\/mms-dev\/traefik:v3\.6\.12$/);
  const progress = createProgress(process.stderr, true);
  const repo = join(import.meta.dirname, "../..");
  assert.deepEqual(await resolveInputs({ progress, only: "traefik" }, {}, repo), { mms: false, traefik: true });
  const none = await resolveInputs({ progress, only: "mms" }, {}, repo);
  assert.equal(none.traefik, undefined);
  const dir = await mkdtemp(join(tmpdir(), "mms-traefik-"));
  try {
    await writeFile(join(dir, "traefik-bin"), "binary");
    const context = await stageContext("traefik", [{ from: join(dir, "traefik-bin"), to: "traefik" }], dir, repo);
    assert.ok(existsSync(join(context, "Dockerfile")));
    assert.equal(await readFile(join(context, "dist", "traefik"), "utf8"), "binary");
    const dockerfile = await readFile(join(context, "Dockerfile"), "utf8");
    assert.match(dockerfile, /^USER 65532:65532$/m);
    assert.match(dockerfile, /^COPY dist\/traefik /m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
