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
    let needList = true;
    let resourceVersion = "";
    while (!this.stopped) {
      try {
        if (needList) {
          const q = this.opts.labelSelector ? `?${new URLSearchParams({ labelSelector: this.opts.labelSelector }).toString()}` : "";
          const list = await this.http.request<{ items: { metadata?: { name?: string } }[]; metadata: { resourceVersion?: string } }>("GET", this.opts.path + q);
          for (const item of list.items) this.opts.onEvent("SYNC", item);
          resourceVersion = list.metadata.resourceVersion ?? "";
          needList = false;
        }
        const end = await this.watchFrom(resourceVersion, (rv) => (resourceVersion = rv));
        if (end === "expired") needList = true; // 410 Gone: our resourceVersion is too old
        else if (end instanceof Error) throw end;
        failures = 0;
        continue; // a clean close: resume from the last resourceVersion, no re-list
      } catch (err) {
        if (this.stopped) return;
        failures++;
        if (failures >= 3) needList = true;
        this.opts.onError?.(err);
      }
      const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }

  /** Resolves when the watch ends: "closed" (normal), "expired" (re-list needed) or an error. */
  private async watchFrom(resourceVersion: string, seen: (rv: string) => void): Promise<"closed" | "expired" | Error> {
    const silenceMs = this.opts.silenceMs ?? 5 * 60_000;
    return new Promise((resolve) => {
      let finished = false;
      const finish = (end: "closed" | "expired" | Error) => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        this.abort?.abort();
        resolve(end);
      };
      this.lastSeen = Date.now();
      const watchdog = setInterval(() => {
        if (Date.now() - this.lastSeen > silenceMs) finish(new Error(`watch of ${this.opts.path} was silent for ${silenceMs / 1000} s; restarting it`));
      }, Math.min(silenceMs, 30_000));
      watchdog.unref();
      // The server ends each watch before the client's 30 s inactivity limit; we then resume
      // from the last resourceVersion, which costs one request and no re-list.
      const params: Record<string, string | number | boolean> = {
        resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 20 + Math.floor(Math.random() * 8),
      };
      if (this.opts.labelSelector) params.labelSelector = this.opts.labelSelector;
      new Watch(this.kc)
        .watch(this.opts.path, params, (phase, obj: { code?: number; metadata?: { name?: string; resourceVersion?: string } }) => {
          this.lastSeen = Date.now();
          if (phase === "ERROR") {
            finish(obj.code === 410 ? "expired" : new Error(`watch of ${this.opts.path} failed with code ${obj.code ?? "unknown"}`));
            return;
          }
          if (obj.metadata?.resourceVersion) seen(obj.metadata.resourceVersion);
          if (phase === "BOOKMARK") return;
          this.opts.onEvent(phase as WatchEvent, obj);
        }, (err: unknown) => finish(err ? (err instanceof Error ? err : new Error("watch request failed")) : "closed"))
        .then((ac) => {
          this.abort = ac;
          if (finished) ac.abort();
        }, (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
    });
  }
}
