// A local stand-in for the OVH API (same paths, payloads, signatures and errors for the calls the
// OVH driver makes) that reboots and replaces the dev cluster's simulated nodes through Kubernetes.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Node } from "@kubernetes/client-node";
import { CONDITION_LABEL, KUBELET_LABEL, type SimKubelet } from "./kwok.ts";
import { BROKEN_ANNOTATION, POOL_LABEL } from "./nodes.ts";
import { KubeApiError, type KubeHttp } from "../kube/http.ts";
import { run } from "../util/exec.ts";
import { instanceIdFromProviderID, type RebootKind } from "../cloud/driver.ts";
import type { OvhCredentials, OvhKubeNode } from "../cloud/ovh-driver.ts";
import { loadSimConnection, saveSimConnection, type SimConnection } from "../cloud/sim-driver.ts";

export const SIM_BASE_PATH = "/1.0";
/** Paths of the sim's own control API (fault injection, request log), beside the OVH paths. */
export const SIM_CONTROL_PATH = "/_sim";
/** On a node, makes reboots ineffective (it stays NotReady), so replacement can be exercised. */
export const SIM_BROKEN_ANNOTATION = BROKEN_ANNOTATION;
const MANAGED_SELECTOR = "app.kubernetes.io/managed-by=mms-dev";
const MAX_CLOCK_SKEW_S = 300;

export interface SimOvhApiOptions {
  readonly kube: KubeHttp;
  /** 0 (the default) picks a free port. The server listens on 127.0.0.1 only. */
  readonly port?: number;
  readonly serviceName?: string;
  readonly kubeId?: string;
  readonly region?: string;
  /** The credentials requests must be signed with; random ones are made when absent. */
  readonly credentials?: OvhCredentials;
  /** How long a rebooting instance stays down; 60 s by default, like a real instance. */
  readonly rebootDelayMs?: number;
  /** How long after a node's deletion its pool's new node joins. */
  readonly replaceDelayMs?: number;
  /** A certificate and key for 127.0.0.1; a self-signed pair is made when absent. */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly log?: (line: string) => void;
}

export interface SimFault {
  readonly status: number;
  /** How many matching calls answer with this status. */
  readonly count: number;
  readonly method?: string;
  /** Matched against the path below the base path, e.g. /reboot$/. */
  readonly path?: RegExp;
  readonly message?: string;
}

export interface SimRequest {
  readonly method: string;
  /** Below the base path, without the query. */
  readonly path: string;
  readonly status: number;
}

export interface SimOvhApi {
  /** For the OVH driver's `baseUrl`. */
  readonly baseUrl: string;
  readonly port: number;
  /** The server's certificate: the OVH client only speaks HTTPS, so its process must trust this. */
  readonly ca: string;
  readonly credentials: OvhCredentials;
  readonly serviceName: string;
  readonly kubeId: string;
  /** Every call received, in order, with the status it got. */
  readonly requests: readonly SimRequest[];
  /** The next `count` matching calls fail with `status` (after authentication, like OVH's rate limiter). */
  injectFaults(fault: SimFault): void;
  /** Stops listening and finishes what is in flight at once: rebooting nodes come back, pending nodes join. */
  close(): Promise<void>;
}

interface Reboot { kind: RebootKind; nodeName: string; timer: NodeJS.Timeout }
interface Replacement { id: string; name: string; pool: string; template: V1Node; createdAt: string; timer: NodeJS.Timeout }
interface Answer { status: number; body: unknown }

class HttpAnswer extends Error {
  readonly answer: Answer;
  constructor(status: number, message: string, errorCode?: string) {
    super(message);
    // OVH's error bodies: {"errorCode":"INVALID_SIGNATURE","httpCode":"400 Bad Request","message":"Invalid signature"}.
    this.answer = { status, body: { message, ...(errorCode ? { errorCode, httpCode: `${status} ${STATUS_CODES[status] ?? ""}`.trim() } : {}) } };
  }
}

