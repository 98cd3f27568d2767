import { test } from "node:test";
import assert from "node:assert/strict";
import { CloudApiError, type CloudNode } from "./driver.ts";
import { clientLocation, consumerKeyAccessRules, instanceStateOf, OVH_API_PATHS, OvhDriver, ovhCredentialsFromSecret, type OvhRequester } from "./ovh-driver.ts";

const credentials = { applicationKey: "AK-app-key-1234", applicationSecret: "AS-secret-abcdef", consumerKey: "CK-consumer-xyz987" };
const node: CloudNode = { nodeName: "pool-node-1", instanceId: "11111111-2222-3333-4444-555555555555", nodePoolId: "pool-1", cloudNodeId: "node-1" };

interface Call { method: string; path: string; params?: Record<string, unknown> }

/** A client that fails with the given answers first, then succeeds with `result`. */
function fakeClient(failures: { error: unknown; message?: unknown }[], result: unknown = null): { client: OvhRequester; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    client: {
      requestPromised(method, path, params) {
        calls.push({ method, path, ...(params ? { params } : {}) });
        const f = failures.shift();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the official client rejects with { error, message }, never an Error
        return f ? Promise.reject(f) : Promise.resolve(result);
      },
    },
  };
}

function driver(client: OvhRequester): OvhDriver {
  return new OvhDriver({ credentials, serviceName: "proj", kubeId: "kube", client, retry: { sleep: () => Promise.resolve(), maxAttempts: 4 } });
}

test("the driver calls only the paths it lists, with the OVH reboot body", async () => {
  const { client, calls } = fakeClient([], { status: "ACTIVE" });
  const d = driver(client);
  await d.reboot(node, "hard");
  await d.instanceState(node);
  await d.replace(node);
  assert.deepEqual(calls, [
    { method: "POST", path: "/cloud/project/proj/instance/11111111-2222-3333-4444-555555555555/reboot", params: { type: "hard" } },
    { method: "GET", path: "/cloud/project/proj/instance/11111111-2222-3333-4444-555555555555" },
    { method: "DELETE", path: "/cloud/project/proj/kube/kube/node/node-1" },
  ]);
  const templates = OVH_API_PATHS.map((p) => new RegExp(`^${p.path.replace(/\{[a-zA-Z]+\}/g, "[^/]+")}$`));
  for (const c of calls) assert.ok(templates.some((t) => t.test(c.path)), `${c.path} is in OVH_API_PATHS`);
});

test("resolve maps a providerID to the OVH node by instance id, then by name", async () => {
  const nodes = [
    { id: "n-a", name: "other", instanceId: "AAAAAAAA-2222-3333-4444-555555555555", nodePoolId: "p-1", status: "READY" },
    { id: "n-b", name: "pool-node-2", instanceId: "bbbbbbbb-2222-3333-4444-555555555555", nodePoolId: "p-2", status: "READY" },
  ];
  const d = driver(fakeClient([], nodes).client);
  assert.deepEqual(await d.resolve("pool-node-1", "openstack:///aaaaaaaa-2222-3333-4444-555555555555"),
    { nodeName: "pool-node-1", instanceId: "aaaaaaaa-2222-3333-4444-555555555555", nodePoolId: "p-1", cloudNodeId: "n-a" });
  assert.equal((await d.resolve("pool-node-2", "openstack:///cccccccc-2222-3333-4444-555555555555")).cloudNodeId, "n-b");
  await assert.rejects(d.resolve("ghost", "openstack:///dddddddd-2222-3333-4444-555555555555"), /ghost .* is not in Managed Kubernetes cluster kube of project proj/);
});

test("429 three times, then success: the call succeeds on the fourth attempt", async () => {
  const { client, calls } = fakeClient([{ error: 429, message: "Too many requests" }, { error: 429 }, { error: 429 }]);
  await driver(client).reboot(node, "soft");
  assert.equal(calls.length, 4);
});

test("5xx that persists gives a retryable error after the attempt limit", async () => {
  const { client, calls } = fakeClient(Array.from({ length: 10 }, () => ({ error: 503, message: "Service Unavailable" })));
  await assert.rejects(driver(client).reboot(node, "soft"), (err: unknown) => {
    assert.ok(err instanceof CloudApiError);
    assert.equal(err.status, 503);
    assert.equal(err.retryable, true);
    assert.match(err.message, /^the OVH API failed on POST \/cloud\/project\/proj\/instance\/.*\/reboot \(503: Service Unavailable\); gave up after 4 attempts$/);
    return true;
  });
  assert.equal(calls.length, 4);
});

test("401 and 403 fail at once with one sentence naming the call and no credential", async () => {
  for (const [status, pattern] of [[401, /did not accept the credentials for GET/], [403, /refused GET .* the consumer key must be granted this call/]] as const) {
    // An API message that echoes a credential must not carry it into the error.
    const { client, calls } = fakeClient([{ error: status, message: `denied for ${credentials.consumerKey}` }]);
    await assert.rejects(driver(client).instanceState(node), (err: unknown) => {
      assert.ok(err instanceof CloudApiError);
      assert.equal(err.status, status);
      assert.equal(err.retryable, false);
      assert.match(err.message, pattern);
      assert.match(err.message, /\/cloud\/project\/proj\/instance\/11111111-2222-3333-4444-555555555555/);
      for (const secret of Object.values(credentials)) assert.ok(!err.message.includes(secret), "no credential in the message");
      assert.ok(!err.message.includes("\n"));
      return true;
    });
    assert.equal(calls.length, 1, `${status} is not retried`);
  }
});

