import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:https";
import type { KubeHttp } from "../kube/http.ts";
import { startSimOvhApi, type SimOvhApi } from "./sim-ovh-api.ts";

// The sim's authentication, as OVH does it, before any call reaches Kubernetes: a project the sim does
// not hold answers 404 once authenticated, so no cluster is needed here.
let sim: SimOvhApi;
const noKube = {} as KubeHttp;

before(async () => {
  sim = await startSimOvhApi({ kube: noKube, log: () => undefined });
});
after(() => sim.close());

interface Signed { applicationKey: string; applicationSecret: string; consumerKey: string; timestamp: number }

/** One signed GET, made by hand the way the official client signs: "$1$" + sha1(AS+CK+METHOD+URL+BODY+TS). */
function call(path: string, s: Signed): Promise<{ status: number; body: unknown }> {
  const url = new URL(`${sim.baseUrl}${path}`);
  const signature = "$1$" + createHash("sha1").update([s.applicationSecret, s.consumerKey, "GET", `https://${url.hostname}${url.pathname}`, "", s.timestamp].join("+")).digest("hex");
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "GET", ca: sim.ca,
      headers: { "X-Ovh-Application": s.applicationKey, "X-Ovh-Consumer": s.consumerKey, "X-Ovh-Timestamp": String(s.timestamp), "X-Ovh-Signature": signature },
    }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the sim refuses what OVH refuses, with OVH's status and error body", async () => {
  const good: Signed = { ...sim.credentials, timestamp: Math.round(Date.now() / 1000) };
  const path = "/cloud/project/not-this-project/kube/x/node";
  assert.deepEqual(await call(path, good), { status: 404, body: { message: "This service does not exist", errorCode: "SERVICE_NOT_FOUND", httpCode: "404 Not Found" } });
  assert.deepEqual(await call(path, { ...good, applicationSecret: "not-the-secret" }),
    { status: 400, body: { message: "Invalid signature", errorCode: "INVALID_SIGNATURE", httpCode: "400 Bad Request" } });
  assert.deepEqual(await call(path, { ...good, applicationKey: "unknown-app-key" }),
    { status: 403, body: { message: "This application key is invalid", errorCode: "INVALID_KEY", httpCode: "403 Forbidden" } });
  assert.deepEqual(await call(path, { ...good, consumerKey: "unknown-consumer-key" }),
    { status: 403, body: { message: "This credential does not exist", errorCode: "INVALID_CREDENTIAL", httpCode: "403 Forbidden" } });
  assert.deepEqual(await call(path, { ...good, timestamp: good.timestamp - 600 }),
    { status: 400, body: { message: "Query out of time", errorCode: "QUERY_TIME_OUT", httpCode: "400 Bad Request" } });
  assert.deepEqual(sim.requests.map((r) => r.status), [404, 400, 403, 403, 400]);
});
