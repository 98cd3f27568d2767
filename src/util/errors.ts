// Errors a user can act on: the CLI prints the message as one sentence and exits non-zero,
// without a stack trace.

export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}
