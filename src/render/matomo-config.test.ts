import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { type IniDocument, type IniSettings, iniSettings, parseIni } from "./ini.ts";
import { type MatomoConfigInput, type MatomoSecrets, renderCommonConfig, renderSecretConfig } from "./matomo-config.ts";
import { activePlugins, MATOMO_DEFAULT_INSTALLED, MATOMO_DEFAULT_PLUGINS } from "./matomo-plugins.ts";

const GLOBAL = parseIni(readFileSync(resolve(import.meta.dirname, "../../../shared/fixtures/matomo/global.ini.php"), "utf8"));

// Matomo's installer writes these into config.ini.php although global.ini.php does not declare them.
const INSTALLER_KEYS = new Set(["General.salt"]);
/**
 * Keys the image's QueuedTracking 5.1.1 declares rather than global.ini.php: its system settings
 * (SystemSettings.php, read from [QueuedTracking] over the database) and its Configuration.php keys.
 */
const PLUGIN_KEYS = new Set([
  "backend", "queueEnabled", "numQueueWorkers", "processDuringTrackingRequest", "numRequestsToProcess", "redisHost", "redisPort",
  "redisTimeout", "redisDatabase", "redisPassword", "useWhatRedisBackendType", "sentinelMasterName",
  "notify_queue_threshold_single_queue", "notify_queue_threshold_emails", "log_failed_tracking_request_body",
].map((k) => `QueuedTracking.${k}`));
const notDeclared = (k: string) => !INSTALLER_KEYS.has(k) && !PLUGIN_KEYS.has(k);

const ACME: MatomoConfigInput = {
  domains: ["analytics.acme.test", "stats.acme.test"],
  database: { host: "mariadb.pool-a.svc", port: 3306, name: "tenant_acme", user: "tenant_acme", tablesPrefix: "matomo_", engine: "mariadb" },
  reader: { host: "mariadb-replica.pool-a.svc", port: 3307 },
  privacy: { fingerprintAcrossWebsites: false, thirdPartyCookie: false, userIdOverwritesVisitorId: true },
};
const ACME_SECRETS: MatomoSecrets = { databasePassword: "Tr0ub4dor&3$x", salt: "5f0c1b9e2d7a4c8e9b3f6a1d0e7c2b4a" };

const VARIANTS: readonly MatomoConfigInput[] = [
  ACME,
  { ...ACME, reader: undefined },
  {
    domains: ["matomo.example.org"],
    database: { host: "10.0.0.7", port: 13306, name: "m", user: "u", tablesPrefix: "", engine: "mysql" },
    privacy: { fingerprintAcrossWebsites: true, thirdPartyCookie: true, userIdOverwritesVisitorId: false },
  },
  { ...ACME, domains: ["a.test", "b.test", "c.test"], database: { ...ACME.database, engine: "mysql" } },
  { ...ACME, database: { ...ACME.database, engine: undefined } },
];

