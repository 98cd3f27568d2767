// Bounds how many tenants roll their pods at the same moment. A plan change or a platform-wide setting
// can re-render hundreds of tenants in a second; each one that would start a rollout takes a slot, and
// gives it back once its Deployments run the new template everywhere. Kept in memory: after an operator
// restart the slots are free again, which at worst lets one extra batch through.

export class RolloutGate {
  readonly limit: number;
  private readonly holders = new Map<string, number>();
  private readonly now: () => number;
  /**
   * A slot not given back within this time is taken back: a tenant deleted mid-rollout, or a rollout
   * stuck on pods that cannot be scheduled, must not hold up every other tenant.
   */
  private readonly expiryMs: number;

  constructor(limit: number, opts: { now?: () => number; expiryMs?: number } = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error("the number of tenants rolling at once must be a whole number of at least 1");
    this.limit = limit;
    this.now = opts.now ?? Date.now;
    this.expiryMs = opts.expiryMs ?? 5 * 60_000;
  }

  private expire(): void {
    const cutoff = this.now() - this.expiryMs;
    for (const [k, at] of this.holders) if (at < cutoff) this.holders.delete(k);
  }

  holds(tenant: string): boolean {
    return this.holders.has(tenant);
  }

  /** True when the tenant may start rolling (it already holds a slot, or one is free). */
  acquire(tenant: string): boolean {
    this.expire();
    if (this.holders.has(tenant)) return true;
    if (this.holders.size >= this.limit) return false;
    this.holders.set(tenant, this.now());
    return true;
  }

  release(tenant: string): void {
    this.holders.delete(tenant);
  }

  get rolling(): number {
    this.expire();
    return this.holders.size;
  }
}
