// KubeHttp against an HTTPS server that cuts its answer off mid-body: the call must end (a read is asked
// again, then fails with a sentence) instead of waiting forever, as a test once did after a plan change.
// Runs against a local server with the dev environment's kind of certificates, not the dev environment.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePki, writeKubeconfig } from "../src/devcluster/pki.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";

let dir: string;
let server: Server;
let http: KubeHttp;
let calls = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mms-kube-http-"));
  const pki = await ensurePki(dir, "198.18.164.1");
  server = createServer({ cert: await readFile(pki.apiserverCert), key: await readFile(pki.apiserverKey) }, (req, res) => {
    calls++;
    if (req.url?.includes("/namespaces/whole/")) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ metadata: {}, items: [{ metadata: { name: "web" } }] }));
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "100000" });
    res.write('{"metadata":{},"items":[');
    setTimeout(() => req.socket.destroy(), 50);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  const kubeconfig = join(dir, "kubeconfig");
  await writeKubeconfig(kubeconfig, `https://127.0.0.1:${port}`, pki);
  http = new KubeHttp(loadKubeConfig({ kubeconfig }));
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

test("a response cut off mid-body ends the call: a read is asked three times, then fails with a sentence", async () => {
  calls = 0;
  await assert.rejects(http.list("apps/v1", "Deployment", "cut"), /the API server's response to GET \/apis\/apps\/v1\/namespaces\/cut\/deployments was cut off/);
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(http.mergePatch("apps/v1", "Deployment", "web", { spec: {} }, "cut"), /was cut off/);
  assert.equal(calls, 1, "a write is not sent again: it may have been applied");
  assert.deepEqual((await http.list<{ metadata: { name: string } }>("apps/v1", "Deployment", "whole")).items.map((d) => d.metadata.name), ["web"]);
});
