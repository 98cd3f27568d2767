import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BUILT_IN_PLANS, PlanSpec } from "../api/plan.ts";
import { UserError } from "../util/errors.ts";
import { allocatableOf, fleetCost, formatHundredths, GB, splitEqually, steadyRequests, type FleetInput, type TenantInput } from "./model.ts";
import { loadPrices, PriceTable } from "./prices.ts";

const GIB = 2 ** 30;

// A fixed price table with round figures, so every expected value below can be worked out by hand.
const PRICES: PriceTable = PriceTable.parse({
  date: "2026-01-01", currency: "EUR", vat: "excluded", region: "test", hoursPerMonth: 730,
  sources: [{ id: "t", url: "https://example.com/prices", published: "2026-01-01", what: "test prices" }],
  flavors: {
    "pool-4": { vcpu: 4, ramGiB: 16, diskGB: 100, monthly: 100, billing: "hourly", source: "t" },
    "vm-2": { vcpu: 2, ramGiB: 8, diskGB: 50, monthly: 40, billing: "hourly", source: "t" },
    "sys-2": { vcpu: 2, ramGiB: 8, diskGB: 50, monthly: 35, billing: "hourly", source: "t" },
  },
  blockStorage: { "high-speed": { perGBMonth: 0.1, source: "t" } },
  objectStorage: { standard: { perGBMonth: 0.02, source: "t" } },
  kubernetesControlPlane: { free: { monthly: 0, source: "t" }, paid: { monthly: 30, source: "t" }, unknown: { monthly: null, source: "t", note: "no price found" } },
  kubeletReservation: { cpuCores: { base: 0.15, perCore: 0.005 }, memoryGiB: { base: 1.5, fraction: 0.05 }, source: "t" },
});

/** One node of pool-4 as the cluster reports it: 4 CPU, 16 GiB allocatable, which keeps the fractions round. */
const MEASURED = new Map([["pool-4", { cpuMillis: 4000, memoryBytes: 16 * GIB }]]);

function tenant(name: string, over: Partial<TenantInput> = {}): TenantInput {
  return {
    name, plan: "small", requests: { cpuMillis: 400, memoryBytes: GIB }, flavor: "pool-4",
    databaseBytes: 0, backupBytes: 0, backupCount: 0, vmFlavor: "vm-2", ...over,
  };
}

function fleet(tenants: TenantInput[], over: Partial<FleetInput> = {}): FleetInput {
  return { tenants, fleet: tenants.map((t) => t.name), systemNodes: [], controlPlane: "free", allocatable: MEASURED, ...over };
}

test("a tenant's figures: node share from the larger request fraction, storage by the GB, and the rows add up to the fleet total", () => {
  const c = fleetCost(fleet([
    tenant("alpha", { requests: { cpuMillis: 400, memoryBytes: GIB }, databaseBytes: 2.5 * GB, backupBytes: 10 * GB, backupCount: 3 }),
    tenant("beta", { requests: { cpuMillis: 100, memoryBytes: 4 * GIB }, databaseBytes: 0.05 * GB }),
    tenant("gamma", { requests: { cpuMillis: 0, memoryBytes: 0 } }),
  ], { systemNodes: [{ flavor: "sys-2", count: 2 }], controlPlane: "paid" }), PRICES);

  const [alpha, beta, gamma] = c.tenants;
  // 400m of 4 CPU = 10% beats 1 GiB of 16 GiB = 6.25%: €10.00 of a €100 node.
  assert.equal(alpha?.nodeShare, 1000);
  assert.equal(alpha?.database, 25, "2.5 GB at €0.10");
  assert.equal(alpha?.backups, 20, "10 GB at €0.02");
  // 4 GiB of 16 GiB = 25% beats 100m of 4 CPU.
  assert.equal(beta?.nodeShare, 2500);
  assert.equal(beta?.database, 1, "0.05 GB at €0.10 is half a cent, rounded up");
  assert.equal(gamma?.nodeShare, 0);
  // Two system nodes (€70) and a paid control plane (€30): €100 over three tenants, the leftover cent to the first.
  assert.equal(c.shared.total, 10000);
  assert.deepEqual(c.tenants.map((t) => t.shared), [3334, 3333, 3333]);
  assert.equal(alpha?.total, 1000 + 25 + 20 + 3334);

  for (const t of c.tenants) assert.equal(t.total, t.nodeShare + t.database + t.backups + t.shared, `${t.name}: its total is the sum of its parts`);
  const sum = (f: (t: (typeof c.tenants)[number]) => number) => c.tenants.reduce((n, t) => n + f(t), 0);
  assert.equal(c.total.total, sum((t) => t.total));
  assert.equal(c.total.shared, c.shared.total, "every cent of the shared costs lands on a tenant");
  assert.equal(c.total.nodeShare, sum((t) => t.nodeShare));
  assert.equal(c.total.vm, sum((t) => t.vm.total));
  assert.equal(c.total.saving, c.total.vm - c.total.total);
  assert.equal(formatHundredths(c.total.total), "135.46");
  // 500m and 5 GiB of a 4 CPU, 16 GiB node: memory decides, one node.
  assert.deepEqual(c.capacity, [{ flavor: "pool-4", requests: { cpuMillis: 500, memoryBytes: 5 * GIB }, nodesNeeded: 1, monthly: 10000 }]);
});