test("a representative tenant renders to the expected common.config.ini.php", () => {
  assert.equal(renderCommonConfig(ACME), `; <?php exit; ?> DO NOT REMOVE THIS LINE
; Rendered by Matomo MultiScale; edits are overwritten. Non-secret settings; the secrets are in config.ini.php.

[database]
host = "mariadb.pool-a.svc"
port = "3306"
dbname = "tenant_acme"
username = "tenant_acme"
tables_prefix = "matomo_"
adapter = "PDO\\MYSQL"
schema = "Mariadb"
charset = "utf8mb4"
collation = "utf8mb4_general_ci"

[database_reader]
host = "mariadb-replica.pool-a.svc"
port = "3307"
dbname = "tenant_acme"
username = "tenant_acme"

[General]
multi_server_environment = "1"
enable_browser_archiving_triggering = "0"
browser_archiving_disabled_enforce = "1"
enable_general_settings_admin = "0"
enable_plugins_admin = "0"
enable_installer = "0"
enable_auto_update = "0"
enable_load_data_infile = "0"
assume_secure_protocol = "1"
force_ssl = "1"
proxy_client_headers[] = "HTTP_X_FORWARDED_FOR"
proxy_host_headers[] = "HTTP_X_FORWARDED_HOST"
trusted_hosts[] = "analytics.acme.test"
trusted_hosts[] = "stats.acme.test"

[Tracker]
enable_fingerprinting_across_websites = "0"
use_third_party_id_cookie = "0"
enable_userid_overwrites_visitorid = "1"
scheduled_tasks_min_interval = "0"

[Plugins]
Plugins[] = "CoreVue"
Plugins[] = "CorePluginsAdmin"
Plugins[] = "CoreAdminHome"
Plugins[] = "CoreHome"
Plugins[] = "WebsiteMeasurable"
Plugins[] = "IntranetMeasurable"
Plugins[] = "Diagnostics"
Plugins[] = "CoreVisualizations"
Plugins[] = "Proxy"
Plugins[] = "API"
Plugins[] = "Widgetize"
Plugins[] = "Transitions"
Plugins[] = "LanguagesManager"
Plugins[] = "Actions"
Plugins[] = "Dashboard"
Plugins[] = "MultiSites"
Plugins[] = "Referrers"
Plugins[] = "UserLanguage"
Plugins[] = "DevicesDetection"
Plugins[] = "Goals"
Plugins[] = "Ecommerce"
Plugins[] = "SEO"
Plugins[] = "Events"
Plugins[] = "UserCountry"
Plugins[] = "GeoIp2"
Plugins[] = "VisitsSummary"
Plugins[] = "VisitFrequency"
Plugins[] = "VisitTime"
Plugins[] = "VisitorInterest"
Plugins[] = "RssWidget"
Plugins[] = "Feedback"
Plugins[] = "Monolog"
Plugins[] = "Login"
Plugins[] = "TwoFactorAuth"
Plugins[] = "UsersManager"
Plugins[] = "SitesManager"
Plugins[] = "Installation"
Plugins[] = "CoreUpdater"
Plugins[] = "CoreConsole"
Plugins[] = "ScheduledReports"
Plugins[] = "UserCountryMap"
Plugins[] = "Live"
Plugins[] = "PrivacyManager"
Plugins[] = "ImageGraph"
Plugins[] = "Annotations"
Plugins[] = "MobileMessaging"
Plugins[] = "Overlay"
Plugins[] = "SegmentEditor"
Plugins[] = "Insights"
Plugins[] = "Morpheus"
Plugins[] = "Contents"
Plugins[] = "TestRunner"
Plugins[] = "BulkTracking"
Plugins[] = "Resolution"
Plugins[] = "DevicePlugins"
Plugins[] = "Heartbeat"
Plugins[] = "Intl"
Plugins[] = "Marketplace"
Plugins[] = "ProfessionalServices"
Plugins[] = "UserId"
Plugins[] = "CustomJsTracker"
Plugins[] = "Tour"
Plugins[] = "PagePerformance"
Plugins[] = "CustomDimensions"
Plugins[] = "JsTrackerInstallCheck"
Plugins[] = "FeatureFlags"
Plugins[] = "ExtraTools"
Plugins[] = "QueuedTracking"

[PluginsInstalled]
PluginsInstalled[] = "Diagnostics"
PluginsInstalled[] = "Login"
PluginsInstalled[] = "CoreAdminHome"
PluginsInstalled[] = "UsersManager"
PluginsInstalled[] = "SitesManager"
PluginsInstalled[] = "Installation"
PluginsInstalled[] = "Monolog"
PluginsInstalled[] = "Intl"
PluginsInstalled[] = "JsTrackerInstallCheck"
PluginsInstalled[] = "CoreVue"
PluginsInstalled[] = "CorePluginsAdmin"
PluginsInstalled[] = "CoreHome"
PluginsInstalled[] = "WebsiteMeasurable"
PluginsInstalled[] = "IntranetMeasurable"
PluginsInstalled[] = "CoreVisualizations"
PluginsInstalled[] = "Proxy"
PluginsInstalled[] = "API"
PluginsInstalled[] = "Widgetize"
PluginsInstalled[] = "Transitions"
PluginsInstalled[] = "LanguagesManager"
PluginsInstalled[] = "Actions"
PluginsInstalled[] = "Dashboard"
PluginsInstalled[] = "MultiSites"
PluginsInstalled[] = "Referrers"
PluginsInstalled[] = "UserLanguage"
PluginsInstalled[] = "DevicesDetection"
PluginsInstalled[] = "Goals"
PluginsInstalled[] = "Ecommerce"
PluginsInstalled[] = "SEO"
PluginsInstalled[] = "Events"
PluginsInstalled[] = "UserCountry"
PluginsInstalled[] = "GeoIp2"
PluginsInstalled[] = "VisitsSummary"
PluginsInstalled[] = "VisitFrequency"
PluginsInstalled[] = "VisitTime"
PluginsInstalled[] = "VisitorInterest"
PluginsInstalled[] = "RssWidget"
PluginsInstalled[] = "Feedback"
PluginsInstalled[] = "TwoFactorAuth"
PluginsInstalled[] = "CoreUpdater"
PluginsInstalled[] = "CoreConsole"
PluginsInstalled[] = "ScheduledReports"
PluginsInstalled[] = "UserCountryMap"
PluginsInstalled[] = "Live"
PluginsInstalled[] = "PrivacyManager"
PluginsInstalled[] = "ImageGraph"
PluginsInstalled[] = "Annotations"
PluginsInstalled[] = "MobileMessaging"
PluginsInstalled[] = "Overlay"
PluginsInstalled[] = "SegmentEditor"
PluginsInstalled[] = "Insights"
PluginsInstalled[] = "Morpheus"
PluginsInstalled[] = "Contents"
PluginsInstalled[] = "TestRunner"
PluginsInstalled[] = "BulkTracking"
PluginsInstalled[] = "Resolution"
PluginsInstalled[] = "DevicePlugins"
PluginsInstalled[] = "Heartbeat"
PluginsInstalled[] = "Marketplace"
PluginsInstalled[] = "ProfessionalServices"
PluginsInstalled[] = "UserId"
PluginsInstalled[] = "CustomJsTracker"
PluginsInstalled[] = "Tour"
PluginsInstalled[] = "PagePerformance"
PluginsInstalled[] = "CustomDimensions"
PluginsInstalled[] = "FeatureFlags"
PluginsInstalled[] = "ExtraTools"
PluginsInstalled[] = "QueuedTracking"

[QueuedTracking]
notify_queue_threshold_single_queue = "250000"
`);
});

