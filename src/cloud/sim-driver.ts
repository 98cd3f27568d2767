// SimDriver: the OVH driver itself, pointed at the local sim of the OVH API, so the dev environment
// runs the production code path (client, signatures, retries) against the simulated nodes.
import { readFile, writeFile } from "node:fs/promises";
import { OvhDriver, type OvhCredentials, type OvhDriverOptions } from "./ovh-driver.ts";

/** What a process needs to reach a running sim; plain data, so it can be handed over in a file. */
export interface SimConnection {
  readonly baseUrl: string;
  /** The sim's self-signed certificate (PEM). */
  readonly ca: string;
  readonly credentials: OvhCredentials;
  readonly serviceName: string;
  readonly kubeId: string;
}

/** Hands a running sim to another process (the node doctor); the file holds credentials, so only its owner reads it. */
export async function saveSimConnection(file: string, sim: SimConnection): Promise<void> {
  const { baseUrl, ca, credentials, serviceName, kubeId } = sim;
  await writeFile(file, JSON.stringify({ baseUrl, ca, credentials, serviceName, kubeId }, null, 2) + "\n", { mode: 0o600 });
}

export async function loadSimConnection(file: string): Promise<SimConnection> {
  const c = JSON.parse(await readFile(file, "utf8")) as Partial<SimConnection>;
  if (!c.baseUrl || !c.ca || !c.credentials || !c.serviceName || !c.kubeId) throw new Error(`${file} is not a sim OVH API connection file`);
  return c as SimConnection;
}

export class SimDriver extends OvhDriver {
  constructor(sim: SimConnection, opts: Pick<OvhDriverOptions, "retry" | "timeoutMs"> = {}) {
    super({ ...opts, baseUrl: sim.baseUrl, ca: sim.ca, credentials: sim.credentials, serviceName: sim.serviceName, kubeId: sim.kubeId });
  }
}
