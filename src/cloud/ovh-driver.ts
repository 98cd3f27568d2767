// The OVH cloud driver: finds a node's Public Cloud instance and Managed Kubernetes node pool, and
// reboots or replaces it through the official client, retrying 429/5xx and stopping at once on 401/403.
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import ovh from "@ovhcloud/node-ovh";
import { secretValue } from "../kube/secrets.ts";
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
 * Credentials from a Kubernetes Secret's `data` exactly as the API server returns it (base64): this is
 * the one place they are decoded, so callers pass `data` untouched. A missing key is named in the
 * error; no value ever is.
 */
export function ovhCredentialsFromSecret(secretName: string, data: Record<string, string> | undefined): OvhCredentials {
  const decoded = Object.fromEntries(OVH_SECRET_KEYS.map((k) => [k, (secretValue(data, k) ?? "").trim()]));
  const missing = OVH_SECRET_KEYS.filter((k) => !decoded[k]);
  if (missing.length) throw new Error(`Secret ${secretName} lacks ${missing.join(", ")}: it needs ${OVH_SECRET_KEYS.join(", ")}`);
  // OVH keys are printable ASCII; anything else (a value base64-encoded twice, a stray space) would
  // make the client throw on its headers, out of reach of any handler.
  const malformed = OVH_SECRET_KEYS.filter((k) => !/^[\x21-\x7e]+$/.test(decoded[k] ?? ""));
  if (malformed.length) {
    throw new Error(`Secret ${secretName}: ${malformed.join(", ")} ${malformed.length > 1 ? "hold" : "holds"} characters an OVH key never has (spaces or non-ASCII); put the values as OVH shows them, not base64-encoded`);
  }
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
  /** A certificate (PEM) to trust besides the system's, for an API behind a private CA (the sim's is self-signed). */
  readonly ca?: string;
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
    if (opts.ca) trustCertificate(opts.ca);
    this.client = opts.client ?? ovh({
      ...(opts.baseUrl ? clientLocation(opts.baseUrl) : { endpoint: opts.endpoint ?? "ovh-eu" }),
      appKey: applicationKey,
      appSecret: applicationSecret,
      consumerKey,
      // No `timeout`: the client adds a socket listener per request, which piles up on the
      // keep-alive sockets Node reuses; `once` bounds each call instead.
    });
  }

  /**
   * One harmless call (the cluster's node list) that every grant this driver needs includes: a
   * CloudApiError with `credentialsRefused` means no remediation could work with these credentials.
   */
  async verify(): Promise<void> {
    await this.call("GET", this.kubePath("/node"));
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
    const text = this.redact(describeFailure(status, method, path, apiMessage, detail));
    return new CloudApiError(status, method, path, text, 1, status === 401 || status === 403 || isSignatureRefusal(status, apiMessage));
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

/**
 * OVH answers a request signed with the wrong application secret with 400 and `Invalid signature`
 * (errorCode INVALID_SIGNATURE; the client passes on only the message).
 */
function isSignatureRefusal(status: number, apiMessage: string | undefined): boolean {
  return status === 400 && /^invalid signature$/i.test(apiMessage?.trim() ?? "");
}

export function describeFailure(status: number, method: string, path: string, apiMessage?: string, detail?: string): string {
  const said = apiMessage ? `: ${apiMessage.slice(0, 200)}` : "";
  const call = `${method} ${path}`;
  if (status === 0) return `could not reach the OVH API for ${call} (${detail ?? "no answer"})`;
  if (status === 401) return `the OVH API did not accept the credentials for ${call} (401${said}); check the application key, application secret and consumer key`;
  if (isSignatureRefusal(status, apiMessage)) return `the OVH API did not accept the signature of ${call} (400${said}); the application secret is not the one of this application key`;
  if (status === 403 && /application key/i.test(apiMessage ?? "")) return `the OVH API refused ${call} (403${said}); the application key is unknown`;
  if (status === 403 && /credential/i.test(apiMessage ?? "")) return `the OVH API refused ${call} (403${said}); the consumer key is unknown, expired or not validated for this application key`;
  if (status === 403) return `the OVH API refused ${call} (403${said}); the consumer key must be granted this call`;
  if (status === 404) return `the OVH API found nothing at ${call} (404${said})`;
  if (status === 429) return `the OVH API rate-limited ${call} (429${said})`;
  if (status >= 500) return `the OVH API failed on ${call} (${status}${said})`;
  return `the OVH API rejected ${call} (${status}${said})`;
}

/**
 * Adds a certificate to this process's default trust store. The official client gives no way to
 * pass a CA or an agent per request, so this is the only way for it to accept a private certificate.
 */
export function trustCertificate(pem: string): void {
  const current = getCACertificates("default");
  if (!current.some((c) => c.trim() === pem.trim())) setDefaultCACertificates([...current, pem]);
}
