// The database-pool client against the dev MariaDB: each tenant gets one database and one user that
// reaches only that database; provisioning converges when repeated; failures are classified and never
// reveal a password.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { inspect } from "node:util";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { endpoints } from "../src/devcluster/environment.ts";
import {
  checkPool, countTenantDatabases, dropTenantDatabase, ensureTenantDatabase, MATOMO_PRIVILEGES, PoolError,
  tenantDatabaseExists, tenantDatabaseName, type PoolEndpoint,
} from "../src/db/pool.ts";

async function devPool(): Promise<PoolEndpoint> {
  const e = await endpoints();
  return { host: e.mariadb.host, port: e.mariadb.port, adminUser: e.mariadb.user, adminPassword: e.mariadb.password };
}

async function adminConnection(pool: PoolEndpoint): Promise<Connection> {
  return createConnection({ host: pool.host, port: pool.port, user: pool.adminUser, password: pool.adminPassword });
}

async function asTenant<T>(pool: PoolEndpoint, user: string, password: string, work: (c: Connection) => Promise<T>, database?: string): Promise<T> {
  const conn = await createConnection({ host: pool.host, port: pool.port, user, password, ...(database ? { database } : {}) });
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

async function rows(conn: Connection, sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, values);
  return r;
}

/** The grants of a tenant user, each as its target and its privileges in a fixed order. */
async function grantsOf(admin: Connection, user: string): Promise<{ on: string; privileges: string[] }[]> {
  return (await rows(admin, "SHOW GRANTS FOR ?@'%'", [user])).map((r) => {
    const m = /^GRANT (.+) ON (\S+) TO /.exec(String(Object.values(r)[0]));
    assert.ok(m, String(Object.values(r)[0]));
    return { on: m[2] ?? "", privileges: (m[1] ?? "").split(", ").sort() };
  });
}