test("the same tenant's config.ini.php holds only the secrets, entity-encoded where Matomo expects it", () => {
  assert.equal(renderSecretConfig(ACME, ACME_SECRETS), `; <?php exit; ?> DO NOT REMOVE THIS LINE
; Rendered by Matomo MultiScale; edits are overwritten. Secrets only; every other setting is in common.config.ini.php.

[database]
password = "Tr0ub4dor&amp;3&#36;x"

[database_reader]
password = "Tr0ub4dor&amp;3&#36;x"

[General]
salt = "5f0c1b9e2d7a4c8e9b3f6a1d0e7c2b4a"
`);
});

test("every section and key written is one Matomo's global.ini.php declares, in the same form", () => {
  for (const input of VARIANTS) {
    for (const out of [renderCommonConfig(input), renderSecretConfig(input, ACME_SECRETS)]) {
      const undeclared = undeclaredKeys(parseIni(out));
      assert.deepEqual(undeclared.filter(notDeclared), [], out);
    }
  }
  // The exception list stays honest: each entry is written and really is missing from global.ini.php.
  assert.deepEqual(undeclaredKeys(parseIni(renderSecretConfig(ACME, ACME_SECRETS))), [...INSTALLER_KEYS]);
});

test("array keys either have no default in global.ini.php, or start with its defaults in order, so Matomo's index-wise merge keeps exactly ours", () => {
  const arrays = parseIni(renderCommonConfig(ACME)).entries.filter((e) => e.array);
  assert.deepEqual([...new Set(arrays.map((e) => e.key))], ["proxy_client_headers", "proxy_host_headers", "trusted_hosts", "Plugins", "PluginsInstalled"]);
  const globals = iniSettings(GLOBAL);
  const ours = iniSettings(parseIni(renderCommonConfig(ACME)));
  for (const key of new Set(arrays.map((e) => `${e.section}.${e.key}`))) {
    const [section = "", name = ""] = key.split(".");
    const defaults = globals.get(section)?.get(name);
    const rendered = ours.get(section)?.get(name) as string[];
    if (defaults === undefined) continue;
    assert.ok(Array.isArray(defaults), key);
    assert.deepEqual(rendered.slice(0, defaults.length), defaults, `${key} must start with global.ini.php's list`);
  }
});

