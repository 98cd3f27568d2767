// The cloud driver interface the node doctor remediates through: one node maps to one cloud
// instance in one node pool; OvhDriver talks to the OVH API, SimDriver to the local sim of it.

/** A Kubernetes node as the cloud sees it. */
export interface CloudNode {
  readonly nodeName: string;
  /** The Public Cloud instance (OpenStack server) behind the node. */
  readonly instanceId: string;
  readonly nodePoolId: string;
  /** The node's id in the Managed Kubernetes API, which is not the instance id. */
  readonly cloudNodeId: string;
}

export type InstanceState = "running" | "rebooting" | "off" | "unknown";
export type RebootKind = "soft" | "hard";

export interface CloudDriver {
  /** Maps a Kubernetes node to its instance and node pool. */
  resolve(nodeName: string, providerID: string): Promise<CloudNode>;
  reboot(node: CloudNode, kind: RebootKind): Promise<void>;
  instanceState(node: CloudNode): Promise<InstanceState>;
  /** Deletes the node from its node pool; the pool then creates a new one to keep its size. */
  replace(node: CloudNode): Promise<void>;
}

/**
 * A failed cloud API call. `retryable` says whether the same call may succeed later (rate limits,
 * server errors, network errors); credentials problems and refusals are not.
 */
export class CloudApiError extends Error {
  /** The HTTP status, or 0 when no answer arrived. */
  readonly status: number;
  readonly retryable: boolean;
  readonly method: string;
  readonly path: string;
  /** How many times the call was sent before giving up. */
  readonly attempts: number;
  /**
   * The API refused who we are or what we may do: 401, 403, or (OVH) a request signature made with
   * the wrong application secret, which OVH answers with 400. No call with these credentials can succeed.
   */
  readonly credentialsRefused: boolean;
  constructor(status: number, method: string, path: string, message: string, attempts = 1, credentialsRefused = status === 401 || status === 403) {
    super(message);
    this.name = "CloudApiError";
    this.status = status;
    this.method = method;
    this.path = path;
    this.retryable = isRetryableStatus(status);
    this.attempts = attempts;
    this.credentialsRefused = credentialsRefused;
  }
}

/** 429 and 5xx were not (or may not have been) processed, and a network error never got an answer. */
export function isRetryableStatus(status: number): boolean {
  return status === 0 || status === 429 || (status >= 500 && status <= 599);
}

/** `openstack:///<uuid>` (what OVH's cloud controller sets) → the instance uuid. */
export function instanceIdFromProviderID(providerID: string): string {
  const m = /^openstack:\/\/[^/]*\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/.exec(providerID.trim());
  if (!m?.[1]) throw new Error(`providerID "${providerID}" is not an OpenStack instance (expected openstack:///<instance uuid>)`);
  return m[1].toLowerCase();
}
