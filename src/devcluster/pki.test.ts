import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePki } from "./pki.ts";

test("the API server's certificate names the Service IP; another Service IP re-signs it alone, keeping the CA and the admin key", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mms-pki-"));
  try {
    const first = await ensurePki(dir, "198.18.164.1");
    const cert = async () => new X509Certificate(await readFile(first.apiserverCert));
    assert.match((await cert()).subjectAltName ?? "", /IP Address:198\.18\.164\.1\b/);
    const ca = await readFile(first.caCert, "utf8");
    const admin = await readFile(first.adminKey, "utf8");
    await ensurePki(dir, "198.18.4.1");
    const again = await cert();
    assert.match(again.subjectAltName ?? "", /IP Address:198\.18\.4\.1\b/);
    assert.doesNotMatch(again.subjectAltName ?? "", /198\.18\.164\.1/);
    assert.ok(again.verify(new X509Certificate(ca).publicKey), "signed by the same CA");
    assert.equal(await readFile(first.caCert, "utf8"), ca);
    assert.equal(await readFile(first.adminKey, "utf8"), admin);

    // An environment made before the API server had a kubelet client certificate gains one, and only that.
    await rm(first.kubeletClientCert);
    await ensurePki(dir, "198.18.4.1");
    const client = new X509Certificate(await readFile(first.kubeletClientCert));
    assert.match(client.subject, /O=system:masters/);
    assert.ok(client.verify(new X509Certificate(ca).publicKey));
    assert.equal(await readFile(first.caCert, "utf8"), ca);
    assert.equal(await readFile(first.adminKey, "utf8"), admin);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
