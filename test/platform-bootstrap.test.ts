// `mms platform bootstrap` as a user runs it after `terraform apply`: a kubeconfig and the platform values
// taken out of `terraform output -json` (here: shaped like it, from what the dev environment runs on: its
// chart values, its S3 bucket and MariaDB). Run twice, the second run changes nothing: no Helm revision,
// no object written. A dry run of a change writes nothing; a bad file is refused before anything is done.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { SYSTEM_NAMESPACE } from "../src/api/admission.ts";
import { API_GROUP_VERSION } from "../src/api/names.ts";
import { DEV_POOL } from "../src/devcluster/components.ts";
import { currentPaths, endpoints, readStatus } from "../src/devcluster/environment.ts";
import { helmPath, platformValuesFile } from "../src/devcluster/platform-chart.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { PLATFORM_RELEASE } from "../src/platform/release.ts";
import { runMms } from "./helpers.ts";

/**
 * The dev environment's own store and pool, with their specs as they are: bootstrap then takes them over
 * unchanged, so other tests (which back up through the pool's store) see the same objects afterwards.
 */
const STORE = "default";

let http: KubeHttp;
let dir: string;
let realNodes = 0;

interface Step { kind: string; name: string; action: string }

const decode = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** `terraform output -json` of deploy/terraform/environments/*, made from the dev environment's own parts. */
async function terraformOutputs(capacity: number): Promise<unknown> {
  const store = await http.get<KubeObject & { spec: { endpoint: string; region: string; bucket: string } }>(API_GROUP_VERSION, "BackupStore", "default");
  const storeKey = await http.get<{ data: Record<string, string> }>("v1", "Secret", "backup-store-default", SYSTEM_NAMESPACE);
  const pool = await http.get<KubeObject & { spec: { host: string; port: number } }>(API_GROUP_VERSION, "DatabasePool", DEV_POOL);
  const admin = await http.get<{ data: Record<string, string> }>("v1", "Secret", `${DEV_POOL}-admin`, SYSTEM_NAMESPACE);
  const platform = {
    chart: parse(await readFile(platformValuesFile(currentPaths()), "utf8")) as unknown,
    backupStore: {
      name: STORE, endpoint: store.spec.endpoint, region: store.spec.region, bucket: store.spec.bucket, prefix: "",
      accessKeyId: decode(storeKey.data["access-key-id"]), secretAccessKey: decode(storeKey.data["secret-access-key"]),
    },
    databasePool: { name: DEV_POOL, host: pool.spec.host, port: pool.spec.port, username: decode(admin.data.username), password: decode(admin.data.password), capacity },
  };
  return {
    kubeconfig: { sensitive: true, type: "string", value: await readFile((await endpoints()).kubeconfig, "utf8") },
    platform: { sensitive: true, type: ["object", {}], value: platform },
  };
}

/** What a change would show: resourceVersions of the release's revisions, the operator and every object bootstrap owns. */
async function versions(): Promise<Record<string, string | undefined>> {
  const rv = async (apiVersion: string, kind: string, name: string, ns?: string) =>
    (await http.getOrUndefined<KubeObject>(apiVersion, kind, name, ns))?.metadata.resourceVersion as string | undefined;
  const revisions = await http.list<KubeObject>("v1", "Secret", SYSTEM_NAMESPACE, `owner=helm,name=${PLATFORM_RELEASE}`);
  return {
    revisions: revisions.items.map((s) => `${s.metadata.name}@${String(s.metadata.resourceVersion)}`).sort().join(","),
    operator: await rv("apps/v1", "Deployment", "mms-operator", SYSTEM_NAMESPACE),
    store: await rv(API_GROUP_VERSION, "BackupStore", STORE),
    storeKey: await rv("v1", "Secret", `backup-store-${STORE}`, SYSTEM_NAMESPACE),
    pool: await rv(API_GROUP_VERSION, "DatabasePool", DEV_POOL),
    poolAdmin: await rv("v1", "Secret", `${DEV_POOL}-admin`, SYSTEM_NAMESPACE),
  };
}

