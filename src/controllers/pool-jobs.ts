// Keeps each DatabasePool's nightly restore-drill CronJob in line with the pool; the garbage
// collector removes it with the pool (owner reference).
import { API_GROUP_VERSION } from "../api/names.ts";
import type { DatabasePool } from "../api/pool.ts";
import type { KubeHttp } from "../kube/http.ts";
import { renderPoolVerifyCronJob, type ControlImage } from "../render/backup-jobs.ts";
import { FIELD_MANAGER } from "../render/tenant.ts";

export async function reconcilePoolJobs(http: KubeHttp, name: string, platform: ControlImage): Promise<void> {
  const pool = await http.getOrUndefined<DatabasePool & { metadata: { uid?: string; deletionTimestamp?: string } }>(API_GROUP_VERSION, "DatabasePool", name);
  if (!pool || pool.metadata.deletionTimestamp) return;
  await http.apply(renderPoolVerifyCronJob(pool, platform), { fieldManager: FIELD_MANAGER });
}