function secret(): string {
  return randomBytes(12).toString("base64url");
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

// Tenants made by this file, dropped at the end even when a test fails half-way.
const made = new Set<string>();
function tenant(name: string): string {
  made.add(name);
  return name;
}

after(async () => {
  if (made.size === 0) return;
  const pool = await devPool();
  for (const t of made) await dropTenantDatabase(pool, t);
});

describe("database pool client", () => {
  test("two tenants get two databases, and each user reaches only its own", async () => {
    const pool = await devPool();
    const hex = randomBytes(4).toString("hex");
    // Same length, differing only where the first has `_`: an unescaped grant on `mt_it_…_z`.* would
    // also cover the second tenant's database, since `_` is a wildcard in database-level grants.
    const a = tenant(`it-${hex}-z`);
    const b = tenant(`itq${hex}qz`);
    const pwA = secret();
    const pwB = secret();
    const before = await countTenantDatabases(pool);

    const dbA = await ensureTenantDatabase(pool, a, pwA);
    const dbB = await ensureTenantDatabase(pool, b, pwB);
    assert.deepEqual(dbA, { database: `mt_it_${hex}_z`, user: `mt_it_${hex}_z`, created: true });
    assert.deepEqual(dbB, { database: `mt_itq${hex}qz`, user: `mt_itq${hex}qz`, created: true });
    assert.ok(await tenantDatabaseExists(pool, a));
    assert.ok(await tenantDatabaseExists(pool, b));
    assert.ok(await countTenantDatabases(pool) >= before + 2);

    const admin = await adminConnection(pool);
    try {
      const [schema] = await rows(admin, "SELECT DEFAULT_CHARACTER_SET_NAME cs, DEFAULT_COLLATION_NAME co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [dbA.database]);
      assert.deepEqual({ ...schema }, { cs: "utf8mb4", co: "utf8mb4_general_ci" });
      assert.deepEqual(await grantsOf(admin, dbA.user), [
        { on: "*.*", privileges: ["USAGE"] },
        { on: `\`mt\\_it\\_${hex}\\_z\`.*`, privileges: [...MATOMO_PRIVILEGES].sort() },
      ], "Matomo's privileges on its own database, nothing global");
    } finally {
      await admin.end();
    }

    await asTenant(pool, dbB.user, pwB, async (c) => {
      await c.query("CREATE TABLE matomo_site (idsite INT PRIMARY KEY, name VARCHAR(90))");
      await c.query("INSERT INTO matomo_site VALUES (1, 'b only')");
    }, dbB.database);

    await asTenant(pool, dbA.user, pwA, async (c) => {
      // What Matomo does with its database: tables, indexes, schema changes, temporary tables, locks.
      await c.query("CREATE TABLE matomo_log_visit (idvisit BIGINT PRIMARY KEY, idsite INT, url VARCHAR(200))");
      await c.query("CREATE INDEX idx_site ON matomo_log_visit (idsite)");
      await c.query("ALTER TABLE matomo_log_visit ADD COLUMN referer VARCHAR(200)");
      await c.query("INSERT INTO matomo_log_visit (idvisit, idsite, url) VALUES (1, 1, 'https://a.example/')");
      await c.query("UPDATE matomo_log_visit SET referer = 'r' WHERE idvisit = 1");
      assert.deepEqual(await rows(c, "SELECT url, referer FROM matomo_log_visit"), [{ url: "https://a.example/", referer: "r" }]);
      await c.query("CREATE TEMPORARY TABLE matomo_tmp (x INT)");
      await c.query("LOCK TABLES matomo_log_visit WRITE");
      await c.query("UNLOCK TABLES");
      await c.query("DELETE FROM matomo_log_visit WHERE idvisit = 1");
      await c.query("DROP TABLE matomo_log_visit");

      const visible = (await rows(c, "SHOW DATABASES")).map((r) => String(r.Database));
      assert.ok(visible.includes(dbA.database));
      assert.ok(!visible.includes(dbB.database), `tenant ${a} must not see ${dbB.database}: ${visible.join(", ")}`);
      assert.deepEqual(visible.filter((d) => d !== "information_schema"), [dbA.database]);

      await assert.rejects(c.query(`SELECT * FROM \`${dbB.database}\`.matomo_site`), /denied/);
      await assert.rejects(c.query(`CREATE TABLE \`${dbB.database}\`.intruder (x INT)`), /denied/);
      await assert.rejects(c.query(`DROP DATABASE \`${dbB.database}\``), /denied/);
      await assert.rejects(c.query(`CREATE DATABASE \`${dbA.database}_2\``), /denied/);
      await assert.rejects(c.query("SELECT User FROM mysql.user"), /denied/);
    }, dbA.database);
    await assert.rejects(asTenant(pool, dbA.user, pwA, () => Promise.resolve(), dbB.database), /denied/);
    await assert.rejects(asTenant(pool, dbA.user, pwB, () => Promise.resolve()), /Access denied/, "one tenant's password does not open another's user");

    await asTenant(pool, dbB.user, pwB, async (c) => {
      assert.deepEqual(await rows(c, "SELECT name FROM matomo_site"), [{ name: "b only" }]);
    }, dbB.database);
  });

  test("provisioning again, or after a crash half-way, converges to one database, one user, the latest password and exact grants", async () => {
    const pool = await devPool();
    const t = tenant(`it-conv-${randomBytes(3).toString("hex")}`);
    const name = tenantDatabaseName(t);
    const admin = await adminConnection(pool);
    try {
      // A crash after CREATE DATABASE and before CREATE USER.
      await admin.query(`CREATE DATABASE \`${name}\``);
      const pw1 = secret();
      const first = await ensureTenantDatabase(pool, t, pw1);
      assert.equal(first.created, false, "the database was already there");
      await asTenant(pool, name, pw1, (c) => c.query("CREATE TABLE matomo_option (option_name VARCHAR(191) PRIMARY KEY, option_value TEXT)"), name);
      await asTenant(pool, name, pw1, (c) => c.query("INSERT INTO matomo_option VALUES ('k', 'v')"), name);

      const pw2 = secret();
      const second = await ensureTenantDatabase(pool, t, pw2);
      const third = await ensureTenantDatabase(pool, t, pw2);
      assert.deepEqual(second, { database: name, user: name, created: false });
      assert.deepEqual(third, second);

      assert.equal((await rows(admin, "SELECT COUNT(*) n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [name]))[0]?.n, 1);
      assert.equal((await rows(admin, "SELECT COUNT(*) n FROM mysql.user WHERE User = ?", [name]))[0]?.n, 1);
      await assert.rejects(asTenant(pool, name, pw1, () => Promise.resolve()), /Access denied/, "the old password no longer works");
      await asTenant(pool, name, pw2, async (c) => {
        assert.deepEqual(await rows(c, "SELECT option_value v FROM matomo_option"), [{ v: "v" }], "data survives re-provisioning");
      }, name);

      // Grants that drifted (extra global and foreign privileges) are taken back.
      await admin.query("GRANT PROCESS ON *.* TO ?@'%'", [name]);
      await admin.query("GRANT SELECT ON `mysql`.* TO ?@'%'", [name]);
      await admin.query(`REVOKE LOCK TABLES ON \`${name.replaceAll("_", "\\_")}\`.* FROM ?@'%'`, [name]);
      await ensureTenantDatabase(pool, t, pw2);
      assert.deepEqual(await grantsOf(admin, name), [
        { on: "*.*", privileges: ["USAGE"] },
        { on: `\`${name.replaceAll("_", "\\_")}\`.*`, privileges: [...MATOMO_PRIVILEGES].sort() },
      ]);
      await asTenant(pool, name, pw2, async (c) => {
        await assert.rejects(c.query("SELECT User FROM mysql.user"), /denied/);
      }, name);
    } finally {
      await admin.end();
    }
  });

  test("dropping removes the database and the user, and dropping again is harmless", async () => {
    const pool = await devPool();
    const t = tenant(`it-drop-${randomBytes(3).toString("hex")}`);
    const name = tenantDatabaseName(t);
    const pw = secret();
    await ensureTenantDatabase(pool, t, pw);
    assert.ok(await tenantDatabaseExists(pool, t));

    await dropTenantDatabase(pool, t);
    await dropTenantDatabase(pool, t);
    await dropTenantDatabase(pool, `it-never-${randomBytes(3).toString("hex")}`);
    assert.equal(await tenantDatabaseExists(pool, t), false);
    const admin = await adminConnection(pool);
    try {
      assert.equal((await rows(admin, "SELECT COUNT(*) n FROM mysql.user WHERE User = ?", [name]))[0]?.n, 0);
    } finally {
      await admin.end();
    }
    await assert.rejects(asTenant(pool, name, pw, () => Promise.resolve()), /Access denied/);
  });

  test("a name outside the contract is refused before any connection is made", async () => {
    const unreachable = { host: "127.0.0.1", port: await closedPort(), adminUser: "x", adminPassword: "y" };
    for (const bad of ["Acme", "a_b", "x`; DROP DATABASE mysql; --", "a"]) {
      await assert.rejects(ensureTenantDatabase(unreachable, bad, "pw"), (e: unknown) => !(e instanceof PoolError) && /not a valid tenant name/.test((e as Error).message));
      await assert.rejects(dropTenantDatabase(unreachable, bad), /not a valid tenant name/);
    }
    await assert.rejects(ensureTenantDatabase(unreachable, "acme", ""), /must not be empty/);
  });

  test("the dev pool passes its health check", async () => {
    await checkPool(await devPool(), 2000);
  });

  test("an unreachable pool fails quickly with PoolUnreachable naming host:port", async () => {
    const pool = { ...(await devPool()), port: await closedPort() };
    const t0 = Date.now();
    for (const call of [
      () => checkPool(pool, 2000),
      () => ensureTenantDatabase(pool, "acme", "pw"),
      () => countTenantDatabases(pool),
      () => tenantDatabaseExists(pool, "acme"),
      () => dropTenantDatabase(pool, "acme"),
    ]) {
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(e instanceof PoolError, String(e));
        assert.equal(e.reason, "PoolUnreachable");
        assert.ok(e.message.includes(`127.0.0.1:${pool.port}`), e.message);
        assert.ok(!e.message.includes(pool.adminPassword));
        return true;
      });
    }
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  test("a server that accepts connections but never answers fails the health check within its timeout", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => { sockets.add(s); });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const t0 = Date.now();
      await assert.rejects(checkPool({ host: "127.0.0.1", port, adminUser: "x", adminPassword: "y" }, 500), (e: unknown) =>
        e instanceof PoolError && e.reason === "PoolUnreachable" && e.message.includes(`127.0.0.1:${port}`));
      const took = Date.now() - t0;
      assert.ok(took >= 400 && took < 2000, `took ${took} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("a wrong admin password gives PoolAuthFailed and the password appears nowhere", async () => {
    const real = await devPool();
    const wrong = `wrong-${secret()}`;
    const pool = { ...real, adminPassword: wrong };
    for (const call of [
      () => checkPool(pool),
      () => ensureTenantDatabase(pool, "acme", "tenant-pw-123456"),
      () => countTenantDatabases(pool),
      () => dropTenantDatabase(pool, "acme"),
    ]) {
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(e instanceof PoolError, String(e));
        assert.equal(e.reason, "PoolAuthFailed");
        assert.ok(e.message.includes(`${real.host}:${real.port}`), e.message);
        for (const text of [e.message, e.stack ?? "", inspect(e, { depth: 5 }), JSON.stringify(e)]) {
          assert.ok(!text.includes(wrong), "the wrong password leaked");
          assert.ok(!text.includes(real.adminPassword), "the real password leaked");
          assert.ok(!text.includes("tenant-pw-123456"), "the tenant password leaked");
        }
        return true;
      });
    }
  });
});
