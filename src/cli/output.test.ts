import { test } from "node:test";
import assert from "node:assert/strict";
import { renderStructured, renderTable } from "./output.ts";

test("tables align columns under upper-case headers", () => {
  const out = renderTable(["name", "healthy"], [["etcd", "yes"], ["kube-apiserver", "no"]]);
  assert.equal(out, "NAME             HEALTHY\netcd             yes\nkube-apiserver   no\n");
});

test("json output is stable for the same value", () => {
  const v = { a: 1, b: [true, "x"] };
  assert.equal(renderStructured(v, "json"), renderStructured(structuredClone(v), "json"));
  assert.deepEqual(JSON.parse(renderStructured(v, "json")), v);
});
