// The dev environment's local Job runner: the simulated nodes (KWOK) run no containers, so the pods of
// backup, drill and verified-backup Jobs labelled `multiscale.io/run-locally` are left alone by KWOK
// (src/devcluster/kwok.ts) and run here instead, as a kubelet would run them: the container's `mms`
// command as a local process with the pod's environment (Secret and ConfigMap values resolved) and the
// dev kubeconfig in place of a service-account token, and the pod's status moved to Running, then to
// Succeeded or Failed with the exit code and the last lines of output, so the Job controller completes
// or fails the Job. Production Jobs run on real nodes; none of this exists there.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:http";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { RUN_LOCALLY_LABEL } from "../render/backup-jobs.ts";
import { loadKubeConfig } from "../kube/client.ts";
import { KubeApiError, KubeHttp } from "../kube/http.ts";
import { secretValue } from "../kube/secrets.ts";
import { UserError } from "../util/errors.ts";

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly configMapKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly fieldRef?: { readonly fieldPath: string };
  };
}

interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly { readonly secretRef?: { readonly name: string }; readonly configMapRef?: { readonly name: string }; readonly prefix?: string }[];
}

export interface LocalPod {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly uid: string; readonly deletionTimestamp?: string; readonly labels?: Record<string, string> };
  readonly spec: { readonly nodeName?: string; readonly containers: readonly Container[] };
  readonly status?: { readonly phase?: string };
}

export type PodAction = "start" | "stop" | "orphaned" | "wait" | "none";

/**
 * What the runner does with a pod on one pass, from the pod and whether a process of this runner runs
 * it. A pod Running without a process here was started by a runner that has since stopped: like a pod
 * whose node died, it has failed, and the Job controller retries it.
 */
export function decide(pod: LocalPod, runningHere: boolean): PodAction {
  if (pod.metadata.deletionTimestamp) return runningHere ? "stop" : "none";
  const phase = pod.status?.phase ?? "Pending";
  if (phase === "Succeeded" || phase === "Failed") return "none";
  if (runningHere) return "none";
  if (!pod.spec.nodeName) return "wait";
  return phase === "Running" ? "orphaned" : "start";
}

/** The control image runs `mms`: a container's command, when it has one, must be that. */
export function localCommand(c: Container): readonly string[] {
  const command = c.command ?? [];
  if (command.length > 1 || (command.length === 1 && !/(^|\/)mms$/.test(command[0] ?? ""))) {
    throw new Error(`container ${c.name} runs ${JSON.stringify(command)}; the local Job runner runs only mms commands`);
  }
  return c.args ?? [];
}

/** What kubelets do with a failed container's log: its last lines become the termination message. */
export function terminationMessage(output: string, maxLines = 20, maxBytes = 2048): string {
  const lines = output.replace(/\s+$/, "").split("\n").slice(-maxLines);
  let text = lines.join("\n");
  while (Buffer.byteLength(text) > maxBytes) text = text.slice(text.indexOf("\n") + 1 || 1);
  return text;
}

