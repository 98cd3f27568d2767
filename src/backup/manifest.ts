// The manifest of a backup: what the dump object holds and how it was made. It is written last, so a
// backup exists exactly when its manifest does; restores trust nothing the manifest does not vouch for.
import { z } from "zod";

export const MANIFEST_FORMAT = 1;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const TableEntry = z.object({
  name: z.string().min(1),
  /** Rows in the dump, counted from the dump stream itself. */
  rows: z.int().min(0),
  /** CHECKSUM TABLE of the table at the dump's snapshot; null when not taken or not available. */
  checksum: z.number().int().min(0).nullable(),
});
export type TableEntry = z.output<typeof TableEntry>;

export const Manifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  tenant: z.string(),
  database: z.string(),
  backupId: z.string(),
  /** When the backup started (ISO 8601). */
  createdAt: z.string(),
  completedAt: z.string(),
  matomo: z.object({
    version: z.string().nullable(),
    /** Table prefix of the Matomo install, "" when its tables have none; null when no Matomo tables were found. */
    tablePrefix: z.string().nullable(),
  }),
  object: z.object({
    key: z.string(),
    compression: z.literal("gzip"),
    /** Size of the stored (compressed) object. */
    bytes: z.int().min(0),
    sha256: Sha256,
    uncompressedBytes: z.int().min(0),
  }),
  consistency: z.object({
    /** How the row counts relate to the dump: counted in it, so always exact for the stored object. */
    rowCounts: z.literal("counted-in-dump"),
    /** "locked": taken while writes to the database were held off and the dump's snapshot began. */
    checksums: z.enum(["locked", "none"]),
  }),
  tables: z.array(TableEntry),
  timings: z.object({
    totalMs: z.number(),
    /** How long writes to the tenant's tables were held off (0 without checksums). */
    writesBlockedMs: z.number(),
    checksumMs: z.number(),
    dumpMs: z.number(),
    uploadMs: z.number(),
  }),
  tools: z.object({
    mariadbDump: z.string(),
    server: z.string(),
    node: z.string(),
  }),
});
export type Manifest = z.output<typeof Manifest>;

export function serializeManifest(m: Manifest): string {
  return JSON.stringify(Manifest.parse(m), null, 2) + "\n";
}

/** Parses a manifest's text; the error names what is wrong, for a one-sentence message. */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error("it is not JSON");
  }
  const r = Manifest.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${issue?.path.join(".") || "it"}: ${issue?.message ?? "invalid"}`);
  }
  return r.data;
}