test("the plugin lists are Matomo's defaults for the pinned version plus the image's plugins, every active plugin installed", () => {
  const globals = iniSettings(GLOBAL);
  assert.deepEqual(MATOMO_DEFAULT_PLUGINS, globals.get("Plugins")?.get("Plugins"));
  assert.deepEqual(MATOMO_DEFAULT_INSTALLED, globals.get("PluginsInstalled")?.get("PluginsInstalled"));
  const ours = iniSettings(parseIni(renderCommonConfig(ACME)));
  const active = ours.get("Plugins")?.get("Plugins") as string[];
  for (const p of ["ExtraTools", "QueuedTracking"]) assert.ok(active.includes(p), p);
  assert.deepEqual([...(ours.get("PluginsInstalled")?.get("PluginsInstalled") as string[])].sort(), [...active].sort());
});

test("Matomo, merging global < common < config, sees the platform's settings and the secrets", () => {
  const merged = matomoMerge(
    iniSettings(GLOBAL),
    iniSettings(parseIni(renderCommonConfig(ACME))),
    iniSettings(parseIni(renderSecretConfig(ACME, ACME_SECRETS))),
  );
  const db = merged.get("database");
  assert.deepEqual([db?.get("host"), db?.get("username"), db?.get("password"), db?.get("adapter"), db?.get("type")],
    ["mariadb.pool-a.svc", "tenant_acme", "Tr0ub4dor&3$x", "PDO\\MYSQL", "InnoDB"]);
  assert.equal(merged.get("database_reader")?.get("password"), "Tr0ub4dor&3$x");
  assert.equal(merged.get("General")?.get("salt"), ACME_SECRETS.salt);
  assert.deepEqual(merged.get("General")?.get("trusted_hosts"), ["analytics.acme.test", "stats.acme.test"]);
  assert.equal(merged.get("General")?.get("enable_browser_archiving_triggering"), "0");
  assert.deepEqual(merged.get("Plugins")?.get("Plugins"), activePlugins(),
    "the merged plugin list is exactly the rendered one: defaults in order, then the image's plugins");
});

test("secrets appear only in config.ini.php, and it carries nothing else", () => {
  for (const input of VARIANTS) {
    const common = renderCommonConfig(input);
    assert.ok(!common.includes(ACME_SECRETS.salt) && !common.includes("Tr0ub4dor"));
    assert.ok(!parseIni(common).entries.some((e) => e.key === "password" || e.key === "salt"));
    const secretKeys = parseIni(renderSecretConfig(input, ACME_SECRETS)).entries.map((e) => `${e.section}.${e.key}`);
    assert.deepEqual(secretKeys, input.reader
      ? ["database.password", "database_reader.password", "General.salt"]
      : ["database.password", "General.salt"]);
  }
});

test("without a reader neither file has a [database_reader] section", () => {
  const input = { ...ACME, reader: undefined };
  assert.ok(!parseIni(renderCommonConfig(input)).sections.includes("database_reader"));
  assert.ok(!parseIni(renderSecretConfig(input, ACME_SECRETS)).sections.includes("database_reader"));
  const reader = iniSettings(parseIni(renderCommonConfig(ACME))).get("database_reader");
  assert.deepEqual(Object.fromEntries(reader ?? []),
    { host: "mariadb-replica.pool-a.svc", port: "3307", dbname: "tenant_acme", username: "tenant_acme" });
});

test("the SQL dialect follows the server's kind, and is left to Matomo when the kind is unknown", () => {
  const schema = (engine: "mariadb" | "mysql" | undefined) =>
    iniSettings(parseIni(renderCommonConfig({ ...ACME, database: { ...ACME.database, engine } }))).get("database")?.get("schema");
  assert.deepEqual([schema("mariadb"), schema("mysql"), schema(undefined)], ["Mariadb", "Mysql", undefined]);
});

test("output is byte-identical for equal input and ends with exactly one newline", () => {
  for (const input of VARIANTS) {
    const common = renderCommonConfig(input);
    assert.equal(renderCommonConfig(structuredClone(input)), common);
    assert.equal(renderSecretConfig(structuredClone(input), { ...ACME_SECRETS }), renderSecretConfig(input, ACME_SECRETS));
    for (const out of [common, renderSecretConfig(input, ACME_SECRETS)]) {
      assert.ok(out.endsWith("\n") && !out.endsWith("\n\n"));
      assert.ok(out.startsWith("; <?php exit; ?> DO NOT REMOVE THIS LINE\n"));
    }
  }
});

