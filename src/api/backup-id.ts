// Backup ids that name what a backup is for (`pre-upgrade-g7`, `final-3f2a9c1d`), beside the time-stamped
// ids of scheduled backups: a Job that must take exactly one backup for a step knows its id before it
// runs, so a rerun finds the backup it already took, and the reconciler knows which backup to look for.
export const VERIFIED_BACKUP_PURPOSES = ["pre-upgrade", "final"] as const;
export type VerifiedBackupPurpose = (typeof VERIFIED_BACKUP_PURPOSES)[number];

/** A key: lower-case letters, digits and inner '-', at most 32 characters (a generation, a uid prefix). */
const KEY = "[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?";
export const NAMED_BACKUP_ID_PATTERN = new RegExp(`^(?:${VERIFIED_BACKUP_PURPOSES.join("|")})-${KEY}$`);

export function namedBackupId(purpose: VerifiedBackupPurpose, key: string): string {
  const id = `${purpose}-${key}`;
  if (!VERIFIED_BACKUP_PURPOSES.includes(purpose) || !NAMED_BACKUP_ID_PATTERN.test(id)) {
    throw new Error(`cannot name a ${purpose} backup after key ${JSON.stringify(key)}: a key is 1-32 lower-case letters, digits and inner '-'`);
  }
  return id;
}
