// OVH's public prices as dated data (ovh-prices.json): the schema every price file must have, loading
// it, and the look-ups the arithmetic makes, each failing with a sentence that says what to add.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { UserError } from "../util/errors.ts";

/** The price file shipped with mms. */
export const DEFAULT_PRICES_FILE = fileURLToPath(new URL("./ovh-prices.json", import.meta.url));

const day = z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, "must be a date such as 2026-12-01");
const euros = z.number().min(0).max(1_000_000);
const withSource = { source: z.string().min(1), note: z.string().optional() };

const Flavor = z.object({
  vcpu: z.int().min(1).max(1024),
  ramGiB: z.number().positive().max(16384),
  /** The instance's own disk. */
  diskGB: z.int().min(0).max(100_000),
  monthly: euros,
  /** hourly: 730 hours at the hourly price; monthly: OVH's monthly-billing price. */
  billing: z.enum(["hourly", "monthly"]),
  ...withSource,
});

export const PriceTable = z.object({
  date: day,
  currency: z.literal("EUR"),
  vat: z.literal("excluded"),
  region: z.string().min(1),
  hoursPerMonth: z.number().positive(),
  note: z.string().optional(),
  sources: z.array(z.object({ id: z.string().min(1), url: z.url(), published: day, what: z.string().min(1) })).min(1),
  flavors: z.record(z.string().regex(/^[a-z0-9][a-z0-9.-]*$/), Flavor),
  blockStorage: z.record(z.string(), z.object({ perGBMonth: euros, ...withSource })),
  objectStorage: z.record(z.string(), z.object({ perGBMonth: euros, ...withSource })),
  /** null: no public price was found (the note says so). */
  kubernetesControlPlane: z.record(z.string(), z.object({ monthly: euros.nullable(), ...withSource })),
  kubeletReservation: z.object({
    cpuCores: z.object({ base: z.number().min(0), perCore: z.number().min(0).max(1) }),
    memoryGiB: z.object({ base: z.number().min(0), fraction: z.number().min(0).max(1) }),
    ...withSource,
  }),
}).superRefine((t, ctx) => {
  // Every figure must say where it came from.
  const ids = new Set(t.sources.map((s) => s.id));
  const cited: [string, string][] = [
    ...Object.entries(t.flavors).map(([k, v]): [string, string] => [`flavors.${k}`, v.source]),
    ...Object.entries(t.blockStorage).map(([k, v]): [string, string] => [`blockStorage.${k}`, v.source]),
    ...Object.entries(t.objectStorage).map(([k, v]): [string, string] => [`objectStorage.${k}`, v.source]),
    ...Object.entries(t.kubernetesControlPlane).map(([k, v]): [string, string] => [`kubernetesControlPlane.${k}`, v.source]),
    ["kubeletReservation", t.kubeletReservation.source],
  ];
  for (const [path, source] of cited) {
    if (!ids.has(source)) ctx.addIssue({ code: "custom", path: path.split("."), message: `names source "${source}", which the file's sources do not list` });
  }
});
export type PriceTable = z.output<typeof PriceTable>;
export type FlavorPrice = z.output<typeof Flavor>;

/** Reads and checks a price file; a bad one fails with the file and the first problem. */
export function loadPrices(file = DEFAULT_PRICES_FILE): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UserError(`cannot read the price file ${file}: ${(err as Error).message}`);
  }
  const r = PriceTable.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UserError(`the price file ${file} is not valid: ${issue?.path.join(".") || "it"}: ${issue?.message ?? "invalid"}`);
  }
  return r.data;
}

function known(keys: Iterable<string>): string {
  return [...keys].sort().join(", ");
}

export function flavorPrice(prices: PriceTable, flavor: string): FlavorPrice {
  const f = prices.flavors[flavor];
  if (!f) {
    throw new UserError(`flavor "${flavor}" has no price in the price table of ${prices.date} (known: ${known(Object.keys(prices.flavors))}): ` +
      "add it with its source to the price file (docs/cost.md says how), or price with a flavor it knows (--flavor, --system-pool, --vm-flavor)");
  }
  return f;
}

export function blockStoragePrice(prices: PriceTable, kind: string): number {
  const p = prices.blockStorage[kind];
  if (!p) throw new UserError(`block storage "${kind}" has no price in the price table of ${prices.date} (known: ${known(Object.keys(prices.blockStorage))})`);
  return p.perGBMonth;
}

export function objectStoragePrice(prices: PriceTable, kind: string): number {
  const p = prices.objectStorage[kind];
  if (!p) throw new UserError(`object storage "${kind}" has no price in the price table of ${prices.date} (known: ${known(Object.keys(prices.objectStorage))})`);
  return p.perGBMonth;
}

export function controlPlanePrice(prices: PriceTable, plan: string): number {
  const p = prices.kubernetesControlPlane[plan];
  if (!p) throw new UserError(`the Managed Kubernetes plan "${plan}" is not in the price table of ${prices.date} (known: ${known(Object.keys(prices.kubernetesControlPlane))})`);
  if (p.monthly === null) throw new UserError(`the price table of ${prices.date} has no price for the Managed Kubernetes ${plan} plan: ${p.note ?? "no public source was found"}`);
  return p.monthly;
}
