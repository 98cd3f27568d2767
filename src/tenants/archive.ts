// Running a tenant's archiver now, as its CronJob would (`mms tenant archive`): a Job made from the
// CronJob's own template, optionally rebuilding the reports of a date range first (after an import, or
// when raw data changed). The Job is the archiver's; this only creates it and waits.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { tenantNamespace } from "../api/names.ts";
import { jobStateOf, type JobLike } from "../controllers/verified-backup.ts";
import type { KubeHttp, KubeObject } from "../kube/http.ts";
import { UserError } from "../util/errors.ts";

export interface ArchiveRequest {
  /** Dates (YYYY-MM-DD) or ranges (FROM,TO) whose reports are invalidated first, then rebuilt. */
  readonly dates?: readonly string[] | undefined;
  /** Site ids whose reports to invalidate (default: every site). */
  readonly sites?: readonly number[] | undefined;
}

const DATE_RANGE = /^(\d{4}-\d{2}-\d{2}),(\d{4}-\d{2}-\d{2})$/;

/** Checks `--dates FROM,TO`: two real calendar dates, FROM not after TO. */
export function parseDateRange(value: string): string {
  const m = DATE_RANGE.exec(value);
  const real = (d: string) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d);
  if (!m || !real(m[1] ?? "") || !real(m[2] ?? "")) throw new UserError(`--dates must be FROM,TO as YYYY-MM-DD,YYYY-MM-DD (e.g. 2024-01-01,2024-03-31), not '${value}'`);
  if ((m[1] ?? "") > (m[2] ?? "")) throw new UserError(`--dates ${value}: FROM is after TO`);
  return value;
}

function checkDates(item: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(item)) return parseDateRange(`${item},${item}`).slice(0, 10);
  return parseDateRange(item);
}

interface CronJobObject extends KubeObject {
  metadata: { name: string; namespace?: string; uid?: string };
  spec: { jobTemplate: { metadata?: { labels?: Record<string, string> }; spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } } };
}

/** Creates a run of the tenant's archiver CronJob now; resolves with the Job's name. */
export async function startArchiver(http: KubeHttp, tenant: string, req: ArchiveRequest = {}): Promise<string> {
  const ns = tenantNamespace(tenant);
  const cron = await http.getOrUndefined<CronJobObject>("batch/v1", "CronJob", "archiver", ns);
  if (!cron) throw new UserError(`tenant ${tenant} has no archiver CronJob (in namespace ${ns}); is it a tenant, and has the operator applied it?`);
  const spec = structuredClone(cron.spec.jobTemplate.spec);
  const extra = [
    ...(req.dates?.length ? [{ name: "MATOMO_INVALIDATE_DATES", value: req.dates.map(checkDates).join(" ") }] : []),
    ...(req.sites?.length ? [{ name: "MATOMO_INVALIDATE_SITES", value: req.sites.join(",") }] : []),
  ];
  for (const c of spec.template.spec.containers) c.env = [...(c.env ?? []), ...extra];
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 12);
  const name = `archiver-manual-${stamp}-${randomBytes(2).toString("hex")}`;
  await http.create({
    apiVersion: "batch/v1", kind: "Job",
    metadata: {
      name, namespace: ns, labels: { ...(cron.spec.jobTemplate.metadata?.labels ?? {}) },
      annotations: { "cronjob.kubernetes.io/instantiate": "manual" },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "CronJob", name: cron.metadata.name, uid: cron.metadata.uid ?? "", controller: false }],
    },
    spec,
  }, { fieldManager: "mms-cli" });
  return name;
}

export type JobOutcome = "Complete" | "Failed" | "Timeout";

/** Waits for one Job of the tenant's namespace to complete or fail. */
export async function waitJob(http: KubeHttp, tenant: string, job: string, timeoutMs: number): Promise<JobOutcome> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const state = jobStateOf(await http.get<JobLike>("batch/v1", "Job", job, tenantNamespace(tenant)));
    if (state === "succeeded") return "Complete";
    if (state === "failed") return "Failed";
    await sleep(1_000);
  }
  return "Timeout";
}