test("as a VM: the instance, the database beyond the VM's own disk on block storage, and the same backups", () => {
  const c = fleetCost(fleet([
    tenant("big", { databaseBytes: 45 * GB, backupBytes: 50 * GB }),
    tenant("small", { databaseBytes: 1 * GB }),
  ]), PRICES);
  const [big, small] = c.tenants;
  // vm-2 has 50 GB of its own, 10 of them for the system: 45 GB of data leave 5 GB for a volume.
  assert.deepEqual(big?.vm, { flavor: "vm-2", instance: 4000, extraDiskCentiGB: 500, extraDisk: 50, backups: 100, total: 4150 });
  assert.equal(big?.saving, 4150 - big.total);
  assert.deepEqual(small?.vm, { flavor: "vm-2", instance: 4000, extraDiskCentiGB: 0, extraDisk: 0, backups: 0, total: 4000 });
  assert.equal(small?.saving, 4000 - (1000 + 10));
});

test("a tenant without backups costs nothing for them, here or as a VM", () => {
  const c = fleetCost(fleet([tenant("nobackup", { backupBytes: 0, backupCount: 0, databaseBytes: GB })]), PRICES);
  const t = c.tenants[0];
  assert.equal(t?.backups, 0);
  assert.equal(t?.backupCentiGB, 0);
  assert.equal(t?.vm.backups, 0);
  assert.equal(t?.total, 1000 + 10);
});

test("an unknown flavor fails with a sentence naming it and the known ones", () => {
  const run = (over: Partial<TenantInput>) => () => fleetCost(fleet([tenant("x", over)]), PRICES);
  assert.throws(run({ flavor: "b9-1" }), (err: unknown) => err instanceof UserError
    && /flavor "b9-1" has no price in the price table of 2026-01-01 \(known: pool-4, sys-2, vm-2\)/.test(err.message));
  assert.throws(run({ vmFlavor: "nope" }), /flavor "nope" has no price/);
  assert.throws(() => fleetCost(fleet([tenant("x")], { systemNodes: [{ flavor: "gone", count: 1 }] }), PRICES), /flavor "gone" has no price/);
  assert.throws(() => fleetCost(fleet([tenant("x")], { controlPlane: "unknown" }), PRICES), /no price for the Managed Kubernetes unknown plan: no price found/);
});

test("shared costs are split over the whole fleet, also when only some tenants are reported", () => {
  const c = fleetCost(fleet([tenant("b")], { fleet: ["a", "b", "c", "d"], systemNodes: [{ flavor: "sys-2", count: 1 }] }), PRICES);
  assert.equal(c.shared.tenants, 4);
  assert.equal(c.tenants[0]?.shared, 875, "€35 over four tenants");
  assert.throws(() => fleetCost(fleet([tenant("z")], { fleet: ["a"] }), PRICES), /not part of the fleet/);
});

