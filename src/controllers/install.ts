// Installs the API into a cluster: CRDs, built-in plans, the admission policy and its registry.
// Every step is a server-side apply, so installing twice (or after a crash) converges.
import { setTimeout as sleep } from "node:timers/promises";
import { backupRbac } from "../render/backup-jobs.ts";
import { KubeApiError, type KubeHttp, type KubeObject } from "../kube/http.ts";
import { admissionPolicy, admissionPolicyBinding, registryConfigMap, registryData, SYSTEM_NAMESPACE } from "../api/admission.ts";
import { customResourceDefinitions } from "../api/crds.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import { BUILT_IN_PLANS, type TenantPlan } from "../api/plan.ts";
import type { MatomoTenant } from "../api/tenant.ts";

export const INSTALL_MANAGER = "mms-install";

const asObject = (o: unknown) => o as KubeObject;

/**
 * The platform's cluster-wide objects besides the CRDs, in the order they are installed: the built-in
 * plans, the tenant admission policy and its binding, the backup Jobs' RBAC. The Helm chart carries the
 * same objects (`mms chart generate` writes them into it).
 */
export function platformApiObjects(): KubeObject[] {
  return [...BUILT_IN_PLANS.map(asObject), asObject(admissionPolicy()), asObject(admissionPolicyBinding()), ...backupRbac()];
}

export async function syncRegistry(http: KubeHttp, fieldManager = INSTALL_MANAGER): Promise<Record<string, string>> {
  const plans = await http.list<TenantPlan>(API_GROUP_VERSION, "TenantPlan");
  const tenants = await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant");
  const data = registryData({
    plans: plans.items.map((p) => p.metadata.name),
    tenants: tenants.items
      .filter((t) => !t.metadata.deletionTimestamp)
      .map((t) => ({ name: t.metadata.name, domains: t.spec.domains, createdAt: t.metadata.creationTimestamp ?? "" })),
  });
  await http.apply(asObject(registryConfigMap(data)), { fieldManager });
  return data;
}

export async function installApi(http: KubeHttp, log: (line: string) => void = () => undefined): Promise<void> {
  await http.apply(asObject({ apiVersion: "v1", kind: "Namespace", metadata: { name: SYSTEM_NAMESPACE } }), { fieldManager: INSTALL_MANAGER });
  const crds = customResourceDefinitions();
  for (const crd of crds) await http.apply(asObject(crd), { fieldManager: INSTALL_MANAGER });
  for (const crd of crds) {
    const name = crd.metadata?.name ?? "";
    for (let i = 0; ; i++) {
      const got = await http.get<{ status?: { conditions?: { type: string; status: string }[] } }>("apiextensions.k8s.io/v1", "CustomResourceDefinition", name);
      if (got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (i > 100) throw new Error(`CustomResourceDefinition ${name} did not become Established`);
      await sleep(100);
    }
  }
  log(`installed ${crds.length} CustomResourceDefinitions`);
  // The API server may need a moment after Established before it serves the new kinds.
  for (let i = 0; ; i++) {
    try {
      for (const plan of BUILT_IN_PLANS) await http.apply(asObject(plan), { fieldManager: INSTALL_MANAGER });
      break;
    } catch (err) {
      if (i > 50) throw err;
      await sleep(200);
    }
  }
  log(`installed ${BUILT_IN_PLANS.length} built-in plans`);
  await syncRegistry(http);
  await http.apply(asObject(admissionPolicy()), { fieldManager: INSTALL_MANAGER });
  await http.apply(asObject(admissionPolicyBinding()), { fieldManager: INSTALL_MANAGER });
  await waitPolicyEnforced(http);
  log("installed the admission policy for tenants");
  for (const o of backupRbac()) await http.apply(o, { fieldManager: INSTALL_MANAGER });
}

/**
 * A new policy takes effect only once the API server has loaded it; until then a tenant with an
 * unknown plan would get through. Probe with a dry run (which creates nothing) until it is refused.
 */
async function waitPolicyEnforced(http: KubeHttp): Promise<void> {
  const probe = asObject({
    apiVersion: API_GROUP_VERSION, kind: "MatomoTenant", metadata: { name: "mms-policy-probe" },
    spec: { domains: ["probe.mms.invalid"], plan: "mms-no-such-plan" },
  });
  for (let i = 0; i < 300; i++) {
    try {
      await http.create(probe, { fieldManager: INSTALL_MANAGER, dryRun: true });
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 403 || err.status === 422) && err.message.includes("unknown plan")) return;
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    }
    await sleep(100);
  }
  throw new Error("the tenant admission policy did not take effect within 30 s");
}
