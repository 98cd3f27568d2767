// Where backups live in object storage, and how backup ids are made: one folder per backup, ids that
// sort by time, so listing a tenant's folder in key order lists its backups oldest first.
import { randomBytes } from "node:crypto";
import { NAMED_BACKUP_ID_PATTERN } from "../api/backup-id.ts";
import { isTenantName } from "../db/naming.ts";
import { BackupError } from "./errors.ts";

export const DUMP_FILE = "dump.sql.gz";
export const MANIFEST_FILE = "manifest.json";
/** Written by `backup verify` beside the backup it restored (src/backup/verification.ts). */
export const VERIFICATION_FILE = "verification.json";
/** The tenant's spec and what disaster recovery needs besides the dumps, beside its backup folders. */
export const TENANT_RECORD_FILE = "tenant.json";

/** `20261126T151200Z-1a2b`: UTC time to the second, then 4 random hex digits against collisions. */
export const BACKUP_ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{4}$/;

export function newBackupId(now: Date = new Date(), random: string = randomBytes(2).toString("hex")): string {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, "Z").replaceAll("-", "").replaceAll(":", "");
  return `${stamp}-${random}`;
}

/** A time-stamped id, or a named one of a verified backup taken for a step (src/api/backup-id.ts). */
export function isBackupId(id: string): boolean {
  return BACKUP_ID_PATTERN.test(id) || NAMED_BACKUP_ID_PATTERN.test(id);
}

/** The time encoded in a backup id. */
export function backupIdTime(id: string): Date {
  const m = BACKUP_ID_PATTERN.exec(id);
  if (!m) throw new BackupError("InvalidRequest", `${JSON.stringify(id)} is not a backup id`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** A key prefix is empty or a path of plain segments ending in `/`, e.g. `prod/`. */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return "";
  const p = prefix.endsWith("/") ? prefix : `${prefix}/`;
  if (p.startsWith("/") || p.includes("//") || !/^[A-Za-z0-9._\-/]+$/.test(p)) {
    throw new BackupError("InvalidRequest", `${JSON.stringify(prefix)} is not a usable key prefix: use letters, digits, ".", "_", "-" and "/"`);
  }
  return p;
}

export function tenantPrefix(tenant: string, prefix?: string): string {
  if (!isTenantName(tenant)) throw new BackupError("InvalidRequest", `${JSON.stringify(tenant)} is not a valid tenant name`);
  return `${normalizePrefix(prefix)}tenants/${tenant}/`;
}

export interface BackupKeys {
  readonly folder: string;
  readonly dump: string;
  readonly manifest: string;
  readonly verification: string;
}

export function backupKeys(tenant: string, backupId: string, prefix?: string): BackupKeys {
  if (!isBackupId(backupId)) throw new BackupError("InvalidRequest", `${JSON.stringify(backupId)} is not a backup id`);
  const folder = `${tenantPrefix(tenant, prefix)}${backupId}/`;
  return { folder, dump: folder + DUMP_FILE, manifest: folder + MANIFEST_FILE, verification: folder + VERIFICATION_FILE };
}
