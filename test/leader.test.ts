// Two operator replicas never both act: leader election on a Lease in the real API server.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp } from "../src/kube/http.ts";
import { LeaderElector } from "../src/kube/leader.ts";
import { uniqueName } from "./helpers.ts";

let http: KubeHttp;
before(async () => {
  http = new KubeHttp(loadKubeConfig({ kubeconfig: (await endpoints()).kubeconfig }));
  await http.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "mms-system" } }, { fieldManager: "it-leader" });
});

test("of two candidates racing for one lease exactly one leads, and the other takes over only once it is released or expired", async () => {
  const name = uniqueName("it-lease");
  const a = new LeaderElector(http, { namespace: "mms-system", name, identity: "replica-a", leaseSeconds: 2 });
  const b = new LeaderElector(http, { namespace: "mms-system", name, identity: "replica-b", leaseSeconds: 2 });
  const first = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
  assert.equal(first.filter(Boolean).length, 1, `exactly one leader, got ${JSON.stringify(first)}`);
  const [leader, follower] = first[0] ? [a, b] : [b, a];
  assert.equal(await follower.tryAcquireOrRenew(), false, "a live lease is not taken");
  assert.equal(await leader.tryAcquireOrRenew(), true, "the leader renews");
  await leader.release();
  assert.equal(await follower.tryAcquireOrRenew(), true, "a released lease is taken at once");
  assert.equal(await leader.tryAcquireOrRenew(), false, "the old leader does not take it back");
  // Expiry: the new leader stops renewing; after the lease duration the other may take over.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await leader.tryAcquireOrRenew(), true, "an expired lease is taken");
  await http.delete("coordination.k8s.io/v1", "Lease", name, "mms-system");
});
