import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyError, PoolError, toPoolError } from "./errors.ts";

function driverError(fields: Record<string, unknown>, message = "driver failure"): Error {
  return Object.assign(new Error(message), fields);
}

const ctx = { endpoint: "db.example:3306", action: "provision the database of tenant acme" };

test("network failures and a silent server are PoolUnreachable", () => {
  for (const code of ["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "ECONNRESET", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT"]) {
    assert.equal(classifyError(driverError({ code })), "PoolUnreachable", code);
  }
});

test("an AggregateError from connecting to several addresses is classified by its inner errors", () => {
  const err = new AggregateError([driverError({ code: "ECONNREFUSED" }), driverError({ code: "ECONNREFUSED" })], "connect failed");
  assert.equal(classifyError(err), "PoolUnreachable");
});

test("refused credentials and missing privileges are PoolAuthFailed", () => {
  for (const code of ["ER_ACCESS_DENIED_ERROR", "ER_DBACCESS_DENIED_ERROR", "ER_SPECIFIC_ACCESS_DENIED_ERROR", "ER_ACCESS_DENIED_NO_PASSWORD_ERROR"]) {
    assert.equal(classifyError(driverError({ code, errno: 1045 })), "PoolAuthFailed", code);
  }
});

test("anything else is PoolError", () => {
  assert.equal(classifyError(driverError({ code: "ER_PARSE_ERROR" })), "PoolError");
  assert.equal(classifyError(driverError({ code: "ER_CON_COUNT_ERROR" })), "PoolError");
  assert.equal(classifyError(new Error("no code")), "PoolError");
  assert.equal(classifyError("a string"), "PoolError");
  assert.equal(classifyError(null), "PoolError");
});

test("the message is one sentence naming the action, the endpoint and the code", () => {
  const e = toPoolError(driverError({ code: "ECONNREFUSED" }, "connect ECONNREFUSED 10.0.0.1:3306"), ctx);
  assert.ok(e instanceof PoolError);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "PoolError");
  assert.equal(e.reason, "PoolUnreachable");
  assert.equal(e.code, "ECONNREFUSED");
  assert.equal(e.endpoint, "db.example:3306");
  assert.equal(e.message, "cannot provision the database of tenant acme: database pool db.example:3306 is unreachable (ECONNREFUSED).");

  const other = toPoolError(driverError({ code: "ER_DISK_FULL", sqlMessage: "Disk full (/var/lib/mysql).\n" }), ctx);
  assert.equal(other.reason, "PoolError");
  assert.equal(other.message, "cannot provision the database of tenant acme on database pool db.example:3306 (ER_DISK_FULL): Disk full (/var/lib/mysql).");
});

test("a secret is never in the message, whatever the driver says", () => {
  const secret = "s3cr3t-Pa55";
  // mysql2 interpolates parameters client-side, so `sql` holds the password and the server may quote it.
  const err = driverError({
    code: "ER_PARSE_ERROR",
    sql: `ALTER USER 'mt_acme'@'%' IDENTIFIED BY '${secret}' x`,
    sqlMessage: `You have an error in your SQL syntax near '${secret}' x' at line 1`,
  });
  const sensitive = toPoolError(err, { ...ctx, sensitive: true, secrets: [secret] });
  assert.ok(!sensitive.message.includes(secret));
  assert.ok(!sensitive.message.includes("syntax"), "the server's text is left out of a statement that carries a password");
  assert.ok(!(sensitive.stack ?? "").includes(secret));
  assert.equal(sensitive.cause, undefined, "the driver's error, with its sql, is not kept");
  assert.ok(!JSON.stringify(sensitive).includes(secret));

  const scrubbed = toPoolError(driverError({ code: "ER_X", sqlMessage: `user admin password ${secret} rejected` }), { ...ctx, secrets: [secret] });
  assert.ok(!scrubbed.message.includes(secret));
  assert.match(scrubbed.message, /password \*\*\* rejected/);
});

test("a PoolError passes through unchanged", () => {
  const e = new PoolError("PoolAuthFailed", "h:1", "already explained.");
  assert.equal(toPoolError(e, ctx), e);
});
