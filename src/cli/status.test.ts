import { test } from "node:test";
import assert from "node:assert/strict";
import { summarizeFleet } from "../controllers/fleet-status.ts";
import { buildProgram } from "./main.ts";
import { renderStatus } from "./status.ts";

const NOW = Date.parse("2026-11-30T12:00:00Z");

test("the table shows the counts, each problem by name, and 'none' where there is nothing", () => {
  const summary = summarizeFleet({
    now: NOW,
    tenants: [{
      name: "acme", plan: "small", version: "5.2.1", pool: "p1", suspended: false, deleting: false, createdAt: NOW - 86_400_000,
      conditions: [{ type: "Ready", status: "False", reason: "PoolUnreachable", message: "pool p1 does not answer" }], ready: false,
      lastBackupAt: NOW - 3 * 3_600_000, rpoSeconds: 3600, lastVerifiedAt: NOW - 3_600_000, archiving: {},
    }],
    nodes: [{ name: "n1", ready: true }], remediations: [], stormEvents: [],
  });
  const text = renderStatus(summary, NOW);
  assert.match(text, /^Tenants: 1, 0 Ready, 1 not Ready$/m);
  assert.match(text, /^Ready\s+0\s+1\s+0$/m);
  assert.match(text, /^acme\s+PoolUnreachable\s+pool p1 does not answer$/m);
  assert.match(text, /^acme\s+3h ago\s+1h$/m, "the backup three hours old against an hourly RPO");
  assert.match(text, /^Archiving failed: none$/m);
  assert.match(text, /^Storm protection: not engaged$/m);
});

test("--help says what the exit code means", () => {
  const status = buildProgram().commands.find((c) => c.name() === "status");
  let help = "";
  status?.configureOutput({ writeOut: (s) => (help += s) }).outputHelp();
  assert.match(help, /Exit code: 0 when nothing needs attention, 1 when something does/);
});
