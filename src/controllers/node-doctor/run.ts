// The node doctor process: its cloud driver built from options (the OVH API with credentials read
// from a Kubernetes Secret, or the dev environment's sim), leader election, the health and metrics
// server, the control loop and a clean stop. Decisions live in policy.ts, the steps in controller.ts.
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SYSTEM_NAMESPACE } from "../../api/admission.ts";
import { CloudApiError } from "../../cloud/driver.ts";
import { OvhDriver, ovhCredentialsFromSecret, OVH_SECRET_KEYS } from "../../cloud/ovh-driver.ts";
import { loadSimConnection, SimDriver } from "../../cloud/sim-driver.ts";
import { KubeHttp } from "../../kube/http.ts";
import { LeaderElector } from "../../kube/leader.ts";
import { UserError } from "../../util/errors.ts";
import { serveHealth } from "../health.ts";
import { NodeDoctor, type DoctorCounters } from "./controller.ts";
import { doctorMetrics } from "./metrics.ts";
import type { DoctorPolicy, StepTimeouts } from "./policy.ts";

export interface SecretRef {
  readonly namespace: string;
  readonly name: string;
}

/** Where the OVH credentials live unless told otherwise (docs/node-doctor.md shows how to create it). */
export const DEFAULT_OVH_SECRET: SecretRef = { namespace: SYSTEM_NAMESPACE, name: "ovh-api" };
/** The leader Lease (in mms-system): one doctor acts at a time per Lease. */
export const DEFAULT_DOCTOR_LEASE = "mms-node-doctor";

/** Which cloud the doctor remediates through. */
export type DoctorCloud =
  | {
    readonly driver: "ovh";
    /** The Secret with applicationKey, applicationSecret and consumerKey. */
    readonly secret: SecretRef;
    /** The Public Cloud project id. */
    readonly serviceName: string;
    /** The Managed Kubernetes cluster id. */
    readonly kubeId: string;
    /** A preconfigured API of the official client ("ovh-eu", "ovh-ca", "ovh-us"), or an https URL with its base path. */
    readonly endpoint: string;
    /** A PEM file to trust for the API's certificate (a private CA, or the sim's self-signed one). */
    readonly caFile?: string | undefined;
  }
  | {
    readonly driver: "sim";
    /** The sim OVH API's connection file (address, certificate, credentials), written by `mms dev up`. */
    readonly connectionFile: string;
  };

export interface NodeDoctorOptions {
  readonly kubeconfig: KubeConfig;
  readonly log: Logger;
  readonly cloud: DoctorCloud;
  /** Node pools to manage; all when undefined. */
  readonly pools?: readonly string[] | undefined;
  readonly policy?: Partial<DoctorPolicy>;
  readonly timeouts?: Partial<StepTimeouts>;
  readonly accessDeniedHoldMs?: number;
  /** How often to look. */
  readonly intervalMs: number;
  /** Serve /healthz, /readyz and /metrics on 127.0.0.1:PORT. */
  readonly healthPort?: number | undefined;
  /** 127.0.0.1 (default) or 0.0.0.0 in a pod. */
  readonly healthAddress?: string | undefined;
  readonly lease?: string | undefined;
  readonly identity?: string;
}

export interface RunningNodeDoctor {
  readonly counters: DoctorCounters;
  /** Finishes the check in progress, releases the lease and closes the health server. */
  stop(): Promise<void>;
}

/** The OVH driver with the credentials of the Secret, decoded once (in ovhCredentialsFromSecret). */
async function ovhDriver(http: KubeHttp, cloud: Extract<DoctorCloud, { driver: "ovh" }>): Promise<OvhDriver> {
  const { namespace, name } = cloud.secret;
  const secret = await http.getOrUndefined<{ data?: Record<string, string> }>("v1", "Secret", name, namespace);
  if (!secret) {
    throw new UserError(`the OVH credentials Secret ${namespace}/${name} does not exist: create it with the keys ${OVH_SECRET_KEYS.join(", ")} (see docs/node-doctor.md)`);
  }
  let credentials;
  try {
    credentials = ovhCredentialsFromSecret(`${namespace}/${name}`, secret.data);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(cloud.endpoint);
  let ca: string | undefined;
  if (cloud.caFile) {
    ca = await readFile(cloud.caFile, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`cannot read the CA certificate ${cloud.caFile ?? ""}: ${err.code ?? err.message}`);
    });
  }
  try {
    return new OvhDriver({
      credentials, serviceName: cloud.serviceName, kubeId: cloud.kubeId, ca,
      ...(url ? { baseUrl: cloud.endpoint } : { endpoint: cloud.endpoint }),
    });
  } catch (err) {
    // An unknown endpoint name or a plain-http URL.
    throw new UserError((err as Error).message.replace(/^\[OVH\] /, "the OVH client refuses the endpoint: "));
  }
}

/**
 * Checks the credentials with one read before doing anything: refused credentials stop the start
 * with one sentence (a doctor that cannot reboot must not look healthy); an API that is down is only
 * logged, as the loop retries every call anyway.
 */
async function verifyCloud(driver: OvhDriver, log: Logger, source: string): Promise<void> {
  try {
    await driver.verify();
    log.info("the cloud API accepts the credentials");
  } catch (err) {
    if (err instanceof CloudApiError && err.credentialsRefused) {
      throw new UserError(`the OVH API refuses the credentials from ${source}: ${err.message}`);
    }
    log.warn({ err: (err as Error).message }, "could not check the credentials with the cloud API; starting anyway");
  }
}

export async function runNodeDoctor(opts: NodeDoctorOptions): Promise<RunningNodeDoctor> {
  const { log } = opts;
  const http = new KubeHttp(opts.kubeconfig);
  const cloud = opts.cloud.driver === "sim"
    ? new SimDriver(await loadSimConnection(opts.cloud.connectionFile))
    : await ovhDriver(http, opts.cloud);
  await verifyCloud(cloud, log, opts.cloud.driver === "sim" ? opts.cloud.connectionFile : `Secret ${opts.cloud.secret.namespace}/${opts.cloud.secret.name}`);

  const doctor = new NodeDoctor({
    http, cloud, log, pools: opts.pools, policy: opts.policy, timeouts: opts.timeouts, accessDeniedHoldMs: opts.accessDeniedHoldMs,
  });
  let leading = false;
  const health = opts.healthPort !== undefined ? await serveHealth(opts.healthPort, () => leading, doctorMetrics(doctor.counters), opts.healthAddress) : undefined;
  const elector = new LeaderElector(http, {
    namespace: SYSTEM_NAMESPACE, name: opts.lease ?? DEFAULT_DOCTOR_LEASE, identity: opts.identity ?? `node-doctor-${hostname()}-${process.pid}`,
  });
  await elector.acquire(() => log.info("another node doctor leads; waiting for the lease"));
  leading = true;
  log.info("acquired the leader lease; watching nodes");

  let stopping = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopping) {
      try {
        await doctor.tick();
      } catch (err) {
        log.warn({ err: (err as Error).message }, "tick failed; trying again");
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      wake?.();
      await loop;
      await elector.release();
      await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
    })();
    return stopped;
  };
  elector.keepRenewing((why) => {
    log.error({ why }, "lost the leader lease; stopping so that only one doctor acts");
    void stop().finally(() => process.exit(1));
  });
  return { counters: doctor.counters, stop };
}
