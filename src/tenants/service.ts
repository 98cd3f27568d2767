// What the CLI (and the demo, tests and benchmarks) do with tenants: create, read, list, delete,
// suspend, and wait for readiness. All of it goes through the API server, which validates.
import { setTimeout as sleep } from "node:timers/promises";
import { tenantLabels } from "../api/labels.ts";
import { API_GROUP_VERSION, parseDomain, tenantNameProblem, tenantNamespace } from "../api/names.ts";
import type { Condition, MatomoTenant, TenantSpecInput } from "../api/tenant.ts";
import { readTenantSecret, seedTenantSecret, type TenantSecretValues } from "../db/resolve.ts";
import { KubeApiError, refusalDetail, type KubeHttp } from "../kube/http.ts";
import { UserError } from "../util/errors.ts";

const KIND = "MatomoTenant";
const MANAGER = "mms-cli";

export interface CreateTenantInput {
  readonly name: string;
  readonly domains: readonly string[];
  readonly plan?: string | undefined;
  readonly matomoVersion?: string | undefined;
  readonly pool?: string | undefined;
  readonly queuedTracking?: boolean | undefined;
  readonly deletionPolicy?: "Retain" | "Delete" | undefined;
  /** spec.privacy; the API's defaults without it. */
  readonly privacy?: { readonly anonymizeIpBytes: number; readonly respectDoNotTrack: boolean } | undefined;
}

