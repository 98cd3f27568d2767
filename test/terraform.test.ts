// The Terraform configurations of deploy/terraform pass `fmt -check`, `init`, `validate` and their own
// `terraform test` files under OpenTofu and Terraform, checked against the OVH provider v2.19.0's schema
// (test/support/terraform.ts: a schema-only stand-in, or the real provider with MMS_TF_PROVIDER_MIRROR).
// Throwaway configurations show that the checks are real: what the real provider rejects is rejected.
// No dev environment and no OVH account are needed (`node --test test/terraform.test.ts` works alone).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createProgress } from "../src/util/progress.ts";
import {
  AGAINST,
  CLIS,
  checkFolder,
  configurationFolders,
  copyForCli,
  describeRun,
  fmtCheck,
  hasTestFiles,
  prepareHarness,
  TERRAFORM_DIR,
  terraformMissing,
  writeConfiguration,
  type CliName,
  type CliResult,
  type Harness,
} from "./support/terraform.ts";

const FOLDERS = configurationFolders();
const SKIP: Readonly<Record<CliName, string | false>> = { tofu: false, terraform: (await terraformMissing()) ?? false };

let h: Harness;

// The first run builds OpenTofu and the provider stand-in (minutes); later runs find them cached.
before(async () => {
  h = await prepareHarness(createProgress());
}, { timeout: 60 * 60_000 });
after(() => h?.dispose());

function assertSucceeded(results: readonly CliResult[]): void {
  assert.ok(results.length > 0, "nothing was run");
  for (const r of results) assert.equal(r.code, 0, describeRun(r));
}

/** Asserts that the run failed, and with that message (the CLIs wrap long lines at 78 columns). */
function assertFailedWith(r: CliResult | undefined, message: string): void {
  assert.ok(r, "the step was not reached");
  assert.notEqual(r.code, 0, `expected a failure saying ${JSON.stringify(message)}; ${describeRun(r)}`);
  const said = r.output.replace(/\s+/g, " ").includes(message);
  assert.ok(said, `expected the output to say ${JSON.stringify(message)}; ${describeRun(r)}`);
}

const VERSIONS_TF = `terraform {
  required_providers {
    ovh = {
      source  = "ovh/ovh"
      version = "2.19.0"
    }
  }
}

provider "ovh" {
  endpoint = "ovh-eu"
}

variable "service_name" {
  type = string
}
`;

const NODE_POOL = `resource "ovh_cloud_project_kube_nodepool" "nodes" {
  service_name  = var.service_name
  kube_id       = ovh_cloud_project_kube.cluster.id
  name          = "general"
  flavor_name   = "b3-8"
  desired_nodes = 3
  min_nodes     = 3
  max_nodes     = 6
  autoscale     = true
}
`;

const BUCKET = `resource "ovh_cloud_project_storage" "backups" {
  service_name = var.service_name
  name         = "mms-backups"
  region_name  = "GRA"
  versioning = {
    status = "enabled"
  }
}
`;

/** The resources the platform needs, written as the real provider v2.19.0 accepts them. */
const VALID_MAIN_TF = `resource "ovh_cloud_project_network_private" "net" {
  service_name = var.service_name
  name         = "mms"
  regions      = ["GRA9"]
  vlan_id      = 42
}

resource "ovh_cloud_project_network_private_subnet" "nodes" {
  service_name = var.service_name
  network_id   = ovh_cloud_project_network_private.net.id
  region       = "GRA9"
  network      = "10.42.0.0/16"
  start        = "10.42.0.10"
  end          = "10.42.255.250"
  dhcp         = true
}

resource "ovh_cloud_project_kube" "cluster" {
  service_name       = var.service_name
  name               = "mms"
  region             = "GRA9"
  private_network_id = ovh_cloud_project_network_private.net.id
  nodes_subnet_id    = ovh_cloud_project_network_private_subnet.nodes.id
}

${NODE_POOL}
resource "ovh_cloud_project_user" "s3" {
  service_name = var.service_name
  role_names   = ["objectstore_operator"]
}

resource "ovh_cloud_project_user_s3_credential" "s3" {
  service_name = var.service_name
  user_id      = ovh_cloud_project_user.s3.id
}

${BUCKET}`;

const CLUSTER = `resource "ovh_cloud_project_kube" "cluster" {
  service_name = var.service_name
  region       = "GRA9"
}

`;

/** What the real provider v2.19.0 rejects (README of its schema), each a change to the valid resources. */
const REJECTED = [
  {
    name: "misspelled",
    what: "a misspelled attribute on ovh_cloud_project_kube_nodepool (flavour_name)",
    mainTf: CLUSTER + NODE_POOL.replace("flavor_name", "flavour_name"),
    message: `An argument named "flavour_name" is not expected here`,
  },
  {
    name: "bucket-without-region",
    what: "a bucket (ovh_cloud_project_storage) without region_name",
    mainTf: BUCKET.replace(`  region_name  = "GRA"\n`, ""),
    message: `The argument "region_name" is required`,
  },
  {
    name: "autoscaling",
    what: "autoscaling on a node pool (the provider's argument is autoscale)",
    mainTf: CLUSTER + NODE_POOL.replace("autoscale ", "autoscaling "),
    message: `An argument named "autoscaling" is not expected here`,
  },
];

