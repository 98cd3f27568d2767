import { test } from "node:test";
import assert from "node:assert/strict";
import { BUILT_IN_PLANS } from "../api/plan.ts";
import { TenantSpec, type MatomoTenant } from "../api/tenant.ts";
import type { KubeObject } from "../kube/http.ts";
import { privacyOptions, privacySettingsSql } from "./privacy.ts";
import { DEFAULT_PLATFORM, renderTenant, TABLES_PREFIX } from "./tenant.ts";

test("spec.privacy becomes PrivacyManager's option rows, as Matomo stores them", () => {
  assert.deepEqual([...privacyOptions({ anonymizeIpBytes: 2, respectDoNotTrack: true })], [
    ["PrivacyManager.ipAnonymizerEnabled", "1"], ["PrivacyManager.ipAddressMaskLength", "2"], ["PrivacyManager.doNotTrackEnabled", "1"],
  ]);
  assert.deepEqual([...privacyOptions({ anonymizeIpBytes: 3, respectDoNotTrack: false })], [
    ["PrivacyManager.ipAnonymizerEnabled", "1"], ["PrivacyManager.ipAddressMaskLength", "3"], ["PrivacyManager.doNotTrackEnabled", "0"],
  ]);
  // 0 bytes switches the anonymiser off and leaves the mask length as it was.
  assert.deepEqual([...privacyOptions({ anonymizeIpBytes: 0, respectDoNotTrack: false })], [
    ["PrivacyManager.ipAnonymizerEnabled", "0"], ["PrivacyManager.doNotTrackEnabled", "0"],
  ]);
  assert.throws(() => privacyOptions({ anonymizeIpBytes: 4, respectDoNotTrack: true }), /0 to 3/);
});

test("the statement is one upsert into the tenant's option table", () => {
  assert.equal(privacySettingsSql({ anonymizeIpBytes: 1, respectDoNotTrack: true }, "matomo_"),
    "INSERT INTO `matomo_option` (option_name, option_value, autoload) VALUES " +
    "('PrivacyManager.ipAnonymizerEnabled', '1', 0), ('PrivacyManager.ipAddressMaskLength', '1', 0), ('PrivacyManager.doNotTrackEnabled', '1', 0) " +
    "ON DUPLICATE KEY UPDATE option_value = VALUES(option_value)");
  assert.throws(() => privacySettingsSql({ anonymizeIpBytes: 1, respectDoNotTrack: true }, "x`; DROP TABLE t; --"), /may only hold letters/);
});

function render(generation: number | undefined, privacy: Record<string, unknown>): KubeObject[] {
  const tenant: MatomoTenant = {
    apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant",
    metadata: { name: "acme", uid: "u-1", ...(generation === undefined ? {} : { generation }) },
    spec: TenantSpec.parse({ domains: ["a.acme.test"], privacy }),
  };
  const plan = BUILT_IN_PLANS[0]?.spec;
  assert.ok(plan);
  return renderTenant({
    tenant, plan, platform: DEFAULT_PLATFORM, pool: { name: "p", host: "10.0.0.1", port: 3306 },
    database: { name: "mt_acme", user: "mt_acme" },
    secrets: { databasePassword: "x".repeat(20), salt: "0".repeat(32), adminUser: "admin", adminPassword: "y".repeat(16), adminEmail: "a@acme.test", apiToken: "a".repeat(32) },
    rollout: { servingVersion: "5.2.1", scheduledPaused: true, queue: "hold", jobs: [{ kind: "update", version: "5.3.0", name: "matomo-update-5-3-0-g2" }, { kind: "queue-drain", version: "5.3.0", name: "matomo-queue-drain-5-3-0-g2" }] },
  });
}

function jobEnv(objs: KubeObject[], name: string): Map<string, string> | undefined {
  const job = objs.find((o) => o.kind === "Job" && o.metadata.name === name) as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } } | undefined;
  if (!job) return undefined;
  return new Map(job.spec.template.spec.containers[0]?.env.map((e) => [e.name, e.value ?? ""]));
}

test("the install and update Jobs set the privacy options; each later spec generation gets a settings Job of its own", () => {
  const privacy = { anonymizeIpBytes: 3, respectDoNotTrack: false };
  const sql = privacySettingsSql(privacy, TABLES_PREFIX);
  const first = render(1, privacy);
  assert.equal(jobEnv(first, "matomo-install")?.get("MMS_SETTINGS_SQL"), sql);
  assert.equal(jobEnv(first, "matomo-update-5-3-0-g2")?.get("MMS_SETTINGS_SQL"), sql);
  assert.equal(jobEnv(first, "matomo-queue-drain-5-3-0-g2")?.has("MMS_SETTINGS_SQL"), false, "the drain touches no settings");
  assert.deepEqual(first.filter((o) => o.metadata.name.startsWith("matomo-settings-")), [], "a new tenant's install Job covers its first generation");
  assert.deepEqual(render(undefined, privacy).filter((o) => o.metadata.name.startsWith("matomo-settings-")), []);

  const changed = render(4, { anonymizeIpBytes: 1, respectDoNotTrack: true });
  const env = jobEnv(changed, "matomo-settings-4");
  assert.ok(env, "generation 4 has its settings Job");
  assert.equal(env.get("MATOMO_ROLE"), "settings");
  assert.equal(env.get("MMS_SETTINGS_SQL"), privacySettingsSql({ anonymizeIpBytes: 1, respectDoNotTrack: true }, TABLES_PREFIX));
  const job = changed.find((o) => o.metadata.name === "matomo-settings-4") as unknown as { spec: { template: { spec: { restartPolicy: string } }; backoffLimit: number } };
  assert.equal(job.spec.template.spec.restartPolicy, "Never");
  assert.ok(job.spec.backoffLimit > 0, "retried: it may start before the install is done");
});
