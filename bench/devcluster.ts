// Benchmark: how long `mms dev up` takes on a fresh environment (new data folders, certificates,
// MariaDB initialisation) and on a warm one (data kept, processes stopped), with cached binaries.
// With --include-build the binary and Go caches are empty too, so the cold figure includes the
// full build from the Go module proxy (many minutes). Prints one JSON object as its last line.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createProgress } from "../src/util/progress.ts";
import { down, up } from "../src/devcluster/environment.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "3" },
    "warm-runs": { type: "string", default: "3" },
    "include-build": { type: "boolean", default: false },
    "port-base": { type: "string", default: "29000" },
  },
});
const nodes = Number(values.nodes);
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-"));
const env: NodeJS.ProcessEnv = { ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"] };
if (values["include-build"]) {
  env.MMS_CACHE_DIR = join(scratch, "cache");
  env.GOCACHE = join(scratch, "gocache");
  env.GOMODCACHE = join(scratch, "gomod");
}
const progress = createProgress(process.stderr);
const timed = async () => {
  const t = performance.now();
  const r = await up({ nodes, progress, env });
  if (r.alreadyUp) throw new Error("the benchmark environment was already up");
  return (performance.now() - t) / 1000;
};

try {
  const cold = await timed();
  await down(env);
  const warm: number[] = [];
  for (let i = 0; i < Number(values["warm-runs"]); i++) {
    warm.push(await timed());
    await down(env);
  }
  warm.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  console.log(JSON.stringify({
    benchmark: "devcluster",
    nodes,
    includesBuild: values["include-build"],
    coldStartSeconds: round(cold),
    warmStartSeconds: warm.map(round),
    warmStartMedianSeconds: round(warm[Math.floor(warm.length / 2)] ?? NaN),
  }));
} finally {
  await down(env).catch(() => undefined);
  if (values["include-build"]) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  else await rm(scratch, { recursive: true, force: true });
}
