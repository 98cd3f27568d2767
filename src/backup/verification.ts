// The record a restore drill leaves beside the backup it checked (`<backup folder>/verification.json`),
// so listings, retention and disaster recovery know which backups are proven restorable.
import { z } from "zod";

export const VERIFICATION_FORMAT = 1;

export const Verification = z.object({
  format: z.literal(VERIFICATION_FORMAT),
  tenant: z.string(),
  backupId: z.string(),
  /** When the drill finished (ISO 8601). */
  verifiedAt: z.string(),
  /** True when every table's row count and checksum matched the manifest. */
  ok: z.boolean(),
  /** A BackupError reason when not ok (e.g. ChecksumMismatch, VerificationFailed, LoadFailed). */
  reason: z.string().optional(),
  message: z.string().optional(),
  tablesChecked: z.int().min(0),
  /** Names of the tables whose rows or checksum differed. */
  tablesMismatched: z.array(z.string()),
  timings: z.object({ downloadMs: z.number(), loadMs: z.number(), verifyMs: z.number(), totalMs: z.number() }).partial(),
});
export type Verification = z.output<typeof Verification>;

export function serializeVerification(v: Verification): string {
  return JSON.stringify(Verification.parse(v), null, 2) + "\n";
}

/** Parses a stored record; undefined when it is damaged (a damaged record proves nothing). */
export function parseVerification(text: string): Verification | undefined {
  try {
    const r = Verification.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
