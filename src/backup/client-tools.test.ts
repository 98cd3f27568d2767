import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { describeExit, lastLine, optionFileValue, writeCredentials } from "./client-tools.ts";

test("option file values are quoted so any password reads back unchanged", () => {
  assert.equal(optionFileValue("plain"), "\"plain\"");
  assert.equal(optionFileValue("a\"b\\c#d;e f"), "\"a\\\"b\\\\c#d;e f\"");
  assert.equal(optionFileValue("x\ny"), "\"x\\ny\"");
});

test("credentials live in a file only the owner can read, which is gone after dispose", async () => {
  const c = await writeCredentials({ host: "127.0.0.1", port: 3306, adminUser: "admin", adminPassword: "s3cr\"t" });
  const file = c.option.replace("--defaults-extra-file=", "");
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.match(await readFile(file, "utf8"), /^\[client\]\nuser="admin"\npassword="s3cr\\"t"\n$/);
  assert.ok(!c.option.includes("s3cr"), "the password is not on the command line");
  await c.dispose();
  assert.equal(existsSync(file), false);
});

test("a failed program is described by its exit and the last line it wrote", () => {
  const stderr = "Warning: something\nmariadb-dump: Got error: 2002: Can't connect.\n";
  assert.equal(lastLine(stderr), "mariadb-dump: Got error: 2002: Can't connect.");
  assert.equal(describeExit("mariadb-dump", { code: 2, signal: null, stderr }), "mariadb-dump exited with code 2 (mariadb-dump: Got error: 2002: Can't connect)");
  assert.equal(describeExit("mariadb", { code: null, signal: "SIGKILL", stderr: "" }), "mariadb was killed by SIGKILL");
});
