import { test } from "node:test";
import assert from "node:assert/strict";
import { CloudApiError, instanceIdFromProviderID } from "./driver.ts";

test("an OpenStack providerID gives the instance uuid, in lower case", () => {
  assert.equal(instanceIdFromProviderID("openstack:///1A2b3c4d-0000-1111-2222-333344445555"), "1a2b3c4d-0000-1111-2222-333344445555");
  assert.equal(instanceIdFromProviderID("openstack://GRA7/1a2b3c4d-0000-1111-2222-333344445555"), "1a2b3c4d-0000-1111-2222-333344445555");
});

test("a providerID of another cloud, or none, is refused with the value in the message", () => {
  for (const bad of ["", "kwok://node-1", "aws:///eu-west-1a/i-0123", "openstack:///not-a-uuid"]) {
    assert.throws(() => instanceIdFromProviderID(bad), (err: Error) => err.message.includes(`"${bad}"`));
  }
});

test("rate limits, server errors and lost answers are retryable; refusals are not", () => {
  const retryable = (s: number) => new CloudApiError(s, "GET", "/x", "m").retryable;
  assert.deepEqual([0, 429, 500, 502, 503, 599].map(retryable), [true, true, true, true, true, true]);
  assert.deepEqual([400, 401, 403, 404, 409].map(retryable), [false, false, false, false, false]);
});
