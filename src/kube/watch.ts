// Watches that survive: list, then watch from the list's resourceVersion; on any end or error,
// back off with jitter and list again. A watchdog restarts a watch that has gone silent (no event
// and no bookmark for too long), the known weak spot of long-lived HTTP watches.
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeHttp } from "./http.ts";

export type WatchEvent = "ADDED" | "MODIFIED" | "DELETED" | "SYNC";

export interface WatchOptions {
  /** Collection path, e.g. /apis/multiscale.io/v1alpha1/matomotenants */
  readonly path: string;
  readonly labelSelector?: string;
  readonly silenceMs?: number;
  readonly onEvent: (type: WatchEvent, obj: { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } }) => void;
  readonly onError?: (err: unknown) => void;
}

export class ResilientWatch {
  private readonly kc: KubeConfig;
  private readonly http: KubeHttp;
  private readonly opts: WatchOptions;
  private abort?: AbortController | undefined;
  private stopped = false;
  private lastSeen = Date.now();

  constructor(kc: KubeConfig, http: KubeHttp, opts: WatchOptions) {
    this.kc = kc;
    this.http = http;
    this.opts = opts;
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const q = this.opts.labelSelector ? `?${new URLSearchParams({ labelSelector: this.opts.labelSelector }).toString()}` : "";
        const list = await this.http.request<{ items: { metadata?: { name?: string } }[]; metadata: { resourceVersion?: string } }>("GET", this.opts.path + q);
        for (const item of list.items) this.opts.onEvent("SYNC", item);
        failures = 0;
        await this.watchFrom(list.metadata.resourceVersion ?? "");
      } catch (err) {
        if (this.stopped) return;
        failures++;
        this.opts.onError?.(err);
      }
      if (this.stopped) return;
      const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }

  /** Resolves when the watch ends for any reason (server close, error, silence). */
  private async watchFrom(resourceVersion: string): Promise<void> {
    const silenceMs = this.opts.silenceMs ?? 5 * 60_000;
    await new Promise<void>((resolve) => {
      let finished = false;
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        this.abort?.abort();
        if (err && !this.stopped) this.opts.onError?.(err);
        resolve();
      };
      this.lastSeen = Date.now();
      const watchdog = setInterval(() => {
        if (Date.now() - this.lastSeen > silenceMs) finish(new Error(`watch of ${this.opts.path} was silent for ${silenceMs / 1000} s; restarting it`));
      }, Math.min(silenceMs, 30_000));
      watchdog.unref();
      const params: Record<string, string | boolean> = { resourceVersion, allowWatchBookmarks: true };
      if (this.opts.labelSelector) params.labelSelector = this.opts.labelSelector;
      new Watch(this.kc)
        .watch(this.opts.path, params, (phase, obj: { metadata?: { name?: string } }) => {
          this.lastSeen = Date.now();
          if (phase === "BOOKMARK") return;
          if (phase === "ERROR") {
            finish(); // usually 410 Gone: the list is re-read
            return;
          }
          this.opts.onEvent(phase as WatchEvent, obj);
        }, (err) => finish(err))
        .then((ac) => {
          this.abort = ac;
          if (finished) ac.abort();
        }, (err) => finish(err));
    });
  }
}
