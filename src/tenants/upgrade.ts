// Fleet upgrades and rollbacks, on top of the per-tenant upgrade the operator runs
// (src/controllers/upgrade.ts): which tenants, in which waves, and when to stop. Everything is derived
// from the tenants themselves, so a stopped rollout resumes by running it again.
import { setTimeout as sleep } from "node:timers/promises";
import { API_GROUP_VERSION, compareVersions, parseVersion, tenantNamespace } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { attemptJobName } from "../controllers/upgrade.ts";

export const CANARY_ANNOTATION = "multiscale.io/canary";

export type TenantUpgradeState = "done" | "pending" | "upgrading" | "failed";

export function upgradeState(t: MatomoTenant, version: string): TenantUpgradeState {
  const up = t.status?.upgrade;
  if (up && up.to === version && up.phase === "Failed") return "failed";
  const ready = t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  if (t.status?.runningVersion === version && (!up || up.phase === "Completed") && ready) return "done";
  return t.spec.matomoVersion === version ? "upgrading" : "pending";
}

/** A wave size: a count ("5") or a share of the selected tenants ("25%"). */
export function parseWaveSize(raw: string): { count?: number; percent?: number } {
  const pct = /^(\d{1,3})%$/.exec(raw);
  if (pct) {
    const p = Number(pct[1]);
    if (p < 1 || p > 100) throw new Error(`--wave-size ${raw}: a share must be from 1% to 100%`);
    return { percent: p };
  }
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`--wave-size ${raw}: give a number of tenants (e.g. 5) or a share (e.g. 25%)`);
  return { count: Number(raw) };
}

export interface WavePlanInput {
  readonly tenants: readonly MatomoTenant[];
  readonly canary: number;
  readonly waveSize: { count?: number; percent?: number };
}

/**
 * Canary tenants first (annotated multiscale.io/canary=true first, then by name), then waves in name
 * order. The plan covers every selected tenant, upgraded or not, so it is the same on every run.
 */
export function planWaves(input: WavePlanInput): string[][] {
  const names = [...input.tenants]
    .sort((a, b) => {
      const ca = a.metadata.annotations?.[CANARY_ANNOTATION] === "true" ? 0 : 1;
      const cb = b.metadata.annotations?.[CANARY_ANNOTATION] === "true" ? 0 : 1;
      return ca - cb || a.metadata.name.localeCompare(b.metadata.name);
    })
    .map((t) => t.metadata.name);
  const waves: string[][] = [];
  const canary = Math.min(input.canary, names.length);
  if (canary > 0) waves.push(names.slice(0, canary));
  const rest = names.slice(canary);
  const size = input.waveSize.count ?? Math.max(1, Math.ceil((names.length * (input.waveSize.percent ?? 100)) / 100));
  for (let i = 0; i < rest.length; i += size) waves.push(rest.slice(i, i + size));
  return waves;
}

export interface FleetOptions {
  readonly version: string;
  readonly selector?: string;
  readonly canary: number;
  readonly waveSize: { count?: number; percent?: number };
  readonly pauseBetweenMs: number;
  /** How long one wave may take before the rollout stops (default 30 min). */
  readonly waveTimeoutMs?: number;
  readonly dryRun?: boolean;
  readonly retryFailed?: boolean;
  readonly onEvent?: (text: string) => void;
}

export interface FleetReport {
  readonly version: string;
  readonly waves: readonly { readonly index: number; readonly tenants: readonly { readonly name: string; readonly result: TenantUpgradeState | "skipped" }[] }[];
  /** Set when the rollout stopped before the end. */
  readonly stopped?: { readonly wave: number; readonly reason: string; readonly failed: readonly string[] };
  readonly dryRun: boolean;
}

async function listSelected(http: KubeHttp, selector?: string): Promise<MatomoTenant[]> {
  const list = await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", undefined, selector);
  return list.items.filter((t) => !t.metadata.deletionTimestamp);
}

