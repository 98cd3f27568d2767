// What the real-Matomo tests share: whether they can run here (a real node, the Matomo archives they
// need), tenants created with the CLI on the real node, their Services as Matomo endpoints, the platform's
// token, tracking hits, archiver runs and the tenant's own database.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createConnection, type Connection } from "mysql2/promise";
import { API_GROUP_VERSION, tenantNamespace } from "../../src/api/names.ts";
import type { MatomoTenant } from "../../src/api/tenant.ts";
import { tenantDatabaseName } from "../../src/db/naming.ts";
import { REAL_NODE_PLAN } from "../../src/devcluster/components.ts";
import { endpoints, readStatus } from "../../src/devcluster/environment.ts";
import { matomoArchivesDir } from "../../src/devcluster/images.ts";
import { loadKubeConfig } from "../../src/kube/client.ts";
import { KubeHttp } from "../../src/kube/http.ts";
import { matomoRequest, type MatomoEndpoint } from "../../src/matomo/client.ts";
import { waitJob } from "../../src/tenants/archive.ts";
import { runMms, type Run } from "../helpers.ts";

const exec = promisify(execFile);

/** The two release archives the issue names: an upgrade from the older to the newer is a real core:update. */
export const OLDER = "5.0.3";
export const NEWER = "5.1.2";

export interface MatomoBed {
  readonly http: KubeHttp;
  readonly kubeconfig: string;
  readonly kubectl: string;
}

/**
 * The bed of a real-Matomo test, or the one line saying why it cannot run here: no real node, or no
 * archive of a version it needs (they come from ~/.cache, as no registry serves Matomo). The images of
 * every cached archive are built (cached by content) and loaded into the real node.
 */
export async function matomoBed(versions: readonly string[]): Promise<MatomoBed | { skip: string }> {
  if ((await readStatus()).realNodes.desired === 0) return { skip: "the dev environment runs without a real node (--real-nodes 0)" };
  const missing = versions.filter((v) => !existsSync(join(matomoArchivesDir(), `matomo-${v}.tar.gz`)));
  if (missing.length > 0) {
    return { skip: `no Matomo ${missing.join(" or ")} release archive in ${matomoArchivesDir()}: real Matomo cannot run here (see docs/dev-environment.md, "Matomo release archives")` };
  }
  const built = await runMms(["images", "build", "--all-versions", "-q"]);
  if (built.code !== 0) throw new Error(`mms images build --all-versions failed: ${built.stderr}`);
  const e = await endpoints();
  return { http: new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig })), kubeconfig: e.kubeconfig, kubectl: join(e.kubectlDir, "kubectl") };
}

export function domainOf(tenant: string): string {
  return `analytics.${tenant}.test`;
}

/** `bin/mms args` against the dev environment. */
export async function mms(args: readonly string[]): Promise<Run> {
  return runMms(args, { KUBECONFIG: (await endpoints()).kubeconfig });
}

/** `mms tenant create NAME --plan real-node --matomo-version V --wait`, as a user onboards a tenant. */
export async function createMatomoTenant(name: string, version: string, extra: readonly string[] = []): Promise<Run> {
  return mms(["tenant", "create", name, "--domain", domainOf(name), "--plan", REAL_NODE_PLAN, "--matomo-version", version, "--wait", "--timeout", "8m", ...extra]);
}

export interface TenantMatomo {
  readonly tracker: MatomoEndpoint;
  readonly web: MatomoEndpoint;
  /** The platform's Reporting API token (the tenant Secret's api-token). */
  readonly token: string;
  readonly admin: { readonly user: string; readonly password: string };
}

