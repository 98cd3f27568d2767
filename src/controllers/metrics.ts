// Prometheus metrics of the controllers, on one registry per process, served with the health
// endpoints. Names follow Prometheus conventions (mms_ prefix, _total, _seconds).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mms_process_" });
  return {
    registry,
    reconciles: new Counter({ name: "mms_tenant_reconciles_total", help: "Tenant reconciles by result", labelNames: ["result"] as const, registers: [registry] }),
    reconcileSeconds: new Histogram({ name: "mms_tenant_reconcile_seconds", help: "Duration of one tenant reconcile", buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({ name: "mms_tenant_queue_depth", help: "Tenants queued or being reconciled", registers: [registry] }),
    rollingTenants: new Gauge({ name: "mms_tenants_rolling", help: "Tenants holding a slot of the rollout gate (their pods are rolling to a new template)", registers: [registry] }),
    onboardingSeconds: new Histogram({ name: "mms_tenant_onboarding_seconds", help: "Time from tenant creation to first Ready", buckets: [1, 2, 5, 10, 30, 60, 120, 300], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
