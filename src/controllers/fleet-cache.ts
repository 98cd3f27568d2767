// The operator's picture of the fleet for its metrics: tenants, plans and archiver Jobs as its watches
// last saw them. Watch events only replace entries (no API call), and the facts are derived when
// Prometheus scrapes, so the fleet-state metrics are current at every scrape and cost nothing between.
import { COMPONENT_LABEL, TENANT_LABEL } from "../api/labels.ts";
import { PlanSpec } from "../api/plan.ts";
import { TenantSpec, type MatomoTenant } from "../api/tenant.ts";
import type { WatchEvent } from "../kube/watch.ts";
import { ARCHIVER_COMPONENT, archiverRunOf, tenantFacts, type ArchiverJobObject, type ArchiverRun, type TenantFacts } from "./fleet.ts";

type Watched = { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };

export class FleetCache {
  private readonly tenants = new Map<string, MatomoTenant>();
  private readonly plans = new Map<string, PlanSpec>();
  /** Archiver runs by tenant, then by Job (namespace/name). */
  private readonly runs = new Map<string, Map<string, ArchiverRun>>();

  /** A tenant as the watch (or a list) shows it; only what the facts read is kept, not managedFields. */
  tenant(type: WatchEvent, obj: Watched): void {
    const name = obj.metadata?.name;
    if (!name) return;
    if (type === "DELETED") {
      this.tenants.delete(name);
      this.runs.delete(name);
      return;
    }
    const raw = obj as unknown as MatomoTenant;
    const spec = TenantSpec.safeParse(raw.spec);
    if (!spec.success) return;
    const { creationTimestamp, deletionTimestamp } = raw.metadata;
    this.tenants.set(name, {
      apiVersion: raw.apiVersion, kind: "MatomoTenant", spec: spec.data,
      metadata: { name, ...(creationTimestamp ? { creationTimestamp } : {}), ...(deletionTimestamp ? { deletionTimestamp } : {}) },
      ...(raw.status ? { status: raw.status } : {}),
    });
  }

  /**
   * The whole list of tenants (the operator's periodic resync): tenants deleted while a watch was down
   * leave the metrics here at the latest.
   */
  replaceTenants(items: readonly MatomoTenant[]): void {
    const names = new Set(items.map((t) => t.metadata.name));
    for (const name of new Set([...this.tenants.keys(), ...this.runs.keys()])) if (!names.has(name)) this.tenant("DELETED", { metadata: { name } });
    for (const t of items) this.tenant("SYNC", t);
  }

  plan(type: WatchEvent, obj: Watched): void {
    const name = obj.metadata?.name;
    if (!name) return;
    const spec = type === "DELETED" ? undefined : PlanSpec.safeParse((obj as { spec?: unknown }).spec);
    if (spec?.success) this.plans.set(name, spec.data);
    else this.plans.delete(name);
  }

  /** Any Job of a tenant; only its archiver's runs are kept. */
  job(type: WatchEvent, obj: Watched): void {
    const labels = obj.metadata?.labels ?? {};
    const tenant = labels[TENANT_LABEL];
    const name = obj.metadata?.name;
    if (!tenant || !name || labels[COMPONENT_LABEL] !== ARCHIVER_COMPONENT) return;
    const key = `${obj.metadata?.namespace ?? ""}/${name}`;
    if (type === "DELETED") {
      const runs = this.runs.get(tenant);
      runs?.delete(key);
      if (runs?.size === 0) this.runs.delete(tenant);
      return;
    }
    // Runs of a tenant not (yet) seen are kept too: the Jobs' watch may report before the tenants' does.
    const runs = this.runs.get(tenant) ?? new Map<string, ArchiverRun>();
    runs.set(key, archiverRunOf(obj as ArchiverJobObject));
    this.runs.set(tenant, runs);
  }

  /** Every tenant's facts, by name. */
  facts(): TenantFacts[] {
    return [...this.tenants.values()]
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      .map((t) => tenantFacts(t, this.plans.get(t.spec.plan), [...(this.runs.get(t.metadata.name)?.values() ?? [])]));
  }
}
