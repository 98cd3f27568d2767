import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOurs, startDetached, stopProcess } from "./processes.ts";

test("a detached process is recognised by pid and executable, and stopping it ends it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mms-proc-"));
  const sleep = execFileSync("sh", ["-c", "command -v sleep"], { encoding: "utf8" }).trim();
  try {
    const pid = startDetached({ command: sleep, args: ["60"] }, join(dir, "sleep.log"));
    assert.equal(isOurs(pid, sleep), true);
    assert.equal(isOurs(pid, "/bin/sh"), false, "another executable under the same pid is not ours");
    await stopProcess(pid, sleep, 2000);
    assert.equal(isOurs(pid, sleep), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
