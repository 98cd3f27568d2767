import { test } from "node:test";
import assert from "node:assert/strict";
import { addressPlan, addressSlot, inClusterRange } from "./addresses.ts";

test("the default environment's addresses: nodes, pods, simulated pods and Services in its own /20 of 198.18.0.0/15", () => {
  const p = addressPlan(17000);
  assert.equal(p.slot, 10);
  assert.equal(p.block, "198.18.160.0/20");
  assert.equal(p.nodeSubnet, "198.18.160.0/24");
  assert.equal(p.hostIp, "198.18.160.1");
  assert.equal(p.nodeIp(1), "198.18.160.2");
  assert.equal(p.podSubnet(1), "198.18.161.0/24");
  assert.equal(p.podSubnet(3), "198.18.163.0/24");
  assert.equal(p.serviceCidr, "198.18.164.0/22");
  assert.equal(p.apiServiceIp, "198.18.164.1");
  assert.equal(p.dnsServiceIp, "198.18.164.10");
  assert.equal(p.simulatedPodCidr, "198.18.168.1/21");
  assert.throws(() => p.nodeIp(4), /real nodes 1 to 3/);
});

test("every address of every slot is in the lab range, never in 10/8, 172.16/12, 192.168/16 or public space", () => {
  for (let base = 1000; base <= 64000; base += 100) {
    const p = addressPlan(base);
    const all = [p.hostIp, p.apiServiceIp, p.dnsServiceIp, p.nodeIp(1), p.nodeIp(3), p.podSubnet(3).split("/")[0] as string, p.serviceCidr.split("/")[0] as string,
      p.simulatedPodCidr.split("/")[0] as string];
    for (const a of all) assert.ok(inClusterRange(a), `${a} (port base ${base})`);
  }
  assert.equal(addressPlan(3100).block, "198.19.240.0/20", "the last slot ends the range");
});

test("the environments the tests and benchmarks run side by side get different blocks", () => {
  const bases = [17000, 24000, 26000, 27000, 28000, 28100, 28400, 29000, 31000];
  const slots = bases.map(addressSlot);
  assert.equal(new Set(slots).size, bases.length, `slots ${slots.join(", ")}`);
});

test("inClusterRange tells the lab range from everything else", () => {
  assert.ok(inClusterRange("198.19.255.255"));
  assert.ok(!inClusterRange("198.20.0.1"));
  assert.ok(!inClusterRange("10.96.0.1"));
  assert.ok(!inClusterRange("192.168.1.1"));
  assert.ok(!inClusterRange("not.an.ip.address"));
});
