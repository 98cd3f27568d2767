// What the monitoring tests and bench/metrics-cost share: the dev environment's Prometheus and Alertmanager
// (the chart's monitoring.stack, on the real node), asked over their HTTP APIs from the host as an on-call
// person's tools would; the dashboards' queries; tracking hits sent through the ingress as a website sends them.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { SYSTEM_NAMESPACE } from "../../src/api/admission.ts";
import type { KubeHttp } from "../../src/kube/http.ts";
import { PLATFORM_RELEASE } from "../../src/platform/release.ts";
import { matomoBed, type MatomoBed } from "./matomo.ts";

export const DASHBOARDS_DIR = join(import.meta.dirname, "..", "..", "deploy", "observability", "dashboards");

export interface MonitoringUrls {
  readonly prometheus: string;
  readonly alertmanager: string;
}

/**
 * The stack's Prometheus and Alertmanager by their Services' addresses (the host reaches cluster addresses,
 * and networkPolicies.metricsFromCidrs admits it), or the one line saying why there are none.
 */
export async function monitoringUrls(http: KubeHttp): Promise<MonitoringUrls | { skip: string }> {
  const ip = async (component: string) =>
    (await http.getOrUndefined<{ spec: { clusterIP: string } }>("v1", "Service", `${PLATFORM_RELEASE}-${component}`, SYSTEM_NAMESPACE))?.spec.clusterIP;
  const [prometheus, alertmanager] = await Promise.all([ip("prometheus"), ip("alertmanager")]);
  if (!prometheus || !alertmanager) return { skip: "the platform's chart runs without its monitoring stack (monitoring.stack.enabled is false)" };
  return { prometheus: `http://${prometheus}:9090`, alertmanager: `http://${alertmanager}:9093` };
}

/** A real-Matomo bed (./matomo.ts) with the monitoring stack's addresses, or the one line saying why not. */
export async function monitoringBed(versions: readonly string[]): Promise<{ bed: MatomoBed; urls: MonitoringUrls } | { skip: string }> {
  const bed = await matomoBed(versions);
  if ("skip" in bed) return bed;
  const urls = await monitoringUrls(bed.http);
  return "skip" in urls ? urls : { bed, urls };
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** An instant query (`/api/v1/query`); fails with Prometheus's own error for a bad expression. */
export async function promQuery(prometheus: string, expr: string): Promise<Sample[]> {
  const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`, { signal: AbortSignal.timeout(20_000) });
  const body = await res.json() as { status: string; error?: string; data?: { resultType: string; result: Sample[] | [number, string] } };
  if (body.status !== "success") throw new Error(`Prometheus rejected ${expr}: ${body.error ?? `HTTP ${res.status}`}`);
  const data = body.data!;
  // A scalar (e.g. time()) is one value without labels.
  return data.resultType === "scalar" ? [{ metric: {}, value: data.result as [number, string] }] : data.result as Sample[];
}

export interface Alert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly status: { readonly state: string };
  readonly startsAt: string;
}

/** Alertmanager's active alerts (API v2) whose labels equal `labels`. */
export async function activeAlerts(alertmanager: string, labels: Record<string, string>): Promise<Alert[]> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(labels)) query.append("filter", `${k}="${v}"`);
  query.set("active", "true");
  query.set("silenced", "false");
  query.set("inhibited", "false");
  const res = await fetch(`${alertmanager}/api/v2/alerts?${query.toString()}`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`Alertmanager /api/v2/alerts: HTTP ${res.status} ${await res.text()}`);
  return await res.json() as Alert[];
}

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

/** Every PromQL target of every panel of a dashboard file (Grafana's JSON model). */
export async function dashboardQueries(file: string): Promise<PanelQuery[]> {
  const d = JSON.parse(await readFile(join(DASHBOARDS_DIR, file), "utf8")) as {
    title: string; panels: { title: string; targets?: { refId: string; expr?: string }[] }[];
  };
  return d.panels.flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ dashboard: d.title, panel: p.title, refId: t.refId, expr: t.expr! })));
}

/** A dashboard query with its template variables set as Grafana sets them. */
export function withVariables(expr: string, vars: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (all, name: string) => vars[name] ?? all);
}

/**
 * One tracking hit (a page view of a new visitor) to `domain` through the ingress at `ingress`:443, as a
 * website's JavaScript tracker sends it. The certificate is not checked: what is measured is the hit.
 */
export function trackThroughIngress(ingress: string, domain: string): Promise<number> {
  const path = `/matomo.php?idsite=1&rec=1&apiv=1&send_image=0&_id=${randomBytes(8).toString("hex")}&action_name=monitoring&url=${encodeURIComponent(`https://www.${domain}/`)}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: ingress, port: 443, servername: domain, path, headers: { Host: domain }, rejectUnauthorized: false, timeout: 20_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${domain} through ${ingress}:443 within 20 s`)));
    req.on("error", reject);
    req.end();
  });
}
