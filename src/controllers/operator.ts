// The operator process: leader election, resilient watches feeding one work queue, periodic
// resync, a health endpoint, and structured logs. Reconcile logic lives in tenant.ts.
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { installApi, syncRegistry } from "./install.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { KubeHttp } from "../kube/http.ts";
import { LeaderElector } from "../kube/leader.ts";
import { WorkQueue } from "../kube/queue.ts";
import { ResilientWatch } from "../kube/watch.ts";
import { DEFAULT_PLATFORM, type PlatformSettings } from "../render/tenant.ts";
import { FleetCache } from "./fleet-cache.ts";
import { serveHealth } from "./health.ts";
import { createMetrics } from "./metrics.ts";
import { reconcilePoolJobs } from "./pool-jobs.ts";
import { clusterRolloutProbe, RolloutGate, tenantsRolling } from "./rollout-gate.ts";
import { TenantReconciler } from "./tenant.ts";
import { poolQueueCounter, TrackingQueueDepths } from "./tracking-queue.ts";

export interface OperatorOptions {
  readonly kubeconfig: KubeConfig;
  readonly log: Logger;
  readonly concurrency: number;
  readonly healthPort?: number | undefined;
  /** Where the health port listens: 127.0.0.1 (default) or 0.0.0.0 in a pod. */
  readonly healthAddress?: string | undefined;
  readonly resyncMs: number;
  readonly platform?: PlatformSettings;
  readonly installApi: boolean;
  readonly identity?: string;
  /** Tenants whose pods may roll at the same moment (a plan change, an upgrade wave). */
  readonly maxRollingTenants?: number;
}

const REGISTRY_KEY = "\0registry";
const POOL_KEY = "\0pool:";

export async function runOperator(opts: OperatorOptions): Promise<{ stop: () => Promise<void> }> {
  const { log } = opts;
  const http = new KubeHttp(opts.kubeconfig);
  let leading = false;
  // What the fleet-state metrics are computed from at each scrape; only the leader reports them.
  const fleet = new FleetCache();
  const queues = new TrackingQueueDepths(poolQueueCounter(http), {
    onError: (pool, err) => log.warn({ pool, err: (err as Error).message }, "cannot count the tracking queues in the pool's Redis for the metrics"),
  });
  const metrics = createMetrics({ facts: () => (leading ? fleet.facts() : undefined), queueDepths: (facts) => queues.depths(facts) });
  const health = opts.healthPort !== undefined ? await serveHealth(opts.healthPort, () => leading, metrics.registry, opts.healthAddress) : undefined;

  if (opts.installApi) await installApi(http, (line) => log.info(line));
  const elector = new LeaderElector(http, { namespace: SYSTEM_NAMESPACE, name: "mms-operator", identity: opts.identity ?? `${hostname()}-${process.pid}` });
  await elector.acquire(() => log.info("another operator replica leads; waiting for the lease"));
  leading = true;
  log.info("acquired the leader lease; reconciling");

  const platform = opts.platform ?? DEFAULT_PLATFORM;
  // The gate asks the cluster about its holders once it is full, and starts with the rollouts under way.
  const rolloutGate = new RolloutGate(opts.maxRollingTenants ?? 10, {
    probe: clusterRolloutProbe(http),
    onProbeError: (tenant, err) => log.warn({ tenant, err: (err as Error).message }, "cannot tell whether a tenant still rolls; it keeps its rollout slot"),
  });
  rolloutGate.adopt(await tenantsRolling(http).catch(() => []));
  const reconciler = new TenantReconciler({ http, platform, rolloutGate });
  const queue: WorkQueue = new WorkQueue(async (key) => {
    if (key === REGISTRY_KEY) {
      await syncRegistry(http, "mms-operator");
      return;
    }
    if (key.startsWith(POOL_KEY)) {
      await reconcilePoolJobs(http, key.slice(POOL_KEY.length), platform);
      return;
    }
    const started = Date.now();
    const stopTimer = metrics.reconcileSeconds.startTimer();
    try {
      const result = await reconciler.reconcile(key);
      metrics.reconciles.inc({ result: result.requeueAfterMs ? "requeued" : "done" });
      if (result.onboardedSeconds !== undefined) metrics.onboardingSeconds.observe(result.onboardedSeconds);
      if (result.upgradeEnded) metrics.upgradeSeconds.observe({ result: result.upgradeEnded.result }, result.upgradeEnded.seconds);
      log.debug({ tenant: key, ms: Date.now() - started }, "reconciled");
      if (result.requeueAfterMs) queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      metrics.reconciles.inc({ result: "error" });
      throw err;
    } finally {
      stopTimer();
      metrics.queueDepth.set(queue.size);
      metrics.rollingTenants.set(rolloutGate.rolling);
    }
  }, {
    concurrency: opts.concurrency,
    onError: (key, err, attempt) => log.warn({ tenant: key, attempt, err: (err as Error).message }, "reconcile failed; retrying"),
  });

  const tenantsOf = async (filter: (t: MatomoTenant) => boolean) => {
    const list = await http.list<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant");
    fleet.replaceTenants(list.items);
    for (const t of list.items) if (filter(t)) queue.add(t.metadata.name);
  };
  const onWatchError = (what: string) => (err: unknown) => log.warn({ err: (err as Error).message }, `watch of ${what} ended; re-listing`);
  const watches = [
    new ResilientWatch(opts.kubeconfig, http, {
      path: `/apis/${API_GROUP_VERSION}/matomotenants`,
      onEvent: (type, obj) => {
        fleet.tenant(type, obj);
        if (obj.metadata?.name) queue.add(obj.metadata.name);
        queue.add(REGISTRY_KEY);
      },
      onError: onWatchError("tenants"),
    }),
    new ResilientWatch(opts.kubeconfig, http, {
      path: `/apis/${API_GROUP_VERSION}/tenantplans`,
      onEvent: (type, obj) => {
        fleet.plan(type, obj);
        queue.add(REGISTRY_KEY);
        void tenantsOf((t) => t.spec.plan === obj.metadata?.name).catch(() => undefined);
      },
      onError: onWatchError("plans"),
    }),
    new ResilientWatch(opts.kubeconfig, http, {
      path: `/apis/${API_GROUP_VERSION}/databasepools`,
      onEvent: (_type, obj) => {
        if (obj.metadata?.name) queue.add(POOL_KEY + obj.metadata.name);
        void tenantsOf((t) => !t.status?.database || t.status.database.pool === obj.metadata?.name).catch(() => undefined);
      },
      onError: onWatchError("pools"),
    }),
    ...["/apis/apps/v1/deployments", "/apis/batch/v1/jobs"].map((path) => new ResilientWatch(opts.kubeconfig, http, {
      path,
      labelSelector: "app.kubernetes.io/managed-by=mms,multiscale.io/tenant",
      onEvent: (type, obj) => {
        if (path.endsWith("/jobs")) fleet.job(type, obj);
        const t = obj.metadata?.labels?.["multiscale.io/tenant"];
        if (t) queue.add(t);
      },
      onError: onWatchError(path),
    })),
  ];
  for (const w of watches) w.start();
  const resync = setInterval(() => void tenantsOf(() => true).catch((err: unknown) => log.warn({ err: (err as Error).message }, "resync failed")), opts.resyncMs);
  resync.unref();

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(resync);
    for (const w of watches) w.stop();
    queue.stop();
    await elector.release();
    await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
  };
  elector.keepRenewing((why) => {
    log.error({ why }, "lost the leader lease; stopping so that only one replica acts");
    void stop().finally(() => process.exit(1));
  });
  return { stop };
}