/** The container's environment, with Secret and ConfigMap references read from the pod's namespace. */
export async function resolveEnv(http: KubeHttp, pod: LocalPod, c: Container): Promise<Record<string, string>> {
  const ns = pod.metadata.namespace;
  const cache = new Map<string, Record<string, string> | undefined>();
  const read = async (kind: "Secret" | "ConfigMap", name: string) => {
    const key = `${kind}/${name}`;
    if (!cache.has(key)) {
      const obj = await http.getOrUndefined<{ data?: Record<string, string> }>("v1", kind, name, ns);
      const data = obj?.data;
      cache.set(key, data === undefined ? undefined
        : kind === "Secret" ? Object.fromEntries(Object.keys(data).map((k) => [k, secretValue(data, k) ?? ""])) : data);
    }
    return cache.get(key);
  };
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const ref: ["Secret" | "ConfigMap", string] | undefined = from.secretRef ? ["Secret", from.secretRef.name] : from.configMapRef ? ["ConfigMap", from.configMapRef.name] : undefined;
    if (!ref) continue;
    const data = await read(ref[0], ref[1]);
    if (!data) throw new Error(`${ref[0].toLowerCase()} "${ref[1]}" not found`);
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ""}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined || !e.valueFrom) {
      env[e.name] = e.value ?? "";
      continue;
    }
    const { secretKeyRef, configMapKeyRef, fieldRef } = e.valueFrom;
    const ref = secretKeyRef ? ["Secret", secretKeyRef] as const : configMapKeyRef ? ["ConfigMap", configMapKeyRef] as const : undefined;
    if (ref) {
      const value = (await read(ref[0], ref[1].name))?.[ref[1].key];
      if (value === undefined) {
        if (ref[1].optional) continue;
        throw new Error(`couldn't find key ${ref[1].key} in ${ref[0]} ${ns}/${ref[1].name}`);
      }
      env[e.name] = value;
    } else if (fieldRef) {
      const fields: Record<string, string> = { "metadata.name": pod.metadata.name, "metadata.namespace": ns, "metadata.uid": pod.metadata.uid, "spec.nodeName": pod.spec.nodeName ?? "" };
      const value = fields[fieldRef.fieldPath];
      if (value === undefined) throw new Error(`the local Job runner cannot resolve field ${fieldRef.fieldPath}`);
      env[e.name] = value;
    }
  }
  return env;
}

/** Whether the CronJobs' scheduled runs run (`run`) or stay Pending (`hold`); see MMS_DEV_SCHEDULED_JOBS. */
export type ScheduledJobs = "run" | "hold";

export function parseScheduledJobs(raw: string | undefined): ScheduledJobs {
  if (raw === undefined || raw === "" || raw === "run") return "run";
  if (raw === "hold") return "hold";
  throw new UserError(`MMS_DEV_SCHEDULED_JOBS must be "run" or "hold", not "${raw}"`);
}

export interface OwnedJob {
  readonly metadata: { readonly annotations?: Record<string, string>; readonly ownerReferences?: readonly { readonly kind: string }[] };
}

/** A Job the CronJob controller made on schedule; `kubectl create job --from=cronjob/…` marks its Jobs manual. */
export function isScheduledRun(job: OwnedJob): boolean {
  return (job.metadata.ownerReferences ?? []).some((o) => o.kind === "CronJob")
    && job.metadata.annotations?.["cronjob.kubernetes.io/instantiate"] !== "manual";
}

export interface LocalJobRunnerOptions {
  readonly http: KubeHttp;
  /** Handed to every process as KUBECONFIG: the dev environment's admin kubeconfig. */
  readonly kubeconfig: string;
  /** How to run `mms`: executable and leading arguments (default: this Node and this checkout's CLI). */
  readonly mms?: readonly string[];
  /** Scratch folders (the pods' /tmp) and one log per pod. */
  readonly workDir: string;
  readonly log: (line: string) => void;
  /** Pods run at once (default 4); more wait Pending, as on a full node. */
  readonly parallel?: number;
  readonly intervalMs?: number;
  /** `hold`: the CronJobs' scheduled runs stay Pending (default `run`). */
  readonly scheduled?: ScheduledJobs;
}

interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<void>;
}

export interface LocalJobRunner {
  /** Pods running now, as namespace/name. */
  running(): string[];
  /** Stops polling, ends the running processes and marks their pods Failed. */
  close(): Promise<void>;
}

const podPath = (p: LocalPod) => `/api/v1/namespaces/${encodeURIComponent(p.metadata.namespace)}/pods/${encodeURIComponent(p.metadata.name)}/status`;

