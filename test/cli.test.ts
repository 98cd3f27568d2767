// The CLI as a user meets it: help, bad input answered with one clear sentence and a non-zero
// exit, and a full up/status/env/down cycle of a second, isolated environment.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { COMPONENT_NAMES } from "../src/devcluster/components.ts";
import { isPortFree, portsFrom } from "../src/devcluster/ports.ts";
import type { DevState } from "../src/devcluster/state.ts";
import { type Run, runMms } from "./helpers.ts";



const mms = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runMms(args, env);

const homes: string[] = [];
async function isolatedHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "mms-it-"));
  homes.push(home);
  return home;
}
after(async () => {
  for (const h of homes) {
    await mms(["dev", "down"], { MMS_DEV_HOME: h });
    await rm(h, { recursive: true, force: true });
  }
});

/** One line on stderr that starts with "error:". */
function assertOneSentence(r: Run, pattern: RegExp): void {
  assert.notEqual(r.code, 0, "must exit non-zero");
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, `expected one error line, got:\n${r.stderr}`);
  assert.match(errors[0] ?? "", pattern);
}

describe("mms CLI", () => {
  test("--help lists the command groups", async () => {
    const r = await mms(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: mms/);
    assert.match(r.stdout, /\bdev\b.*cluster-in-a-box/);
    const dev = await mms(["dev", "--help"]);
    for (const sub of ["up", "down", "status", "env", "reset"]) assert.match(dev.stdout, new RegExp(`\\b${sub}\\b`));
  });

  test("bad input is refused with one sentence, and starts nothing", async (t) => {
    const home = await isolatedHome();
    const env = { MMS_DEV_HOME: home, MMS_DEV_PORT_BASE: "28000" };
    await t.test("--nodes 0", async () => assertOneSentence(await mms(["dev", "up", "--nodes", "0"], env), /--nodes must be from 1 to/));
    await t.test("--nodes abc", async () => assertOneSentence(await mms(["dev", "up", "--nodes", "abc"], env), /--nodes must be a whole number/));
    await t.test("unknown subcommand", async () => assertOneSentence(await mms(["dev", "frobnicate"], env), /unknown command 'frobnicate'/));
    await t.test("unknown output format", async () => assertOneSentence(await mms(["dev", "status", "-o", "xml"], env), /xml.*invalid|Allowed choices/));
    await t.test("bad port base", async () => assertOneSentence(await mms(["dev", "up"], { MMS_DEV_HOME: home, MMS_DEV_PORT_BASE: "80" }), /MMS_DEV_PORT_BASE must be/));
    assert.ok(!existsSync(join(home, "state.json")), "no state may be written for rejected input");
  });

  test("a port taken by another program stops `dev up` before anything starts", async () => {
    const home = await isolatedHome();
    const base = 28100;
    const ports = portsFrom(base);
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(ports.redis, "127.0.0.1", r));
    try {
      const r = await mms(["dev", "up"], { MMS_DEV_HOME: home, MMS_DEV_PORT_BASE: String(base) });
      assertOneSentence(r, new RegExp(`port ${ports.redis} .*already in use`));
      for (const [name, port] of Object.entries(ports)) {
        if (port !== ports.redis) assert.ok(await isPortFree(port), `${name} port ${port} must not be listening`);
      }
      const state = existsSync(join(home, "state.json")) ? (JSON.parse(readFileSync(join(home, "state.json"), "utf8")) as DevState) : undefined;
      assert.deepEqual(state?.processes ?? {}, {});
    } finally {
      squatter.close();
    }
  });

  test("an isolated environment comes up with N Ready nodes, reports itself, and `dev down` leaves nothing running", async () => {
    const home = await isolatedHome();
    const base = 27000;
    const env = { MMS_DEV_HOME: home, MMS_DEV_PORT_BASE: String(base) };
    const upRun = await mms(["dev", "up", "--nodes", "2", "--real-nodes", "0", "-o", "json"], env);
    assert.equal(upRun.code, 0, upRun.stderr);
    const status = JSON.parse(upRun.stdout) as { healthy: boolean; nodes: { ready: number } };
    assert.equal(status.healthy, true);
    assert.equal(status.nodes.ready, 2);

    const exports = (await mms(["dev", "env"], env)).stdout;
    const value = (k: string) => new RegExp(`^export ${k}='([^']*)'$`, "m").exec(exports)?.[1] ?? "";
    const kubectl = join(value("PATH").split(":")[0] ?? "", "kubectl");
    const nodes = await promisify(execFile)(kubectl, ["--kubeconfig", value("KUBECONFIG"), "get", "nodes", "--no-headers"]);
    const lines = nodes.stdout.trim().split("\n");
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, /\sReady\s/);

    const again = await mms(["dev", "up", "--nodes", "2", "--real-nodes", "0"], env);
    assert.equal(again.code, 0);
    assert.match(again.stderr, /already up/);

    const stateBefore = JSON.parse(readFileSync(join(home, "state.json"), "utf8")) as DevState;
    const pids = Object.values(stateBefore.processes).map((p) => p.pid);
    assert.equal(pids.length, COMPONENT_NAMES.length, "one process per component");
    const downRun = await mms(["dev", "down"], env);
    assert.equal(downRun.code, 0, downRun.stderr);
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}/cmdline`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"), `pid ${pid} still runs`);
    for (const [name, port] of Object.entries(portsFrom(base))) assert.ok(await isPortFree(port), `${name} still listens on ${port}`);
  });
});
