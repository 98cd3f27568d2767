// Reconciles one MatomoTenant in the node doctor's shape: read everything once into a snapshot
// (tenant-snapshot.ts), decide in the pure planTenant (tenant-plan.ts), apply only what changed, and
// write the operator's part of the status once (tenant-status.ts). Every step converges from any
// starting point, so the operator can be killed anywhere and simply run the reconcile again. Long work
// (verified backups) runs in Jobs this only creates and observes: a reconcile never waits for minutes.
import { SYSTEM_NAMESPACE } from "../api/admission.ts";
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import type { MatomoTenant } from "../api/tenant.ts";
import { dropTenantDatabase, dropTenantUser, ensureTenantDatabase, PoolError } from "../db/pool.ts";
import { completeTenantSecret, seedTenantSecret } from "../db/resolve.ts";
import { KubeApiError, type KubeHttp, type KubeObject } from "../kube/http.ts";
import { digest, FIELD_MANAGER, type PlatformSettings } from "../render/tenant.ts";
import { upgradeEnded } from "./fleet.ts";
import type { ReconcileResult } from "./result.ts";
import type { RolloutGate } from "./rollout-gate.ts";
import { deletionKept, failedAt, planTenant, rolloutQueued, type TenantDecision, type TenantSnapshot } from "./tenant-plan.ts";
import { claimRedisDatabase } from "./redis-databases.ts";
import { NodeKinds, readSnapshot, readTenant } from "./tenant-snapshot.ts";
import { writeOperatorStatus } from "./tenant-status.ts";

export type { ReconcileResult } from "./result.ts";

export interface TenantReconcilerDeps {
  readonly http: KubeHttp;
  readonly platform: PlatformSettings;
  readonly now?: () => Date;
  /** Bounds the tenants rolling their pods at once; unbounded without it. */
  readonly rolloutGate?: RolloutGate;
}

/**
 * An object applied with the same content within this time is not applied again. Objects the snapshot
 * sees (Deployments, autoscalers, Jobs) are re-applied at once when they went missing; anything else
 * changed or deleted behind the operator's back is put back within this time.
 */
const APPLIED_TTL_MS = 10 * 60_000;

export class TenantReconciler {
  private readonly http: KubeHttp;
  private readonly platform: PlatformSettings;
  private readonly gate: RolloutGate | undefined;
  private readonly now: () => Date;
  private readonly nodes: NodeKinds;
  /** Per tenant: object key → digest and time of the last successful apply. */
  private readonly applied = new Map<string, Map<string, { digest: string; at: number }>>();

  constructor(deps: TenantReconcilerDeps) {
    this.http = deps.http;
    this.platform = deps.platform;
    this.gate = deps.rolloutGate;
    this.now = deps.now ?? (() => new Date());
    this.nodes = new NodeKinds(deps.http);
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const tenant = await readTenant(this.http, name);
    if (!tenant || tenant.metadata.deletionTimestamp) {
      this.gate?.release(name);
      this.applied.delete(name);
    }
    if (!tenant) return {};
    const snap = await readSnapshot(this.http, tenant, this.platform, this.now().getTime(), this.nodes);
    let decision = planTenant(snap);
    let holding = false;
    if (decision.objects.some((o) => o.kind === "Deployment")) {
      if (!this.admitRollout(name, decision)) decision = rolloutQueued(snap, decision, this.gate?.limit ?? 0);
      // A tenant holding a rollout slot is looked at again soon, to give the slot back once its pods rolled.
      holding = this.gate?.holds(name) === true;
    }
    const result = await this.apply(snap, decision);
    if (!holding) return result;
    return { ...result, requeueAfterMs: Math.min(result.requeueAfterMs ?? 2_000, 2_000) };
  }

  /**
   * Whether the Deployments may be applied now: always when that changes no pod template (or creates
   * them), otherwise only with a slot of the rollout gate, given back once the rollout has finished.
   */
  private admitRollout(name: string, decision: TenantDecision): boolean {
    const gate = this.gate;
    if (!gate) return true;
    if (gate.holds(name) && decision.rolled) gate.release(name);
    if (decision.rolloutStarts) return gate.acquire(name);
    return true;
  }

