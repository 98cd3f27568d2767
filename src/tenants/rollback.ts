// Rolling back a failed Matomo upgrade: restore the verified backup taken before it over the tenant's
// database (after a safety backup, keeping the tracking queue, which holds every hit since), then set
// the version back; the operator then works off the queue with the old version (phase RollingBack).
import { setTimeout as sleep } from "node:timers/promises";
import { API_GROUP_VERSION } from "../api/names.ts";
import { ROLLBACK_RESTORED_ANNOTATION, type MatomoTenant, type UpgradeStatus } from "../api/tenant.ts";
import { AdminSession } from "../backup/admin.ts";
import { runBackup } from "../backup/backup.ts";
import { readManifest, restoreBackup, type RestoreResult } from "../backup/restore.ts";
import type { ObjectStore } from "../backup/store.ts";
import { resolveTenantTarget, type TenantTarget } from "../backup/tenant-target.ts";
import { quoteTable } from "../db/naming.ts";
import { TABLES_PREFIX } from "../render/tenant.ts";
import { UserError } from "../util/errors.ts";
import { QUEUE_TABLE_PATTERN } from "../controllers/upgrade.ts";
import type { KubeHttp } from "../kube/http.ts";
import { setVersion } from "./upgrade.ts";

export interface RollbackOptions {
  readonly store: ObjectStore;
  readonly timeoutMs: number;
  /**
   * Undo an upgrade that completed: its pre-upgrade backup replaces the data, so what was stored since is
   * left out of the database (kept in the safety backup taken first). Refused without this.
   */
  readonly discardSinceUpgrade?: boolean;
  readonly onEvent?: (text: string) => void;
}

export interface RollbackResult {
  readonly from: string;
  readonly to: string;
  readonly backupId: string;
  readonly restore: RestoreResult;
  readonly seconds: number;
}

