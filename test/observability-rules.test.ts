// The platform's Prometheus rules (deploy/observability/rules): promtool (built from the Prometheus module)
// checks every rule file and runs every unit test file, and a rule changed under its tests or a broken file
// is caught. Read as data: every alert has a case where it fires and one where it does not, a severity, a
// summary, a description naming the tenant and a runbook page that exists and whose `mms` commands the CLI
// accepts; no rule groups by pod, IP, URL, user or instance. The chart's PrometheusRule renders these rules
// unchanged. No dev environment is needed (`node --test test/observability-rules.test.ts` works alone); the
// first run builds promtool and helm from the Go module proxy (minutes), later runs find them cached.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { RULES_DIR, generatedChartFiles } from "../src/cli/chart.ts";
import { ensureBuilt } from "../src/devcluster/build.ts";
import { BUILDS } from "../src/devcluster/versions.ts";
import { CHART_DIR } from "../src/platform/release.ts";
import { run } from "../src/util/exec.ts";
import { createProgress } from "../src/util/progress.ts";
import { analyzeScript, checkArgv } from "./support/argv-check.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TESTS_DIR = join(RULES_DIR, "tests");
const RUNBOOKS_DIR = join(ROOT, "docs", "runbooks");
const RUNBOOK_BASE = "https://github.com/matomo-multiscale/matomo-multiscale/blob/main/docs/runbooks/";
/** Labels that make series unbounded or identify people: never grouped by, never on an alert. */
const FORBIDDEN_LABELS = ["pod", "ip", "url", "user", "instance"];

interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface RuleFile { readonly name: string; readonly groups: readonly { readonly name: string; readonly rules: readonly Rule[] }[] }
interface AlertCase {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts?: readonly { readonly exp_labels?: Record<string, string>; readonly exp_annotations?: Record<string, string> }[];
}
interface TestFile { readonly name: string; readonly rule_files: readonly string[]; readonly tests: readonly { readonly name?: string; readonly alert_rule_test?: readonly AlertCase[] }[] }

const yamlIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
const RULE_FILES: readonly RuleFile[] = yamlIn(RULES_DIR).map((f) => ({ name: f, ...(parse(readFileSync(join(RULES_DIR, f), "utf8")) as Omit<RuleFile, "name">) }));
const TEST_FILES: readonly TestFile[] = yamlIn(TESTS_DIR).map((f) => ({ name: f, ...(parse(readFileSync(join(TESTS_DIR, f), "utf8")) as Omit<TestFile, "name">) }));
const rulesOf = (f: RuleFile) => f.groups.flatMap((g) => g.rules);
const ALERTS = RULE_FILES.flatMap((f) => rulesOf(f).filter((r) => r.alert !== undefined).map((r) => ({ file: f.name, rule: r, name: r.alert as string })));

/**
 * What a rule groups by that it must not: forbidden labels in any `by (…)`, any `without (…)` (it keeps
 * whatever finer labels the source has), and, in rules about tenants, grouping by anything but `tenant`
 * (and `le` for histogram buckets). One sentence per problem.
 */
function labelProblems(rule: Rule): string[] {
  const name = rule.alert ?? rule.record ?? "?";
  const tenantFacing = name.startsWith("tenant:") || name.startsWith("MmsTenant");
  const problems: string[] = [];
  for (const m of rule.expr.matchAll(/\b(by|without)\s*\(([^)]*)\)/g)) {
    const labels = (m[2] ?? "").split(",").map((l) => l.trim()).filter(Boolean);
    if (m[1] === "without") problems.push(`${name} aggregates without (${labels.join(", ")}), which keeps every other label of its source`);
    for (const l of labels.filter((l) => FORBIDDEN_LABELS.includes(l))) problems.push(`${name} groups by ${l}`);
    if (m[1] === "by" && tenantFacing) {
      for (const l of labels.filter((l) => l !== "tenant" && l !== "le" && !FORBIDDEN_LABELS.includes(l))) problems.push(`${name} is about tenants but groups by ${l}`);
    }
  }
  for (const l of Object.keys(rule.labels ?? {}).filter((l) => FORBIDDEN_LABELS.includes(l))) problems.push(`${name} sets the label ${l}`);
  return problems;
}

