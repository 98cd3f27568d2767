// Turns mysql2's errors into PoolError: a reason a controller can put in a status condition and one
// sentence naming the pool. The driver's own error is never kept, since its `sql` may hold a password.

export type PoolErrorReason = "PoolUnreachable" | "PoolAuthFailed" | "PoolError" | "QueueUnreachable" | "QueueFull";

export class PoolError extends Error {
  readonly reason: PoolErrorReason;
  /** `host:port` of the pool. */
  readonly endpoint: string;
  /** The driver's or the server's error code (e.g. ECONNREFUSED, ER_ACCESS_DENIED_ERROR), when there was one. */
  readonly code: string | undefined;
  constructor(reason: PoolErrorReason, endpoint: string, message: string, code?: string) {
    super(message);
    this.name = "PoolError";
    this.reason = reason;
    this.endpoint = endpoint;
    this.code = code;
  }
}

// Socket-level failures and a server that stops answering: nothing about the request was wrong.
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENOTFOUND", "EAI_AGAIN",
  "ECONNRESET", "EPIPE", "ECONNABORTED", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_SERVER_SHUTDOWN",
]);

// Wrong credentials, and admin credentials that lack a privilege the platform needs: either way the
// fix is the pool's credentials Secret, not a retry.
const AUTH_CODES = new Set([
  "ER_ACCESS_DENIED_ERROR", "ER_ACCESS_DENIED_NO_PASSWORD_ERROR", "ER_DBACCESS_DENIED_ERROR",
  "ER_SPECIFIC_ACCESS_DENIED_ERROR", "ER_TABLEACCESS_DENIED_ERROR", "ER_PASSWORD_NO_MATCH",
  "ER_MUST_CHANGE_PASSWORD", "ER_MUST_CHANGE_PASSWORD_LOGIN", "ER_ACCOUNT_HAS_BEEN_LOCKED",
  "ER_NOT_SUPPORTED_AUTH_MODE", "ER_HOST_NOT_PRIVILEGED", "HANDSHAKE_NO_SSL_SUPPORT", "AUTH_SWITCH_PLUGIN_ERROR",
]);

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && code !== "") return code;
  // Node's happy-eyeballs connect wraps one error per address in an AggregateError.
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner)) for (const e of inner) { const c = errorCode(e); if (c) return c; }
  return undefined;
}

export function classifyError(err: unknown): PoolErrorReason {
  const code = errorCode(err);
  if (code && UNREACHABLE_CODES.has(code)) return "PoolUnreachable";
  if (code && AUTH_CODES.has(code)) return "PoolAuthFailed";
  return "PoolError";
}

export interface ErrorContext {
  /** `host:port` */
  readonly endpoint: string;
  /** What was being done, as a verb phrase: "create database mt_acme". */
  readonly action: string;
  /** The statement carried a secret, so the server's text (which may quote the statement) is left out. */
  readonly sensitive?: boolean;
  /** Strings that must never appear in the message, whatever the server says. */
  readonly secrets?: readonly string[];
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.replaceAll(s, "***");
  return out;
}

function serverText(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { sqlMessage?: unknown; message?: unknown };
  const text = typeof e.sqlMessage === "string" ? e.sqlMessage : typeof e.message === "string" ? e.message : undefined;
  return text?.trim().replace(/\s+/g, " ").replace(/[.\s]+$/, "");
}

export function toPoolError(err: unknown, ctx: ErrorContext): PoolError {
  if (err instanceof PoolError) return err;
  const reason = classifyError(err);
  const code = errorCode(err);
  const text = ctx.sensitive ? undefined : serverText(err);
  const detail = text ? scrub(text, ctx.secrets ?? []) : undefined;
  const codeNote = code ? ` (${code})` : "";
  let message: string;
  if (reason === "PoolUnreachable") {
    message = `cannot ${ctx.action}: database pool ${ctx.endpoint} is unreachable${codeNote}`;
  } else if (reason === "PoolAuthFailed") {
    message = `cannot ${ctx.action}: database pool ${ctx.endpoint} refused the credentials or lacks a privilege${codeNote}${detail ? `: ${detail}` : ""}`;
  } else {
    message = `cannot ${ctx.action} on database pool ${ctx.endpoint}${codeNote}${detail ? `: ${detail}` : ""}`;
  }
  return new PoolError(reason, ctx.endpoint, `${message}.`, code);
}