test("splitting to the cent: the parts always add up to the whole and differ by at most one cent", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 50 }), (total, names) => {
    const parts = [...splitEqually(total, names).values()];
    assert.equal(parts.reduce((a, b) => a + b, 0), total);
    assert.ok(Math.max(...parts) - Math.min(...parts) <= 1);
  }));
});

test("whatever the fleet, every column of the rows adds up to the fleet total", () => {
  const arbTenant = fc.record({
    cpu: fc.integer({ min: 0, max: 8000 }), mem: fc.integer({ min: 0, max: 32 * GIB }),
    db: fc.integer({ min: 0, max: 500 * GB }), backup: fc.integer({ min: 0, max: 2000 * GB }), flavor: fc.constantFrom("pool-4", "vm-2"),
  });
  fc.assert(fc.property(fc.array(arbTenant, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 5 }), (ts, sys) => {
    const c = fleetCost(fleet(ts.map((t, i) => tenant(`t${i}`, { requests: { cpuMillis: t.cpu, memoryBytes: t.mem }, flavor: t.flavor, databaseBytes: t.db, backupBytes: t.backup })),
      { systemNodes: [{ flavor: "sys-2", count: sys }], controlPlane: "paid" }), PRICES);
    const sum = (f: (t: (typeof c.tenants)[number]) => number) => c.tenants.reduce((n, t) => n + f(t), 0);
    assert.equal(sum((t) => t.total), c.total.total);
    assert.equal(sum((t) => t.nodeShare) + sum((t) => t.database) + sum((t) => t.backups) + sum((t) => t.shared), c.total.total);
    assert.equal(c.total.shared, c.shared.total);
    assert.equal(sum((t) => t.databaseCentiGB), c.total.databaseCentiGB);
    assert.equal(sum((t) => t.saving), c.total.saving);
  }));
});

test("allocatable: as the nodes report it, else OVH's reservation taken off the flavor", () => {
  assert.deepEqual(allocatableOf(PRICES, "pool-4", MEASURED), { resources: { cpuMillis: 4000, memoryBytes: 16 * GIB }, from: "nodes" });
  // 4 vCPU less 0.15 + 4 × 0.005 = 3.83 CPU; 16 GiB less 1.5 + 5% of 16 = 13.7 GiB.
  const a = allocatableOf(PRICES, "pool-4");
  assert.equal(a.from, "reservation-formula");
  assert.equal(a.resources.cpuMillis, 3830);
  assert.equal(a.resources.memoryBytes, Math.round(13.7 * GIB));
});

test("steady requests: tracker and web at their minimum replicas, the queue worker when there is one, nothing while suspended", () => {
  const small = PlanSpec.parse(BUILT_IN_PLANS.find((p) => p.metadata.name === "small")?.spec);
  // 2 × (100m, 128Mi) + 1 × (100m, 256Mi)
  assert.deepEqual(steadyRequests(small, { suspended: false, queueWorker: false }), { cpuMillis: 300, memoryBytes: 512 * 2 ** 20 });
  assert.deepEqual(steadyRequests(small, { suspended: false, queueWorker: true }), { cpuMillis: 400, memoryBytes: 768 * 2 ** 20 });
  assert.deepEqual(steadyRequests(small, { suspended: true, queueWorker: true }), { cpuMillis: 0, memoryBytes: 0 });
});

test("the shipped price file is valid: every figure names one of its sources", () => {
  const p = loadPrices();
  assert.match(p.date, /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(p.flavors["b3-8"] && p.blockStorage["high-speed"] && p.objectStorage.standard && p.kubernetesControlPlane.free);
  const bad = PriceTable.safeParse({ ...p, flavors: { ...p.flavors, x: { ...p.flavors["b3-8"], source: "nowhere" } } });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? "", /names source "nowhere", which the file's sources do not list/);
});
