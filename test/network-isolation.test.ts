// Enforced isolation on the real node: two tenants created with the CLI, and from a pod in tenant A's
// namespace A cannot reach tenant B's web and tracker (pod addresses or Services), nor anything outside its
// egress allow-list, while the ingress controller's namespace and the operator reach both tenants. A's database user
// cannot read B's database: that is MariaDB's grants, not the network (both share the pool's port). With
// the policy engine stopped and its rules removed, the same A→B connection succeeds (the negative control).
// Needs the real node and a Matomo release archive; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import type { RowDataPacket } from "mysql2";
import { createConnection } from "mysql2/promise";
import { tenantNamespace } from "../src/api/names.ts";
import { tenantDatabaseName } from "../src/db/naming.ts";
import { addressPlan, type AddressPlan } from "../src/devcluster/addresses.ts";
import { currentPaths, endpoints, up } from "../src/devcluster/environment.ts";
import { portsFrom, type Ports } from "../src/devcluster/ports.ts";
import { isOurs, stopProcess } from "../src/devcluster/processes.ts";
import { netNames, REAL_NODE_LABEL } from "../src/devcluster/real-node.ts";
import { readState } from "../src/devcluster/state.ts";
import { DEFAULT_PLATFORM } from "../src/render/tenant.ts";
import { createProgress } from "../src/util/progress.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { createMatomoTenant, getTenant, matomoBed, NEWER, removeMatomoTenant, type MatomoBed } from "./support/matomo.ts";
import { engineChains, flushPolicyEngine, probeFrom, probePod, type ProbeTarget } from "./support/network-policy.ts";

const INGRESS_NS = DEFAULT_PLATFORM.ingressNamespace;
const PROBE = "net-probe";
const onRealNode = {
  nodeSelector: { [REAL_NODE_LABEL]: "true" },
  tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
};

interface Pod {
  metadata: { name: string };
  spec: { containers: { ports?: { name?: string; containerPort: number }[] }[] };
  status?: { phase?: string; podIP?: string };
}
interface Service { spec: { clusterIP: string; ports: { port: number; targetPort: number | string }[] } }

let bed: MatomoBed | undefined;
let skip: string | undefined;
const a = uniqueName("isoa");
const b = uniqueName("isob");
let plan: AddressPlan;
let ports: Ports;
let createdIngressNs = false;
let hostListener: Server | undefined;
let hostPort = 0;
/** Tracker and web of each tenant: pod address and port, Service address and port. */
const serving: Record<string, ProbeTarget> = {};

const kube = () => ({ kubectl: bed?.kubectl ?? "", kubeconfig: bed?.kubeconfig ?? "" });
const fromA = (targets: Record<string, ProbeTarget>) => probeFrom(kube(), tenantNamespace(a), PROBE, targets);
const fromIngress = (targets: Record<string, ProbeTarget>) => probeFrom(kube(), INGRESS_NS, PROBE, targets);
const pick = (prefix: string) => Object.fromEntries(Object.entries(serving).filter(([k]) => k.startsWith(prefix)));

async function startProbe(http: MatomoBed["http"], ns: string): Promise<void> {
  await http.apply(probePod(PROBE, ns, DEFAULT_PLATFORM.controlImage, onRealNode), { fieldManager: "test" });
  await eventually(`the probe pod in ${ns} running`, async () => {
    const pod = await http.getOrUndefined<Pod>("v1", "Pod", PROBE, ns);
    return pod?.status?.phase === "Running" ? pod : undefined;
  }, 120_000);
}

/** The tenant's tracker and web, as their pods and as their Services. */
async function servingOf(http: MatomoBed["http"], tenant: string, key: string): Promise<void> {
  const ns = tenantNamespace(tenant);
  for (const component of ["tracker", "web"]) {
    const svc = await http.get<Service>("v1", "Service", component, ns);
    const port = svc.spec.ports[0];
    assert.ok(port, `${ns}/${component} has a port`);
    const pods = await http.list<Pod>("v1", "Pod", ns, `app.kubernetes.io/component=${component}`);
    const pod = pods.items.find((p) => p.status?.phase === "Running" && p.status.podIP);
    assert.ok(pod?.status?.podIP, `a running ${component} pod of ${tenant}`);
    // The Service's target port, by number or by the container port's name.
    const containerPorts = pod.spec.containers.flatMap((c) => c.ports ?? []);
    const target = typeof port.targetPort === "number" ? port.targetPort : containerPorts.find((p) => p.name === port.targetPort)?.containerPort;
    assert.ok(target, `${ns}/${component}'s target port ${port.targetPort} on its pod`);
    serving[`${key} ${component} pod`] = { host: pod.status.podIP, port: target };
    serving[`${key} ${component} Service`] = { host: svc.spec.clusterIP, port: port.port };
  }
}

