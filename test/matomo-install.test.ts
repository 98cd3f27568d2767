// Real Matomo, step 1: a tenant created with the CLI on the real node is installed by its install Job with
// the platform's rendered config, and is Ready only once Matomo answers (tracker: matomo.js, matomo.php;
// web: the login page and the Reporting API, with the platform's own token, which never leaves the
// tenant's Secret). A version without an image and a version outside 5.x say so plainly.
// Run alone: scripts/test test/matomo-*.test.ts. Needs the real node and the Matomo archives in
// ~/.cache/matomo-multiscale/matomo-archives; skips with one line without them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { RowDataPacket } from "mysql2";
import { tenantNamespace } from "../src/api/names.ts";
import { currentPaths } from "../src/devcluster/environment.ts";
import { matomoRequest, reportingApi } from "../src/matomo/client.ts";
import { eventually, uniqueName } from "./helpers.ts";
import { createMatomoTenant, getTenant, matomoBed, mms, NEWER, removeMatomoTenant, tenantDatabase, tenantMatomo, type MatomoBed } from "./support/matomo.ts";

const exec = promisify(execFile);
let bed: MatomoBed | undefined;
let skip: string | undefined;
const tenant = uniqueName("mi");
const noImage = uniqueName("mi-noimg");

before(async () => {
  const b = await matomoBed([NEWER]);
  if ("skip" in b) skip = b.skip;
  else bed = b;
});

after(async () => {
  if (!bed) return;
  for (const t of [tenant, noImage]) await removeMatomoTenant(bed.http, t);
});