export function startLocalJobRunner(opts: LocalJobRunnerOptions): LocalJobRunner {
  const { http, log } = opts;
  const parallel = opts.parallel ?? 4;
  const running = new Map<string, Running & { pod: LocalPod }>();
  let stopping = false;
  /**
   * Pods whose process ended here: a pass that listed such a pod just before its end was recorded still
   * sees it Running, and must not take it for one orphaned by a runner restart.
   */
  const ended = new Set<string>();
  /** Pods of scheduled runs left Pending under `scheduled: "hold"`, so their Job is read once. */
  const held = new Set<string>();
  const holds = async (pod: LocalPod): Promise<boolean> => {
    if (opts.scheduled !== "hold") return false;
    if (held.has(pod.metadata.uid)) return true;
    const jobName = pod.metadata.labels?.["batch.kubernetes.io/job-name"] ?? pod.metadata.labels?.["job-name"];
    if (!jobName) return false;
    const job = await http.getOrUndefined<OwnedJob>("batch/v1", "Job", jobName, pod.metadata.namespace);
    if (!job || !isScheduledRun(job)) return false;
    held.add(pod.metadata.uid);
    log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: a scheduled run, left Pending (MMS_DEV_SCHEDULED_JOBS=hold)`);
    return true;
  };

  const patchStatus = async (pod: LocalPod, status: Record<string, unknown>) => {
    try {
      await http.request("PATCH", podPath(pod), { status }, "application/merge-patch+json");
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  };

  const finished = (pod: LocalPod, c: Container, code: number, reason: string, message: string, startedAt: string) => {
    const now = new Date().toISOString();
    return patchStatus(pod, {
      phase: code === 0 ? "Succeeded" : "Failed",
      conditions: [
        { type: "PodScheduled", status: "True", lastTransitionTime: startedAt },
        { type: "Initialized", status: "True", lastTransitionTime: startedAt },
        { type: "ContainersReady", status: "False", reason: "PodCompleted", lastTransitionTime: now },
        { type: "Ready", status: "False", reason: "PodCompleted", lastTransitionTime: now },
      ],
      containerStatuses: [{
        name: c.name, image: c.image, imageID: "", ready: false, restartCount: 0, started: false,
        state: { terminated: { exitCode: code, reason, ...(message ? { message } : {}), startedAt, finishedAt: now } },
      }],
    });
  };

  const start = async (pod: LocalPod) => {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const c = pod.spec.containers[0];
    if (!c) return;
    const startedAt = new Date().toISOString();
    let args: readonly string[];
    let env: Record<string, string>;
    try {
      args = localCommand(c);
      env = await resolveEnv(http, pod, c);
    } catch (err) {
      log(`pod ${key}: cannot start: ${(err as Error).message}`);
      await finished(pod, c, 128, "CreateContainerConfigError", (err as Error).message, startedAt);
      return;
    }
    const dir = join(opts.workDir, pod.metadata.uid);
    await mkdir(join(dir, "tmp"), { recursive: true });
    const logFile = createWriteStream(join(opts.workDir, `${pod.metadata.namespace}_${pod.metadata.name}.log`));
    const [file, ...lead] = opts.mms ?? MMS_COMMAND;
    const child = spawn(file ?? process.execPath, [...lead, ...args], {
      cwd: dir, detached: true, stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? dir, LANG: "C.UTF-8",
        ...env, TMPDIR: join(dir, "tmp"), KUBECONFIG: opts.kubeconfig,
      },
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      logFile.write(chunk);
      output = (output + chunk.toString("utf8")).slice(-16_384);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    log(`pod ${key}: running mms ${args.join(" ")} (pid ${child.pid})`);
    const done = new Promise<void>((resolve) => {
      child.once("error", (err) => keep(Buffer.from(`${err.message}\n`)));
      child.once("close", (code, signal) => {
        ended.add(pod.metadata.uid);
        const exit = code ?? (signal ? 128 + (signal === "SIGKILL" ? 9 : 15) : 1);
        log(`pod ${key}: exited ${exit}${signal ? ` (${signal})` : ""}`);
        logFile.end();
        void finished(pod, c, exit, exit === 0 ? "Completed" : "Error", exit === 0 ? "" : terminationMessage(output), startedAt)
          .catch((err: unknown) => log(`pod ${key}: cannot record its end: ${(err as Error).message}`))
          .finally(() => {
            running.delete(pod.metadata.uid);
            void rm(dir, { recursive: true, force: true }).finally(resolve);
          });
      });
    });
    running.set(pod.metadata.uid, { child, done, pod });
    await patchStatus(pod, {
      phase: "Running", startTime: startedAt,
      conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map((type) => ({ type, status: "True", lastTransitionTime: startedAt })),
      containerStatuses: [{ name: c.name, image: c.image, imageID: "", ready: true, restartCount: 0, started: true, state: { running: { startedAt } } }],
    });
  };

  const kill = (r: Running) => {
    try {
      if (r.child.pid) process.kill(-r.child.pid, "SIGTERM");
    } catch { /* already gone */ }
  };

  const pass = async () => {
    const selector = new URLSearchParams({ labelSelector: `${RUN_LOCALLY_LABEL}=true` });
    const pods = (await http.request<{ items: LocalPod[] }>("GET", `/api/v1/pods?${selector.toString()}`)).items;
    for (const pod of pods) {
      const here = running.get(pod.metadata.uid);
      const action = decide(pod, here !== undefined || ended.has(pod.metadata.uid));
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      if (action === "stop" && here) {
        log(`pod ${key}: deleted, stopping its process`);
        kill(here);
      } else if (action === "orphaned") {
        const c = pod.spec.containers[0];
        log(`pod ${key}: was running when the runner stopped; marking it Failed`);
        if (c) await finished(pod, c, 137, "RunnerRestarted", "the dev environment's local Job runner stopped while this pod ran", new Date().toISOString());
      } else if (action === "start" && running.size < parallel && !stopping && !(await holds(pod))) {
        await start(pod);
      }
    }
    const listed = new Set(pods.map((p) => p.metadata.uid));
    for (const uid of ended) if (!listed.has(uid)) ended.delete(uid);
    for (const uid of held) if (!listed.has(uid)) held.delete(uid);
  };

  const loop = (async () => {
    while (!stopping) {
      try {
        await pass();
      } catch (err) {
        log(`pass failed: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  })();

  return {
    running: () => [...running.values()].map((r) => `${r.pod.metadata.namespace}/${r.pod.metadata.name}`),
    close: async () => {
      stopping = true;
      await loop;
      const all = [...running.values()];
      for (const r of all) kill(r);
      await Promise.all(all.map((r) => r.done));
    },
  };
}

