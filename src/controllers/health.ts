// The health and metrics endpoints every controller process serves on 127.0.0.1:PORT (or, in a pod,
// on every address, where the kubelet's probes reach it).
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export function serveHealth(port: number, leading: () => boolean, registry: Registry, address = "127.0.0.1"): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === "/healthz") {
      res.writeHead(200).end("ok");
    } else if (req.url === "/readyz") {
      res.writeHead(leading() ? 200 : 503).end(leading() ? "leading" : "waiting for the leader lease");
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => resolve(server));
  });
}
