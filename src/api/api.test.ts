import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { conflictingDomains, domainOwner, registryData } from "./admission.ts";
import { customResourceDefinitions } from "./crds.ts";
import { compareVersions, parseDomain, parseTenantName, parseVersion, tenantNameProblem } from "./names.ts";
import { BUILT_IN_PLANS, PlanSpec } from "./plan.ts";
import { TenantSpec } from "./tenant.ts";

function walk(node: unknown, visit: (n: Record<string, unknown>, path: string) => void, path = ""): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${path}[${i}]`));
  else if (node && typeof node === "object") {
    visit(node as Record<string, unknown>, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}.${k}`);
  }
}

test("CRD schemas are structural: typed nodes, no additionalProperties:false, no $schema", () => {
  for (const crd of customResourceDefinitions()) {
    const schema = crd.spec.versions[0]?.schema?.openAPIV3Schema;
    walk(schema, (n, path) => {
      assert.ok(!("$schema" in n), `${crd.metadata?.name}${path} has $schema`);
      assert.notEqual(n.additionalProperties, false, `${crd.metadata?.name}${path} has additionalProperties: false`);
      if ("properties" in n) assert.equal(n.type, "object", `${crd.metadata?.name}${path} lacks type: object`);
    });
  }
});

test("the built-in plans satisfy the plan schema", () => {
  for (const p of BUILT_IN_PLANS) assert.doesNotThrow(() => PlanSpec.parse(p.spec), p.metadata.name);
});

test("the tenant schema fills the defaults the operator relies on", () => {
  const spec = TenantSpec.parse({ domains: ["a.example.com"] });
  assert.equal(spec.plan, "small");
  assert.equal(spec.deletionPolicy, "Retain");
  assert.deepEqual(spec.privacy, { anonymizeIpBytes: 2, respectDoNotTrack: true });
});

test("only Matomo 5.x is accepted, and the refusal names the version and the supported range", () => {
  for (const ok of ["5.0.0", "5.1.2", "5.10.3"]) assert.equal(TenantSpec.parse({ domains: ["a.example.com"], matomoVersion: ok }).matomoVersion, ok);
  for (const bad of ["3.14.1", "4.16.1", "6.0.0"]) {
    const r = TenantSpec.safeParse({ domains: ["a.example.com"], matomoVersion: bad });
    assert.equal(r.success, false, bad);
    assert.match(r.error?.issues[0]?.message ?? "", new RegExp(`^Matomo ${bad.replaceAll(".", "\\.")} is not supported: the platform runs Matomo 5\\.x`), bad);
  }
  const rule = JSON.stringify(customResourceDefinitions().find((c) => c.spec.names.kind === "MatomoTenant")?.spec.versions[0]?.schema?.openAPIV3Schema);
  assert.match(rule, /int\(self\.split\('\.'\)\[0\]\) == 5/, "the API server enforces the same range");
});

test("tenant names: 2-28 characters safe for DNS and SQL", () => {
  for (const ok of ["ab", "acme", "acme-corp-2", "a".repeat(28)]) assert.equal(tenantNameProblem(ok), undefined, ok);
  for (const bad of ["a", "a".repeat(29), "Acme", "acme_corp", "-acme", "acme-", "1acme", "ac;me", "ac me"]) {
    assert.throws(() => parseTenantName(bad), /tenant name/, bad);
  }
});

test("domains are normalised to lower case and validated", () => {
  assert.equal(parseDomain("Analytics.Example.COM."), "analytics.example.com");
  for (const bad of ["localhost", "-a.example.com", "a..b", "a_b.example.com", "exa mple.com"]) assert.throws(() => parseDomain(bad), /not a valid domain/, bad);
});

test("versions compare numerically, part by part", () => {
  assert.ok(compareVersions(parseVersion("5.10.0"), parseVersion("5.9.9")) > 0);
  assert.throws(() => parseVersion("5.2"), /MAJOR\.MINOR\.PATCH/);
  const v = fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99)).map(([a, b, c]) => `${a}.${b}.${c}`);
  fc.assert(fc.property(v, v, (a, b) => {
    const ab = compareVersions(parseVersion(a), parseVersion(b));
    const ba = compareVersions(parseVersion(b), parseVersion(a));
    return Math.sign(ab) === -Math.sign(ba) && (ab === 0) === (a === b);
  }));
});

test("the domain registry gives each domain to its oldest tenant", () => {
  const data = registryData({
    plans: ["small", "large"],
    tenants: [
      { name: "late", domains: ["shared.test", "late.test"], createdAt: "2026-01-02T00:00:00Z" },
      { name: "early", domains: ["shared.test"], createdAt: "2026-01-01T00:00:00Z" },
    ],
  });
  assert.equal(data.plans, "large,small");
  assert.equal(domainOwner(data, "shared.test"), "early");
  assert.equal(domainOwner(data, "late.test"), "late");
  assert.equal(domainOwner(data, "nobody.test"), undefined);
  assert.deepEqual(conflictingDomains(data, "late", ["shared.test", "late.test"]), [{ domain: "shared.test", owner: "early" }]);
  assert.deepEqual(conflictingDomains(data, "early", ["shared.test"]), []);
});
