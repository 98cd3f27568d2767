// Leader election on a coordination.k8s.io Lease, so that two operator replicas never both act.
// Updates carry the Lease's resourceVersion: of two candidates racing, the API server accepts one.
import { setTimeout as sleep } from "node:timers/promises";
import { KubeApiError, type KubeHttp } from "./http.ts";

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

export interface LeaderOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseSeconds?: number;
  readonly retryMs?: number;
}

export class LeaderElector {
  private readonly http: KubeHttp;
  private readonly opts: Required<LeaderOptions>;
  private timer?: NodeJS.Timeout;

  constructor(http: KubeHttp, opts: LeaderOptions) {
    this.http = http;
    this.opts = { leaseSeconds: 15, retryMs: 2000, ...opts };
  }

  /** One attempt: true when we hold the lease afterwards. */
  async tryAcquireOrRenew(now = new Date()): Promise<boolean> {
    const { namespace, name, identity, leaseSeconds } = this.opts;
    const base = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    const stamp = now.toISOString().replace("Z", "000Z"); // MicroTime wants microseconds
    let lease: Lease | undefined;
    try {
      lease = await this.http.request<Lease>("GET", `${base}/${name}`);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    try {
      if (!lease) {
        await this.http.request("POST", base, {
          apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: leaseSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
        });
        return true;
      }
      const held = lease.spec.holderIdentity;
      const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const expired = renewed + (lease.spec.leaseDurationSeconds ?? leaseSeconds) * 1000 < now.getTime();
      if (held && held !== identity && !expired) return false;
      const taking = held !== identity;
      lease.spec = {
        ...lease.spec,
        holderIdentity: identity,
        leaseDurationSeconds: leaseSeconds,
        renewTime: stamp,
        ...(taking ? { acquireTime: stamp, leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
      };
      await this.http.request("PUT", `${base}/${name}`, lease);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 422)) return false;
      throw err;
    }
  }

  /** Waits until this process leads; retries quietly while another holds the lease. */
  async acquire(onWaiting?: () => void): Promise<void> {
    let told = false;
    for (;;) {
      try {
        if (await this.tryAcquireOrRenew()) return;
      } catch {
        /* API server unreachable: keep trying */
      }
      if (!told) onWaiting?.();
      told = true;
      await sleep(this.opts.retryMs);
    }
  }

  /** Renews in the background; calls onLost once if the lease cannot be renewed in time. */
  keepRenewing(onLost: (why: string) => void): void {
    let lastOk = Date.now();
    const tick = async () => {
      try {
        if (await this.tryAcquireOrRenew()) lastOk = Date.now();
        else return onLost("another replica took the lease");
      } catch {
        /* counted by the deadline below */
      }
      // Give up before the lease could expire, so two leaders never overlap.
      if (Date.now() - lastOk > (this.opts.leaseSeconds * 1000 * 2) / 3) return onLost("the lease could not be renewed in time");
      this.timer = setTimeout(() => void tick(), this.opts.retryMs);
    };
    this.timer = setTimeout(() => void tick(), this.opts.retryMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** Hands the lease back on a clean shutdown, so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.stop();
    const path = `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
    try {
      const lease = await this.http.request<Lease>("GET", path);
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 };
      await this.http.request("PUT", path, lease);
    } catch {
      /* best effort: the lease expires anyway */
    }
  }
}
