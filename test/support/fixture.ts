// Matomo's OmniFixture (../shared/fixtures/matomo): its path, and loading a gzip dump into a new database
// of the dev MariaDB with the mariadb client, as a person restoring a dump would.
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { createConnection } from "mysql2/promise";
import { connectionArgs, describeExit, MARIADB, start, writeCredentials } from "../../src/backup/client-tools.ts";

export const OMNI_FIXTURE = resolve(import.meta.dirname, "../../../shared/fixtures/matomo/OmniFixture.sql.gz");

export interface MariaDb { readonly host: string; readonly port: number; readonly user: string; readonly password: string }

/** Creates `database` and loads the gzip dump `file` into it; throws with the client's exit when it fails. */
export async function loadGzipDump(server: MariaDb, database: string, file: string): Promise<void> {
  const db = await createConnection({ ...server });
  try {
    await db.query(`CREATE DATABASE \`${database}\``);
  } finally {
    await db.end();
  }
  const pool = { host: server.host, port: server.port, adminUser: server.user, adminPassword: server.password };
  const credentials = await writeCredentials(pool);
  try {
    const { child, exit } = start(MARIADB, [credentials.option, ...connectionArgs(pool), "--batch", "--binary-mode", `--database=${database}`], "pipe");
    if (!child.stdin) throw new Error("the mariadb client has no stdin");
    await pipeline(createReadStream(file), createGunzip(), child.stdin);
    const e = await exit;
    if (e.code !== 0) throw new Error(describeExit("mariadb", e));
  } finally {
    await credentials.dispose();
  }
}