describe("matomo: install and Ready on the real node", () => {
  test("a new tenant's install Job installs Matomo; Ready means the tracker, the web and the Reporting API answer", async (t) => {
    if (!bed) return t.skip(skip);
    const created = await createMatomoTenant(tenant, NEWER);
    assert.equal(created.code, 0, `mms tenant create --wait: ${created.stderr}`);

    const obj = await getTenant(bed.http, tenant);
    const cond = (type: string) => obj.status?.conditions?.find((c) => c.type === type);
    assert.equal(cond("Ready")?.status, "True");
    assert.equal(cond("MatomoAnswering")?.reason, "Answering");
    assert.match(cond("MatomoAnswering")?.message ?? "", new RegExp(`Matomo ${NEWER.replaceAll(".", "\\.")} answers`));
    assert.equal(obj.status?.runningVersion, NEWER);

    const m = await tenantMatomo(bed.http, tenant);
    assert.match(m.token, /^[0-9a-f]{32}$/, "the platform's token is in the tenant Secret");
    const js = await matomoRequest(m.tracker, "/matomo.js");
    assert.equal(js.status, 200);
    assert.match(String(js.headers["content-type"]), /javascript/);
    assert.equal((await matomoRequest(m.tracker, "/matomo.php")).status, 200);
    assert.equal((await matomoRequest(m.tracker, "/index.php?module=Login")).status, 404, "the tracker serves tracking only");
    const login = await matomoRequest(m.web, "/index.php?module=Login");
    assert.equal(login.status, 200);
    assert.match(login.body, /login_form/);
    assert.deepEqual(await reportingApi(m.web, m.token, "API.getMatomoVersion"), { value: NEWER });
    const sites = await reportingApi<{ idsite: string; main_url: string }[]>(m.web, m.token, "SitesManager.getAllSites");
    assert.deepEqual(Object.values(sites).map((s) => s.main_url), [`https://analytics.${tenant}.test`], "the install Job's first website");
    await assert.rejects(reportingApi(m.web, "0".repeat(32), "SitesManager.getAllSites"), /token|access/i, "another token is refused");

    // Matomo's own tables: the schema in utf8mb4 (the rendered charset and collation), the token hashed.
    const db = await tenantDatabase(tenant);
    try {
      const [tables] = await db.query<({ TABLE_NAME: string; TABLE_COLLATION: string } & RowDataPacket)[]>(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.tables WHERE table_schema = DATABASE()");
      assert.ok(tables.some((r) => r.TABLE_NAME === "matomo_log_visit"), "Matomo's schema with the platform's table prefix");
      const other = tables.filter((r) => !r.TABLE_COLLATION.startsWith("utf8mb4"));
      assert.deepEqual(other.map((r) => `${r.TABLE_NAME} ${r.TABLE_COLLATION}`), [], "every table in utf8mb4");
      const [tokens] = await db.query<({ login: string; system_token: number; password: string } & RowDataPacket)[]>(
        "SELECT login, system_token, password FROM matomo_user_token_auth");
      assert.ok(tokens.some((r) => r.login === m.admin.user && r.system_token === 1), "the platform token belongs to the superuser, hidden from the UI");
      assert.ok(tokens.every((r) => r.password !== m.token), "stored hashed, never as is");
    } finally {
      await db.end();
    }

    // The token never leaves the Secret: not in the tenant's status, its events, the Job's log, the operator's log.
    assert.ok(!JSON.stringify(obj).includes(m.token), "not in the MatomoTenant");
    const ns = tenantNamespace(tenant);
    const events = await bed.http.list<unknown>("v1", "Event", ns);
    assert.ok(!JSON.stringify(events.items).includes(m.token), "not in the namespace's events");
    const jobLog = await exec(bed.kubectl, ["--kubeconfig", bed.kubeconfig, "-n", ns, "logs", "job/matomo-install"]).then((r) => r.stdout + r.stderr);
    assert.match(jobLog, /installed/, "the install Job's log is there to read");
    for (const secret of [m.token, m.admin.password]) assert.ok(!jobLog.includes(secret), "no secret in the install Job's log");
    const operatorLog = await readFile(join(currentPaths().logs, "operator.log"), "utf8").catch(() => "");
    assert.ok(!operatorLog.includes(m.token), "not in the operator's log");
  });

  test("a version with no image: the tenant's conditions say the image cannot be pulled, and which", async (t) => {
    if (!bed) return t.skip(skip);
    const created = await mms(["tenant", "create", noImage, "--domain", `analytics.${noImage}.test`, "--plan", "real-node", "--matomo-version", "5.0.0"]);
    assert.equal(created.code, 0, created.stderr);
    const workloads = await eventually("WorkloadsReady to name the image problem", async () => {
      const c = (await getTenant(bed!.http, noImage)).status?.conditions?.find((x) => x.type === "WorkloadsReady");
      return c && /^(ErrImagePull|ImagePullBackOff)$/.test(c.reason) ? c : undefined;
    }, 120_000);
    assert.match(workloads.message, /cannot pull its image ghcr\.io\/matomo-multiscale\/matomo:5\.0\.0/);
    const ready = (await getTenant(bed.http, noImage)).status?.conditions?.find((x) => x.type === "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, workloads.reason, "Ready says the same reason");
  });

  test("a version outside 5.x is refused by the API server itself, naming the supported range", async (t) => {
    if (!bed) return t.skip(skip);
    const name = uniqueName("mi-old");
    const manifest = JSON.stringify({ apiVersion: "multiscale.io/v1alpha1", kind: "MatomoTenant", metadata: { name }, spec: { domains: [`${name}.test`], matomoVersion: "3.14.1" } });
    const r = await new Promise<{ code: number; stderr: string }>((done) => {
      const child = execFile(bed!.kubectl, ["--kubeconfig", bed!.kubeconfig, "apply", "-f", "-"], (err, _out, stderr) => done({ code: err ? 1 : 0, stderr }));
      child.stdin?.end(manifest);
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Matomo 3\.14\.1 is not supported: the platform runs Matomo 5\.x/);
    const cli = await mms(["tenant", "create", name, "--domain", `${name}.test`, "--matomo-version", "3.14.1"]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /Matomo 3\.14\.1 is not supported: the platform runs Matomo 5\.x \(5\.0\.0 up to, not including, 6\.0\.0\)/);
  });
});
