// The OVH cloud driver: finds a node's Public Cloud instance and Managed Kubernetes node pool, and
// reboots or replaces it through the official client, retrying 429/5xx and stopping at once on 401/403.
import ovh from "@ovhcloud/node-ovh";
import { CloudApiError, instanceIdFromProviderID, type CloudDriver, type CloudNode, type InstanceState, type RebootKind } from "./driver.ts";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from "./retry.ts";

/**
 * Every call this driver makes, so the consumer key can be scoped to exactly these (see
 * `consumerKeyAccessRules`). The client also calls `GET /auth/time`, which needs no grant.
 */
export const OVH_API_PATHS = [
  { method: "GET", path: "/cloud/project/{serviceName}/kube/{kubeId}/node", why: "map a Kubernetes node to its instance and node pool" },
  { method: "DELETE", path: "/cloud/project/{serviceName}/kube/{kubeId}/node/{nodeId}", why: "replace a node: its pool creates a new one" },
  { method: "GET", path: "/cloud/project/{serviceName}/instance/{instanceId}", why: "see whether an instance is running, rebooting or off" },
  { method: "POST", path: "/cloud/project/{serviceName}/instance/{instanceId}/reboot", why: "soft or hard reboot of an instance" },
] as const;

/** The access rules to request for the consumer key (`POST /auth/credential`), limited to one project and cluster. */
export function consumerKeyAccessRules(serviceName: string, kubeId: string): { method: string; path: string }[] {
  return OVH_API_PATHS.map(({ method, path }) => ({
    method,
    path: path.replace("{serviceName}", serviceName).replace("{kubeId}", kubeId).replace(/\{[a-zA-Z]+\}/g, "*"),
  }));
}

export interface OvhCredentials {
  readonly applicationKey: string;
  readonly applicationSecret: string;
  readonly consumerKey: string;
}

export const OVH_SECRET_KEYS = ["applicationKey", "applicationSecret", "consumerKey"] as const;

/**
 * Credentials from a Kubernetes Secret's `data` (base64, as the API returns it). A missing key is
 * named in the error; no value ever is.
 */
export function ovhCredentialsFromSecret(secretName: string, data: Record<string, string> | undefined): OvhCredentials {
  const decoded = Object.fromEntries(OVH_SECRET_KEYS.map((k) => [k, Buffer.from(data?.[k] ?? "", "base64").toString("utf8").trim()]));
  const missing = OVH_SECRET_KEYS.filter((k) => !decoded[k]);
  if (missing.length) throw new Error(`Secret ${secretName} lacks ${missing.join(", ")}: it needs ${OVH_SECRET_KEYS.join(", ")}`);
  return { applicationKey: decoded.applicationKey ?? "", applicationSecret: decoded.applicationSecret ?? "", consumerKey: decoded.consumerKey ?? "" };
}

/** What the official client exposes; tests substitute their own. */
export interface OvhRequester {
  requestPromised(method: string, path: string, params?: Record<string, unknown>): PromiseLike<unknown>;
}

export interface OvhDriverOptions {
  readonly credentials: OvhCredentials;
  /** The Public Cloud project id. */
  readonly serviceName: string;
  /** The Managed Kubernetes cluster id. */
  readonly kubeId: string;
  /** A preconfigured OVH API of the client ("ovh-eu", "ovh-ca", "ovh-us"); the default is "ovh-eu". */
  readonly endpoint?: string;
  /** Instead of `endpoint`: an https URL with the base path, such as the sim's `https://127.0.0.1:26990/1.0`. */
  readonly baseUrl?: string;
  /** Per call; 30 s by default. */
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly client?: OvhRequester;
}

/** `cloud.kube.Node` of the OVH API, as far as the driver reads it. */
export interface OvhKubeNode {
  id: string;
  name: string;
  instanceId?: string;
  nodePoolId: string;
  status: string;
}

const INSTANCE_STATES: Record<string, InstanceState> = {
  ACTIVE: "running",
  REBOOT: "rebooting", HARD_REBOOT: "rebooting",
  SHUTOFF: "off", STOPPED: "off", SHELVED: "off", SHELVED_OFFLOADED: "off", SUSPENDED: "off", PAUSED: "off",
  DELETED: "off", SOFT_DELETED: "off", DELETING: "off",
};

/** Maps `cloud.instance.InstanceStatusEnum` to what the node doctor decides on. */
export function instanceStateOf(status: string): InstanceState {
  return INSTANCE_STATES[status.toUpperCase()] ?? "unknown";
}

/** Host, port and base path for the client, which always speaks HTTPS. */
export function clientLocation(baseUrl: string): { host: string; port: number; basePath: string } {
  const url = new URL(baseUrl);
  if (url.protocol !== "https:") {
    throw new Error(`the OVH API base URL must be https (the official client has no plain HTTP mode), got ${url.protocol}//${url.host}`);
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 443), basePath: url.pathname.replace(/\/$/, "") };
}

export class OvhDriver implements CloudDriver {
  private readonly client: OvhRequester;
  private readonly serviceName: string;
  private readonly kubeId: string;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly secrets: readonly string[];

