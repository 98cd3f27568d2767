// `mms demo`: the one command that shows the product working on this machine: it brings the dev
// environment up (building it the first time), onboards three tenants and shows how long each took.
import type { Command } from "commander";
import { DEFAULT_NODES, up } from "../devcluster/environment.ts";
import { loadKubeConfig } from "../kube/client.ts";
import { KubeHttp } from "../kube/http.ts";
import { API_GROUP_VERSION } from "../api/names.ts";
import { createTenant, waitReady } from "../tenants/service.ts";
import { formatSeconds } from "../util/duration.ts";
import { createProgress } from "../util/progress.ts";
import { renderTable } from "./output.ts";
import { UserError } from "../util/errors.ts";
import { REAL_NODE_PLAN } from "../devcluster/components.ts";
import { archiveVersion, locateMatomoArchive } from "../devcluster/images.ts";

const DEMO_TENANTS = [
  { name: "acme", domains: ["analytics.acme.test"], plan: "small" },
  { name: "globex", domains: ["analytics.globex.test", "stats.globex.test"], plan: "medium" },
  { name: "initech", domains: ["analytics.initech.test"], plan: "large" },
] as const;

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("start the dev environment (building it the first time), onboard three tenants, show their URLs and onboarding times")
    .action(async () => {
      const progress = createProgress();
      const env = await up({ nodes: DEFAULT_NODES, progress });
      process.stderr.write(env.alreadyUp ? "dev environment already up\n" : `dev environment up in ${env.seconds.toFixed(1)} s\n`);
      const http = new KubeHttp(loadKubeConfig({ kubeconfig: env.status.kubeconfig }));
      const rows: string[][] = [];
      // With a real node and a Matomo archive in the cache, one more tenant runs real Matomo there.
      const archive = env.status.realNodes.desired > 0 ? await locateMatomoArchive({}) : undefined;
      const version = archive ? await archiveVersion(archive) : undefined;
      const tenants: { name: string; domains: readonly string[]; plan: string; matomoVersion?: string }[] = [...DEMO_TENANTS];
      if (version) tenants.push({ name: "umbrella", domains: ["analytics.umbrella.test"], plan: REAL_NODE_PLAN, matomoVersion: version });
      progress.step(`onboarding ${tenants.length} tenants${version ? `, umbrella with real Matomo ${version} on the real node` : ""}`);
      const results = await Promise.all(tenants.map(async (t) => {
        const existing = await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", t.name);
        if (!existing) await createTenant(http, { name: t.name, domains: t.domains, plan: t.plan, matomoVersion: t.matomoVersion });
        const r = await waitReady(http, t.name, 300_000);
        return { t, r, existed: Boolean(existing) };
      }));
      progress.done();
      for (const { t, r, existed } of results) {
        if (!r.ok) throw new UserError(`tenant ${t.name} did not become Ready: ${r.failing?.reason ?? "unknown"}: ${r.failing?.message ?? ""}`);
        const seconds = r.tenant?.status?.onboardingSeconds;
        rows.push([t.name, r.tenant?.spec.plan ?? t.plan, r.tenant?.status?.url ?? "-", r.tenant?.status?.database?.name ?? "-", existed ? `${seconds ?? "-"} s (earlier run)` : formatSeconds(r.elapsedMs)]);
      }
      process.stdout.write(renderTable(["tenant", "plan", "url", "database", "onboarded in"], rows));
      process.stdout.write(`
Next:
  eval "$(bin/mms dev env)"            # kubeconfig, kubectl and endpoints in this shell
  kubectl get matomotenants            # the tenants as the API server sees them
  kubectl get all -n mt-acme           # what one tenant is made of${version ? `
  curl -H 'Host: analytics.umbrella.test' "http://$(kubectl -n mt-umbrella get svc web -o jsonpath='{.spec.clusterIP}')/index.php?module=Login"
                                       # umbrella's real Matomo answering through its web Service` : `
  (put Matomo release archives in ~/.cache/matomo-multiscale/matomo-archives to add a tenant running real Matomo)`}
  bin/mms tenant create NAME --domain analytics.NAME.test --wait
  bin/mms dev down                     # stop everything (data is kept)
`);
    });
}
