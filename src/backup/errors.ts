// Errors of backups and restores: a reason a controller can put in a condition and one sentence a
// person can act on. Messages never carry credentials.

export type BackupErrorReason =
  | "InvalidRequest"
  | "BackupInProgress"
  | "RestoreInProgress"
  | "DatabaseNotFound"
  | "LockTimeout"
  | "DumpFailed"
  | "UploadFailed"
  | "ManifestMissing"
  | "ManifestInvalid"
  | "DownloadFailed"
  | "ChecksumMismatch"
  | "TargetNotEmpty"
  | "LoadFailed"
  | "VerificationFailed"
  | "BackupNotFound"
  | "UnsupportedObjects"
  | "SafetyBackupFailed"
  | "SwapFailed"
  | "DeleteFailed"
  | "Aborted"
  | "StoreNotFound"
  | "NoBackups";

export class BackupError extends Error {
  readonly reason: BackupErrorReason;
  constructor(reason: BackupErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BackupError";
    this.reason = reason;
  }
}

/** One line of an underlying error, with the given secrets masked and a final period. */
export function detail(err: unknown, secrets: readonly string[] = []): string {
  let text = err instanceof Error ? err.message : String(err);
  for (const s of secrets) if (s.length > 0) text = text.replaceAll(s, "***");
  return text.trim().replace(/\s+/g, " ").replace(/[.\s]+$/, "");
}
