// Rolling back a failed Matomo upgrade: restore the verified backup taken before it over the tenant's
// database (after a safety backup, keeping the tracking queue, which holds every hit since), then set
// the version back; the operator then works off the queue with the old version (phase RollingBack).
import { setTimeout as sleep } from "node:timers/promises";
import { API_GROUP_VERSION } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { runBackup } from "../backup/backup.ts";
import { restoreBackup, type RestoreResult } from "../backup/restore.ts";
import type { ObjectStore } from "../backup/store.ts";
import { resolveTenantTarget } from "../backup/tenant-target.ts";
import { UserError } from "../util/errors.ts";
import { QUEUE_TABLE_PATTERN } from "../controllers/upgrade.ts";
import type { KubeHttp } from "../kube/http.ts";
import { setVersion } from "./upgrade.ts";

export interface RollbackOptions {
  readonly store: ObjectStore;
  readonly timeoutMs: number;
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
  if (!up || up.phase !== "Failed") {
    throw new UserError(`tenant ${name} has no failed upgrade to roll back${up ? ` (its upgrade to ${up.to} is in phase ${up.phase})` : ""}`);
  }
  if (!up.backupId) throw new UserError(`tenant ${name}'s upgrade recorded no pre-upgrade backup, so there is nothing to roll back to`);
  const target = await resolveTenantTarget(http, name);
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
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const t = await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
    const done = t.status?.upgrade?.phase === "Completed" && t.status.runningVersion === up.from &&
      t.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    if (done) break;
    if (Date.now() > deadline) throw new UserError(`tenant ${name} was restored and set back to ${up.from}, but has not finished working off its queue within the timeout; see \`mms tenant get ${name}\``);
    await sleep(1000);
  }
  return { from: up.to, to: up.from, backupId: up.backupId, restore, seconds: (Date.now() - t0) / 1000 };
}
