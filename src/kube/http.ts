// A thin JSON-over-HTTPS client for the Kubernetes API, for what the typed client does poorly:
// server-side apply of arbitrary objects (the typed client drops fields it has no model for, such
// as x-kubernetes-validations) and dry runs. Credentials come from the kubeconfig.
import { Agent, request, type RequestOptions } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface ResourceInfo { readonly plural: string; readonly namespaced: boolean }

// The kinds this project reads or writes; anything else is a programming error, reported as such.
const RESOURCES: Record<string, ResourceInfo> = {
  "v1/Namespace": { plural: "namespaces", namespaced: false },
  "v1/Pod": { plural: "pods", namespaced: true },
  "v1/Secret": { plural: "secrets", namespaced: true },
  "v1/ConfigMap": { plural: "configmaps", namespaced: true },
  "v1/Service": { plural: "services", namespaced: true },
  "v1/ServiceAccount": { plural: "serviceaccounts", namespaced: true },
  "v1/ResourceQuota": { plural: "resourcequotas", namespaced: true },
  "v1/LimitRange": { plural: "limitranges", namespaced: true },
  "apps/v1/Deployment": { plural: "deployments", namespaced: true },
  "apps/v1/StatefulSet": { plural: "statefulsets", namespaced: true },
  "v1/PersistentVolume": { plural: "persistentvolumes", namespaced: false },
  "v1/PersistentVolumeClaim": { plural: "persistentvolumeclaims", namespaced: true },
  "batch/v1/Job": { plural: "jobs", namespaced: true },
  "batch/v1/CronJob": { plural: "cronjobs", namespaced: true },
  "autoscaling/v2/HorizontalPodAutoscaler": { plural: "horizontalpodautoscalers", namespaced: true },
  "policy/v1/PodDisruptionBudget": { plural: "poddisruptionbudgets", namespaced: true },
  "networking.k8s.io/v1/NetworkPolicy": { plural: "networkpolicies", namespaced: true },
  "networking.k8s.io/v1/Ingress": { plural: "ingresses", namespaced: true },
  "coordination.k8s.io/v1/Lease": { plural: "leases", namespaced: true },
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": { plural: "validatingadmissionpolicies", namespaced: false },
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": { plural: "validatingadmissionpolicybindings", namespaced: false },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": { plural: "customresourcedefinitions", namespaced: false },
  "multiscale.io/v1alpha1/MatomoTenant": { plural: "matomotenants", namespaced: false },
  "multiscale.io/v1alpha1/TenantPlan": { plural: "tenantplans", namespaced: false },
  "multiscale.io/v1alpha1/DatabasePool": { plural: "databasepools", namespaced: false },
  "multiscale.io/v1alpha1/NodeRemediation": { plural: "noderemediations", namespaced: false },
  "multiscale.io/v1alpha1/BackupStore": { plural: "backupstores", namespaced: false },
  "rbac.authorization.k8s.io/v1/ClusterRole": { plural: "clusterroles", namespaced: false },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": { plural: "clusterrolebindings", namespaced: false },
  "v1/Node": { plural: "nodes", namespaced: false },
  "v1/Event": { plural: "events", namespaced: true },
  "discovery.k8s.io/v1/EndpointSlice": { plural: "endpointslices", namespaced: true },
  "cert-manager.io/v1/Certificate": { plural: "certificates", namespaced: true },
};

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, reason: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A refusal's message without the Kubernetes boilerplate around it (object name, admission policy and binding). */
export function refusalDetail(err: KubeApiError): string {
  return err.message.replace(/^.*? is (invalid|forbidden): /, "").replace(/ValidatingAdmissionPolicy '[^']*' with binding '[^']*' denied request: /, "");
}

/** The API server's answer stopped before its end. */
export class ResponseCutOff extends Error {
  constructor(method: string, path: string, why: string) {
    super(`the API server's response to ${method} ${path} was cut off: ${why}`);
    this.name = "ResponseCutOff";
  }
}