test("each refusal of the credentials says which credential to check, is not retried and counts as refused credentials", async () => {
  const cases = [
    // OVH answers a signature made with the wrong application secret with 400, not 401/403.
    { error: 400, message: "Invalid signature", pattern: /^the OVH API did not accept the signature of GET \/cloud\/project\/proj\/kube\/kube\/node \(400: Invalid signature\); the application secret is not the one of this application key$/ },
    { error: 403, message: "This application key is invalid", pattern: /\(403: This application key is invalid\); the application key is unknown$/ },
    { error: 403, message: "This credential does not exist", pattern: /\(403: This credential does not exist\); the consumer key is unknown, expired or not validated/ },
    { error: 403, message: "This call has not been granted", pattern: /\(403: This call has not been granted\); the consumer key must be granted this call$/ },
  ];
  for (const c of cases) {
    const { client, calls } = fakeClient([c]);
    await assert.rejects(driver(client).verify(), (err: unknown) => {
      assert.ok(err instanceof CloudApiError);
      assert.equal(err.credentialsRefused, true, c.message);
      assert.equal(err.retryable, false);
      assert.match(err.message, c.pattern);
      return true;
    });
    assert.equal(calls.length, 1, `${c.message}: not retried`);
  }
  // Another 400 (a malformed call) is a refusal of that call, not of the credentials.
  const { client } = fakeClient([{ error: 400, message: "Invalid JSON received" }]);
  await assert.rejects(driver(client).reboot(node, "soft"), (err: unknown) => err instanceof CloudApiError && !err.credentialsRefused);
});

test("network errors and the client's own failures are retried as status 0", async () => {
  const { client, calls } = fakeClient([{ error: -111 }, { error: "[OVH] Unable to fetch OVH API time" }], { status: "REBOOT" });
  assert.equal(await driver(client).instanceState(node), "rebooting");
  assert.equal(calls.length, 3);
});

test("a deletion whose first answer was lost and whose retry finds nothing counts as done", async () => {
  const { client, calls } = fakeClient([{ error: 502 }, { error: 404, message: "Node not found" }]);
  await driver(client).replace(node);
  assert.equal(calls.length, 2);
  await assert.rejects(driver(fakeClient([{ error: 404 }]).client).replace(node), (err: unknown) => err instanceof CloudApiError && err.status === 404);
});

test("a call that never answers times out as a retryable error", async () => {
  const hang: OvhRequester = { requestPromised: () => new Promise(() => undefined) };
  const d = new OvhDriver({ credentials, serviceName: "p", kubeId: "k", client: hang, timeoutMs: 20, retry: { maxAttempts: 2, sleep: () => Promise.resolve() } });
  await assert.rejects(d.reboot(node, "soft"), (err: unknown) => err instanceof CloudApiError && err.status === 0 && err.retryable && /within 0.02 s/.test(err.message));
});

test("instance statuses map to what the node doctor decides on; a missing instance is off", async () => {
  assert.deepEqual(["ACTIVE", "REBOOT", "HARD_REBOOT", "SHUTOFF", "BUILD", "ERROR"].map(instanceStateOf), ["running", "rebooting", "rebooting", "off", "unknown", "unknown"]);
  assert.equal(await driver(fakeClient([{ error: 404 }]).client).instanceState(node), "off");
});

test("the consumer key's access rules cover one project and cluster", () => {
  assert.deepEqual(consumerKeyAccessRules("proj", "kube"), [
    { method: "GET", path: "/cloud/project/proj/kube/kube/node" },
    { method: "DELETE", path: "/cloud/project/proj/kube/kube/node/*" },
    { method: "GET", path: "/cloud/project/proj/instance/*" },
    { method: "POST", path: "/cloud/project/proj/instance/*/reboot" },
  ]);
});

test("a base URL becomes the client's host, port and base path; plain http is refused", () => {
  assert.deepEqual(clientLocation("https://127.0.0.1:26990/1.0"), { host: "127.0.0.1", port: 26990, basePath: "/1.0" });
  assert.deepEqual(clientLocation("https://eu.api.ovh.com/1.0/"), { host: "eu.api.ovh.com", port: 443, basePath: "/1.0" });
  assert.throws(() => clientLocation("http://127.0.0.1:26990/1.0"), /must be https/);
});

test("credentials come from a Secret's base64 data; a missing key is named, no value ever is", () => {
  const b64 = (v: string) => Buffer.from(v).toString("base64");
  const data = { applicationKey: b64(credentials.applicationKey), applicationSecret: b64(`${credentials.applicationSecret}\n`), consumerKey: b64(credentials.consumerKey) };
  assert.deepEqual(ovhCredentialsFromSecret("mms-system/ovh", data), credentials);
  assert.throws(() => ovhCredentialsFromSecret("mms-system/ovh", { ...data, consumerKey: "" }), (err: Error) => {
    assert.equal(err.message, "Secret mms-system/ovh lacks consumerKey: it needs applicationKey, applicationSecret, consumerKey");
    return true;
  });
  assert.throws(() => ovhCredentialsFromSecret("s", undefined), /lacks applicationKey, applicationSecret, consumerKey/);
  // Non-ASCII (what a value decoded once too often becomes) or a space inside: refused by name, never sent.
  assert.throws(() => ovhCredentialsFromSecret("s", { ...data, applicationKey: b64(Buffer.from(credentials.applicationKey, "base64").toString("utf8")) }),
    /Secret s: applicationKey holds characters an OVH key never has/);
  assert.throws(() => ovhCredentialsFromSecret("s", { ...data, consumerKey: b64("CK with space") }), (err: Error) => {
    assert.equal(err.message, "Secret s: consumerKey holds characters an OVH key never has (spaces or non-ASCII); put the values as OVH shows them, not base64-encoded");
    return true;
  });
});