export async function rollbackTenant(http: KubeHttp, name: string, opts: RollbackOptions): Promise<RollbackResult> {
  const t0 = Date.now();
  const say = opts.onEvent ?? (() => undefined);
  const tenant = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
  if (!tenant) throw new UserError(`tenant ${name} does not exist`);
  const up = tenant.status?.upgrade;
  const completed = up?.phase === "Completed" && tenant.status?.runningVersion === up.to && up.backupId !== undefined && up.from !== up.to;
  const resumed = up?.phase === "RollingBack" && up.rollbackOf === "Completed";
  if (!up || (up.phase !== "Failed" && !completed && !resumed)) {
    throw new UserError(`tenant ${name} has no failed or completed upgrade to roll back${up ? ` (its upgrade to ${up.to} is in phase ${up.phase})` : ""}`);
  }
  if (!up.backupId) throw new UserError(`tenant ${name}'s upgrade recorded no pre-upgrade backup, so there is nothing to roll back to`);
  const target = await resolveTenantTarget(http, name);
  if (completed || resumed) {
    return rollbackCompleted(http, name, { ...up, backupId: up.backupId }, target, opts, completed, t0);
  }
  say(`restoring backup ${up.backupId} (taken before the upgrade to ${up.to}) over database ${target.database}, keeping the tracking queue`);
  const restore = await restoreBackup({
    pool: target.pool, store: opts.store, tenant: name, backupId: up.backupId, database: target.database,
    replace: {
      safetyBackup: async (db) => {
        const { manifest } = await runBackup({ pool: target.pool, tenant: name, database: db, store: opts.store });
        say(`safety backup ${manifest.backupId} of the half-migrated database written`);
        return manifest.backupId;
      },
      keepLive: (table) => QUEUE_TABLE_PATTERN.test(table),
    },
  });
  say(`database restored; setting the version back to ${up.from}`);
  await setVersion(http, name, up.from);
  await waitFor(http, name, opts.timeoutMs, rolledBackTo(up.from),
    `tenant ${name} was restored and set back to ${up.from}, but has not finished working off its queue within the timeout; see \`mms tenant get ${name}\``);
  return { from: up.to, to: up.from, backupId: up.backupId, restore, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Undoing an upgrade that completed: tracking is queued first (the operator keeps the new version serving
 * until the restore), then the pre-upgrade backup replaces the data (after a safety backup, keeping the
 * queue), the tenant is marked restored, and the operator has the old version work off the queue.
 */
async function rollbackCompleted(http: KubeHttp, name: string, up: UpgradeStatus & { backupId: string }, target: TenantTarget,
  opts: RollbackOptions, fresh: boolean, t0: number): Promise<RollbackResult> {
  const say = opts.onEvent ?? (() => undefined);
  if (fresh && !opts.discardSinceUpgrade) {
    const since = await visitsSince(target, opts.store, name, up.backupId);
    throw new UserError(`tenant ${name} completed its upgrade to ${up.to}; rolling back restores backup ${up.backupId}, taken before it, so ` +
      `${since === undefined ? "what was tracked since" : `the ${since} visit(s) stored since`} will not be in the restored database ` +
      "(they stay in the safety backup taken first). Run again with --discard-since-upgrade to roll back anyway");
  }
  if (fresh) {
    say(`setting the version back to ${up.from}; the operator queues tracking on ${up.to} until the data is restored`);
    await setVersion(http, name, up.from);
  }
  const resume = `see \`mms tenant get ${name}\` (run the rollback again to go on)`;
  await waitFor(http, name, opts.timeoutMs, (t) => t.status?.conditions?.some((c) => c.type === "Upgrading" && c.reason === "RollbackRestoring") === true,
    `tenant ${name}: timed out waiting for every pod to queue tracking; ${resume}`);
  say(`restoring backup ${up.backupId} (taken before the upgrade to ${up.to}) over database ${target.database}, keeping the tracking queue`);
  let safetyBackupId = "";
  const restore = await restoreBackup({
    pool: target.pool, store: opts.store, tenant: name, backupId: up.backupId, database: target.database,
    replace: {
      safetyBackup: async (db) => {
        const { manifest } = await runBackup({ pool: target.pool, tenant: name, database: db, store: opts.store });
        safetyBackupId = manifest.backupId;
        say(`safety backup ${manifest.backupId} of the upgraded database written: what was stored since the upgrade is there`);
        return manifest.backupId;
      },
      keepLive: (table) => QUEUE_TABLE_PATTERN.test(table),
    },
  });
  await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { metadata: { annotations: { [ROLLBACK_RESTORED_ANNOTATION]: up.backupId } } });
  say(`database restored${safetyBackupId ? ` (safety backup ${safetyBackupId})` : ""}; the operator now serves ${up.from} and works off the queue`);
  await waitFor(http, name, opts.timeoutMs, rolledBackTo(up.from), `tenant ${name}: timed out waiting for the rollback to ${up.from} to finish; ${resume}`);
  return { from: up.to, to: up.from, backupId: up.backupId, restore, seconds: (Date.now() - t0) / 1000 };
}

/** The rollback is over: Completed on the old version, and Ready. */
const rolledBackTo = (version: string) => (t: MatomoTenant): boolean =>
  t.status?.upgrade?.phase === "Completed" && t.status.runningVersion === version && t.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

/** Polls the tenant every second until `done`, else fails with `timedOut`. */
async function waitFor(http: KubeHttp, name: string, timeoutMs: number, done: (t: MatomoTenant) => boolean, timedOut: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done(await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name))) return;
    if (Date.now() > deadline) throw new UserError(timedOut);
    await sleep(1000);
  }
}

/** Visits stored since the backup was taken (its manifest's createdAt), when that can be told. */
async function visitsSince(target: TenantTarget, store: ObjectStore, tenant: string, backupId: string): Promise<number | undefined> {
  const created = await readManifest(store, tenant, backupId).then((m) => new Date(m.createdAt), () => undefined);
  if (!created || Number.isNaN(created.getTime())) return undefined;
  const admin = await AdminSession.open(target.pool, `count the visits of database ${target.database}`).catch(() => undefined);
  if (!admin) return undefined;
  try {
    const since = created.toISOString().slice(0, 19).replace("T", " ");
    const rows = await admin.rows(`SELECT COUNT(*) AS n FROM ${quoteTable(target.database, `${TABLES_PREFIX}log_visit`)} WHERE visit_last_action_time >= ?`, [since]);
    return Number(rows[0]?.n ?? 0);
  } catch {
    return undefined;
  } finally {
    await admin.close();
  }
}
