// Where a migration reads the old instance from: a dump file (plain or gzip), or a live MySQL/MariaDB
// dumped once with mariadb-dump into a private temporary file, so that every pass over the source
// (inspection, then loading) reads exactly the same snapshot.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { connectionArgs, describeExit, MARIADB_DUMP, start, writeCredentials } from "../backup/client-tools.ts";
import { MigrationError } from "./errors.ts";
import { describeSource, maskPassword, type MysqlSource } from "./source-url.ts";

export type SourceSpec =
  | { readonly kind: "dump"; readonly file: string }
  | { readonly kind: "mysql"; readonly source: MysqlSource };

export interface OpenedSource {
  /** The file, or the URL without its password: safe to show. */
  readonly description: string;
  /** Size of the file read (compressed when it is gzip). */
  readonly fileBytes: number;
  /** A fresh pass over the dump: the file, then gunzip when it is compressed. */
  streams(): [Readable & { bytesRead: number }, ...Transform[]];
  dispose(): Promise<void>;
}

const GZIP_MAGIC = [0x1f, 0x8b];

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === GZIP_MAGIC[0] && buf[1] === GZIP_MAGIC[1];
  } finally {
    await fh.close();
  }
}

async function fileSource(file: string, description: string, dispose: () => Promise<void>): Promise<OpenedSource> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
  } catch (err) {
    throw new MigrationError("SourceUnreadable", `cannot read the dump ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  const gzip = await isGzip(file);
  return {
    description,
    fileBytes: size,
    streams: () => {
      const read = createReadStream(file);
      return gzip ? [read, createGunzip()] : [read];
    },
    dispose,
  };
}

export interface OpenOptions {
  readonly signal?: AbortSignal;
  /** Bytes of the live source dumped so far (compressed). */
  readonly onDumpProgress?: (bytes: number) => void;
}

export async function openSource(spec: SourceSpec, opts: OpenOptions = {}): Promise<OpenedSource> {
  if (spec.kind === "dump") return fileSource(spec.file, spec.file, () => Promise.resolve());
  const dir = await mkdtemp(join(tmpdir(), "mms-migrate-"));
  try {
    const file = join(dir, "source.sql.gz");
    await dumpLive(spec.source, file, opts);
    return await fileSource(file, describeSource(spec.source), () => rm(dir, { recursive: true, force: true }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** mariadb-dump of the source's tables in one consistent snapshot (InnoDB), gzip-compressed into `file`. */
async function dumpLive(source: MysqlSource, file: string, opts: OpenOptions): Promise<void> {
  const what = `the source database ${describeSource(source)}`;
  const endpoint = { host: source.host, port: source.port, adminUser: source.user, adminPassword: source.password };
  const credentials = await writeCredentials(endpoint);
  try {
    // Tables only: Matomo creates no triggers, routines or events, and they could not be moved anyway.
    const { child, exit } = start(MARIADB_DUMP, [
      credentials.option, ...connectionArgs(endpoint),
      "--single-transaction", "--quick", "--hex-blob", "--skip-triggers", "--no-tablespaces", "--skip-lock-tables",
      "--default-character-set=utf8mb4", "--max-allowed-packet=1G", "--net-buffer-length=1M",
      source.database,
    ], "ignore");
    const onAbort = () => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const out = createWriteStream(file, { flags: "wx", mode: 0o600 });
    const timer = setInterval(() => opts.onDumpProgress?.(out.bytesWritten), 1000);
    let streamError: unknown;
    try {
      await pipeline(child.stdout!, createGzip({ level: 1 }), out).catch((err: unknown) => {
        streamError = err;
        child.kill("SIGKILL");
      });
      const e = await exit;
      if (opts.signal?.aborted) throw new MigrationError("Aborted", `the dump of ${what} was cancelled; nothing was changed`);
      if (e.code !== 0 || e.signal) {
        throw new MigrationError("SourceUnreadable", `cannot dump ${what}: ${maskPassword(describeExit("mariadb-dump", e), source)}`);
      }
      if (streamError !== undefined) {
        throw new MigrationError("SourceUnreadable", `cannot write the dump of ${what} to ${file}: ${maskPassword((streamError as Error).message, source)}`);
      }
    } finally {
      clearInterval(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    await credentials.dispose();
  }
}