export async function upgradeFleet(http: KubeHttp, opts: FleetOptions): Promise<FleetReport> {
  const target = parseVersion(opts.version);
  const say = opts.onEvent ?? (() => undefined);
  const all = await listSelected(http, opts.selector);
  const newer = all.filter((t) => compareVersions(parseVersion(t.spec.matomoVersion), target) > 0);
  if (newer.length > 0) {
    throw new Error(`${newer.length} selected tenant(s) already run a version above ${opts.version} (${newer.map((t) => `${t.metadata.name}: ${t.spec.matomoVersion}`).slice(0, 5).join(", ")}); Matomo cannot downgrade: narrow --selector`);
  }
  const waves = planWaves({ tenants: all, canary: opts.canary, waveSize: opts.waveSize });
  const byName = new Map(all.map((t) => [t.metadata.name, t]));
  const report: { index: number; tenants: { name: string; result: TenantUpgradeState | "skipped" }[] }[] = waves.map((w, i) => ({
    index: i + 1, tenants: w.map((name) => ({ name, result: upgradeState(byName.get(name) as MatomoTenant, opts.version) })),
  }));
  if (opts.dryRun) return { version: opts.version, waves: report, dryRun: true };

  if (opts.retryFailed) {
    const retried: string[] = [];
    for (const t of all) {
      const up = t.status?.upgrade;
      if (upgradeState(t, opts.version) !== "failed" || !up) continue;
      // The operator runs the update Job again once the failed one is gone.
      await http.delete("batch/v1", "Job", attemptJobName("update", up.to, up), tenantNamespace(t.metadata.name));
      retried.push(t.metadata.name);
      say(`${t.metadata.name}: retrying its failed update`);
    }
    // Until the operator has seen the Job gone, the tenant still reads as failed.
    const deadline = Date.now() + 120_000;
    for (const name of retried) {
      while (Date.now() < deadline && upgradeState(await http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name), opts.version) === "failed") await sleep(500);
    }
  }

  for (const [i, wave] of waves.entries()) {
    const entry = report[i] as (typeof report)[number];
    const current = await Promise.all(wave.map((n) => http.get<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", n)));
    const failedBefore = current.filter((t) => upgradeState(t, opts.version) === "failed" && !opts.retryFailed);
    if (failedBefore.length > 0) {
      for (const e of entry.tenants) e.result = upgradeState(current.find((t) => t.metadata.name === e.name) as MatomoTenant, opts.version);
      return { version: opts.version, waves: report, dryRun: false, stopped: { wave: i + 1, reason: "a tenant's upgrade failed earlier; roll it back or pass --retry-failed", failed: failedBefore.map((t) => t.metadata.name) } };
    }
    const todo = current.filter((t) => upgradeState(t, opts.version) !== "done");
    if (todo.length === 0) {
      for (const e of entry.tenants) e.result = "skipped";
      say(`wave ${i + 1}/${waves.length}: already upgraded`);
      continue;
    }
    say(`wave ${i + 1}/${waves.length}: upgrading ${todo.map((t) => t.metadata.name).join(", ")}`);
    for (const t of todo) {
      if (t.spec.matomoVersion !== opts.version) {
        await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", t.metadata.name, { spec: { matomoVersion: opts.version } });
      }
    }
    const outcome = await waitWave(http, wave, opts.version, opts.waveTimeoutMs ?? 30 * 60_000);
    for (const e of entry.tenants) e.result = outcome.get(e.name) ?? "upgrading";
    const failed = wave.filter((n) => outcome.get(n) === "failed");
    const unfinished = wave.filter((n) => outcome.get(n) !== "done");
    if (failed.length > 0 || unfinished.length > 0) {
      return {
        version: opts.version, waves: report, dryRun: false,
        stopped: {
          wave: i + 1,
          reason: failed.length > 0 ? "the upgrade failed for some tenants of this wave" : "the wave did not finish in time",
          failed: failed.length > 0 ? failed : unfinished,
        },
      };
    }
    say(`wave ${i + 1}/${waves.length}: ${wave.length} tenant(s) on ${opts.version} and Ready`);
    if (i < waves.length - 1 && opts.pauseBetweenMs > 0) await sleep(opts.pauseBetweenMs);
  }
  return { version: opts.version, waves: report, dryRun: false };
}

async function waitWave(http: KubeHttp, wave: readonly string[], version: string, timeoutMs: number): Promise<Map<string, TenantUpgradeState>> {
  const deadline = Date.now() + timeoutMs;
  const states = new Map<string, TenantUpgradeState>();
  for (;;) {
    for (const name of wave) {
      const t = await http.getOrUndefined<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", name);
      states.set(name, t ? upgradeState(t, version) : "failed");
    }
    // Wait for the whole wave, failures included, so the report says how every tenant ended.
    const settled = [...states.values()].every((s) => s === "done" || s === "failed");
    if (settled || Date.now() > deadline) return states;
    await sleep(1000);
  }
}

export async function setVersion(http: KubeHttp, name: string, version: string): Promise<void> {
  try {
    await http.mergePatch(API_GROUP_VERSION, "MatomoTenant", name, { spec: { matomoVersion: version } });
  } catch (err) {
    if (err instanceof KubeApiError) throw new Error(`cannot set the version of tenant ${name}: ${err.message}`, { cause: err });
    throw err;
  }
}