before(async () => {
  const got = await matomoBed([NEWER]);
  if ("skip" in got) {
    skip = got.skip;
    return;
  }
  bed = got;
  const state = await readState(currentPaths());
  assert.ok(state, "the dev environment's state");
  plan = addressPlan(state.portBase);
  ports = portsFrom(state.portBase);
  // Ready (--wait) includes the operator's probes of Matomo, which the tenants' policies admit.
  const created = await Promise.all([createMatomoTenant(a, NEWER), createMatomoTenant(b, NEWER)]);
  for (const [i, c] of created.entries()) assert.equal(c.code, 0, `mms tenant create ${[a, b][i]} --wait: ${c.stderr}`);
  await servingOf(bed.http, a, "A");
  await servingOf(bed.http, b, "B");
  if (!(await bed.http.getOrUndefined("v1", "Namespace", INGRESS_NS))) {
    await bed.http.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: INGRESS_NS } }, { fieldManager: "test" });
    createdIngressNs = true;
  }
  await Promise.all([startProbe(bed.http, tenantNamespace(a)), startProbe(bed.http, INGRESS_NS)]);
  // A port on the host's bridge address that no policy allows, with something listening behind it.
  const server = createServer((s) => s.end());
  hostListener = server;
  await new Promise<void>((resolve) => server.listen(0, plan.hostIp, resolve));
  hostPort = (server.address() as { port: number }).port;
});

after(async () => {
  hostListener?.close();
  if (!bed) return;
  await bed.http.delete("v1", "Pod", PROBE, INGRESS_NS).catch(() => undefined);
  if (createdIngressNs) await bed.http.delete("v1", "Namespace", INGRESS_NS).catch(() => undefined);
  for (const t of [a, b]) await removeMatomoTenant(bed.http, t);
});

