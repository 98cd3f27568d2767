// The real node's NetworkPolicy engine as tests see it: connection attempts made from inside a pod, and
// the engine's rules removed by hand for a negative control. kube-router leaves its rules in place when it
// stops, and v2.1.0's own `--cleanup-config` removes nothing of its firewall (its controller is not set up
// for it) and then crashes in the service proxy's clean-up, so the rules are removed here instead.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { KubeObject } from "../../src/kube/http.ts";

const exec = promisify(execFile);

/** What a pod tries: a TCP connection, or a DNS question to one server. */
export type ProbeTarget = { readonly host: string; readonly port: number } | { readonly dns: string; readonly name: string };

/**
 * Runs in the pod's Node (the control-plane image has one): each TCP target gives `connected`, or why not
 * (`ECONNREFUSED` when a rule rejects it or nothing listens, `timeout` after 3 s); each DNS target gives
 * `resolved <addresses>` or the resolver's error.
 */
const PROBE_SCRIPT = `
const net = require("net"), dns = require("dns");
const targets = JSON.parse(process.argv[1]);
const tcp = (host, port) => new Promise((done) => {
  const s = net.connect({ host, port });
  const end = (v) => { s.destroy(); done(v); };
  s.setTimeout(3000, () => end("timeout"));
  s.on("connect", () => end("connected"));
  s.on("error", (e) => end(e.code || e.message));
});
const lookup = (server, name) => new Promise((done) => {
  const r = new dns.Resolver({ timeout: 3000, tries: 1 });
  r.setServers([server]);
  r.resolve4(name, (e, a) => done(e ? (e.code || e.message) : "resolved " + a.join(",")));
});
Promise.all(Object.entries(targets).map(async ([k, t]) => [k, t.dns ? await lookup(t.dns, t.name) : await tcp(t.host, t.port)]))
  .then((r) => console.log(JSON.stringify(Object.fromEntries(r))));
`;

export interface Kubectl {
  readonly kubectl: string;
  readonly kubeconfig: string;
}

/** Tries every target at once from inside `pod` (`kubectl exec`); the outcome of each, by its key. */
export async function probeFrom(k: Kubectl, namespace: string, pod: string, targets: Readonly<Record<string, ProbeTarget>>): Promise<Record<string, string>> {
  const r = await exec(k.kubectl, ["--kubeconfig", k.kubeconfig, "-n", namespace, "exec", pod, "--", "node", "-e", PROBE_SCRIPT, JSON.stringify(targets)], { timeout: 60_000 });
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, string>;
}

/**
 * A long-running pod of `image` in `namespace` on the real node that the probes run in. It satisfies Pod
 * Security "restricted" (tenant namespaces enforce it); every tenant NetworkPolicy selects it, as they
 * select all the namespace's pods (`podSelector: {}`), except allow-ingress-controller (tracker and web only).
 */
export function probePod(name: string, namespace: string, image: string, placement: { nodeSelector: Record<string, string>; tolerations: object[] }): KubeObject {
  return {
    apiVersion: "v1", kind: "Pod",
    metadata: { name, namespace, labels: { "app.kubernetes.io/name": "net-probe", "app.kubernetes.io/component": "net-probe" } },
    spec: {
      ...placement,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{
        name: "probe", image, imagePullPolicy: "Never",
        command: ["node", "-e", "setInterval(() => {}, 3600000)"],
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
      }],
    },
  };
}

/** kube-router's own chains (v2.1.0): the three hooked into INPUT, FORWARD, OUTPUT, and per pod and policy. */
const ENGINE_CHAIN = /^(KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)|KUBE-POD-FW-\S+|KUBE-NWPLCY-\S+)$/;
/** Its address sets: sources and destinations of each policy. */
const ENGINE_SET = /^KUBE-(SRC|DST)-/;

/**
 * Removes every filter rule, chain and ipset of kube-router in the network namespace `netns` (the engine
 * must be stopped first, or it puts them back), in one iptables-restore that leaves kube-proxy's rules alone.
 * Returns how many chains and sets it removed.
 */
export async function flushPolicyEngine(netns: string): Promise<{ chains: number; sets: number }> {
  const inNs = (cmd: string, args: string[], input?: string) => {
    const child = exec("ip", ["netns", "exec", netns, cmd, ...args]);
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  const saved = (await inNs("iptables-save", ["-t", "filter"])).stdout.split("\n");
  const chains = saved.filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0] ?? "").filter((c) => ENGINE_CHAIN.test(c));
  // Jumps from the built-in chains into the engine's, deleted by their exact spec; then its chains flushed and deleted.
  const jumps = saved.filter((l) => /^-A (INPUT|FORWARD|OUTPUT) /.test(l) && ENGINE_CHAIN.test(/ -j (\S+)/.exec(l)?.[1] ?? "")).map((l) => l.replace(/^-A /, "-D "));
  const restore = ["*filter", ...jumps, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), "COMMIT", ""].join("\n");
  await inNs("iptables-restore", ["--noflush"], restore);
  const sets = (await inNs("ipset", ["list", "-n"])).stdout.split("\n").filter((s) => ENGINE_SET.test(s));
  for (const s of sets) await inNs("ipset", ["destroy", s]);
  return { chains: chains.length, sets: sets.length };
}

/** How many of kube-router's chains the namespace's filter table holds now. */
export async function engineChains(netns: string): Promise<number> {
  const saved = (await exec("ip", ["netns", "exec", netns, "iptables-save", "-t", "filter"])).stdout.split("\n");
  return saved.filter((l) => l.startsWith(":") && ENGINE_CHAIN.test(l.slice(1).split(" ")[0] ?? "")).length;
}
