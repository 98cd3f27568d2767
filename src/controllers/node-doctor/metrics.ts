// Prometheus metrics of the node doctor, read from its counters at scrape time: remediations by
// outcome, refusals by reason (storm protection, flapping…), cloud API errors, whether a storm is being
// waited out, detection and recovery times.
import { Counter, Gauge, Registry, Summary, collectDefaultMetrics } from "prom-client";
import type { DoctorCounters } from "./controller.ts";

export function doctorMetrics(counters: DoctorCounters): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mms_process_" });
  new Counter({
    name: "mms_node_remediations_total", help: "Node remediations by outcome (started, Succeeded, Failed)", labelNames: ["outcome"] as const, registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: "started" }, counters.remediationsStarted);
      this.inc({ outcome: "Succeeded" }, counters.remediationsSucceeded);
      this.inc({ outcome: "Failed" }, counters.remediationsFailed);
    },
  });
  new Counter({
    name: "mms_node_remediations_blocked_total", help: "Checks where an unhealthy node was not remediated, by reason", labelNames: ["reason"] as const, registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(counters.blocked)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: "mms_node_cloud_api_errors_total", help: "Cloud API calls that failed after their retries, by HTTP status (0: no answer)", labelNames: ["status"] as const, registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of Object.entries(counters.cloudErrors)) this.inc({ status }, n);
    },
  });
  new Gauge({
    name: "mms_node_storm_protection_active", help: "1 while the node doctor waits out a storm (too many nodes unhealthy at once, or settling after one) and remediates nothing, else 0", registers: [registry],
    collect() {
      this.set(counters.stormProtectionActive ? 1 : 0);
    },
  });
  const summary = (name: string, help: string, values: () => readonly number[]) => {
    let seen = 0;
    return new Summary({
      name, help, percentiles: [0.5, 0.95], registers: [registry],
      collect() {
        const all = values();
        for (const v of all.slice(seen)) this.observe(v);
        seen = all.length;
      },
    });
  };
  summary("mms_node_detection_seconds", "From a node's failure (last Ready or heartbeat) to the start of its remediation", () => counters.detectionSeconds);
  summary("mms_node_recovery_seconds", "From the start of a remediation to the node (or its replacement) back in service", () => counters.recoverySeconds);
  return registry;
}
