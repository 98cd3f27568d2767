// An admin session on a pool for backups and restores: one connection held for a whole run (it owns
// the run's named lock), and the queries that read a tenant database's tables, checksums and version.
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { toPoolError } from "../db/errors.ts";
import { quoteTable } from "../db/naming.ts";
import type { PoolEndpoint } from "../db/pool.ts";

const CONNECT_TIMEOUT_MS = 10_000;

type SqlValue = string | number;

export function endpointOf(pool: PoolEndpoint): string {
  return pool.host.includes(":") ? `[${pool.host}]:${pool.port}` : `${pool.host}:${pool.port}`;
}

export class AdminSession {
  private readonly conn: Connection;
  private readonly pool: PoolEndpoint;
  private readonly action: string;

  private constructor(conn: Connection, pool: PoolEndpoint, action: string) {
    this.conn = conn;
    this.pool = pool;
    this.action = action;
  }

  /** `action` completes "cannot …" in error messages, e.g. "back up database mt_acme". */
  static async open(pool: PoolEndpoint, action: string): Promise<AdminSession> {
    try {
      const conn = await createConnection({
        host: pool.host, port: pool.port, user: pool.adminUser, password: pool.adminPassword,
        connectTimeout: CONNECT_TIMEOUT_MS, multipleStatements: false, supportBigNumbers: true, bigNumberStrings: true,
      });
      // A connection dropped while idle is reported by the next statement; without a listener the
      // driver's 'error' event would crash the process.
      conn.on("error", () => undefined);
      return new AdminSession(conn, pool, action);
    } catch (err) {
      throw toPoolError(err, { endpoint: endpointOf(pool), action, secrets: [pool.adminPassword] });
    }
  }

  async rows(sql: string, values: readonly SqlValue[] = []): Promise<RowDataPacket[]> {
    try {
      const [r] = await this.conn.query<RowDataPacket[]>({ sql, values: [...values] });
      return r;
    } catch (err) {
      throw toPoolError(err, { endpoint: endpointOf(this.pool), action: this.action, secrets: [this.pool.adminPassword] });
    }
  }

  async exec(sql: string, values: readonly SqlValue[] = []): Promise<void> {
    await this.rows(sql, values);
  }

  /** Takes a server-wide named lock without waiting; false when another session holds it. */
  async tryLock(name: string): Promise<boolean> {
    const [r] = await this.rows("SELECT GET_LOCK(?, 0) AS got", [name]);
    return Number(r?.got) === 1;
  }

  /** True while this session still holds the named lock (a dropped connection loses it). */
  async holdsLock(name: string): Promise<boolean> {
    const [r] = await this.rows("SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS mine", [name]);
    return Number(r?.mine) === 1;
  }

  async databaseExists(database: string): Promise<boolean> {
    return (await this.rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [database])).length > 0;
  }

  /** Base tables of the database, by name. */
  async tables(database: string): Promise<string[]> {
    const rows = await this.rows(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
      [database],
    );
    return rows.map((r) => String(r.name));
  }

  /** Tables, views, routines and events: anything a restore would collide with. */
  async objectCount(database: string): Promise<number> {
    const [r] = await this.rows(
      "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + " +
      "(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) + " +
      "(SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS n",
      [database, database, database],
    );
    return Number(r?.n ?? 0);
  }

  async serverVersion(): Promise<string> {
    const [r] = await this.rows("SELECT VERSION() AS v");
    return String(r?.v ?? "");
  }

  /**
   * Matomo's version and table prefix. The prefix is whatever precedes `option` in the name of a table
   * with Matomo's option columns ("" in Matomo's test fixtures, `matomo_` by default in production).
   */
  async matomoVersion(database: string): Promise<{ version: string | null; tablePrefix: string | null }> {
    const candidates = (await this.rows(
      "SELECT TABLE_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND COLUMN_NAME IN ('option_name', 'option_value') " +
      "GROUP BY TABLE_NAME HAVING COUNT(DISTINCT COLUMN_NAME) = 2 ORDER BY TABLE_NAME",
      [database],
    )).map((r) => String(r.name)).filter((n) => n.endsWith("option"));
    for (const table of candidates) {
      const [r] = await this.rows(`SELECT option_value AS v FROM ${quoteTable(database, table)} WHERE option_name = 'version_core'`);
      if (r) return { version: String(r.v), tablePrefix: table.slice(0, -"option".length) };
    }
    return { version: null, tablePrefix: candidates.length > 0 ? (candidates[0] as string).slice(0, -"option".length) : null };
  }

  /** CHECKSUM TABLE of each table; null where the server reports none. */
  async checksums(database: string, tables: readonly string[]): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    for (const t of tables) {
      const [r] = await this.rows(`CHECKSUM TABLE ${quoteTable(database, t)}`);
      const v = r?.Checksum as unknown;
      out.set(t, v === null || v === undefined ? null : Number(v));
    }
    return out;
  }

  async rowCount(database: string, table: string): Promise<number> {
    const [r] = await this.rows(`SELECT COUNT(*) AS n FROM ${quoteTable(database, table)}`);
    return Number(r?.n ?? 0);
  }

  async close(): Promise<void> {
    // Release named locks explicitly: the server frees them on disconnect only after end() has
    // returned, and the next backup of the same tenant must not be refused for that moment.
    await this.conn.query("SELECT RELEASE_ALL_LOCKS()").catch(() => undefined);
    await this.conn.end().catch(() => this.conn.destroy());
  }
}
