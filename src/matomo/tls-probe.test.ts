import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";
import { probeCertificate } from "./tls-probe.ts";

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A CA, a certificate it signed for a.test, and a self-signed one like Traefik's default. */
function makeCertificates() {
  const dir = mkdtempSync(join(tmpdir(), "tls-probe-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Probe Test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  ssl("req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=a.test");
  writeFileSync(join(dir, "leaf.ext"), "subjectAltName=DNS:a.test\n");
  ssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "1", "-extfile", "leaf.ext");
  ssl("req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.pem", "-days", "1", "-subj", "/CN=TRAEFIK DEFAULT CERT");
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  const out = { ca: read("ca.pem"), leaf: { cert: read("leaf.pem"), key: read("leaf.key") }, self: { cert: read("self.pem"), key: read("self.key") } };
  rmSync(dir, { recursive: true, force: true });
  return out;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

const openssl = hasOpenssl();

test("a TLS handshake per domain tells an issued certificate from the ingress's default one, a wrong name and an untrusted CA", { skip: openssl ? false : "openssl is not installed: the probe's test certificates cannot be made" }, async () => {
  const c = makeCertificates();
  // As Traefik does: the resolver's certificate for a.test, its self-signed default for any other name.
  const server = createServer(c.self);
  server.addContext("a.test", c.leaf);
  const port = await listen(server);
  try {
    const ok = await probeCertificate("127.0.0.1", port, "a.test", { ca: c.ca });
    assert.ok(ok.valid, JSON.stringify(ok));
    assert.ok(Date.parse(ok.validTo) > Date.now(), "the expiry date is given");

    const other = await probeCertificate("127.0.0.1", port, "b.test", { ca: c.ca });
    assert.ok(!other.valid);
    assert.match(other.error, /self-signed.*TRAEFIK DEFAULT CERT/, "the default certificate is named, so a person knows nothing was issued");

    const untrusted = await probeCertificate("127.0.0.1", port, "a.test");
    assert.ok(!untrusted.valid);
    assert.match(untrusted.error, /not signed by a trusted CA|not trusted/, "the system roots do not trust a private CA");
  } finally {
    server.close();
  }

  const wrongName = createServer(c.leaf);
  const port2 = await listen(wrongName);
  try {
    const r = await probeCertificate("127.0.0.1", port2, "b.test", { ca: c.ca });
    assert.ok(!r.valid);
    assert.match(r.error, /for other names.*a\.test/);
  } finally {
    wrongName.close();
  }
});

test("an ingress that does not answer or hangs gives a failure within the timeout, not an exception", async () => {
  const silent = createTcpServer(() => { /* accepts, never speaks TLS */ });
  const port = await listen(silent);
  try {
    const started = Date.now();
    const r = await probeCertificate("127.0.0.1", port, "a.test", { timeoutMs: 200 });
    assert.ok(!r.valid);
    assert.match(r.error, /no TLS handshake .* within 200 ms/);
    assert.ok(Date.now() - started < 2_000);
  } finally {
    silent.close();
  }
  const closed = await probeCertificate("127.0.0.1", port, "a.test", { timeoutMs: 500 });
  assert.ok(!closed.valid);
  assert.match(closed.error, /cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/);
});