  private async apply(snap: TenantSnapshot, planned: TenantDecision): Promise<ReconcileResult> {
    const { tenant } = snap;
    const name = tenant.metadata.name;
    let d = planned;
    const deleting = tenant.metadata.deletionTimestamp !== undefined;

    if (d.finalizers && !deleting && !(await this.patchFinalizers(tenant, d.finalizers))) return { requeueAfterMs: 100 };
    try {
      const namespace = d.objects.find((o) => o.kind === "Namespace");
      if (namespace) await this.applyOne(name, namespace, snap, d.objects);
      if (d.seedSecret) {
        // The Secret is made before the database user, so a crash never leaves a user whose password is lost.
        const seeded = await seedTenantSecret(this.http, name, d.seedSecret, FIELD_MANAGER);
        if (!seeded.created) return { requeueAfterMs: 100 }; // someone made it meanwhile: theirs wins, decide again
      }
      if (d.claimRedis) {
        try {
          const n = await claimRedisDatabase(this.http, d.claimRedis.pool, name, d.claimRedis.redis);
          const status = { ...(tenant.status ?? {}), ...(d.status ?? {}), tracking: { redisDatabase: n } };
          await writeOperatorStatus(this.http, name, tenant.status, status);
          return { requeueAfterMs: 100 };
        } catch (err) {
          if (!(err instanceof PoolError)) throw err;
          d = failedAt(snap, d, "ConfigReady", err.reason, err.message, 10_000);
        }
      }
      if (d.completeSecret) {
        await completeTenantSecret(this.http, name, d.completeSecret);
        return { requeueAfterMs: 100 }; // decide again on what the Secret now holds
      }
      if (d.database) {
        try {
          await ensureTenantDatabase(d.database.endpoint, name, d.database.password);
        } catch (err) {
          if (!(err instanceof PoolError)) throw err;
          d = failedAt(snap, d, "DatabaseReady", err.reason, err.message, 10_000);
        }
      }
      if (d.dropUser) await dropTenantUser(d.dropUser, name);
      try {
        for (const obj of d.objects) if (obj.kind !== "Namespace") await this.applyOne(name, obj, snap, d.objects);
        for (const job of d.createJobs) await this.createOnce(job);
        for (const job of d.rerunJobs ?? []) await this.http.delete("batch/v1", "Job", job, SYSTEM_NAMESPACE);
        // Server-side apply never deletes: autoscalers no longer rendered (a suspended tenant) go here.
        for (const hpa of d.pruneAutoscalers) await this.http.delete("autoscaling/v2", "HorizontalPodAutoscaler", hpa, tenantNamespace(name));
      } catch (err) {
        if (!(err instanceof KubeApiError) || err.status >= 500) throw err;
        this.applied.delete(name);
        d = failedAt(snap, d, "ConfigReady", "ApplyFailed", err.message, 30_000);
      }
      if (d.dropDatabase) await dropTenantDatabase(d.dropDatabase, name);
    } catch (err) {
      if (!(deleting && err instanceof PoolError)) throw err;
      d = deletionKept(snap, err.reason, err.message);
    }

    if (d.status && !(await writeOperatorStatus(this.http, name, tenant.status, d.status))) return {};
    const upgrade = d.status ? upgradeEnded(tenant.status?.upgrade, d.status.upgrade, snap.now) : undefined;
    if (d.finalizers && deleting && !(await this.patchFinalizers(tenant, d.finalizers))) return { requeueAfterMs: 100 };
    return {
      ...(d.requeueAfterMs !== undefined ? { requeueAfterMs: d.requeueAfterMs } : {}),
      ...(d.onboardedSeconds !== undefined ? { onboardedSeconds: d.onboardedSeconds } : {}),
      ...(upgrade ? { upgradeEnded: upgrade } : {}),
    };
  }

  /** False when the tenant changed (409) or went (404) meanwhile: the watch brings the next version. */
  private async patchFinalizers(tenant: MatomoTenant, finalizers: readonly string[]): Promise<boolean> {
    try {
      await this.http.mergePatch<MatomoTenant>(API_GROUP_VERSION, "MatomoTenant", tenant.metadata.name,
        { metadata: { finalizers, resourceVersion: tenant.metadata.resourceVersion } });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return false;
      throw err;
    }
  }

  private async createOnce(obj: KubeObject): Promise<void> {
    // A Job's template is immutable and it must run once: create it if absent, never re-apply.
    try {
      await this.http.create(obj, { fieldManager: FIELD_MANAGER });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    }
  }

  private async applyOne(tenant: string, obj: KubeObject, snap: TenantSnapshot, all: readonly KubeObject[]): Promise<void> {
    if (obj.kind === "Job") return this.createOnce(obj);
    if (obj.kind === "Deployment") {
      // Replicas come from a separate field manager, so that our regular applies never own
      // `replicas` and never fight the HorizontalPodAutoscaler. It only lifts a Deployment up to the
      // HPA's minimum: when created, and when a suspended tenant resumes (the HPA would take a sync
      // period or more to do it).
      const spec = obj.spec as Record<string, unknown>;
      const min = initialReplicas(obj, all);
      const existing = snap.deployments.get(obj.metadata.name);
      if (spec.replicas === undefined && min !== undefined && (existing?.spec?.replicas ?? 0) < min) {
        await this.http.apply({ ...obj, spec: { ...spec, replicas: min } }, { fieldManager: `${FIELD_MANAGER}-replicas` });
      }
    }
    const key = `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
    const sum = digest(JSON.stringify(obj));
    const cache = this.applied.get(tenant) ?? new Map<string, { digest: string; at: number }>();
    const last = cache.get(key);
    const seen = obj.kind === "Deployment" ? snap.deployments.has(obj.metadata.name)
      : obj.kind === "HorizontalPodAutoscaler" ? snap.autoscalers.includes(obj.metadata.name) : true;
    if (seen && last?.digest === sum && snap.now - last.at < APPLIED_TTL_MS) return;
    await this.http.apply(obj, { fieldManager: FIELD_MANAGER });
    cache.set(key, { digest: sum, at: snap.now });
    this.applied.set(tenant, cache);
  }
}

/** The HPA minimum of the autoscaler that targets this Deployment, if one is rendered. */
function initialReplicas(deployment: KubeObject, all: readonly KubeObject[]): number | undefined {
  for (const o of all) {
    const spec = o.spec as { minReplicas?: number; scaleTargetRef?: { name?: string } } | undefined;
    if (o.kind === "HorizontalPodAutoscaler" && spec?.scaleTargetRef?.name === deployment.metadata.name) return spec.minReplicas;
  }
  return undefined;
}