const PLAN_TEST = (condition: string) => `mock_provider "ovh" {}

variables {
  service_name = "0123456789abcdef"
}

run "plans_the_platform" {
  command = plan

  assert {
    condition     = ${condition}
    error_message = "the node pool does not use the flavor b3-8"
  }
}
`;

for (const cli of CLIS) {
  describe(`${cli}: Terraform configurations ${AGAINST}`, { skip: SKIP[cli] }, () => {
    let copy: string;
    before(async () => {
      copy = await copyForCli(h, cli);
    });

    test(`deploy/terraform has modules and environments to check`, () => {
      assert.ok(FOLDERS.some((f) => f.startsWith("modules/")), `no folder in deploy/terraform/modules (found: ${FOLDERS.join(", ") || "none"})`);
      assert.ok(FOLDERS.some((f) => f.startsWith("environments/")), `no folder in deploy/terraform/environments (found: ${FOLDERS.join(", ") || "none"})`);
    });

    test(`deploy/terraform is formatted (${cli} fmt -check -recursive)`, async () => {
      assertSucceeded([await fmtCheck(h, cli, copy)]);
    });

    for (const folder of FOLDERS) {
      const steps = hasTestFiles(join(TERRAFORM_DIR, folder), cli) ? "init, validate and its tests" : "init and validate";
      test(`${folder} passes ${cli} ${steps} ${AGAINST}`, async () => {
        assertSucceeded(await checkFolder(h, cli, join(copy, folder)));
      });
    }

    describe(`controls: the checks reject what the real provider rejects`, () => {
      test(`a configuration of network, cluster, node pool, S3 user and bucket passes ${cli} init, validate and a mocked plan ${AGAINST}`, async () => {
        const dir = await writeConfiguration(h, cli, "valid", {
          "versions.tf": VERSIONS_TF,
          "main.tf": VALID_MAIN_TF,
          "tests/plan.tftest.hcl": PLAN_TEST(`ovh_cloud_project_kube_nodepool.nodes.flavor_name == "b3-8"`),
        });
        const results = await checkFolder(h, cli, dir);
        assertSucceeded(results);
        assert.deepEqual(results.map((r) => r.args[0]), ["init", "validate", "test"]);
        assert.match(results[2]!.output, /1 passed, 0 failed/, describeRun(results[2]!));
      });

      for (const rejected of REJECTED) {
        test(`${rejected.what} fails ${cli} validate ${AGAINST}`, async () => {
          const dir = await writeConfiguration(h, cli, rejected.name, { "versions.tf": VERSIONS_TF, "main.tf": rejected.mainTf });
          const [init, validate] = await checkFolder(h, cli, dir);
          assertSucceeded([init!]);
          assertFailedWith(validate, rejected.message);
        });
      }

      test(`a failing assertion in a .tftest.hcl file fails ${cli} test`, async () => {
        const dir = await writeConfiguration(h, cli, "failing-test", {
          "versions.tf": VERSIONS_TF,
          "main.tf": VALID_MAIN_TF,
          "tests/plan.tftest.hcl": PLAN_TEST(`ovh_cloud_project_kube_nodepool.nodes.flavor_name == "b3-16"`),
        });
        const results = await checkFolder(h, cli, dir);
        assertSucceeded(results.slice(0, 2));
        assertFailedWith(results[2], "the node pool does not use the flavor b3-8");
      });

      test(`an unformatted file fails ${cli} fmt -check`, async () => {
        const dir = await writeConfiguration(h, cli, "unformatted", { "main.tf": `variable "region" {\n    type = string\n  default="GRA9"\n}\n` });
        assertFailedWith(await fmtCheck(h, cli, dir), "main.tf");
      });

      test(`the stand-in refuses a plan without mocks with a message naming the real provider`, async (t) => {
        if (!h.standIn) return t.skip(`checks run against ${h.provider}, which would plan for real`);
        const dir = await writeConfiguration(h, cli, "unmocked-plan", { "versions.tf": VERSIONS_TF, "main.tf": BUCKET });
        assertSucceeded([(await checkFolder(h, cli, dir))[0]!]);
        const plan = await h.run(cli, ["plan", "-input=false", "-no-color", "-var", "service_name=0123456789abcdef"], dir);
        assertFailedWith(plan, "this is a schema-only stand-in for the OVH provider v2.19.0: it checks configurations against the real provider's schema, it cannot plan or apply; install the real provider ovh/ovh");
      });
    });
  });
}