/** The tenant's tracker and web Services as Matomo endpoints, and the credentials in its Secret. */
export async function tenantMatomo(http: KubeHttp, tenant: string): Promise<TenantMatomo> {
  const ns = tenantNamespace(tenant);
  const ip = async (svc: string) => (await http.get<{ spec: { clusterIP: string } }>("v1", "Service", svc, ns)).spec.clusterIP;
  const secret = await http.get<{ data: Record<string, string> }>("v1", "Secret", "matomo-secrets", ns);
  const value = (k: string) => Buffer.from(secret.data[k] ?? "", "base64").toString("utf8");
  const host = domainOf(tenant);
  return {
    tracker: { address: await ip("tracker"), port: 80, host },
    web: { address: await ip("web"), port: 80, host },
    token: value("api-token"),
    admin: { user: value("admin-user"), password: value("admin-password") },
  };
}

export async function getTenant(http: KubeHttp, name: string): Promise<MatomoTenant> {
  return http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
}

/** A visitor of a tracked website: its own id, browser and (forwarded) address. */
export interface Visitor {
  readonly id: string;
  readonly ip: string;
  readonly userAgent: string;
}

let visitorCount = 0;
/** A new visitor; its address is in TEST-NET-2 (a header value only: nothing is sent there). */
export function newVisitor(): Visitor {
  visitorCount++;
  return {
    id: randomBytes(8).toString("hex"),
    ip: `198.51.100.${(visitorCount % 250) + 1}`,
    userAgent: `Mozilla/5.0 (X11; Linux x86_64; mms-test-${visitorCount}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36`,
  };
}

/**
 * One tracking request to matomo.php, as the JavaScript tracker sends it (GET, `rec=1`), from `visitor`
 * through the ingress (X-Forwarded-For carries its address). Resolves with the HTTP status.
 */
export async function track(tracker: MatomoEndpoint, visitor: Visitor, params: Record<string, string | number>): Promise<number> {
  const query = new URLSearchParams({
    idsite: "1", rec: "1", apiv: "1", _id: visitor.id, rand: randomBytes(4).toString("hex"), send_image: "0",
    ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
  });
  const r = await matomoRequest(tracker, `/matomo.php?${query.toString()}`, { headers: { "X-Forwarded-For": visitor.ip, "User-Agent": visitor.userAgent } });
  return r.status;
}

/**
 * Runs the tenant's archiver now, as a user would (`kubectl create job --from=cronjob/archiver`), and waits
 * for it; fails with the Job's log when it does not succeed.
 */
export async function runArchiver(bed: MatomoBed, tenant: string, timeoutMs = 300_000): Promise<string> {
  const ns = tenantNamespace(tenant);
  const job = `archive-now-${randomBytes(3).toString("hex")}`;
  await exec(bed.kubectl, ["--kubeconfig", bed.kubeconfig, "-n", ns, "create", "job", `--from=cronjob/archiver`, job]);
  const outcome = await waitJob(bed.http, tenant, job, timeoutMs);
  const logs = await exec(bed.kubectl, ["--kubeconfig", bed.kubeconfig, "-n", ns, "logs", `job/${job}`, "--tail", "60"]).then((r) => r.stdout, (err: Error) => err.message);
  if (outcome !== "Complete") throw new Error(`archiver Job ${job}: ${outcome}:\n${logs}`);
  return logs;
}

/** An admin connection to the tenant's own database on the dev pool. */
export async function tenantDatabase(tenant: string): Promise<Connection> {
  const e = await endpoints();
  return createConnection({ ...e.mariadb, database: tenantDatabaseName(tenant) });
}

/** Deletes a test's tenant and, with its data kept by deletionPolicy Retain, its database and user. */
export async function removeMatomoTenant(http: KubeHttp, tenant: string): Promise<void> {
  await http.delete(API_GROUP_VERSION, "MatomoTenant", tenant).catch(() => undefined);
  const e = await endpoints();
  const db = await createConnection(e.mariadb);
  try {
    const name = tenantDatabaseName(tenant);
    await db.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await db.query("DROP USER IF EXISTS ?@'%'", [name]);
  } finally {
    await db.end();
  }
}
