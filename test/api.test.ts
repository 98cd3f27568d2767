// The API server itself rejects bad tenants: schema patterns, CEL rules on names, versions and pools,
// and the admission policy for unknown plans and domains already taken. kubectl gets the same answers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { syncRegistry } from "../src/controllers/install.ts";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import type { MatomoTenant } from "../src/api/tenant.ts";
import { dropTenantDatabase } from "../src/db/pool.ts";
import { endpoints } from "../src/devcluster/environment.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeApiError, KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { ensureApi, eventually, uniqueName } from "./helpers.ts";

let http: KubeHttp;
const created: string[] = [];
const manager = { fieldManager: "it-api" };

const tenant = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: API_GROUP_VERSION, kind: "MatomoTenant", metadata: { name }, spec,
});

/** The API server's answer to creating (or, for an existing name, applying) an object that must be refused. */
async function rejection(obj: KubeObject, dryRun = true, mode: "create" | "apply" = "create"): Promise<string> {
  try {
    if (mode === "create") await http.create(obj, { ...manager, dryRun });
    else await http.apply(obj, { ...manager, dryRun });
  } catch (err) {
    assert.ok(err instanceof KubeApiError, `expected an API error, got ${String(err)}`);
    assert.ok([422, 403].includes(err.status), `expected 422 or 403, got ${err.status}: ${err.message}`);
    return err.message;
  }
  assert.fail(`the API server accepted ${obj.metadata.name}`);
}

before(async () => {
  http = new KubeHttp(loadKubeConfig({ kubeconfig: (await endpoints()).kubeconfig }));
  await ensureApi(http);
});

after(async () => {
  const e = await endpoints();
  for (const name of created) {
    await http.delete(API_GROUP_VERSION, "MatomoTenant", name);
    // The operator of the dev environment may have provisioned it meanwhile; tenant data is kept on
    // delete by design, so the test removes its own.
    await dropTenantDatabase({ host: e.mariadb.host, port: e.mariadb.port, adminUser: e.mariadb.user, adminPassword: e.mariadb.password }, name);
  }
  await syncRegistry(http);
});

describe("MatomoTenant validation in the API server", () => {
  test("a valid tenant is accepted and its defaults are filled in", async () => {
    const got = (await http.apply(tenant(uniqueName("valid"), { domains: ["analytics.valid.test"] }), { ...manager, dryRun: true })) as unknown as MatomoTenant;
    assert.equal(got.spec.plan, "small");
    assert.match(got.spec.matomoVersion, /^\d+\.\d+\.\d+$/);
    assert.equal(got.spec.deletionPolicy, "Retain");
    assert.equal(got.spec.suspended, false);
  });

  const cases: [string, string, Record<string, unknown>, RegExp][] = [
    ["an invalid domain", "bad-domain", { domains: ["Not_A_Domain"] }, /spec\.domains\[0\]/],
    ["a domain listed twice", "twice", { domains: ["a.twice.test", "a.twice.test"] }, /spec\.domains\[1\]: Duplicate value: "a\.twice\.test"/],
    ["a name longer than 28 characters", "a".repeat(29), { domains: ["long.test"] }, /metadata\.name must be 2 to 28 characters/],
    ["a name unsafe for SQL and DNS", "acme_corp", { domains: ["acme.test"] }, /metadata\.name/],
    ["an unknown plan", "unknown-plan", { domains: ["plan.test"], plan: "huge" }, /spec\.plan: unknown plan "huge"; known plans: (?=.*\blarge\b)(?=.*\bmedium\b)(?=.*\bsmall\b)/],
    ["a malformed version", "bad-version", { domains: ["v.test"], matomoVersion: "5.2" }, /spec\.matomoVersion/],
    ["an unknown deletionPolicy", "drop-me", { domains: ["drop.test"], deletionPolicy: "Purge" }, /spec\.deletionPolicy: Unsupported value: "Purge"/],
  ];
  // Known plans: the built-in ones, and any other test's TenantPlan that exists at that moment.
  for (const [what, name, spec, message] of cases) {
    test(`rejects ${what}, naming the field`, async () => {
      assert.match(await rejection(tenant(name, spec), false), message);
      assert.equal(await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", name), undefined, "nothing may be created");
    });
  }

  test("rejects a domain already used by another tenant, also when sent with kubectl", async () => {
    const first = uniqueName("first");
    const shop = `shop.${first}.test`;
    created.push(first);
    await http.apply(tenant(first, { domains: [shop] }), manager);
    await syncRegistry(http);
    const second = uniqueName("second");
    created.push(second); // only for cleanup, should a bug let it through
    // The API server reads the policy's registry through a cache: wait (with dry runs, which pass
    // admission but create nothing) until it has seen the first tenant's domains.
    await eventually("the registry seen by the admission policy", () =>
      rejection(tenant(second, { domains: [shop] }), true).catch(() => undefined));
    const message = await rejection(tenant(second, { domains: [`other.${second}.test`, shop] }), false);
    assert.match(message, new RegExp(`spec\\.domains: ${shop.replaceAll(".", "\\.")} is already used by tenant ${first}`));

    const e = await endpoints();
    const manifest = JSON.stringify(tenant(second, { domains: [shop] }));
    const kubectl = join(e.kubectlDir, "kubectl");
    const run = promisify(execFile);
    const child = run(kubectl, ["--kubeconfig", e.kubeconfig, "create", "-f", "-"], { encoding: "utf8" });
    child.child.stdin?.end(manifest);
    await assert.rejects(child, (err: { stderr?: string }) => {
      assert.match(err.stderr ?? "", /already used by tenant/);
      return true;
    });
    assert.equal(await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", second), undefined);
  });

  test("the Matomo version cannot be lowered and the database pool cannot be moved", async () => {
    const name = uniqueName("upgrade");
    created.push(name);
    const spec = { domains: [`${name}.test`], matomoVersion: "5.2.1", database: { pool: "pool-a" } };
    await http.apply(tenant(name, spec), manager);
    assert.match(await rejection(tenant(name, { ...spec, matomoVersion: "5.1.9" }), true, "apply"), /spec\.matomoVersion cannot be lowered/);
    assert.match(await rejection(tenant(name, { ...spec, matomoVersion: "4.17.0" }), true, "apply"), /spec\.matomoVersion cannot be lowered/);
    await http.apply(tenant(name, { ...spec, matomoVersion: "5.10.0" }), { ...manager, dryRun: true });
    assert.match(await rejection(tenant(name, { ...spec, database: { pool: "pool-b" } }), true, "apply"), /spec\.database\.pool cannot be changed/);
  });
});
