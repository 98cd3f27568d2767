// Why a migration was refused or failed: a reason for scripts (`-o json`, tests) and one sentence a
// person can act on. Messages never carry the source's password.
import { UserError } from "../util/errors.ts";

export type MigrationErrorReason =
  | "InvalidRequest"
  | "SourceUnreadable"
  | "Truncated"
  | "EmptySource"
  | "NotMatomo"
  | "IncompleteSource"
  | "AmbiguousSource"
  | "UnsupportedSource"
  | "UnsupportedVersion"
  | "TargetExists"
  | "ImportInProgress"
  | "LoadFailed"
  | "VerificationFailed"
  | "ImportFailed"
  | "Aborted";

export class MigrationError extends UserError {
  readonly reason: MigrationErrorReason;
  constructor(reason: MigrationErrorReason, message: string) {
    super(message);
    this.name = "MigrationError";
    this.reason = reason;
  }
}
