import { test } from "node:test";
import assert from "node:assert/strict";
import { MigrationError } from "./errors.ts";
import { configWarnings, parseOldConfig, trustedHostName } from "./old-config.ts";

const CONFIG = `; <?php exit; ?> DO NOT REMOVE THIS LINE
; file automatically generated or modified by Matomo; you can manually override the default values in global.ini.php by redefining them in this file.
[database]
host = "127.0.0.1"
username = "matomo"
password = "db-p@ss"
dbname = "matomo"
tables_prefix = "piwik_"
charset = "utf8mb4"

[General]
salt = "a3f1c0ffee0123456789abcdef012345"
trusted_hosts[] = "stats.example.com"
trusted_hosts[] = "https://old-stats.example.com:8443"
trusted_hosts[] = "192.168.1.10"
force_ssl = 1
assume_secure_protocol = 1

[mail]
transport = "smtp"
host = "smtp.example.com"

[Plugins]
Plugins[] = "CorePluginsAdmin"
Plugins[] = "CoreHome"
Plugins[] = "TagManager"
Plugins[] = "CustomReports"
Plugins[] = "QueuedTracking"

[PluginsInstalled]
PluginsInstalled[] = "Diagnostics"
`;

test("the old config gives its salt, trusted hosts, plugins, prefix and what is not carried", () => {
  const cfg = parseOldConfig(CONFIG);
  assert.equal(cfg.salt, "a3f1c0ffee0123456789abcdef012345");
  assert.deepEqual(cfg.trustedHosts, ["stats.example.com", "https://old-stats.example.com:8443", "192.168.1.10"]);
  assert.deepEqual(cfg.plugins, ["CorePluginsAdmin", "CoreHome", "TagManager", "CustomReports", "QueuedTracking"]);
  assert.equal(cfg.tablesPrefix, "piwik_");
  assert.deepEqual(cfg.notCarried, ["[General] force_ssl", "[General] assume_secure_protocol", "[mail] transport", "[mail] host"]);
});

test("warnings: uncovered trusted hosts, missing plugins, a prefix that does not match, settings left behind", () => {
  const w = configWarnings(parseOldConfig(CONFIG), ["stats.example.com", "analytics.example.com"], "matomo_");
  assert.equal(w.length, 4);
  assert.match(w[0] ?? "", /trusted hosts .* not a --domain .*: old-stats\.example\.com, 192\.168\.1\.10;/);
  assert.match(w[1] ?? "", /plugins active on the old instance that the platform's image lacks: TagManager, CustomReports;/);
  assert.match(w[2] ?? "", /tables_prefix is "piwik_", but the source's Matomo tables use "matomo_"/);
  assert.match(w[3] ?? "", /not carried .*\[General\] force_ssl, \[General\] assume_secure_protocol, \[mail\] transport, \[mail\] host$/);
  assert.ok(!w.join(" ").includes("db-p@ss"), "the old database password is never repeated");
  const covered = configWarnings(parseOldConfig(CONFIG), ["stats.example.com", "old-stats.example.com", "192.168.1.10"], "piwik_");
  assert.equal(covered.length, 2, "only plugins and settings remain");
});

test("a config without salt says what is lost; a salt the platform cannot write is refused", () => {
  const noSalt = parseOldConfig("[General]\ntrusted_hosts[] = a.example.com\n");
  assert.equal(noSalt.salt, undefined);
  assert.match(configWarnings(noSalt, ["a.example.com"], "")[0] ?? "", /no \[General\] salt.*API tokens/);
  for (const bad of ['salt = "short"', 'salt = "has\\\\backslash0123456789"', "salt = \"'quoted-at-the-ends-0123'\""]) {
    assert.throws(() => parseOldConfig(`[General]\n${bad}\n`), (e) => e instanceof MigrationError && /salt/.test(e.message), bad);
  }
});

test("what is not a config is refused", () => {
  assert.throws(() => parseOldConfig("<?php\n$config = array();\n"), (e) => e instanceof MigrationError && /not a Matomo config\.ini\.php/.test(e.message));
  assert.throws(() => parseOldConfig("; only a comment\n"), (e) => e instanceof MigrationError && /holds no settings/.test(e.message));
});

test("a trusted host stands for its host name", () => {
  assert.equal(trustedHostName("https://Stats.Example.com:8443/matomo/"), "stats.example.com");
  assert.equal(trustedHostName("stats.example.com."), "stats.example.com");
  assert.equal(trustedHostName("10.0.0.1:80"), "10.0.0.1");
});