function uuidFrom(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A node's id in the Managed Kubernetes API: stable per node name, distinct from its instance id. */
export function simCloudNodeId(nodeName: string): string {
  return uuidFrom(`kube-node/${nodeName}`);
}

export function simNodePoolId(kubeId: string, pool: string): string {
  return uuidFrom(`nodepool/${kubeId}/${pool}`);
}

async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), "mms-sim-ovh-"));
  try {
    const r = await run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", "key.pem", "-out", "cert.pem", "-days", "30", "-subj", "/CN=mms sim OVH API",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ], { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl could not make the sim OVH API's certificate: ${r.stderrTail.split("\n").at(-1) ?? ""}`);
    return { cert: await readFile(join(dir, "cert.pem"), "utf8"), key: await readFile(join(dir, "key.pem"), "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function randomKey(n: number): string {
  return randomBytes(n).toString("base64url").slice(0, n);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function newCredentials(): OvhCredentials {
  return { applicationKey: randomKey(16), applicationSecret: randomKey(32), consumerKey: randomKey(32) };
}

const DEFAULT_SERVICE_NAME = "mmsdevproject";
const DEFAULT_KUBE_ID = uuidFrom("kube/mms-dev");
const CONNECTION_FILE = "connection.json";
const KEY_FILE = "tls.key";

/** Where a sim run as its own process keeps its identity. */
export interface SimFiles {
  /** Address, certificate and credentials for clients (loadSimConnection); mode 0600. */
  readonly connection: string;
  /** The certificate's private key; mode 0600. */
  readonly key: string;
}

/**
 * Makes (once) the identity of a sim run as its own process, `mms sim-ovh-api`: its address,
 * certificate and credentials stay the same across restarts, so a node doctor holding the connection
 * file keeps working.
 */
export async function ensureSimFiles(dir: string, port: number): Promise<SimFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { connection: join(dir, CONNECTION_FILE), key: join(dir, KEY_FILE) };
  const baseUrl = `https://127.0.0.1:${port}${SIM_BASE_PATH}`;
  const existing = existsSync(files.connection) && existsSync(files.key) ? await loadSimConnection(files.connection).catch(() => undefined) : undefined;
  if (existing) {
    if (existing.baseUrl !== baseUrl) await saveSimConnection(files.connection, { ...existing, baseUrl });
    return files;
  }
  const tls = await selfSignedCertificate();
  await writeFile(files.key, tls.key, { mode: 0o600 });
  const connection: SimConnection = { baseUrl, ca: tls.cert, credentials: newCredentials(), serviceName: DEFAULT_SERVICE_NAME, kubeId: DEFAULT_KUBE_ID };
  await saveSimConnection(files.connection, connection);
  return files;
}

/** Starts a sim with the identity kept in `files` (see ensureSimFiles), on the port of its address. */
export async function startSimFromFiles(files: SimFiles, opts: Omit<SimOvhApiOptions, "port" | "serviceName" | "kubeId" | "credentials" | "tls">): Promise<SimOvhApi> {
  const c = await loadSimConnection(files.connection);
  return startSimOvhApi({
    ...opts, port: Number(new URL(c.baseUrl).port), serviceName: c.serviceName, kubeId: c.kubeId, credentials: c.credentials,
    tls: { cert: c.ca, key: await readFile(files.key, "utf8") },
  });
}

export async function startSimOvhApi(opts: SimOvhApiOptions): Promise<SimOvhApi> {
  const kube = opts.kube;
  const serviceName = opts.serviceName ?? DEFAULT_SERVICE_NAME;
  const kubeId = opts.kubeId ?? DEFAULT_KUBE_ID;
  const region = opts.region ?? "EU-WEST-PAR";
  const credentials = opts.credentials ?? newCredentials();
  let rebootDelayMs = opts.rebootDelayMs ?? 60_000;
  let replaceDelayMs = opts.replaceDelayMs ?? 60_000;
  const log = opts.log ?? ((line: string) => process.stderr.write(`sim OVH API: ${line}\n`));
  const tls = opts.tls ?? await selfSignedCertificate();

  const requests: SimRequest[] = [];
  const faults: { fault: SimFault; left: number }[] = [];
  const rebooting = new Map<string, Reboot>();
  const replacing = new Map<string, Replacement>();
  const background = new Set<Promise<void>>();

  function inBackground(what: string, work: () => Promise<void>): void {
    const p = work().catch((err: unknown) => log(`${what} failed: ${err instanceof Error ? err.message : String(err)}`));
    background.add(p);
    void p.finally(() => background.delete(p));
  }

  // --- Kubernetes side -------------------------------------------------------------------------

  const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

  async function managedNodes(): Promise<V1Node[]> {
    const list = await kube.request<{ items: V1Node[] }>("GET", `/api/v1/nodes?${new URLSearchParams({ labelSelector: MANAGED_SELECTOR }).toString()}`);
    return list.items;
  }

  function instanceOf(node: V1Node): string | undefined {
    try {
      return instanceIdFromProviderID(node.spec?.providerID ?? "");
    } catch {
      return undefined;
    }
  }

  /** Starts or stops the node's simulated kubelet (KWOK); a start also clears an injected NotReady. */
  async function setKubelet(name: string, kubelet: SimKubelet): Promise<void> {
    const labels = kubelet === "running" ? { [KUBELET_LABEL]: kubelet, [CONDITION_LABEL]: null } : { [KUBELET_LABEL]: kubelet };
    await kube.request("PATCH", nodePath(name), { metadata: { labels } }, "application/merge-patch+json");
  }

  /** What the node lifecycle controller would write after the grace period, written now. */
  async function markNotReady(name: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    await kube.request("PATCH", `${nodePath(name)}/status`, {
      status: { conditions: [{
        type: "Ready", status: "Unknown", reason: "NodeStatusUnknown",
        message: "Kubelet stopped posting node status (the simulated instance is rebooting).",
        lastHeartbeatTime: now, lastTransitionTime: now,
      }] },
    }, "application/strategic-merge-patch+json");
  }

  async function readyStatus(name: string): Promise<string | undefined> {
    const node = await kube.request<V1Node>("GET", nodePath(name));
    return node.status?.conditions?.find((c) => c.type === "Ready")?.status;
  }

  async function startReboot(node: V1Node, instanceId: string, kind: RebootKind): Promise<void> {
    const name = node.metadata?.name ?? "";
    const previous = rebooting.get(instanceId);
    if (previous) clearTimeout(previous.timer);
    rebooting.set(instanceId, { kind, nodeName: name, timer: setTimeout(() => inBackground(`bringing ${name} back`, () => finishReboot(instanceId)), rebootDelayMs) });
    // First stop the node's kubelet (KWOK stops its Lease and status at once), then report the node
    // down, so no heartbeat overwrites it.
    await setKubelet(name, "stopped");
    await markNotReady(name);
    inBackground(`keeping ${name} down`, async () => {
      // A status update KWOK had already started may land after our write: write it again.
      await new Promise((r) => setTimeout(r, 1000));
      if (rebooting.get(instanceId)?.nodeName === name && await readyStatus(name) === "True") await markNotReady(name);
    });
  }

  async function finishReboot(instanceId: string): Promise<void> {
    const r = rebooting.get(instanceId);
    if (!r) return;
    clearTimeout(r.timer);
    rebooting.delete(instanceId);
    try {
      const node = await kube.request<V1Node>("GET", nodePath(r.nodeName));
      if (node.metadata?.annotations?.[SIM_BROKEN_ANNOTATION]) return;
      await setKubelet(r.nodeName, "running");
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  /** A new machine of the same pool: the template's labels, taints and capacity, a new identity. */
  function replacementNode(template: V1Node, name: string): V1Node {
    const uuid = randomUUID();
    const taints = (template.spec?.taints ?? []).filter((t) => !t.key.startsWith("node.kubernetes.io/") && !t.key.startsWith("node.cloudprovider.kubernetes.io/"));
    const nodeInfo = template.status?.nodeInfo;
    const labels: Record<string, string> = { ...template.metadata?.labels, "kubernetes.io/hostname": name, [KUBELET_LABEL]: "running" satisfies SimKubelet };
    delete labels[CONDITION_LABEL];
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels },
      spec: { providerID: `openstack:///${uuid}`, ...(taints.length ? { taints } : {}) },
      status: {
        capacity: template.status?.capacity,
        allocatable: template.status?.allocatable,
        ...(nodeInfo ? { nodeInfo: { ...nodeInfo, machineID: uuid.replaceAll("-", ""), systemUUID: uuid, bootID: "" } } : {}),
      },
    };
  }

  async function startReplacement(node: V1Node): Promise<void> {
    const name = node.metadata?.name ?? "";
    const pool = node.metadata?.labels?.[POOL_LABEL] ?? "";
    await kube.request("DELETE", nodePath(name));
    const instanceId = instanceOf(node);
    const reboot = instanceId ? rebooting.get(instanceId) : undefined;
    if (instanceId && reboot) {
      clearTimeout(reboot.timer);
      rebooting.delete(instanceId);
    }
    const newName = `${pool}-node-${randomBytes(3).toString("hex")}`;
    const id = simCloudNodeId(newName);
    replacing.set(id, {
      id, name: newName, pool, template: node, createdAt: new Date().toISOString(),
      timer: setTimeout(() => inBackground(`joining ${newName}`, () => join(id)), replaceDelayMs),
    });
  }

  async function join(id: string): Promise<void> {
    const r = replacing.get(id);
    if (!r) return;
    clearTimeout(r.timer);
    replacing.delete(id);
    await kube.request("POST", "/api/v1/nodes", replacementNode(r.template, r.name));
  }

  // --- OVH side --------------------------------------------------------------------------------

  function kubeNodeOf(node: V1Node): OvhKubeNode & Record<string, unknown> {
    const name = node.metadata?.name ?? "";
    const created = node.metadata?.creationTimestamp ? new Date(node.metadata.creationTimestamp).toISOString() : new Date(0).toISOString();
    return {
      id: simCloudNodeId(name),
      projectId: serviceName,
      name,
      instanceId: instanceOf(node),
      nodePoolId: simNodePoolId(kubeId, node.metadata?.labels?.[POOL_LABEL] ?? ""),
      flavor: node.metadata?.labels?.["node.kubernetes.io/instance-type"] ?? "",
      status: "READY",
      isUpToDate: true,
      version: (node.status?.nodeInfo?.kubeletVersion ?? "").replace(/^v/, "").split(".").slice(0, 2).join("."),
      createdAt: created, updatedAt: created, deployedAt: created,
    };
  }

  function pendingNodeOf(r: Replacement): OvhKubeNode & Record<string, unknown> {
    return {
      id: r.id, projectId: serviceName, name: r.name, nodePoolId: simNodePoolId(kubeId, r.pool),
      flavor: r.template.metadata?.labels?.["node.kubernetes.io/instance-type"] ?? "", status: "INSTALLING",
      isUpToDate: true, version: "", createdAt: r.createdAt, updatedAt: r.createdAt,
    };
  }

  async function kubeNodes(): Promise<(OvhKubeNode & Record<string, unknown>)[]> {
    return [...(await managedNodes()).map(kubeNodeOf), ...[...replacing.values()].map(pendingNodeOf)];
  }

  async function findByInstance(instanceId: string): Promise<V1Node> {
    const node = (await managedNodes()).find((n) => instanceOf(n) === instanceId.toLowerCase());
    if (!node) throw new HttpAnswer(404, `Instance ${instanceId} not found`);
    return node;
  }

  function checkProject(sn: string, kid?: string): void {
    if (sn !== serviceName) throw new HttpAnswer(404, "This service does not exist", "SERVICE_NOT_FOUND");
    if (kid !== undefined && kid !== kubeId) throw new HttpAnswer(404, `Cluster ${kid} not found`);
  }

  async function route(method: string, path: string, body: string): Promise<Answer> {
    const seg = path.split("/").slice(1).map(decodeURIComponent);
    const [c, p, sn = "", kind, id = "", sub, subId, extra] = seg;
    if (c !== "cloud" || p !== "project") throw new HttpAnswer(404, "Got an invalid (or empty) URL");
    if (kind === "kube" && sub === "node" && extra === undefined) {
      checkProject(sn, id);
      if (subId === undefined && method === "GET") return { status: 200, body: await kubeNodes() };
      if (subId !== undefined) {
        const nodes = await managedNodes();
        const node = nodes.find((n) => simCloudNodeId(n.metadata?.name ?? "") === subId);
        const pending = replacing.get(subId);
        if (method === "GET" && (node || pending)) return { status: 200, body: node ? kubeNodeOf(node) : pendingNodeOf(pending!) };
        if (method === "DELETE" && node) {
          await startReplacement(node);
          log(`deleted node ${node.metadata?.name}; its pool gets a new node in ${replaceDelayMs / 1000} s`);
          return { status: 200, body: null };
        }
        if (method === "GET" || method === "DELETE") throw new HttpAnswer(404, `Node ${subId} not found`);
      }
    }
    if (kind === "instance" && seg.length === 5 && method === "GET") {
      checkProject(sn);
      const node = await findByInstance(id);
      const reboot = rebooting.get(id.toLowerCase());
      return {
        status: 200,
        body: {
          id: id.toLowerCase(), name: node.metadata?.name, region,
          status: reboot ? (reboot.kind === "hard" ? "HARD_REBOOT" : "REBOOT") : "ACTIVE",
          flavor: { name: node.metadata?.labels?.["node.kubernetes.io/instance-type"] ?? "" },
          created: node.metadata?.creationTimestamp ? new Date(node.metadata.creationTimestamp).toISOString() : undefined,
          ipAddresses: [], monthlyBilling: null, planCode: null,
        },
      };
    }
    if (kind === "instance" && sub === "reboot" && seg.length === 6 && method === "POST") {
      checkProject(sn);
      let type: unknown;
      try {
        type = (JSON.parse(body || "{}") as { type?: unknown }).type;
      } catch {
        throw new HttpAnswer(400, "Invalid JSON received");
      }
      if (type !== "soft" && type !== "hard") throw new HttpAnswer(400, `[type] Given data (${String(type)}) does not belong to the cloud.instance.RebootTypeEnum enumeration`);
      const node = await findByInstance(id);
      await startReboot(node, id.toLowerCase(), type);
      log(`${type} reboot of ${node.metadata?.name}; back in ${rebootDelayMs / 1000} s`);
      return { status: 200, body: null };
    }
    throw new HttpAnswer(404, "Got an invalid (or empty) URL");
  }

  /** The checks OVH makes on a signed call, with its status codes and messages. */
  function authenticate(req: IncomingMessage, body: string): HttpAnswer | undefined {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const app = h("x-ovh-application");
    const consumer = h("x-ovh-consumer");
    const signature = h("x-ovh-signature");
    const timestamp = h("x-ovh-timestamp");
    if (!app) return new HttpAnswer(403, "This application key is invalid", "INVALID_KEY");
    if (!consumer || !signature || !timestamp) return new HttpAnswer(401, "You must login first", "NOT_CREDENTIAL");
    if (!sameText(app, credentials.applicationKey)) return new HttpAnswer(403, "This application key is invalid", "INVALID_KEY");
    if (!sameText(consumer, credentials.consumerKey)) return new HttpAnswer(403, "This credential does not exist", "INVALID_CREDENTIAL");
    if (Math.abs(Number(timestamp) - Date.now() / 1000) > MAX_CLOCK_SKEW_S) return new HttpAnswer(400, "Query out of time", "QUERY_TIME_OUT");
    // The client signs the URL it meant to reach: https, the host without the port, the path and query.
    const host = (h("host") ?? "").replace(/:\d+$/, "");
    const expected = "$1$" + createHash("sha1").update([
      credentials.applicationSecret, credentials.consumerKey, req.method ?? "", `https://${host}${req.url ?? ""}`, body, timestamp,
    ].join("+")).digest("hex");
    if (!sameText(signature, expected)) return new HttpAnswer(400, "Invalid signature", "INVALID_SIGNATURE");
    return undefined;
  }

  function takeFault(method: string, path: string): HttpAnswer | undefined {
    const f = faults.find((x) => x.left > 0 && (!x.fault.method || x.fault.method === method) && (!x.fault.path || x.fault.path.test(path)));
    if (!f) return undefined;
    f.left--;
    const s = f.fault.status;
    const message = f.fault.message ?? (s === 429 ? "Too many requests" : s === 403 ? "This call has not been granted" : s === 401 ? "You must login first" : s >= 500 ? "Internal server error" : "Injected fault");
    return new HttpAnswer(s, message, s === 403 ? "NOT_GRANTED_CALL" : undefined);
  }

  /**
   * The sim's own API, for tests and benchmarks in other processes: inject faults, clear them, read the
   * request log, change the reboot and replacement delays (for calls from then on). It takes the application secret as a bearer token, so only holders of the connection file use it.
   */
  function control(req: IncomingMessage, method: string, path: string, body: string): Answer {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
    if (!sameText(token, credentials.applicationSecret)) throw new HttpAnswer(401, "the sim's control API needs the application secret as a bearer token");
    if (path === "/faults" && method === "POST") {
      const f = JSON.parse(body || "{}") as { status?: unknown; count?: unknown; method?: unknown; path?: unknown; message?: unknown };
      if (typeof f.status !== "number" || typeof f.count !== "number") throw new HttpAnswer(400, "a fault needs a numeric status and count");
      faults.push({
        fault: {
          status: f.status, count: f.count,
          ...(typeof f.method === "string" ? { method: f.method } : {}),
          ...(typeof f.path === "string" ? { path: new RegExp(f.path) } : {}),
          ...(typeof f.message === "string" ? { message: f.message } : {}),
        },
        left: f.count,
      });
      log(`next ${f.count} matching call(s) answer ${f.status}`);
      return { status: 200, body: null };
    }
    if (path === "/faults" && method === "DELETE") {
      faults.length = 0;
      return { status: 200, body: null };
    }
    if (path === "/requests" && method === "GET") return { status: 200, body: requests };
    if (path === "/delays" && method === "PUT") {
      const d = JSON.parse(body || "{}") as { rebootDelayMs?: unknown; replaceDelayMs?: unknown };
      const ok = (v: unknown): v is number => typeof v === "number" && v >= 0 && v <= 3_600_000;
      if (d.rebootDelayMs !== undefined && !ok(d.rebootDelayMs)) throw new HttpAnswer(400, "rebootDelayMs must be from 0 to 3600000");
      if (d.replaceDelayMs !== undefined && !ok(d.replaceDelayMs)) throw new HttpAnswer(400, "replaceDelayMs must be from 0 to 3600000");
      if (ok(d.rebootDelayMs)) rebootDelayMs = d.rebootDelayMs;
      if (ok(d.replaceDelayMs)) replaceDelayMs = d.replaceDelayMs;
      log(`reboots now take ${rebootDelayMs / 1000} s, replacements ${replaceDelayMs / 1000} s`);
      return { status: 200, body: { rebootDelayMs, replaceDelayMs } };
    }
    throw new HttpAnswer(404, "no such control call");
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const path = url.pathname.startsWith(`${SIM_BASE_PATH}/`) ? url.pathname.slice(SIM_BASE_PATH.length) : url.pathname;
    let answer: Answer;
    const isControl = url.pathname.startsWith(`${SIM_CONTROL_PATH}/`);
    try {
      const body = await readBody(req);
      if (isControl) {
        answer = control(req, method, url.pathname.slice(SIM_CONTROL_PATH.length), body);
      } else if (!url.pathname.startsWith(`${SIM_BASE_PATH}/`)) {
        throw new HttpAnswer(404, "Got an invalid (or empty) URL");
      } else if (method === "GET" && path === "/auth/time") {
        answer = { status: 200, body: Math.round(Date.now() / 1000) };
      } else {
        const refusal = authenticate(req, body) ?? takeFault(method, path);
        if (refusal) throw refusal;
        answer = await route(method, path, body);
      }
    } catch (err) {
      if (err instanceof HttpAnswer) {
        answer = err.answer;
      } else {
        log(`${method} ${path} failed: ${err instanceof Error ? err.message : String(err)}`);
        answer = { status: 500, body: { message: "Internal server error" } };
      }
    }
    if (!isControl) requests.push({ method, path, status: answer.status });
    const text = JSON.stringify(answer.body);
    res.writeHead(answer.status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `https://127.0.0.1:${port}${SIM_BASE_PATH}`,
    port,
    ca: tls.cert,
    credentials,
    serviceName,
    kubeId,
    requests,
    injectFaults(fault: SimFault): void {
      faults.push({ fault, left: fault.count });
    },
    async close(): Promise<void> {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      for (const id of [...rebooting.keys()]) inBackground(`bringing ${id} back`, () => finishReboot(id));
      for (const id of [...replacing.keys()]) inBackground(`joining ${id}`, () => join(id));
      while (background.size > 0) await Promise.all([...background]);
    },
  };
}
