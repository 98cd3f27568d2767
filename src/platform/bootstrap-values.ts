// What `mms platform bootstrap --values FILE` reads: the platform's part of Terraform's outputs
// (deploy/terraform/environments/*: `terraform output -json platform > platform.json`). The chart's values,
// the backup bucket with its S3 key, and optionally a managed database to hold tenants. The whole output of
// `terraform output -json` (every output wrapped in {sensitive, type, value}) is accepted as well.
import { z } from "zod";
import { parse } from "yaml";
import { DNS_LABEL_PATTERN } from "../api/names.ts";
import { BackupStoreSpec } from "../api/backup-store.ts";
import { UserError } from "../util/errors.ts";

const name = z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN), "must be a DNS label: lower-case letters, digits and '-'");
const secretText = z.string().min(1, "must not be empty").max(4096);

export const BootstrapValues = z.object({
  chart: z.record(z.string(), z.unknown()).default({})
    .meta({ description: "Values for the chart deploy/charts/matomo-multiscale (its values.schema.json checks them)." }),
  backupStore: z.object({
    name: name.default("default"),
    endpoint: BackupStoreSpec.shape.endpoint,
    region: BackupStoreSpec.shape.region,
    bucket: BackupStoreSpec.shape.bucket,
    prefix: BackupStoreSpec.shape.prefix,
    accessKeyId: secretText,
    secretAccessKey: secretText,
  }).strict(),
  databasePool: z.object({
    name,
    host: z.string().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, "must be a host name or IP address"),
    port: z.int().min(1).max(65535).default(3306),
    username: secretText,
    password: secretText,
    capacity: z.int().min(0).max(100000).default(200),
  }).strict().nullable().default(null),
}).strict();
export type BootstrapValues = z.output<typeof BootstrapValues>;

/** `terraform output -json` (all outputs) wraps each one; take the `platform` output's value out of it. */
function unwrapTerraformOutputs(doc: unknown): unknown {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return doc;
  const platform = (doc as Record<string, unknown>).platform;
  if (platform !== null && typeof platform === "object" && "value" in platform && "type" in platform) return (platform as { value: unknown }).value;
  return doc;
}

/**
 * Parses the values file's text. Errors name the file and each bad field by its path; they never quote a
 * value (the file holds credentials).
 */
export function parseBootstrapValues(text: string, file: string): BootstrapValues {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new UserError(`${file} is not JSON or YAML: ${(err as Error).message.split("\n")[0]}`, 2);
  }
  const r = BootstrapValues.safeParse(unwrapTerraformOutputs(doc));
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new UserError(`${file} is not a platform values file (terraform output -json platform): ${problems.join("; ")}`, 2);
  }
  return r.data;
}
