// Deleting a tenant with deletionPolicy Delete: lock the tenant's user out, take a final backup, prove
// it by a restore drill, and only then drop the database. Every step is recorded or idempotent, so a
// crash anywhere resumes where it stopped; without a verified final backup the database is kept and
// the Deleting condition says why.
import { API_GROUP_VERSION } from "../api/names.ts";
import { DATABASE_FINALIZER, type MatomoTenant } from "../api/tenant.ts";
import { BackupError } from "../backup/errors.ts";
import { updateTenantStatus, verifiedBackup, withCondition } from "../backup/tenant-backup.ts";
import { resolvePool } from "../backup/tenant-target.ts";
import { dropTenantDatabase, dropTenantUser, PoolError, tenantDatabaseExists } from "../db/pool.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import type { ReconcileResult } from "./result.ts";

const RETRY_MS = 60_000;

async function patchFinalizers(http: KubeHttp, raw: MatomoTenant, finalizers: string[]): Promise<boolean> {
  try {
    const updated = await http.mergePatch<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", raw.metadata.name,
      { metadata: { finalizers, resourceVersion: raw.metadata.resourceVersion } });
    raw.metadata.finalizers = updated.metadata.finalizers ?? [];
    raw.metadata.resourceVersion = updated.metadata.resourceVersion;
    return true;
  } catch (err) {
    // Changed meanwhile (409) or gone (404): the watch brings the next version.
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return false;
    throw err;
  }
}

/**
 * Adds our finalizer when the tenant's database is to be dropped on deletion, removes it when not.
 * False when the tenant changed meanwhile and the reconcile should start again.
 */
export async function ensureFinalizer(http: KubeHttp, raw: MatomoTenant, wanted: boolean): Promise<boolean> {
  const current = raw.metadata.finalizers ?? [];
  const has = current.includes(DATABASE_FINALIZER);
  if (has === wanted) return true;
  return patchFinalizers(http, raw, wanted ? [...current, DATABASE_FINALIZER] : current.filter((f) => f !== DATABASE_FINALIZER));
}

export async function finalizeTenant(http: KubeHttp, tenant: MatomoTenant, now: () => Date): Promise<ReconcileResult> {
  const name = tenant.metadata.name;
  const finalizers = tenant.metadata.finalizers ?? [];
  if (!finalizers.includes(DATABASE_FINALIZER)) return {};
  const release = async () => ((await patchFinalizers(http, tenant, finalizers.filter((f) => f !== DATABASE_FINALIZER))) ? {} : { requeueAfterMs: 100 });
  // Switching to Retain while the deletion waits is how a person keeps the database after all.
  if (tenant.spec.deletionPolicy !== "Delete") return release();
  const poolName = tenant.status?.database?.pool;
  if (!poolName) return release(); // never placed: there is no database

  const say = (value: "True" | "False" | "Unknown", reason: string, message: string) =>
    updateTenantStatus(http, name, (s) => withCondition(s, "Deleting", value, reason, message, now()));
  try {
    const pool = await resolvePool(http, poolName);
    if (!(await tenantDatabaseExists(pool, name))) return release();
    let finalId = tenant.status?.backup?.finalBackupId;
    if (!finalId) {
      await say("Unknown", "FinalBackup", "locking the tenant's database user out, then taking and verifying the final backup");
      // Nothing may write after the final backup: the user goes first (the data stays).
      await dropTenantUser(pool, name);
      finalId = await verifiedBackup(http, name, poolName, "final", now);
      const id = finalId;
      await updateTenantStatus(http, name, (s) => ({ ...s, backup: { ...s.backup, finalBackupId: id } }));
    }
    await say("Unknown", "DroppingDatabase", `final backup ${finalId} verified; dropping the database`);
    await dropTenantDatabase(pool, name);
    return release();
  } catch (err) {
    if (!(err instanceof BackupError || err instanceof PoolError)) throw err;
    await say("False", err.reason, `the database of tenant ${name} is kept: ${err.message}. It is retried every ${RETRY_MS / 1000} s; to delete the tenant and keep its database, set spec.deletionPolicy to Retain`)
      .catch(() => undefined);
    return { requeueAfterMs: RETRY_MS };
  }
}
