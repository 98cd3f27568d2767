import assert from "node:assert/strict";
import { test } from "node:test";
import { addressPlan, inClusterRange } from "./addresses.ts";
import { COMPONENTS, componentsFor, corednsConfig, devTimings, type Context } from "./components.ts";
import { devPaths } from "./paths.ts";
import { pkiFiles } from "./pki.ts";
import { portsFrom } from "./ports.ts";
import { cgroupRootName, cniConflist, containerdConfig, kubeletConfig, mountsUnder, netNames, realNodeDirs, REAL_NODE_LABEL, registryHostsToml } from "./real-node.ts";

const plan = addressPlan(17000);
const paths = devPaths("/tmp/mms-dev-unit");
const d = realNodeDirs(paths, 1);

function ctx(realNodes: number): Context {
  return {
    paths, ports: portsFrom(17000), pki: pkiFiles("/tmp/mms-dev-unit/pki"), timings: devTimings({}), addresses: plan, realNodes,
    bins: { kubernetes: "/b/k", etcd: "/b/e", kwok: "/b/w", seaweedfs: "/b/s", kubernetesNode: "/b/n", containerd: "/b/c", coredns: "/b/d", crictl: "/b/x" },
    secrets: { mariadbAdminPassword: "pw-m", redisPassword: "pw-r", s3AccessKey: "key-a", s3SecretKey: "secret-s" },
    system: { mariadbd: "/m", mariadbInstallDb: "/mi", redisServer: "/r" },
    nodePrograms: { runc: "/usr/sbin/runc", cniBridge: "/usr/lib/cni/bridge", iptables: "/usr/sbin/iptables", nsenter: "/usr/bin/nsenter", ipset: "/usr/sbin/ipset", gcc: "/usr/bin/gcc", buildah: "/usr/bin/buildah" },
  };
}

test("without real nodes the environment runs as before: no node pieces, the local Job runner, everything on loopback", () => {
  const names = componentsFor(0).map((c) => c.name);
  assert.ok(!names.includes("kubelet") && !names.includes("containerd") && names.includes("local-jobs"));
  const api = COMPONENTS.find((c) => c.name === "kube-apiserver")!.spec(ctx(0)).args;
  assert.ok(api.includes("--bind-address=127.0.0.1") && api.includes("--authorization-mode=RBAC"));
  const operator = COMPONENTS.find((c) => c.name === "operator")!.spec(ctx(0)).args;
  assert.ok(operator.includes("--run-jobs-locally"));
});

test("with a real node, pods reach the API server, MariaDB, Redis and S3 at the host's bridge address, and kubelets are held to their node", () => {
  const c = ctx(1);
  const names = componentsFor(1).map((x) => x.name);
  assert.ok(names.includes("kubelet") && names.includes("kube-proxy") && names.includes("coredns") && !names.includes("local-jobs"));
  const api = COMPONENTS.find((x) => x.name === "kube-apiserver")!.spec(c).args;
  assert.ok(api.includes(`--advertise-address=${plan.hostIp}`) && api.includes("--authorization-mode=Node,RBAC"));
  assert.ok(api.includes("--enable-admission-plugins=NodeRestriction"));
  assert.ok(!api.includes("--endpoint-reconciler-type=none"), "the Service kubernetes gets the host's address as its endpoint");
  const mariadb = COMPONENTS.find((x) => x.name === "mariadb")!.spec(c).args;
  assert.ok(mariadb.includes(`--bind-address=127.0.0.1,${plan.hostIp}`));
  const operator = COMPONENTS.find((x) => x.name === "operator")!.spec(c).args;
  assert.ok(operator.includes(`--job-node-selector=${REAL_NODE_LABEL}=true`) && !operator.includes("--run-jobs-locally"));
  for (const n of ["containerd", "kubelet", "kube-proxy"] as const) {
    assert.equal(COMPONENTS.find((x) => x.name === n)!.spec(c).netns, `/run/netns/${netNames(plan).netns}`, `${n} runs in the node's namespace`);
  }
});

test("the node's runtime: containerd keeps its pods' namespaces in its own state folder and pulls nothing; every address is the plan's", () => {
  const config = containerdConfig(d, plan, "/usr/sbin/runc", "/usr/lib/cni");
  const setting = (key: string) => new RegExp(`^\\s*${key} = (.*)$`, "m").exec(config)?.[1];
  assert.equal(setting("restrict_oom_score_adj"), "true");
  assert.equal(setting("netns_mounts_under_state_dir"), "true");
  assert.equal(setting("stream_server_address"), JSON.stringify(plan.nodeIp(1)));
  assert.equal(setting("address"), JSON.stringify(d.containerdSocket));
  assert.equal(setting("config_path"), JSON.stringify(d.registryHosts), "registries are configured by the node's own host folder");
  assert.match(registryHostsToml(), /^server = "http:\/\/127\.0\.0\.1:1"$/m, "every registry is a closed loopback port: a pull fails at once, nothing is looked up");
  const cni = JSON.parse(cniConflist(d, plan, 1)) as { plugins: { ipam: { ranges: { subnet: string }[][] } }[] };
  assert.equal(cni.plugins[0]?.ipam.ranges[0]?.[0]?.subnet, plan.podSubnet(1));
  assert.ok(inClusterRange(plan.podSubnet(1).split("/")[0]!));
  const kubelet = JSON.parse(kubeletConfig(d, plan, 1, { caCert: "/ca", healthzPort: 17248, dnsServiceIp: plan.dnsServiceIp })) as {
    cgroupRoot: string; registerWithTaints: unknown; authentication: { anonymous: { enabled: boolean } };
  };
  assert.equal(kubelet.cgroupRoot, `/${cgroupRootName(plan)}`, "each environment's pods in a cgroup tree of their own");
  assert.equal((kubelet as unknown as { podLogsDir: string }).podLogsDir, `${d.root}/pod-logs`, "and their logs in a folder of their own");
  assert.deepEqual(kubelet.registerWithTaints, [{ key: REAL_NODE_LABEL, value: "true", effect: "NoSchedule" }], "only pods that ask land on the real node");
  assert.equal(kubelet.authentication.anonymous.enabled, false);
  for (const name of Object.values(netNames(plan))) assert.ok(name.length <= 15, `${name} fits a Linux interface name`);
});

test("cluster DNS answers cluster names only: nothing is forwarded outside", () => {
  const corefile = corednsConfig(ctx(1));
  assert.match(corefile, new RegExp(`bind ${plan.hostIp.replaceAll(".", "\\.")}`));
  assert.match(corefile, /kubernetes cluster\.local/);
  assert.doesNotMatch(corefile, /forward|proxy/);
});

test("dev down finds every mount under a node's folder, deepest first", () => {
  const info = [
    "36 25 0:32 / /tmp/x/nodes/mms-real-1/run/netns/cni-1 rw - nsfs nsfs rw",
    "37 25 0:33 / /tmp/x/nodes/mms-real-1/run/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw",
    "38 25 0:34 / /tmp/x/nodes/mms-real-10/y rw - tmpfs tmpfs rw",
    "39 25 0:35 / /tmp/x/nodes/mms-real-1/kubelet/pods/u/volumes/kubernetes.io~projected/kube-api-access-1 rw - tmpfs tmpfs rw",
  ].join("\n");
  const found = mountsUnder("/tmp/x/nodes/mms-real-1", info);
  assert.equal(found.length, 3, "a sibling folder with a longer name is not ours");
  assert.ok(found[0]!.length >= found[1]!.length && found[1]!.length >= found[2]!.length);
});
