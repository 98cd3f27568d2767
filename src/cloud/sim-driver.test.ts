import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSimConnection, saveSimConnection, type SimConnection } from "./sim-driver.ts";

test("a sim connection survives the round trip through a file only its owner can read", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mms-sim-conn-"));
  try {
    const conn: SimConnection = {
      baseUrl: "https://127.0.0.1:26990/1.0", ca: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
      credentials: { applicationKey: "a", applicationSecret: "b", consumerKey: "c" }, serviceName: "p", kubeId: "k",
    };
    const file = join(dir, "sim-ovh.json");
    await saveSimConnection(file, { ...conn, extra: "not saved" } as SimConnection);
    assert.deepEqual(await loadSimConnection(file), conn);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await writeFile(file, "{}");
    await assert.rejects(loadSimConnection(file), /is not a sim OVH API connection file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