/** The API server's refusal as one sentence, without the Kubernetes boilerplate around it. */
function explain(err: unknown, action: string): Error {
  if (err instanceof KubeApiError) {
    if (err.status === 409) return new UserError(`${action}: a tenant with that name already exists`);
    if (err.status === 404) return new UserError(`${action}: no such tenant`);
    return new UserError(`${action}: ${refusalDetail(err)}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export async function createTenant(http: KubeHttp, input: CreateTenantInput, dryRun = false): Promise<MatomoTenant> {
  const problem = tenantNameProblem(input.name);
  if (problem) throw new UserError(`tenant name "${input.name}" ${problem}`);
  if (input.domains.length === 0) throw new UserError("a tenant needs at least one --domain");
  let domains: string[];
  try {
    domains = input.domains.map((d) => parseDomain(d));
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const spec: TenantSpecInput = {
    domains,
    ...(input.plan ? { plan: input.plan } : {}),
    ...(input.matomoVersion ? { matomoVersion: input.matomoVersion } : {}),
    ...(input.pool ? { database: { pool: input.pool } } : {}),
    ...(input.queuedTracking ? { tracking: { queuedTracking: true } } : {}),
    ...(input.deletionPolicy ? { deletionPolicy: input.deletionPolicy } : {}),
    ...(input.privacy ? { privacy: { ...input.privacy } } : {}),
  };
  try {
    return await http.create({ apiVersion: API_GROUP_VERSION, kind: KIND, metadata: { name: input.name }, spec }, { fieldManager: MANAGER, dryRun }) as unknown as MatomoTenant;
  } catch (err) {
    throw explain(err, `cannot create tenant ${input.name}`);
  }
}

export async function getTenant(http: KubeHttp, name: string): Promise<MatomoTenant> {
  try {
    return await http.get<MatomoTenant>(API_GROUP_VERSION, KIND, name);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) throw new UserError(`tenant ${name} does not exist`);
    throw explain(err, `cannot read tenant ${name}`);
  }
}

export async function listTenants(http: KubeHttp): Promise<MatomoTenant[]> {
  const list = await http.list<MatomoTenant>(API_GROUP_VERSION, KIND);
  return list.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

export async function deleteTenant(http: KubeHttp, name: string): Promise<void> {
  if (!(await http.delete(API_GROUP_VERSION, KIND, name))) throw new UserError(`tenant ${name} does not exist`);
}

export async function setSuspended(http: KubeHttp, name: string, suspended: boolean): Promise<MatomoTenant> {
  await getTenant(http, name);
  try {
    return await http.mergePatch<MatomoTenant>(API_GROUP_VERSION, KIND, name, { spec: { suspended } });
  } catch (err) {
    throw explain(err, `cannot ${suspended ? "suspend" : "resume"} tenant ${name}`);
  }
}

export function condition(t: MatomoTenant, type: string): Condition | undefined {
  return t.status?.conditions?.find((c) => c.type === type);
}

export interface WaitResult {
  readonly ok: boolean;
  readonly elapsedMs: number;
  readonly tenant?: MatomoTenant | undefined;
  /** The first condition that is not True, when not ok. */
  readonly failing?: Condition | undefined;
}

/** Waits until the tenant is Ready for its current generation, or the timeout passes. */
export async function waitReady(http: KubeHttp, name: string, timeoutMs: number, onChange?: (t: MatomoTenant) => void): Promise<WaitResult> {
  const start = Date.now();
  let last: MatomoTenant | undefined;
  let lastSeen = "";
  while (Date.now() - start < timeoutMs) {
    last = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, KIND, name);
    if (!last) throw new UserError(`tenant ${name} disappeared while waiting for it`);
    const seen = JSON.stringify(last.status?.conditions ?? []);
    if (seen !== lastSeen) {
      lastSeen = seen;
      onChange?.(last);
    }
    const ready = condition(last, "Ready");
    if (ready?.status === "True" && last.status?.observedGeneration === last.metadata.generation) return { ok: true, elapsedMs: Date.now() - start, tenant: last };
    await sleep(200);
  }
  const failing = last?.status?.conditions?.find((c) => c.type !== "Ready" && c.status !== "True") ?? (last ? condition(last, "Ready") : undefined);
  return { ok: false, elapsedMs: Date.now() - start, tenant: last, failing };
}

/** Waits until the tenant and its namespace are gone. */
export async function waitDeleted(http: KubeHttp, name: string, namespace: string, timeoutMs: number): Promise<boolean> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const t = await http.getOrUndefined(API_GROUP_VERSION, KIND, name);
    const ns = await http.getOrUndefined("v1", "Namespace", namespace);
    if (!t && !ns) return true;
    await sleep(250);
  }
  return false;
}

/**
 * A tenant made from another one's data (`mms backup restore --into NEW --domain …`): it gets the source's
 * Matomo salt (tokens and sessions are hashed with it), its first superuser's credentials (the restored
 * users table holds that password's hash) and the platform's API token, so that everything that worked
 * with the source works with the copy. Values come from the source's Secret, else the salt from its
 * tenant record beside the backups (`salt`); the namespace and Secret are made before the tenant, and the
 * operator never replaces a stored value.
 */
export async function createRestoredTenant(http: KubeHttp, input: CreateTenantInput & { readonly from: string; readonly salt?: string | undefined }): Promise<MatomoTenant> {
  const source = await readTenantSecret(http, input.from);
  const values: TenantSecretValues = source ? pickSecretValues(source) : input.salt ? { salt: input.salt } : {};
  await createTenant(http, input, true); // every check of the API server, before anything is made
  if (Object.keys(values).length > 0) {
    const ns = tenantNamespace(input.name);
    await http.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: tenantLabels(input.name) } }, { fieldManager: MANAGER });
    const seeded = await seedTenantSecret(http, input.name, values, MANAGER);
    if (!seeded.created) throw new UserError(`cannot create tenant ${input.name}: its namespace ${ns} already holds a tenant Secret; delete the namespace or choose another name`);
  }
  return createTenant(http, input);
}

/** What a copy of a tenant takes from its Secret: not the database password, which is the new tenant's own. */
function pickSecretValues(v: TenantSecretValues): TenantSecretValues {
  const { salt, adminUser, adminPassword, adminEmail, apiToken } = v;
  return Object.fromEntries(Object.entries({ salt, adminUser, adminPassword, adminEmail, apiToken }).filter(([, x]) => x !== undefined));
}
