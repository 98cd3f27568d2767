// Benchmark: how long `mms dev up` takes on a fresh environment (new data folders, certificates,
// MariaDB initialisation, the real node's network, the pause image) and on a warm one (data kept,
// processes stopped), with cached binaries; and how long `mms images build` takes cold (empty image
// cache: the Debian base from mmdebstrap, the control-plane image, the tenant image when a Matomo archive
// is there) and cached (nothing changed). With --include-build the binary and Go caches are empty too,
// so the cold figures include the full build from the Go module proxy (many minutes).
// Prints one JSON object as its last line.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createProgress } from "../src/util/progress.ts";
import { down, up } from "../src/devcluster/environment.ts";
import { buildImages } from "../src/devcluster/images.ts";
import { binCacheDir, cacheRoot } from "../src/devcluster/paths.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "3" },
    "real-nodes": { type: "string", default: "1" },
    "warm-runs": { type: "string", default: "3" },
    "include-build": { type: "boolean", default: false },
    "skip-images": { type: "boolean", default: false },
    "port-base": { type: "string", default: "29000" },
  },
});
const nodes = Number(values.nodes);
const realNodes = Number(values["real-nodes"]);
const scratch = await mkdtemp(join(tmpdir(), "mms-bench-"));
const env: NodeJS.ProcessEnv = { ...process.env, MMS_DEV_HOME: join(scratch, "env"), MMS_DEV_PORT_BASE: values["port-base"] };
// A cache of its own, so images (and the pause image) are built from nothing; unless --include-build,
// the built binaries and the Matomo archives are the machine's, linked in.
const shared = cacheRoot(process.env);
env.MMS_CACHE_DIR = join(scratch, "cache");
await mkdir(env.MMS_CACHE_DIR, { recursive: true });
if (values["include-build"]) {
  env.GOCACHE = join(scratch, "gocache");
  env.GOMODCACHE = join(scratch, "gomod");
} else {
  await symlink(binCacheDir(process.env), join(env.MMS_CACHE_DIR, "bin"));
}
if (existsSync(join(shared, "matomo-archives"))) await symlink(join(shared, "matomo-archives"), join(env.MMS_CACHE_DIR, "matomo-archives"));

const progress = createProgress(process.stderr);
const seconds = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};
const round = (x: number) => Math.round(x * 100) / 100;

try {
  let images: Record<string, unknown> = { measured: false };
  if (!values["skip-images"]) {
    let built: Awaited<ReturnType<typeof buildImages>> | undefined;
    const cold = await seconds(async () => (built = await buildImages({ progress, env, runtimes: [] })));
    const cached = await seconds(() => buildImages({ progress, env, runtimes: [] }));
    images = {
      measured: true,
      coldSeconds: round(cold),
      cachedSeconds: round(cached),
      baseSeconds: round(built?.base?.seconds ?? 0),
      perImage: Object.fromEntries((built?.images ?? []).map((i) => [i.name, { seconds: round(i.seconds), sizeBytes: i.size }])),
      ...(built?.skipped ? { skipped: built.skipped } : {}),
    };
  }
  const timedUp = () => seconds(async () => {
    const r = await up({ nodes, realNodes, progress, env });
    if (r.alreadyUp) throw new Error("the benchmark environment was already up");
  });
  const cold = await timedUp();
  await down(env);
  const warm: number[] = [];
  for (let i = 0; i < Number(values["warm-runs"]); i++) {
    warm.push(await timedUp());
    await down(env);
  }
  warm.sort((a, b) => a - b);
  console.log(JSON.stringify({
    benchmark: "devcluster",
    nodes,
    realNodes,
    includesBuild: values["include-build"],
    coldStartSeconds: round(cold),
    warmStartSeconds: warm.map(round),
    warmStartMedianSeconds: round(warm[Math.floor(warm.length / 2)] ?? NaN),
    imagesBuild: images,
  }));
} finally {
  await down(env).catch(() => undefined);
  await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}