function collectionBase(apiVersion: string, kind: string, namespace: string | undefined): string {
  const info = RESOURCES[`${apiVersion}/${kind}`];
  if (!info) throw new Error(`no resource mapping for ${apiVersion} ${kind}`);
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = info.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${info.plural}`;
}

/** One object's path; a namespaced object named without a namespace is in `default`, as with kubectl. */
export function resourcePath(apiVersion: string, kind: string, name?: string, namespace?: string): string {
  return collectionBase(apiVersion, kind, namespace ?? "default") + (name ? `/${encodeURIComponent(name)}` : "");
}

/** A collection: of one namespace, or of all namespaces when `namespace` is undefined (never `default`). */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  return collectionBase(apiVersion, kind, namespace);
}

export interface ApplyOptions {
  readonly fieldManager: string;
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly subresource?: "status";
}

export class KubeHttp {
  private readonly config: KubeConfig;
  private agent?: Promise<Agent>;
  constructor(config: KubeConfig) {
    this.config = config;
  }

  /** One keep-alive agent per client: a TLS handshake per call would cost CPU and memory at scale. */
  private tlsAgent(): Promise<Agent> {
    this.agent ??= (async () => {
      const opts: RequestOptions = {};
      await this.config.applyToHTTPSOptions(opts);
      return new Agent({ keepAlive: true, maxSockets: 32, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername ?? undefined });
    })();
    return this.agent;
  }

  /**
   * One API call. "Too many requests" (the API server's flow control, or storage still starting)
   * was not processed, so it is retried after the server's Retry-After, whatever the method.
   */
  async request<T>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestOnce<T>(method, path, body, contentType);
      } catch (err) {
        // A read whose response was cut off is asked again; a write might have been applied, so it is not.
        if (err instanceof ResponseCutOff && method === "GET" && attempt < 3) continue;
        if (!(err instanceof KubeApiError && err.status === 429) || attempt >= 20) throw err;
        await sleep(Math.min(5000, (err.retryAfterSeconds ?? 1) * 1000) * (0.5 + Math.random() / 2));
      }
    }
  }

  private async requestOnce<T>(method: string, path: string, body: unknown, contentType: string): Promise<T> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    const url = new URL(path, cluster.server);
    const opts: RequestOptions = { method, headers: { Accept: "application/json" } };
    // Credentials other than TLS client certificates (tokens, exec plugins) arrive as headers.
    await this.config.applyToHTTPSOptions(opts);
    opts.agent = await this.tlsAgent();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) opts.headers = { ...opts.headers, "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload) };
    return new Promise<T>((resolve, reject) => {
      const req = request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        // A response cut off mid-body (the connection closed or timed out) emits neither "end" nor an
        // error on the request: without these, the call would wait forever.
        res.on("error", (err) => reject(new ResponseCutOff(method, url.pathname, err.message)));
        res.on("close", () => {
          if (!res.complete) reject(new ResponseCutOff(method, url.pathname, "the connection closed"));
        });
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve((text ? JSON.parse(text) : undefined) as T);
            return;
          }
          let reason = "Unknown";
          let message = text.slice(0, 500);
          try {
            const s = JSON.parse(text) as { reason?: string; message?: string };
            reason = s.reason ?? reason;
            message = s.message ?? message;
          } catch { /* not a Status object */ }
          const retryAfter = Number(res.headers["retry-after"]);
          reject(new KubeApiError(status, reason, message, Number.isFinite(retryAfter) ? retryAfter : undefined));
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`request to ${url.pathname} timed out`)));
      req.on("error", (err: NodeJS.ErrnoException) => {
        const unreachable = ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "ECONNRESET"].includes(err.code ?? "");
        reject(unreachable ? new Error(`cannot reach the Kubernetes API server at ${cluster.server} (${err.code}); check --kubeconfig/--context, or start the dev environment with \`mms dev up\``) : err);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Server-side apply: the object becomes what we say for the fields our manager owns. */
  apply<T extends KubeObject>(obj: T, opts: ApplyOptions): Promise<T> {
    const path = resourcePath(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace) + (opts.subresource ? `/${opts.subresource}` : "");
    const q = new URLSearchParams({ fieldManager: opts.fieldManager });
    if (opts.force ?? true) q.set("force", "true");
    if (opts.dryRun) q.set("dryRun", "All");
    return this.request<T>("PATCH", `${path}?${q.toString()}`, obj, "application/apply-patch+yaml");
  }

  /** A plain create; fails with 409 when the object exists. */
  create<T extends KubeObject>(obj: T, opts: { fieldManager: string; dryRun?: boolean }): Promise<T> {
    const q = new URLSearchParams({ fieldManager: opts.fieldManager });
    if (opts.dryRun) q.set("dryRun", "All");
    return this.request<T>("POST", `${resourcePath(obj.apiVersion, obj.kind, undefined, obj.metadata.namespace)}?${q.toString()}`, obj);
  }

  get<T>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T> {
    return this.request<T>("GET", resourcePath(apiVersion, kind, name, namespace));
  }

  async getOrUndefined<T>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.get<T>(apiVersion, kind, name, namespace);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Lists objects of one namespace, or of every namespace when `namespace` is left out. */
  list<T>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
    const q = labelSelector ? `?${new URLSearchParams({ labelSelector }).toString()}` : "";
    return this.request("GET", collectionPath(apiVersion, kind, namespace) + q);
  }

  async delete(apiVersion: string, kind: string, name: string, namespace?: string): Promise<boolean> {
    try {
      await this.request("DELETE", resourcePath(apiVersion, kind, name, namespace), { propagationPolicy: "Background" });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  /** A JSON merge patch, e.g. to remove a finalizer. */
  mergePatch<T>(apiVersion: string, kind: string, name: string, patch: unknown, namespace?: string): Promise<T> {
    return this.request<T>("PATCH", resourcePath(apiVersion, kind, name, namespace), patch, "application/merge-patch+json");
  }
}