/** This checkout's CLI on this Node, as bin/mms runs it (without its toolchain check, done by dev up). */
const MMS_COMMAND = [process.execPath, "--disable-warning=ExperimentalWarning", join(import.meta.dirname, "..", "cli", "main.ts")];

/**
 * The runner as `mms dev up` starts it (`mms dev job-runner`): against the dev kubeconfig, with
 * /healthz (and the pods it runs) on 127.0.0.1:healthPort, until SIGTERM or SIGINT.
 */
export async function serveLocalJobRunner(opts: { kubeconfig: string; healthPort: number; workDir: string; scheduled?: ScheduledJobs; log: (line: string) => void }): Promise<void> {
  await mkdir(opts.workDir, { recursive: true });
  const runner = startLocalJobRunner({
    http: new KubeHttp(loadKubeConfig({ kubeconfig: opts.kubeconfig })), kubeconfig: opts.kubeconfig, workDir: opts.workDir, log: opts.log, scheduled: opts.scheduled ?? "run",
  });
  const server = createServer((req, res) => {
    if (req.url === "/healthz" || req.url === "/readyz") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ running: runner.running() }) + "\n");
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(opts.healthPort, "127.0.0.1", resolve));
  opts.log(`local Job runner: running pods labelled ${RUN_LOCALLY_LABEL}=true; health on 127.0.0.1:${opts.healthPort}`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  server.close();
  await runner.close();
}
