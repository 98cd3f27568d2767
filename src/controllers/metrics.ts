// Prometheus metrics of the controllers, on one registry per process, served with the health
// endpoints. Names follow Prometheus conventions (mms_ prefix, _total, _seconds). The fleet-state gauges
// (mms_tenant_info, conditions, backups, archiving, queues) are computed when Prometheus scrapes, from
// the operator's cache (fleet-cache.ts): a tenant deleted is gone from the next scrape, and a replica
// that does not lead reports none of them. docs/operator.md ("Metrics") lists every metric.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { fleetSeries, type FleetSeries, type Sample, type TenantFacts } from "./fleet.ts";

/** Where the fleet-state gauges come from: the tenants' facts, undefined while this replica does not lead. */
export interface FleetSource {
  facts(): readonly TenantFacts[] | undefined;
  /** Queued tracking requests by tenant (only tenants with a Redis queue). */
  queueDepths?(facts: readonly TenantFacts[]): Promise<ReadonlyMap<string, number>>;
}

export function createMetrics(fleet?: FleetSource) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mms_process_" });
  // Computed once per scrape: prom-client collects metrics in the order they were registered, so the
  // first fleet gauge (mms_tenant_info) computes the series and the others read them.
  let computed: { facts: readonly TenantFacts[]; series: FleetSeries } | undefined;
  const compute = () => {
    const facts = fleet?.facts();
    computed = facts ? { facts, series: fleetSeries(facts) } : undefined;
  };
  const gauge = (name: string, help: string, labelNames: readonly string[], pick: (s: FleetSeries) => Sample[], first = false) => new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      if (first) compute();
      this.reset();
      for (const s of pick(computed?.series ?? EMPTY)) this.set(s.labels, s.value);
    },
  });
  gauge("mms_tenant_info", "One series per tenant: its plan, running Matomo version and database pool", ["tenant", "plan", "version", "pool"], (s) => s.info, true);
  gauge("mms_tenant_condition", "The tenant's conditions: 1 for the status each condition has", ["tenant", "condition", "status"], (s) => s.condition);
  gauge("mms_tenant_ready", "1 when the tenant's Ready condition is True, else 0", ["tenant"], (s) => s.ready);
  gauge("mms_tenant_last_backup_timestamp_seconds", "When the tenant's last backup completed (status.backup.lastBackupAt)", ["tenant"], (s) => s.lastBackup);
  gauge("mms_tenant_last_backup_size_bytes", "Size of the tenant's last backup as stored (compressed dump)", ["tenant"], (s) => s.lastBackupSize);
  gauge("mms_tenant_backup_rpo_seconds", "The recovery point the tenant's plan promises: the longest gap between its backups (none while suspended)", ["tenant"], (s) => s.backupRpo);
  gauge("mms_tenant_last_verified_restore_timestamp_seconds", "When a restore drill last proved one of the tenant's backups (status.backup.lastVerifiedAt)", ["tenant"], (s) => s.lastVerifiedRestore);
  gauge("mms_tenant_archiving_last_success_timestamp_seconds", "When the tenant's archiver last completed successfully", ["tenant"], (s) => s.archivingLastSuccess);
  gauge("mms_tenant_archiving_last_duration_seconds", "How long the tenant's last successful archiver run took", ["tenant"], (s) => s.archivingLastDuration);
  gauge("mms_tenant_archiving_last_run_failed", "1 when the tenant's newest finished archiver run failed, else 0", ["tenant"], (s) => s.archivingLastRunFailed);
  new Gauge({
    name: "mms_tenant_tracking_queue_depth", help: "Tracking requests waiting in the tenant's Redis queue (QueuedTracking); tenants with a Redis queue only", labelNames: ["tenant"], registers: [registry],
    async collect() {
      this.reset();
      const facts = computed?.facts;
      if (!facts || !fleet?.queueDepths) return;
      const depths = await fleet.queueDepths(facts);
      for (const f of facts) {
        const n = depths.get(f.name);
        if (n !== undefined) this.set({ tenant: f.name }, n);
      }
    },
  });
  return {
    registry,
    reconciles: new Counter({ name: "mms_tenant_reconciles_total", help: "Tenant reconciles by result", labelNames: ["result"] as const, registers: [registry] }),
    reconcileSeconds: new Histogram({ name: "mms_tenant_reconcile_seconds", help: "Duration of one tenant reconcile", buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({ name: "mms_tenant_queue_depth", help: "Tenants queued or being reconciled", registers: [registry] }),
    rollingTenants: new Gauge({ name: "mms_tenants_rolling", help: "Tenants holding a slot of the rollout gate (their pods are rolling to a new template)", registers: [registry] }),
    onboardingSeconds: new Histogram({ name: "mms_tenant_onboarding_seconds", help: "Time from tenant creation to first Ready", buckets: [1, 2, 5, 10, 30, 60, 120, 300], registers: [registry] }),
    upgradeSeconds: new Histogram({
      name: "mms_tenant_upgrade_seconds", help: "Duration of Matomo upgrades from their start to their end, by result (succeeded, failed, rolled_back)",
      labelNames: ["result"] as const, buckets: [60, 120, 300, 600, 1200, 1800, 3600, 7200], registers: [registry],
    }),
  };
}

const EMPTY: FleetSeries = fleetSeries([]);

export type Metrics = ReturnType<typeof createMetrics>;
