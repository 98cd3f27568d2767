import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { DEFAULT_PORT_BASE, isPortFree, parsePortBase, portsFrom } from "./ports.ts";
import { UserError } from "../util/errors.ts";

test("ports are distinct offsets from one base", () => {
  const ports = Object.values(portsFrom(DEFAULT_PORT_BASE));
  assert.equal(new Set(ports).size, ports.length);
  assert.equal(portsFrom(20000).apiserver, 20443);
});

test("a bad port base is refused with the accepted range", () => {
  for (const bad of ["80", "abc", "70000", "1e4"]) {
    assert.throws(() => parsePortBase(bad), (e: unknown) => e instanceof UserError && /from 1024 to 64000/.test(e.message));
  }
  assert.equal(parsePortBase(undefined), DEFAULT_PORT_BASE);
});

test("a port held by a listener is reported as taken", async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  try {
    assert.equal(await isPortFree(port), false);
  } finally {
    await new Promise((r) => srv.close(r));
  }
  assert.equal(await isPortFree(port), true);
});