  constructor(opts: OvhDriverOptions) {
    this.serviceName = opts.serviceName;
    this.kubeId = opts.kubeId;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const { applicationKey, applicationSecret, consumerKey } = opts.credentials;
    this.secrets = [applicationKey, applicationSecret, consumerKey].filter((s) => s.length >= 4);
    if (opts.endpoint && opts.baseUrl) throw new Error("give the OVH driver an endpoint or a base URL, not both");
    this.client = opts.client ?? ovh({
      ...(opts.baseUrl ? clientLocation(opts.baseUrl) : { endpoint: opts.endpoint ?? "ovh-eu" }),
      appKey: applicationKey,
      appSecret: applicationSecret,
      consumerKey,
      // No `timeout`: the client adds a socket listener per request, which piles up on the
      // keep-alive sockets Node reuses; `once` bounds each call instead.
    });
  }

  async resolve(nodeName: string, providerID: string): Promise<CloudNode> {
    const instanceId = instanceIdFromProviderID(providerID);
    const nodes = await this.call<OvhKubeNode[]>("GET", this.kubePath("/node"));
    const match = nodes.find((n) => n.instanceId?.toLowerCase() === instanceId) ?? nodes.find((n) => n.name === nodeName);
    if (!match) {
      throw new Error(`node ${nodeName} (instance ${instanceId}) is not in Managed Kubernetes cluster ${this.kubeId} of project ${this.serviceName}`);
    }
    return { nodeName, instanceId: match.instanceId?.toLowerCase() ?? instanceId, nodePoolId: match.nodePoolId, cloudNodeId: match.id };
  }

  async reboot(node: CloudNode, kind: RebootKind): Promise<void> {
    await this.call("POST", `${this.instancePath(node.instanceId)}/reboot`, { type: kind });
  }

  async instanceState(node: CloudNode): Promise<InstanceState> {
    try {
      const instance = await this.call<{ status?: string }>("GET", this.instancePath(node.instanceId));
      return instanceStateOf(instance.status ?? "");
    } catch (err) {
      // A deleted instance is as off as an instance can be; fencing its node is then safe.
      if (err instanceof CloudApiError && err.status === 404) return "off";
      throw err;
    }
  }

  async replace(node: CloudNode): Promise<void> {
    await this.call("DELETE", this.kubePath(`/node/${encodeURIComponent(node.cloudNodeId)}`), undefined, { goneIsDone: true });
  }

  private kubePath(rest: string): string {
    return `/cloud/project/${encodeURIComponent(this.serviceName)}/kube/${encodeURIComponent(this.kubeId)}${rest}`;
  }

  private instancePath(instanceId: string): string {
    return `/cloud/project/${encodeURIComponent(this.serviceName)}/instance/${encodeURIComponent(instanceId)}`;
  }

  /**
   * One API call with retries. With `goneIsDone`, a 404 after an attempt whose answer was lost
   * means that attempt did the work (a deletion that timed out, then succeeded).
   */
  private call<T = unknown>(method: string, path: string, body?: Record<string, unknown>, opts: { goneIsDone?: boolean } = {}): Promise<T> {
    return withRetries(this.policy, async (attempt) => {
      try {
        return await this.once<T>(method, path, body);
      } catch (err) {
        if (opts.goneIsDone && attempt > 1 && err instanceof CloudApiError && err.status === 404) return undefined as T;
        throw err;
      }
    });
  }

  private async once<T>(method: string, path: string, body: Record<string, unknown> | undefined): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CloudApiError(0, method, path, `the OVH API did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
    });
    try {
      // The client edits the parameters it is given, so each attempt gets its own copy.
      return await Promise.race([this.client.requestPromised(method, path, body && { ...body }), timeout]) as T;
    } catch (err) {
      throw err instanceof CloudApiError ? err : this.toError(err, method, path);
    } finally {
      clearTimeout(timer);
    }
  }

  private toError(err: unknown, method: string, path: string): CloudApiError {
    const { error, message } = (typeof err === "object" && err !== null ? err : { error: err }) as { error?: unknown; message?: unknown };
    const status = typeof error === "number" && error >= 100 && error <= 599 ? error : 0;
    const apiMessage = typeof message === "string" && message ? message : undefined;
    const detail = status === 0 ? networkDetail(error ?? err) : undefined;
    return new CloudApiError(status, method, path, this.redact(describeFailure(status, method, path, apiMessage, detail)));
  }

  /** The API echoes what it was sent in some messages; credentials must never reach a log. */
  private redact(text: string): string {
    return this.secrets.reduce((t, s) => t.split(s).join("[redacted]"), text);
  }
}

function networkDetail(error: unknown): string {
  if (typeof error === "string") return error.replace(/^\[OVH\]\s*/, "");
  if (typeof error === "number") return `network error ${error}`;
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message;
  return "no answer";
}

export function describeFailure(status: number, method: string, path: string, apiMessage?: string, detail?: string): string {
  const said = apiMessage ? `: ${apiMessage.slice(0, 200)}` : "";
  const call = `${method} ${path}`;
  if (status === 0) return `could not reach the OVH API for ${call} (${detail ?? "no answer"})`;
  if (status === 401) return `the OVH API did not accept the credentials for ${call} (401${said}); check the application key, application secret and consumer key`;
  if (status === 403) return `the OVH API refused ${call} (403${said}); the consumer key must be granted this call`;
  if (status === 404) return `the OVH API found nothing at ${call} (404${said})`;
  if (status === 429) return `the OVH API rate-limited ${call} (429${said})`;
  if (status >= 500) return `the OVH API failed on ${call} (${status}${said})`;
  return `the OVH API rejected ${call} (${status}${said})`;
}
