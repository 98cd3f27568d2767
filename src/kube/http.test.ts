import { test } from "node:test";
import assert from "node:assert/strict";
import { collectionPath, resourcePath } from "./http.ts";

test("a list without a namespace covers every namespace; with one, only that namespace", () => {
  assert.equal(collectionPath("apps/v1", "Deployment"), "/apis/apps/v1/deployments");
  assert.equal(collectionPath("apps/v1", "Deployment", "mt-acme"), "/apis/apps/v1/namespaces/mt-acme/deployments");
  assert.equal(collectionPath("v1", "Node"), "/api/v1/nodes");
  assert.equal(collectionPath("multiscale.io/v1alpha1", "MatomoTenant"), "/apis/multiscale.io/v1alpha1/matomotenants");
});

test("one object's path names its namespace", () => {
  assert.equal(resourcePath("batch/v1", "Job", "vbackup-acme-final-1", "mms-system"), "/apis/batch/v1/namespaces/mms-system/jobs/vbackup-acme-final-1");
  assert.throws(() => collectionPath("v1", "Gadget"), /no resource mapping for v1 Gadget/);
});