/** Runs promtool; all of its output, for assertions and messages. */
async function promtool(bin: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const r = await run(bin, args, { onStderrLine: (l) => lines.push(l) });
  return { code: r.code, output: `${r.stdout}${lines.join("\n")}` };
}

let promtoolBin: string;
let helmBin: string;

before(async () => {
  const progress = createProgress();
  promtoolBin = join(await ensureBuilt(BUILDS.prometheus, progress), "promtool");
  helmBin = join(await ensureBuilt(BUILDS.helm, progress), "helm");
}, { timeout: 60 * 60_000 });

describe("promtool", () => {
  test("check rules accepts every rule file and finds every rule in it", async () => {
    for (const concern of ["backups.yaml", "nodes.yaml", "platform.yaml", "slo.yaml", "tenants.yaml"]) assert.ok(RULE_FILES.some((f) => f.name === concern), `${RULES_DIR} has no ${concern}`);
    for (const f of RULE_FILES) {
      const r = await promtool(promtoolBin, ["check", "rules", "--lint-fatal", join(RULES_DIR, f.name)]);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, new RegExp(`SUCCESS: ${rulesOf(f).length} rules found`), r.output);
    }
  });

  test("test rules passes every unit test file", async () => {
    assert.ok(TEST_FILES.length >= RULE_FILES.length, `expected a test file per rule file in ${TESTS_DIR}`);
    const r = await promtool(promtoolBin, ["test", "rules", ...TEST_FILES.map((f) => join(TESTS_DIR, f.name))]);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output.match(/SUCCESS/g)?.length, TEST_FILES.length, r.output);
  });

  test("a rule changed under its tests fails them: the tracker-down alert waiting 10 minutes instead of 2", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "mms-rules-"));
    try {
      await cp(RULES_DIR, dir, { recursive: true });
      const slo = await readFile(join(dir, "slo.yaml"), "utf8");
      const changed = slo.replace(/(- alert: MmsTenantTrackerDown\n(?:.*\n)*?\s+for: )2m/, "$110m");
      assert.notEqual(changed, slo, "the MmsTenantTrackerDown rule has no `for: 2m` to change");
      await writeFile(join(dir, "slo.yaml"), changed);
      const r = await promtool(promtoolBin, ["test", "rules", join(dir, "tests", "slo.test.yaml")]);
      t.diagnostic(r.output.split("\n").filter((l) => /FAILED|name: |got:/.test(l)).map((l) => l.trim()).slice(0, 5).join(" "));
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, /FAILED/);
      assert.match(r.output, /alertname: MmsTenantTrackerDown, time: 1h4m,/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("check rules rejects a broken rule file, naming the file, the rule and the fault", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "mms-rules-"));
    try {
      const file = join(dir, "broken.yaml");
      await writeFile(file, stringify({
        groups: [{ name: "broken", rules: [{ alert: "MmsBroken", expr: 'max by (tenant) (probe_success{job="tenant-tracker-probe"} == 0', for: "2m" }] }],
      }));
      const r = await promtool(promtoolBin, ["check", "rules", file]);
      t.diagnostic(r.output.replace(/\s+/g, " ").trim());
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /FAILED/);
      assert.match(r.output, /broken\.yaml.*group "broken", rule 1, "MmsBroken": could not parse expression: .*unclosed left parenthesis/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the alerts, read as data", () => {
  test("every alert has a unit test where it fires, with its labels and annotations, and one where it does not", () => {
    assert.ok(ALERTS.length >= 11, `only ${ALERTS.length} alerts found`);
    const problems: string[] = [];
    for (const a of ALERTS) {
      // A case counts only in a test file that loads the alert's rule file: elsewhere the alert does not
      // exist and "does not fire" would hold trivially.
      const cases = TEST_FILES.filter((t) => t.rule_files.some((rf) => basename(rf) === a.file))
        .flatMap((t) => t.tests.flatMap((g) => g.alert_rule_test ?? []))
        .filter((c) => c.alertname === a.name);
      const firing = cases.filter((c) => (c.exp_alerts?.length ?? 0) > 0);
      if (firing.length === 0) problems.push(`${a.name}: no case where it fires`);
      if (!cases.some((c) => (c.exp_alerts?.length ?? 0) === 0)) problems.push(`${a.name}: no case where it does not fire`);
      for (const e of firing.flatMap((c) => c.exp_alerts ?? [])) {
        const labels = Object.keys(e.exp_labels ?? {});
        if (!labels.includes("severity")) problems.push(`${a.name}: a firing case does not expect its severity`);
        if (a.name.startsWith("MmsTenant") && !labels.includes("tenant")) problems.push(`${a.name}: a firing case does not expect its tenant label`);
        for (const l of labels.filter((l) => FORBIDDEN_LABELS.includes(l))) problems.push(`${a.name}: a firing case expects the label ${l}`);
        const annotations = Object.keys(e.exp_annotations ?? {}).sort();
        if (annotations.join() !== "description,runbook_url,summary") problems.push(`${a.name}: a firing case expects the annotations ${annotations.join(", ") || "none"}, not description, runbook_url, summary`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test("every alert has a severity, a summary, a description naming its tenant, and a runbook page that exists", () => {
    const problems: string[] = [];
    for (const { name, rule } of ALERTS) {
      if (!["page", "ticket"].includes(rule.labels?.severity ?? "")) problems.push(`${name}: severity ${rule.labels?.severity ?? "missing"}, not page or ticket`);
      if (!rule.annotations?.summary) problems.push(`${name}: no summary`);
      if (!rule.annotations?.description) problems.push(`${name}: no description`);
      if (name.startsWith("MmsTenant") && !rule.annotations?.description?.includes("$labels.tenant")) problems.push(`${name}: its description does not name the tenant ($labels.tenant)`);
      const url = rule.annotations?.runbook_url ?? "";
      if (url !== `${RUNBOOK_BASE}${name}.md`) problems.push(`${name}: runbook_url ${url || "missing"}, not ${RUNBOOK_BASE}${name}.md`);
      else if (!existsSync(join(RUNBOOKS_DIR, `${name}.md`))) problems.push(`${name}: docs/runbooks/${name}.md does not exist`);
    }
    assert.deepEqual(problems, []);
    const pages = readdirSync(RUNBOOKS_DIR).filter((f) => f.endsWith(".md") && f !== "README.md").map((f) => f.replace(/\.md$/, "")).sort();
    assert.deepEqual(pages, ALERTS.map((a) => a.name).sort(), "docs/runbooks has a page for an alert that does not exist");
    const index = readFileSync(join(RUNBOOKS_DIR, "README.md"), "utf8");
    for (const a of ALERTS) assert.ok(index.includes(`[${a.name}](${a.name}.md)`), `docs/runbooks/README.md does not list ${a.name}`);
  });

  test("no rule groups by pod, IP, URL, user or instance, and rules about tenants group by tenant only", () => {
    const all = RULE_FILES.flatMap(rulesOf);
    assert.deepEqual(all.flatMap(labelProblems), []);
    // The check itself finds what it is there for.
    assert.deepEqual(labelProblems({ alert: "MmsTenantX", expr: "sum by (tenant, pod) (x) > 0 and max without (le) (y)", labels: { instance: "a" } }), [
      "MmsTenantX groups by pod",
      "MmsTenantX aggregates without (le), which keeps every other label of its source",
      "MmsTenantX sets the label instance",
    ]);
    assert.deepEqual(labelProblems({ record: "tenant:x:rate5m", expr: "sum by (tenant, namespace) (rate(x[5m]))" }), ["tenant:x:rate5m is about tenants but groups by namespace"]);
  });

  test("group names are unique across the files (the chart puts them all into one PrometheusRule)", () => {
    const names = RULE_FILES.flatMap((f) => f.groups.map((g) => g.name));
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), []);
  });
});

describe("the runbooks", () => {
  const pages = readdirSync(RUNBOOKS_DIR).filter((f) => f.endsWith(".md")).sort();
  const blocks = (text: string, lang: string) => [...text.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1] ?? "");

  test("every mms command in them is one the CLI accepts", async () => {
    const { buildProgram } = await import("../src/cli/main.ts");
    const program = buildProgram();
    const problems: string[] = [];
    let checked = 0;
    for (const page of pages) {
      const text = readFileSync(join(RUNBOOKS_DIR, page), "utf8");
      const shell = blocks(text, "sh").flatMap((b) => b.split("\n"));
      const inline = [...text.matchAll(/`(mms [^`]+)`/g)].map((m) => m[1] ?? "");
      // Placeholders such as <plan> stand for a value; a trailing `# …` is a comment.
      const lines = [...shell, ...inline].map((l) => l.replace(/\s+#\s.*$/, "").replace(/<[^>]+>/g, "x").trim()).filter((l) => /^mms\s/.test(l));
      for (const line of lines) {
        for (const inv of analyzeScript([line]).invocations) {
          checked++;
          for (const p of checkArgv(program, inv.variants[0]?.argv ?? [])) problems.push(`docs/runbooks/${page}: \`${line}\`: ${p}`);
        }
      }
    }
    assert.ok(checked >= 20, `only ${checked} mms commands found in the runbooks`);
    assert.deepEqual(problems, []);
  });

  test("every PromQL query in them parses (promtool checks them as recording rules)", async () => {
    const queries = pages.flatMap((page) => blocks(readFileSync(join(RUNBOOKS_DIR, page), "utf8"), "promql")
      .flatMap((b) => b.split("\n")).map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((expr) => ({ page, expr })));
    assert.ok(queries.length >= 10, `only ${queries.length} queries found in the runbooks`);
    const dir = await mkdtemp(join(tmpdir(), "mms-runbook-queries-"));
    try {
      const file = join(dir, "queries.yaml");
      await writeFile(file, stringify({ groups: [{ name: "runbook-queries", rules: queries.map((q, i) => ({ record: `runbook:query_${i}`, expr: q.expr })) }] }));
      const r = await promtool(promtoolBin, ["check", "rules", file]);
      assert.equal(r.code, 0, `${r.output}\n${queries.map((q, i) => `rule ${i + 1}: ${q.page}: ${q.expr}`).join("\n")}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the chart", () => {
  test("carries a copy of every rule file (bin/mms chart generate)", () => {
    const generated = generatedChartFiles();
    for (const f of RULE_FILES) {
      const copy = generated.get(join("files", "rules", f.name));
      assert.ok(copy?.endsWith(readFileSync(join(RULES_DIR, f.name), "utf8")), `files/rules/${f.name} is not generated from the source`);
    }
  });

  test("its PrometheusRule renders every group of the rule files unchanged, and promtool accepts the result", async () => {
    const home = await mkdtemp(join(tmpdir(), "mms-helm-"));
    try {
      const env = { ...process.env, HELM_CACHE_HOME: join(home, "cache"), HELM_CONFIG_HOME: join(home, "config"), HELM_DATA_HOME: join(home, "data") };
      const r = await run(helmBin, ["template", "mms", CHART_DIR, "--namespace", "mms-system", "--set", "metrics.prometheusRule.enabled=true"], { env });
      assert.equal(r.code, 0, r.stderrTail);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind?: string; spec?: { groups: RuleFile["groups"] } } | null);
      const rule = docs.find((d) => d?.kind === "PrometheusRule");
      assert.ok(rule?.spec, "no PrometheusRule rendered with metrics.prometheusRule.enabled=true");
      assert.deepEqual(rule.spec.groups, RULE_FILES.flatMap((f) => f.groups));
      // Helm must leave Prometheus's own templates alone.
      assert.match(JSON.stringify(rule.spec), /Tenant \{\{ \$labels\.tenant \}\}: its tracking endpoint does not answer\./);
      const file = join(home, "rendered.yaml");
      await writeFile(file, stringify({ groups: rule.spec.groups }));
      const checked = await promtool(promtoolBin, ["check", "rules", file]);
      assert.equal(checked.code, 0, checked.output);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
