// spec.privacy → Matomo's own privacy settings. Matomo keeps IP anonymisation and Do Not Track as
// options of its PrivacyManager plugin in the tenant database (`PrivacyManager.<name>` rows of the
// option table, plugins/PrivacyManager/Config.php), not in config.ini.php. The Jobs that run in the
// tenant image (install, update, and the settings Job of each spec generation) upsert these rows with
// the statement rendered here, so what they run is pure and tested here.
import type { TenantSpec } from "../api/tenant.ts";

export type PrivacySpec = TenantSpec["privacy"];

/** The option rows that carry spec.privacy, by name, as Matomo stores them ('1'/'0' for booleans). */
export function privacyOptions(privacy: PrivacySpec): ReadonlyMap<string, string> {
  const bytes = privacy.anonymizeIpBytes;
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > 3) throw new Error(`anonymizeIpBytes must be 0 to 3, not ${bytes}`);
  return new Map([
    // 0 bytes is Matomo's anonymiser switched off; the mask length is then left as it was.
    ["PrivacyManager.ipAnonymizerEnabled", bytes > 0 ? "1" : "0"],
    ...(bytes > 0 ? [["PrivacyManager.ipAddressMaskLength", String(bytes)] as const] : []),
    ["PrivacyManager.doNotTrackEnabled", privacy.respectDoNotTrack ? "1" : "0"],
  ]);
}

/**
 * One idempotent statement that sets the options in table `<prefix>option` (option_name is its primary
 * key): run twice, or after the same values were set in Matomo's UI, it changes nothing. Every value is
 * one of a few fixed strings, so nothing from outside reaches the SQL text.
 */
export function privacySettingsSql(privacy: PrivacySpec, tablesPrefix: string): string {
  if (!/^[A-Za-z0-9_]*$/.test(tablesPrefix)) throw new Error(`table prefix "${tablesPrefix}" may only hold letters, digits and underscores`);
  const rows = [...privacyOptions(privacy)].map(([name, value]) => `('${name}', '${value}', 0)`);
  return `INSERT INTO \`${tablesPrefix}option\` (option_name, option_value, autoload) VALUES ${rows.join(", ")} ` +
    "ON DUPLICATE KEY UPDATE option_value = VALUES(option_value)";
}