describe("network isolation between tenants on the real node", () => {
  test("a pod of tenant A cannot open a connection to tenant B's tracker and web, by pod address or Service", async (t) => {
    if (!bed) return t.skip(skip);
    const got = await fromA(pick("B "));
    t.diagnostic(`from ${tenantNamespace(a)}: ${JSON.stringify(got)}`);
    for (const [target, outcome] of Object.entries(got)) assert.notEqual(outcome, "connected", `${target} must be unreachable from tenant A`);
  });

  test("the ingress controller's namespace reaches both tenants' tracker and web", async (t) => {
    if (!bed) return t.skip(skip);
    const got = await fromIngress(serving);
    t.diagnostic(`from ${INGRESS_NS}: ${JSON.stringify(got)}`);
    for (const [target, outcome] of Object.entries(got)) assert.equal(outcome, "connected", `${target} from ${INGRESS_NS}`);
  });

  test("tenant A's pod reaches its database pool's port, and not the API server, another port of the host, or tenant B", async (t) => {
    if (!bed) return t.skip(skip);
    const targets: Record<string, ProbeTarget> = {
      "database pool": { host: plan.hostIp, port: ports.mariadb },
      "API server": { host: plan.hostIp, port: ports.apiserver },
      "API server's Service": { host: plan.apiServiceIp, port: 443 },
      "a listening port of the host": { host: plan.hostIp, port: hostPort },
      ...pick("B "),
    };
    const got = await fromA(targets);
    t.diagnostic(`from ${tenantNamespace(a)}: ${JSON.stringify(got)}`);
    assert.equal(got["database pool"], "connected");
    for (const [target, outcome] of Object.entries(got)) {
      if (target !== "database pool") assert.notEqual(outcome, "connected", `${target} must be outside tenant A's egress`);
    }
    // The control: the same host port answers a pod whose namespace has no policy.
    assert.equal((await fromIngress({ host: { host: plan.hostIp, port: hostPort } })).host, "connected");
  });

  // The dev cluster's DNS is CoreDNS on the host, which the chart's tenants.dnsEgressCidrs lets tenants reach.
  test("tenant A's pod resolves cluster names through the cluster DNS", async (t) => {
    if (!bed) return t.skip(skip);
    const got = await fromA({ dns: { dns: plan.dnsServiceIp, name: "kubernetes.default.svc.cluster.local" } });
    t.diagnostic(`from ${tenantNamespace(a)}: ${JSON.stringify(got)}`);
    assert.equal(got.dns, `resolved ${plan.apiServiceIp}`);
  });

  test("the operator's replicas still probe both tenants' Matomo through their policies (MatomoAnswering)", async (t) => {
    if (!bed) return t.skip(skip);
    const http = bed.http;
    for (const tenant of [a, b]) {
      const conditions = (await getTenant(http, tenant)).status?.conditions ?? [];
      const answering = conditions.find((c) => c.type === "MatomoAnswering");
      t.diagnostic(`${tenant} MatomoAnswering: ${answering?.status} ${answering?.reason}: ${answering?.message}`);
      assert.equal(answering?.status, "True");
    }
  });

  test("tenant A's database user reads its own database and not tenant B's (MariaDB's grants, not the network)", async (t) => {
    if (!bed) return t.skip(skip);
    const secret = await bed.http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", tenantNamespace(a));
    const password = Buffer.from(secret.data["database-password"] ?? "", "base64").toString("utf8");
    const e = await endpoints();
    const db = await createConnection({ host: e.mariadb.host, port: e.mariadb.port, user: tenantDatabaseName(a), password });
    try {
      const [own] = await db.query(`SELECT COUNT(*) AS n FROM \`${tenantDatabaseName(a)}\`.matomo_site`);
      assert.deepEqual(own, [{ n: 1 }]);
      await assert.rejects(db.query(`SELECT COUNT(*) FROM \`${tenantDatabaseName(b)}\`.matomo_site`), /denied/i);
      const [grants] = await db.query<RowDataPacket[]>("SHOW GRANTS");
      const text = grants.map((g) => Object.values(g)[0] as string).join("\n");
      t.diagnostic(text.replace(/IDENTIFIED BY PASSWORD '[^']*'/g, "IDENTIFIED BY PASSWORD '…'"));
      assert.doesNotMatch(text, new RegExp(tenantDatabaseName(b)));
      assert.doesNotMatch(text, /ON \*\.\*\s+TO.*(SELECT|ALL PRIVILEGES)/);
    } finally {
      await db.end();
    }
  });

  test("with the policy engine stopped and its rules removed, the same A→B connections succeed (negative control)", async (t) => {
    if (!bed) return t.skip(skip);
    const paths = currentPaths();
    const state = await readState(paths);
    const rec = state?.processes["kube-router"];
    assert.ok(state && rec && isOurs(rec.pid, rec.executable), "kube-router runs");
    const netns = netNames(plan, 1).netns;
    await stopProcess(rec.pid, rec.executable);
    try {
      assert.ok(await engineChains(netns) > 0, "a stopped kube-router leaves its rules in place");
      const removed = await flushPolicyEngine(netns);
      t.diagnostic(`removed ${removed.chains} chains and ${removed.sets} ipsets of kube-router in ${netns}`);
      const got = await fromA(pick("B "));
      t.diagnostic(`from ${tenantNamespace(a)} without the engine: ${JSON.stringify(got)}`);
      for (const [target, outcome] of Object.entries(got)) assert.equal(outcome, "connected", `${target} without the engine`);
    } finally {
      // `dev up` restarts the engine, as it repairs any component that died.
      await up({ nodes: state.nodes, progress: createProgress(process.stderr, true) });
    }
    await eventually("tenant B unreachable from A again", async () => {
      const got = await fromA(pick("B "));
      return Object.values(got).every((o) => o !== "connected") ? got : undefined;
    }, 120_000);
  });
});
