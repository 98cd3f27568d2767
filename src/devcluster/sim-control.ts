// A client of the sim OVH API's own control calls, for tests and benchmarks that run the sim as a
// separate process (the dev environment's `sim-ovh-api`): inject faults, read the request log, set delays.
import { request } from "node:https";
import { SIM_CONTROL_PATH, type SimFault, type SimRequest } from "./sim-ovh-api.ts";
import type { SimConnection } from "../cloud/sim-driver.ts";

export class SimControl {
  private readonly sim: SimConnection;

  constructor(sim: SimConnection) {
    this.sim = sim;
  }

  /** The next `count` OVH calls that match answer `status` (after authentication, like OVH's rate limiter). */
  async injectFaults(fault: SimFault): Promise<void> {
    await this.call("POST", "/faults", { ...fault, path: fault.path?.source });
  }

  async clearFaults(): Promise<void> {
    await this.call("DELETE", "/faults");
  }

  /** Every OVH call the sim received since it started, in order, with the status it answered. */
  async requests(): Promise<SimRequest[]> {
    return await this.call("GET", "/requests") as SimRequest[];
  }

  /** Reboots and replacements requested from now on take these delays. */
  async setDelays(delays: { rebootDelayMs?: number; replaceDelayMs?: number }): Promise<void> {
    await this.call("PUT", "/delays", delays);
  }

  private call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = new URL(`${SIM_CONTROL_PATH}${path}`, this.sim.baseUrl);
    const text = body === undefined ? "" : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method, ca: this.sim.ca, timeout: 10_000,
        headers: { authorization: `Bearer ${this.sim.credentials.applicationSecret}`, "content-type": "application/json", "content-length": Buffer.byteLength(text) },
      }, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`sim control ${method} ${path}: HTTP ${res.statusCode} ${data.slice(0, 200)}`));
          else resolve(data ? JSON.parse(data) : null);
        });
      });
      req.on("timeout", () => req.destroy(new Error(`sim control ${method} ${path} timed out`)));
      req.on("error", reject);
      req.end(text);
    });
  }
}
