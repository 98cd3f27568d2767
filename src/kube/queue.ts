// A work queue in the controller-runtime style: a key is processed by one worker at a time, a key
// added while it is being processed runs again afterwards, and failures retry with capped
// exponential backoff and jitter.

export interface QueueOptions {
  readonly concurrency: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly onError?: (key: string, err: unknown, attempt: number) => void;
}

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly handler: (key: string) => Promise<void>;
  private readonly opts: QueueOptions;
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(handler: (key: string) => Promise<void>, opts: QueueOptions) {
    this.handler = handler;
    this.opts = opts;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Adds the key after a delay (a retry, or a requeue to check progress later). */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    t.unref();
    this.timers.set(key, t);
  }

  get size(): number {
    return this.pending.size + this.active.size;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves when nothing is queued or running (timers for later retries may still be set). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private backoff(attempt: number): number {
    const base = this.opts.baseDelayMs ?? 500;
    const max = this.opts.maxDelayMs ?? 60_000;
    const exp = Math.min(max, base * 2 ** Math.min(attempt, 20));
    return exp / 2 + Math.random() * (exp / 2);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.opts.concurrency && this.order.length > 0) {
      const key = this.order.shift() as string;
      this.pending.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
    if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async process(key: string): Promise<void> {
    try {
      await this.handler(key);
      this.failures.delete(key);
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.opts.onError?.(key, err, attempt);
      this.addAfter(key, this.backoff(attempt));
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
