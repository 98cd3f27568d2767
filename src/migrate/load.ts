// The two passes over a source dump: inspecting it (tables, rows, prefix, version, completeness) without
// touching any database, and loading it into a staging database while counting its rows again.
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { connectionArgs, describeExit, MARIADB, start, writeCredentials } from "../backup/client-tools.ts";
import { DumpFormatError, DumpInspector } from "../backup/dump-inspector.ts";
import type { PoolEndpoint } from "../db/pool.ts";
import type { TempDatabase } from "../db/temp-database.ts";
import { DumpScanner } from "./dump-scanner.ts";
import { MigrationError } from "./errors.ts";
import type { OpenedSource } from "./source.ts";

export interface Inspection {
  readonly inspector: DumpInspector;
  readonly scanner: DumpScanner;
}

export interface PassOptions {
  readonly signal?: AbortSignal;
  /** Called about once a second with how far the pass is. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Turns what went wrong reading a dump into a sentence about the dump. */
function readError(source: OpenedSource, err: unknown): MigrationError {
  if (err instanceof MigrationError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === "Z_BUF_ERROR" || /unexpected end of file/i.test(e.message ?? "")) {
    return new MigrationError("Truncated", `the dump ${source.description} is truncated: its gzip data ends early; copy the whole file again`);
  }
  if (e.code === "Z_DATA_ERROR" || e.code === "Z_STREAM_ERROR") {
    return new MigrationError("SourceUnreadable", `the dump ${source.description} is damaged: it is not valid gzip data (${e.message})`);
  }
  if (err instanceof DumpFormatError) {
    if (/ends inside/.test(err.message)) {
      return new MigrationError("Truncated", `the dump ${source.description} is truncated: ${err.message}; copy the whole file again or make a new dump`);
    }
    return new MigrationError("SourceUnreadable",
      `cannot read the dump ${source.description}: ${err.message}; make it with mysqldump or mariadb-dump (without --complete-insert or --xml)`);
  }
  return new MigrationError("SourceUnreadable", `cannot read the dump ${source.description}: ${e.message ?? String(err)}`);
}

function progressTimer(opts: PassOptions, read: () => [number, number]): () => void {
  if (!opts.onProgress) return () => undefined;
  const timer = setInterval(() => opts.onProgress?.(...read()), 1000);
  return () => clearInterval(timer);
}

/** Reads the whole dump once, changing nothing; refuses a dump that did not finish. */
export async function inspectSource(source: OpenedSource, opts: PassOptions = {}): Promise<Inspection> {
  const inspector = new DumpInspector();
  const scanner = new DumpScanner();
  const streams = source.streams();
  const stop = progressTimer(opts, () => [streams[0].bytesRead, source.fileBytes]);
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  try {
    await pipeline([...streams, inspector, scanner, sink], { signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw new MigrationError("Aborted", "the migration was cancelled while reading the source; nothing was changed");
    throw readError(source, err);
  } finally {
    stop();
  }
  if (!inspector.completed) {
    throw new MigrationError("Truncated",
      `the dump ${source.description} is truncated: it lacks the closing \`-- Dump completed\` line that mysqldump and mariadb-dump write last ` +
      "(a dump made with --compact or --skip-comments lacks it too); copy the whole file again, or dump again without those options");
  }
  return { inspector, scanner };
}

/**
 * Loads the dump into the staging database as its own account, leaving out a leading
 * `CREATE DATABASE`/`USE` (a dump made with --databases); returns the rows counted on the way.
 */
export async function loadIntoStaging(source: OpenedSource, pool: PoolEndpoint, staging: Required<TempDatabase>, totalBytes: number, opts: PassOptions = {}): Promise<DumpInspector> {
  const account = { host: pool.host, port: pool.port, adminUser: staging.account.user, adminPassword: staging.account.password };
  const credentials = await writeCredentials(account);
  try {
    const { child, exit } = start(MARIADB, [
      credentials.option, ...connectionArgs(account),
      "--batch", "--binary-mode", "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
      `--database=${staging.database}`,
    ], "pipe");
    const onAbort = () => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const inspector = new DumpInspector();
    const stop = progressTimer(opts, () => [inspector.bytes, totalBytes]);
    let streamError: unknown;
    try {
      await pipeline([...source.streams(), inspector, new DumpScanner({ dropLeadingDatabaseStatements: true }), child.stdin!]).catch((err: unknown) => {
        streamError = err;
        // The client would otherwise wait for the rest of its input forever.
        child.kill("SIGKILL");
      });
      const e = await exit;
      if (opts.signal?.aborted) throw new MigrationError("Aborted", "the migration was cancelled while loading the source");
      if (e.code !== 0 || e.signal) {
        const why = describeExit("mariadb", e).replaceAll(staging.account.password, "***");
        const hint = /DEFINER|SUPER|denied/i.test(why)
          ? "; the dump creates views, triggers or routines, or uses another database, which an import does not carry (Matomo needs none): dump the Matomo tables only"
          : "";
        throw new MigrationError("LoadFailed", `loading the source into staging database ${staging.database} failed: ${why}${hint}`);
      }
      if (streamError !== undefined) throw readError(source, streamError);
      return inspector;
    } finally {
      stop();
      opts.signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    await credentials.dispose();
  }
}