test("values that could break out of their INI line are refused, naming the key but not the value", () => {
  const secret = (s: Partial<MatomoSecrets>) => () => renderSecretConfig(ACME, { ...ACME_SECRETS, ...s });
  const db = (d: Partial<MatomoConfigInput["database"]>) => () => renderCommonConfig({ ...ACME, database: { ...ACME.database, ...d } });
  const cases: readonly [key: string, value: string, render: () => string][] = [
    ["[database] password", 'pa"ss', secret({ databasePassword: 'pa"ss' })],
    ["[database] password", "pa\\ss", secret({ databasePassword: "pa\\ss" })],
    ["[database] password", "pa\nss", secret({ databasePassword: "pa\nss" })],
    ["[General] salt", "s4\rlt", secret({ salt: "s4\rlt" })],
    ["[General] salt", "s4\0lt", secret({ salt: "s4\0lt" })],
    ["[General] salt", "s4ltè", secret({ salt: "s4ltè" })],
    ["[General] salt", " s4lt", secret({ salt: " s4lt" })],
    ["[General] salt", "s4lt'", secret({ salt: "s4lt'" })],
    ["[General] trusted_hosts[]", 'b.test"\n[Plugins]', () => renderCommonConfig({ ...ACME, domains: ["a.test", 'b.test"\n[Plugins]'] })],
    ["[database] host", "db\n[General]", db({ host: "db\n[General]" })],
    ["[database] tables_prefix", "m\\", db({ tablesPrefix: "m\\" })],
    ["[database_reader] host", "r\t", () => renderCommonConfig({ ...ACME, reader: { host: "r\t", port: 3306 } })],
  ];
  for (const [key, value, render] of cases) {
    assert.throws(render, (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.ok(e.message.startsWith(`cannot write ${key}: the value contains `), e.message);
      assert.ok(!e.message.includes(value), e.message);
      return true;
    });
  }
});

test("empty secrets, a tenant without domains and impossible ports are refused", () => {
  assert.throws(() => renderSecretConfig(ACME, { ...ACME_SECRETS, databasePassword: "" }), /\[database\] password: the value is empty/);
  assert.throws(() => renderSecretConfig(ACME, { ...ACME_SECRETS, salt: "" }), /\[General\] salt: the value is empty/);
  assert.throws(() => renderCommonConfig({ ...ACME, domains: [] }), /at least one domain/);
  assert.throws(() => renderCommonConfig({ ...ACME, database: { ...ACME.database, port: 0 } }), /\[database\] port: 0 is not a TCP port/);
  assert.throws(() => renderCommonConfig({ ...ACME, reader: { host: "r", port: 3306.5 } }), /\[database_reader\] port/);
});

// Printable ASCII without `"` and `\`, not starting or ending with a space or `'`; biased towards the
// characters that need care (`&`, `$`, `;`, `{`, `=`) so the encoding is exercised, not just letters.
const edge = fc.constantFrom(..."!#$%&()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~");
const inner = fc.oneof(edge, fc.constantFrom(" ", "'", "&", "$", ";", "${", "&amp;"));
const safeValue = fc.tuple(edge, fc.array(inner, { maxLength: 30 }), edge).map(([a, mid, b]) => a + mid.join("") + b);
const unsafeChar = fc.constantFrom('"', "\\", "\n", "\r", "\t", "\0", "\x7f", "é", "\u2028");

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
const tcpPort = fc.integer({ min: 1, max: 65535 });
const inputs: fc.Arbitrary<MatomoConfigInput> = fc.record({
  domains: fc.array(hostname, { minLength: 1, maxLength: 5 }),
  database: fc.record({
    host: fc.oneof(hostname, fc.ipV4()),
    port: tcpPort,
    name: fc.stringMatching(/^[a-z0-9_]{1,32}$/),
    user: fc.stringMatching(/^[a-z0-9_]{1,32}$/),
    tablesPrefix: fc.stringMatching(/^[a-z0-9_]{0,10}$/),
    engine: fc.constantFrom("mariadb" as const, "mysql" as const, undefined),
  }),
  reader: fc.option(fc.record({ host: hostname, port: tcpPort }), { nil: undefined }),
  privacy: fc.record({ fingerprintAcrossWebsites: fc.boolean(), thirdPartyCookie: fc.boolean(), userIdOverwritesVisitorId: fc.boolean() }),
});
const secrets: fc.Arbitrary<MatomoSecrets> = fc.record({ databasePassword: safeValue, salt: safeValue });

