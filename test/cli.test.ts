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
import { addressPlan } from "../src/devcluster/addresses.ts";
import { componentsFor } from "../src/devcluster/components.ts";
import { netNames } from "../src/devcluster/real-node.ts";
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
    await t.test("--real-nodes -1", async () => assertOneSentence(await mms(["dev", "up", "--real-nodes", "-1"], env), /--real-nodes must be a whole number, 0 or 1, not "-1"/));
    await t.test("--real-nodes abc", async () => assertOneSentence(await mms(["dev", "up", "--real-nodes", "abc"], env), /--real-nodes must be a whole number, 0 or 1, not "abc"/));
    await t.test("--real-nodes 2", async () => assertOneSentence(await mms(["dev", "up", "--real-nodes", "2"], env), /--real-nodes must be 0 or 1/));
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

  test("an isolated environment comes up with N simulated nodes and a real one, reports itself, and `dev down` leaves nothing behind", async () => {
    const home = await isolatedHome();
    const base = 27000;
    const env = { MMS_DEV_HOME: home, MMS_DEV_PORT_BASE: String(base) };
    const plan = addressPlan(base);
    const machineBefore = await machineState();
    const upRun = await mms(["dev", "up", "--nodes", "2", "-o", "json"], env);
    assert.equal(upRun.code, 0, upRun.stderr);
    const status = JSON.parse(upRun.stdout) as { healthy: boolean; nodes: { ready: number }; realNodes: { ready: number }; components: { name: string; healthy: boolean }[] };
    assert.equal(status.healthy, true);
    assert.equal(status.nodes.ready, 2);
    assert.equal(status.realNodes.ready, 1);
    for (const piece of ["containerd", "kubelet", "kube-proxy", "coredns"]) {
      assert.equal(status.components.find((c) => c.name === piece)?.healthy, true, `dev status reports ${piece}`);
    }
    const machineUp = await machineState();
    assert.ok(machineUp.links.includes(netNames(plan).bridge), "the environment's bridge exists while it is up");

    const exports = (await mms(["dev", "env"], env)).stdout;
    const value = (k: string) => new RegExp(`^export ${k}='([^']*)'$`, "m").exec(exports)?.[1] ?? "";
    const kubectl = join(value("PATH").split(":")[0] ?? "", "kubectl");
    const nodes = await promisify(execFile)(kubectl, ["--kubeconfig", value("KUBECONFIG"), "get", "nodes", "--no-headers"]);
    const lines = nodes.stdout.trim().split("\n");
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /\sReady\s/);

    const again = await mms(["dev", "up", "--nodes", "2"], env);
    assert.equal(again.code, 0);
    assert.match(again.stderr, /already up/);

    const stateBefore = JSON.parse(readFileSync(join(home, "state.json"), "utf8")) as DevState;
    const pids = Object.values(stateBefore.processes).map((p) => p.pid);
    assert.equal(pids.length, componentsFor(1).length, "one process per component");
    const downRun = await mms(["dev", "down"], env);
    assert.equal(downRun.code, 0, downRun.stderr);
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}/cmdline`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"), `pid ${pid} still runs`);
    for (const [name, port] of Object.entries(portsFrom(base))) assert.ok(await isPortFree(port), `${name} still listens on ${port}`);
    const machineAfter = await machineState();
    // Its own links by name: another environment on the machine may add or remove links of its own meanwhile.
    const own = new Set(Object.values(netNames(plan)));
    assert.deepEqual(machineAfter.links.filter((l) => own.has(l)), [], "`ip link`: every link the environment made is gone");
    assert.deepEqual(machineBefore.links.filter((l) => own.has(l)), [], "and none of them was there before");
    assert.deepEqual(machineAfter.mounts.filter((m) => m.includes(home)), [], "`mount`: nothing under the environment's folder");
    assert.deepEqual(machineAfter.netns.filter((n) => n.startsWith(netNames(plan).netns)), [], "its network namespace is gone");
    assert.deepEqual(machineAfter.rules, machineBefore.rules, "`iptables-save`: the host's rules are as before");
    assert.ok(!machineAfter.routes.some((r) => r.includes(plan.podSubnet(1)) || r.includes(plan.serviceCidr)), "its routes are gone");
  });
});

/** What `dev down` must leave as it found it: links, mounts, network namespaces, iptables rules, routes. */
async function machineState(): Promise<{ links: string[]; mounts: string[]; netns: string[]; rules: string[]; routes: string[] }> {
  const out = async (cmd: string, args: string[]) => (await promisify(execFile)(cmd, args)).stdout;
  return {
    links: (await out("ip", ["-o", "link", "show"])).split("\n").map((l) => l.split(": ")[1]?.split("@")[0] ?? "").filter(Boolean).sort(),
    mounts: (await out("mount", [])).split("\n").filter(Boolean),
    netns: (await out("ip", ["netns", "list"])).split("\n").map((l) => l.split(" ")[0] ?? "").filter(Boolean),
    // Counters change by themselves; the rules and chains are what matter.
    rules: (await out("iptables-save", [])).split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/\[\d+:\d+\]/, "")),
    routes: (await out("ip", ["route", "show", "table", "all"])).split("\n").filter(Boolean),
  };
}
