// One owner per status field: the operator writes a tenant's status with server-side apply on the status
// subresource as its own field manager, sending only the fields it owns. The backup jobs own
// `status.backup.*` (but for the final backup's id) and the BackupHealthy condition under their manager
// (`mms-backup`); conditions are a list-map keyed by type, so each writer owns its own entries and
// nobody re-reads the status to avoid clobbering another writer.
import { API_GROUP_VERSION } from "../api/names.ts";
import type { Condition, TenantStatus } from "../api/tenant.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { FIELD_MANAGER } from "../render/tenant.ts";

/** The operator's field manager for tenant status (the same name its object applies use). */
export const STATUS_FIELD_MANAGER = FIELD_MANAGER;

/** Conditions the backup jobs own; the operator never sends them. */
export const BACKUP_CONDITIONS: readonly string[] = ["BackupHealthy"];

/** The part of a status the operator owns, and nothing else. */
export function operatorStatus(status: TenantStatus): TenantStatus {
  const { backup, conditions, ...rest } = status;
  const own: TenantStatus = { ...rest };
  const mine: Condition[] = (conditions ?? []).filter((c) => !BACKUP_CONDITIONS.includes(c.type));
  if (mine.length > 0) own.conditions = mine;
  if (backup?.finalBackupId) own.backup = { finalBackupId: backup.finalBackupId };
  return JSON.parse(JSON.stringify(own)) as TenantStatus;
}

/** Text of a value with object keys sorted, for comparing. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

/** Canonical text of the operator's part of a status: condition order does not matter in a list-map. */
function canonical(status: TenantStatus): string {
  const s = operatorStatus(status);
  return stable({ ...s, conditions: [...(s.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)) });
}

/**
 * Writes the operator's part of the status when it differs from what was read. Returns false when the
 * tenant is gone. Server-side apply needs no resourceVersion: the fields are ours alone.
 */
export async function writeOperatorStatus(http: KubeHttp, name: string, before: TenantStatus | undefined, wanted: TenantStatus): Promise<boolean> {
  if (canonical(before ?? {}) === canonical(wanted)) return true;
  try {
    await http.apply({ apiVersion: API_GROUP_VERSION, kind: "MatomoTenant", metadata: { name }, status: operatorStatus(wanted) }, { fieldManager: STATUS_FIELD_MANAGER, subresource: "status" });
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return false; // deleted meanwhile: nothing to report
    throw err;
  }
}