test("property: what is rendered reads back, through Matomo's decoding, as the values given", () => {
  fc.assert(fc.property(inputs, secrets, (input, s) => {
    const common = iniSettings(parseIni(renderCommonConfig(input)));
    const secret = iniSettings(parseIni(renderSecretConfig(input, s)));
    const db = common.get("database");
    assert.deepEqual(common.get("General")?.get("trusted_hosts"), input.domains);
    assert.deepEqual([db?.get("host"), db?.get("port"), db?.get("dbname"), db?.get("username"), db?.get("tables_prefix")],
      [input.database.host, String(input.database.port), input.database.name, input.database.user, input.database.tablesPrefix]);
    assert.equal(common.get("Tracker")?.get("use_third_party_id_cookie"), input.privacy.thirdPartyCookie ? "1" : "0");
    assert.equal(secret.get("database")?.get("password"), s.databasePassword);
    assert.equal(secret.get("General")?.get("salt"), s.salt);
    assert.equal(secret.get("database_reader")?.get("password"), input.reader ? s.databasePassword : undefined);
    assert.equal(common.get("database_reader")?.get("host"), input.reader?.host);
  }), { numRuns: 300 });
});

test("property: no input produces a line outside a known section or a key global.ini.php lacks", () => {
  const known = new Set(["database", "database_reader", "General", "Tracker", "Plugins", "PluginsInstalled", "QueuedTracking"]);
  fc.assert(fc.property(inputs, secrets, (input, s) => {
    for (const out of [renderCommonConfig(input), renderSecretConfig(input, s)]) {
      const doc = parseIni(out);
      for (const line of out.slice(0, -1).split("\n")) {
        assert.ok(line === "" || line.startsWith(";") || /^\[\w+\]$/.test(line) || /^\w+(\[\])? = "[^"]*"$/.test(line), line);
      }
      assert.ok(doc.entries.every((e) => e.section !== undefined && known.has(e.section)));
      assert.deepEqual(undeclaredKeys(doc).filter(notDeclared), []);
    }
  }), { numRuns: 200 });
});

test("property: a secret with any unsafe character is refused and never echoed", () => {
  fc.assert(fc.property(safeValue, unsafeChar, fc.nat(), (base, bad, at) => {
    const i = at % (base.length + 1);
    const password = base.slice(0, i) + bad + base.slice(i);
    assert.throws(() => renderSecretConfig(ACME, { ...ACME_SECRETS, databasePassword: password }),
      (e: unknown) => e instanceof Error && e.message.startsWith("cannot write [database] password:") && !e.message.includes(password));
  }), { numRuns: 200 });
});

/** Keys written as `section.key` that global.ini.php does not declare in that section and form. */
function undeclaredKeys(doc: IniDocument): string[] {
  const declared = new Set([...GLOBAL.entries, ...GLOBAL.commented].map((e) => `${e.section}.${e.key}${e.array ? "[]" : ""}`));
  const missing = doc.entries
    .map((e) => `${e.section}.${e.key}${e.array ? "[]" : ""}`)
    .filter((k) => !declared.has(k));
  return [...new Set(missing)];
}

/**
 * Matomo's IniFileChain: global and common merge section by section with arrays merged index by index;
 * config.ini.php then replaces whole keys within each section.
 */
function matomoMerge(global: IniSettings, common: IniSettings, config: IniSettings): IniSettings {
  const out = new Map<string, Map<string, string | readonly string[]>>();
  for (const [name, keys] of global) out.set(name, new Map(keys));
  for (const [name, keys] of common) {
    const target = out.get(name) ?? new Map<string, string | readonly string[]>();
    out.set(name, target);
    for (const [key, value] of keys) {
      const before = target.get(key);
      if (Array.isArray(before) && Array.isArray(value)) {
        const merged: string[] = [...(before as readonly string[])];
        (value as readonly string[]).forEach((v, i) => { merged[i] = v; });
        target.set(key, merged);
      } else {
        target.set(key, value);
      }
    }
  }
  for (const [name, keys] of config) {
    const target = out.get(name) ?? new Map<string, string | readonly string[]>();
    out.set(name, target);
    for (const [key, value] of keys) target.set(key, value);
  }
  return out;
}
