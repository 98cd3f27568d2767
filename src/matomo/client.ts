// A small HTTP client for a tenant's Matomo, reached at an address of its own (a Service's cluster IP, a
// pod, an ingress) with the tenant's domain as the Host: the operator's probes, the CLI's reports and the
// tests' tracking all go through it. TLS ends before Matomo (the ingress), so requests say so with
// X-Forwarded-Proto, as the ingress controller does.
import { request } from "node:http";

export interface MatomoEndpoint {
  /** Address to connect to: an IP or a host name. */
  readonly address: string;
  readonly port: number;
  /** The tenant's domain, sent as Host (Matomo checks it against trusted_hosts). */
  readonly host: string;
}

export interface MatomoResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface RequestOptions {
  readonly method?: "GET" | "POST";
  /** Form fields of a POST (application/x-www-form-urlencoded). */
  readonly form?: Record<string, string> | undefined;
  readonly headers?: Record<string, string> | undefined;
  readonly timeoutMs?: number | undefined;
}

/** One HTTP request to a tenant's Matomo; rejects only when no HTTP answer came (refused, timed out). */
export function matomoRequest(endpoint: MatomoEndpoint, path: string, opts: RequestOptions = {}): Promise<MatomoResponse> {
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request({
      host: endpoint.address, port: endpoint.port, path, method: opts.method ?? (body ? "POST" : "GET"),
      headers: {
        Host: endpoint.host,
        "X-Forwarded-Proto": "https",
        "User-Agent": "matomo-multiscale",
        ...(body ? { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(Buffer.byteLength(body)) } : {}),
        ...opts.headers,
      },
      timeout: opts.timeoutMs ?? 10_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${endpoint.address}:${endpoint.port} within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A Reporting API error: Matomo answered, but not with data. The token never appears in it. */
export class MatomoApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = "MatomoApiError";
    this.status = status;
  }
}

/**
 * Calls one Reporting API method (`module=API`) with the token in the POST body, never in a URL that a
 * log could keep, and returns its JSON answer.
 */
export async function reportingApi<T = unknown>(endpoint: MatomoEndpoint, token: string, method: string,
  params: Record<string, string | number> = {}, timeoutMs?: number): Promise<T> {
  const query = new URLSearchParams({ module: "API", method, format: "JSON", ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])) });
  const res = await matomoRequest(endpoint, `/index.php?${query.toString()}`, { form: { token_auth: token }, timeoutMs });
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    throw new MatomoApiError(`${method}: HTTP ${res.status}, not JSON: ${snippet(res.body)}`, res.status);
  }
  if (parsed && typeof parsed === "object" && (parsed as { result?: unknown }).result === "error") {
    const message = (parsed as { message?: unknown }).message;
    throw new MatomoApiError(`${method}: ${typeof message === "string" ? message : "error"}`, res.status);
  }
  if (res.status >= 400) throw new MatomoApiError(`${method}: HTTP ${res.status}`, res.status);
  return parsed as T;
}

/** The start of a response body, on one line, for an error message. */
export function snippet(body: string, max = 160): string {
  const text = body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max)}…` : text || "(empty)";
}