/** Writes the outputs like a pipeline does (kubeconfig and platform values in private files) and bootstraps. */
async function bootstrap(outputs: unknown, ...extra: string[]) {
  const o = outputs as { kubeconfig: { value: string }; platform: { value: unknown } };
  await writeFile(join(dir, "kubeconfig.yaml"), o.kubeconfig.value, { mode: 0o600 });
  await writeFile(join(dir, "platform.json"), JSON.stringify(o.platform.value), { mode: 0o600 });
  const r = await runMms(["--kubeconfig", join(dir, "kubeconfig.yaml"), "platform", "bootstrap", "--values", join(dir, "platform.json"), "--helm", helmPath(), "-o", "json", ...extra]);
  return { ...r, steps: r.code === 0 ? (JSON.parse(r.stdout) as { steps: Step[] }).steps : [] };
}

const actions = (steps: Step[]) => Object.fromEntries(steps.map((s) => [`${s.kind}/${s.name}`, s.action]));

before(async () => {
  const e = await endpoints();
  http = new KubeHttp(loadKubeConfig({ kubeconfig: e.kubeconfig }));
  realNodes = (await readStatus()).realNodes.desired;
  dir = await mkdtemp(join(tmpdir(), "mms-bootstrap-test-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("mms platform bootstrap (from Terraform's outputs)", () => {
  test("a second run with the same outputs changes nothing: no Helm revision, no object written", async (t) => {
    if (realNodes === 0) return t.skip("the platform's chart runs on a real node; this environment has none");
    const outputs = await terraformOutputs(1000);
    const first = await bootstrap(outputs);
    assert.equal(first.code, 0, first.stderr);
    // Every object of the values and the release, each said once: the release first, then the objects.
    assert.deepEqual(first.steps.map((s) => `${s.kind}/${s.name}`), [
      `HelmRelease/${PLATFORM_RELEASE}`, `Secret/backup-store-${STORE}`, `BackupStore/${STORE}`, `Secret/${DEV_POOL}-admin`, `DatabasePool/${DEV_POOL}`,
    ]);
    const pool = await http.get<KubeObject & { spec: { capacity: number; backup: { store: string }; adminSecretRef: { name: string } } }>(API_GROUP_VERSION, "DatabasePool", DEV_POOL);
    assert.deepEqual([pool.spec.capacity, pool.spec.backup.store, pool.spec.adminSecretRef.name], [1000, STORE, `${DEV_POOL}-admin`]);

    const before = await versions();
    const second = await bootstrap(outputs);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(second.steps.filter((s) => s.action !== "unchanged"), [], second.stdout);
    assert.deepEqual(await versions(), before, "the second run wrote something");
    // The table a person reads says so in one line.
    const table = await runMms(["--kubeconfig", join(dir, "kubeconfig.yaml"), "platform", "bootstrap", "--values", join(dir, "platform.json"), "--helm", helmPath(), "-q"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /nothing to change/);
  });

  test("a dry run shows a change (a pool's capacity) and writes nothing", async (t) => {
    if (realNodes === 0) return t.skip("the platform's chart runs on a real node; this environment has none");
    await bootstrap(await terraformOutputs(1000));
    const before = await versions();
    const r = await bootstrap(await terraformOutputs(999), "--dry-run");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(actions(r.steps)[`DatabasePool/${DEV_POOL}`], "would update", r.stdout);
    assert.equal(actions(r.steps)[`HelmRelease/${PLATFORM_RELEASE}`], "unchanged", r.stdout);
    assert.deepEqual(await versions(), before);
  });

  test("a bad values file is refused with the field's path, without its secrets, and nothing is changed", async (t) => {
    if (realNodes === 0) return t.skip("the platform's chart runs on a real node; this environment has none");
    const outputs = await terraformOutputs(1000) as { platform: { value: { backupStore: Record<string, unknown> } } };
    const secret = String(outputs.platform.value.backupStore.secretAccessKey);
    outputs.platform.value.backupStore.bucket = "Bad_Bucket";
    const before = await versions();
    const r = await bootstrap(outputs);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /backupStore\.bucket: must be a bucket name/);
    assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), "the secret key was printed");
    assert.deepEqual(await versions(), before);
  });
});
