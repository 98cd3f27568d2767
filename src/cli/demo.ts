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
      progress.step(`onboarding ${DEMO_TENANTS.length} tenants`);
      const results = await Promise.all(DEMO_TENANTS.map(async (t) => {
        const existing = await http.getOrUndefined(API_GROUP_VERSION, "MatomoTenant", t.name);
        if (!existing) await createTenant(http, { name: t.name, domains: t.domains, plan: t.plan });
        const r = await waitReady(http, t.name, 180_000);
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
  kubectl get all -n mt-acme           # what one tenant is made of
  bin/mms tenant create NAME --domain analytics.NAME.test --wait
  bin/mms dev down                     # stop everything (data is kept)
`);
    });
}
