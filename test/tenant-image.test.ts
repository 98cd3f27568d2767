// The tenant image on the real node, under the contract of deploy/images/matomo/README.md: a tenant's
// tracker pods, exactly as the operator renders them (its config mounted from the tenant's ConfigMap and
// Secret), moved onto the real node; /healthz.php answers 200 through the tenant's tracker Service, the
// container runs as uid 33 and cannot write its root filesystem. Needs a Matomo release archive
// (~/.cache/matomo-multiscale/matomo-archives or MMS_MATOMO_ARCHIVE); skips with one line without one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { createConnection } from "mysql2/promise";
import { API_GROUP_VERSION, tenantNamespace } from "../src/api/names.ts";
import { endpoints, readStatus } from "../src/devcluster/environment.ts";
import { archiveVersion, locateMatomoArchive, matomoArchivesDir } from "../src/devcluster/images.ts";
import { REAL_NODE_LABEL, realNodeName } from "../src/devcluster/real-node.ts";
import { loadKubeConfig } from "../src/kube/client.ts";
import { KubeHttp, type KubeObject } from "../src/kube/http.ts";
import { createTenant, waitReady } from "../src/tenants/service.ts";
import { eventually, runMms, uniqueName } from "./helpers.ts";

interface Pod { metadata: { name: string }; spec: { nodeName?: string }; status?: { phase?: string; containerStatuses?: { ready?: boolean; containerID?: string }[] } }

const run = promisify(execFile);
let http: KubeHttp;
let kubeconfig: string;
let kubectl: string;
let skip: string | undefined;
let version: string;
const tenant = uniqueName("realmatomo");
const ns = tenantNamespace(tenant);

before(async () => {
  if ((await readStatus()).realNodes.desired === 0) {
    skip = "the dev environment runs without a real node (--real-nodes 0)";
    return;
  }
  const archive = await locateMatomoArchive({});
  if (archive === undefined) {
    skip = `no Matomo release archive in ${matomoArchivesDir()} (nor MMS_MATOMO_ARCHIVE): the tenant image cannot be built here`;
    return;
  }
  version = await archiveVersion(archive);
  const e = await endpoints();
  kubeconfig = e.kubeconfig;
  kubectl = join(e.kubectlDir, "kubectl");
  http = new KubeHttp(loadKubeConfig({ kubeconfig }));
});

after(async () => {
  if (skip) return;
  await http.delete(API_GROUP_VERSION, "MatomoTenant", tenant).catch(() => undefined);
  const db = await createConnection((await endpoints()).mariadb);
  const d = `mt_${tenant.replaceAll("-", "_")}`;
  await db.query(`DROP DATABASE IF EXISTS \`${d}\``);
  await db.query("DROP USER IF EXISTS ?@'%'", [d]);
  await db.end();
});

describe("the tenant image on the real node", () => {
  test("a tenant's tracker, moved onto the real node, answers /healthz.php through its Service, as uid 33 on a read-only root filesystem", async (t) => {
    if (skip) return t.skip(skip);
    const built = await runMms(["images", "build", "--only", "matomo"]);
    assert.equal(built.code, 0, built.stderr);

    await createTenant(http, { name: tenant, domains: [`analytics.${tenant}.test`], matomoVersion: version });
    const ready = await waitReady(http, tenant, 180_000);
    assert.ok(ready.ok, `tenant ${tenant} should become Ready: ${ready.failing?.message}`);
    // The operator's own pod template, with only a place added: the real node.
    await http.mergePatch("apps/v1", "Deployment", "tracker", {
      spec: { template: { spec: {
        nodeSelector: { [REAL_NODE_LABEL]: "true" },
        tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
      } } },
    }, ns);
    const pods = await eventually("the tracker's pods Running and ready on the real node, none elsewhere", async () => {
      const list = (await http.list<Pod & KubeObject>("v1", "Pod", ns, "app.kubernetes.io/component=tracker")).items;
      const ok = list.length > 0 && list.every((p) => p.spec.nodeName === realNodeName(1) && p.status?.phase === "Running" && p.status.containerStatuses?.every((c) => c.ready));
      return ok ? list : undefined;
    }, 240_000);
    assert.match(pods[0]?.status?.containerStatuses?.[0]?.containerID ?? "", /^containerd:\/\//);

    const svc = await http.get<{ spec: { clusterIP: string; ports: { port: number }[] } } & KubeObject>("v1", "Service", "tracker", ns);
    // kube-proxy follows the rollout's endpoints within a few seconds: until then a request may go to a pod
    // that has just been replaced.
    const body = await eventually("healthz to answer 200 through the tracker Service", async () => {
      const res = await fetch(`http://${svc.spec.clusterIP}:${svc.spec.ports[0]?.port ?? 80}/healthz.php`, { signal: AbortSignal.timeout(3_000) });
      return res.status === 200 ? res.text() : undefined;
    }, 60_000);
    assert.match(body, /^ok/);

    const exec = (...cmd: string[]) => run(kubectl, ["--kubeconfig", kubeconfig, "exec", "-n", ns, pods[0]!.metadata.name, "--", ...cmd]);
    assert.equal((await exec("id", "-u")).stdout.trim(), "33");
    const root = (await exec("sh", "-c", "awk '$2 == \"/\" { print $4 }' /proc/mounts")).stdout.trim();
    assert.match(root, /^ro(,|$)/, "the root filesystem is mounted read-only");
    await exec("touch", "/var/www/html/tmp/probe"); // and its writable paths are writable
    const config = (await exec("cat", "/var/www/html/config/common.config.ini.php")).stdout;
    assert.ok(config.includes(`analytics.${tenant}.test`), "the tenant's rendered config is mounted");
  });
});
