// Bounds how many tenants roll their pods at the same moment. A plan change or a platform-wide setting
// can re-render hundreds of tenants in a second; each one that would start a rollout takes a slot, and
// gives it back once its Deployments run the new template everywhere.
//
// The reconciler gives a slot back when it sees the holder's pods rolled, but only on a reconcile of that
// tenant that gets as far as its Deployments. A reconcile that stops earlier (its plan or pool deleted, a
// domain conflict, a database error), a tenant deleted mid-rollout, or a rollout stuck on pods that no
// node can take never gives its slot back that way; ten such holders used to stop every later rollout of
// the operator's life (a plan change on 12 tenants reached none of them). So the gate does not trust its
// own memory once it is full: a refused acquire makes it ask the cluster (the probe) whether each holder
// still rolls, and the holders that do not are dropped; the refused tenant gets its slot on its next try
// a few seconds later. At start the operator adopts the tenants found mid-rollout, so a restart does not
// let a second batch roll on top of the first.
import { API_GROUP_VERSION, tenantNamespace } from "../api/names.ts";
import type { KubeHttp } from "../kube/http.ts";
import { deploymentsRolled } from "./upgrade.ts";

/** What the gate asks the cluster. */
export interface RolloutProbe {
  /**
   * Whether the tenant's pods are still rolling to a new template: false once rolled, when the tenant is
   * gone or being deleted, and when the rollout waits on pods that no node can take (it then loads
   * nothing, and must not hold up every other tenant).
   */
  stillRolling(tenant: string): Promise<boolean>;
}

export interface RolloutGateOptions {
  readonly now?: () => number;
  /** A slot not given back within this time is taken back, probe or not. */
  readonly expiryMs?: number;
  readonly probe?: RolloutProbe;
  /** Holders are asked about at most this often (a full gate is asked on every refused acquire). */
  readonly recheckMs?: number;
  /** Told when the probe fails for a holder (which then keeps its slot until asked again or expired). */
  readonly onProbeError?: (tenant: string, err: unknown) => void;
}

export class RolloutGate {
  readonly limit: number;
  private readonly holders = new Map<string, number>();
  private readonly now: () => number;
  private readonly expiryMs: number;
  private readonly probe: RolloutProbe | undefined;
  private readonly recheckMs: number;
  private readonly onProbeError: ((tenant: string, err: unknown) => void) | undefined;
  private checking: Promise<void> | undefined;
  private lastCheck = Number.NEGATIVE_INFINITY;

  constructor(limit: number, opts: RolloutGateOptions = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error("the number of tenants rolling at once must be a whole number of at least 1");
    this.limit = limit;
    this.now = opts.now ?? Date.now;
    this.expiryMs = opts.expiryMs ?? 5 * 60_000;
    this.probe = opts.probe;
    this.recheckMs = opts.recheckMs ?? 2_000;
    this.onProbeError = opts.onProbeError;
  }

  private expire(): void {
    const cutoff = this.now() - this.expiryMs;
    for (const [k, at] of this.holders) if (at < cutoff) this.holders.delete(k);
  }

  holds(tenant: string): boolean {
    this.expire();
    return this.holders.has(tenant);
  }

  /**
   * True when the tenant may start rolling (it already holds a slot, or one is free). A refusal starts a
   * recheck of the holders in the background, so a slot held in vain is free for the next try.
   */
  acquire(tenant: string): boolean {
    this.expire();
    if (this.holders.has(tenant)) return true;
    if (this.holders.size < this.limit) {
      this.holders.set(tenant, this.now());
      return true;
    }
    void this.recheck();
    return false;
  }

  release(tenant: string): void {
    this.holders.delete(tenant);
  }

  /** Tenants found mid-rollout when the operator starts: they hold slots as if they had taken them now. */
  adopt(tenants: Iterable<string>): void {
    for (const t of tenants) if (!this.holders.has(t)) this.holders.set(t, this.now());
  }

  get rolling(): number {
    this.expire();
    return this.holders.size;
  }

  /** Asks the probe about every holder and drops those no longer rolling; one recheck at a time. */
  recheck(): Promise<void> {
    const probe = this.probe;
    if (!probe) return Promise.resolve();
    if (this.checking) return this.checking;
    if (this.now() - this.lastCheck < this.recheckMs) return Promise.resolve();
    this.lastCheck = this.now();
    const run = async () => {
      for (const [tenant, at] of [...this.holders]) {
        let rolling: boolean;
        try {
          rolling = await probe.stillRolling(tenant);
        } catch (err) {
          this.onProbeError?.(tenant, err);
          continue; // the API server is unsure: keep the slot (expiry still applies)
        }
        // A holder that gave its slot back and took a new one meanwhile is left alone.
        if (!rolling && this.holders.get(tenant) === at) this.holders.delete(tenant);
      }
    };
    this.checking = run().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }
}

interface DeploymentView {
  metadata: { name: string; generation?: number; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; updatedReplicas?: number; replicas?: number; availableReplicas?: number };
}
interface PodView { status?: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] } }

const MANAGED = "app.kubernetes.io/managed-by=mms";

/** The probe that reads the cluster: the tenant, its Deployments and, when they roll, its pods. */
export function clusterRolloutProbe(http: KubeHttp): RolloutProbe {
  return {
    async stillRolling(tenant) {
      const t = await http.getOrUndefined<{ metadata: { deletionTimestamp?: string } }>(API_GROUP_VERSION, "MatomoTenant", tenant);
      if (!t || t.metadata.deletionTimestamp) return false;
      const ns = tenantNamespace(tenant);
      const deployments = await http.list<DeploymentView>("apps/v1", "Deployment", ns, MANAGED);
      if (deploymentsRolled(new Map(deployments.items.map((d) => [d.metadata.name, d])))) return false;
      const pods = await http.list<PodView>("v1", "Pod", ns, `${MANAGED},app.kubernetes.io/component in (tracker,web)`);
      return !pods.items.some(unschedulable);
    },
  };
}

function unschedulable(pod: PodView): boolean {
  return pod.status?.phase === "Pending" &&
    (pod.status.conditions ?? []).some((c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable");
}

/** Tenants whose Deployments are rolling right now (for `adopt` at start), by their tenant label. */
export async function tenantsRolling(http: KubeHttp): Promise<string[]> {
  const all = await http.list<DeploymentView>("apps/v1", "Deployment", undefined, `${MANAGED},multiscale.io/tenant`);
  const byTenant = new Map<string, Map<string, DeploymentView>>();
  for (const d of all.items) {
    const t = d.metadata.labels?.["multiscale.io/tenant"];
    if (!t) continue;
    const m = byTenant.get(t) ?? new Map<string, DeploymentView>();
    m.set(d.metadata.name, d);
    byTenant.set(t, m);
  }
  return [...byTenant].filter(([, ds]) => ds.size > 0 && !deploymentsRolled(ds)).map(([t]) => t);
}
