// Reads a mariadb-dump stream as it passes through and counts each table's rows, so the manifest's
// row counts describe exactly the bytes that were stored, whatever the database did meanwhile.
import { Transform, type TransformCallback } from "node:stream";

const NEWLINE = 0x0a;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const SEMICOLON = 0x3b;
const SPACE = 0x20;

// Line kinds worth a closer look; every other line is skipped after its first few bytes.
const INSERT = Buffer.from("INSERT INTO `");
const CREATE = Buffer.from("CREATE TABLE `");
const DELIMITER = Buffer.from("DELIMITER ");
const TRAILER = Buffer.from("-- Dump completed");
const KEYWORDS = [INSERT, CREATE, DELIMITER, TRAILER];
// Enough for `INSERT INTO ` + a 64-character name of 4-byte characters, each possibly doubled, + ` VALUES (`.
const HEAD_MAX = 600;

// mariadb-dump 10.11 writes `VALUES` then each row on its own line; older ones `VALUES (…),(…)` on one.
const INSERT_HEAD = /^INSERT INTO `((?:[^`]|``)+)` VALUES ?$/;
const CREATE_LINE = /^CREATE TABLE `((?:[^`]|``)+)` \($/;
const DELIMITER_LINE = /^DELIMITER (\S+)\s*$/;

const LINE_START = 0;
const SKIP_LINE = 1;
const VALUES = 2;

export class DumpFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DumpFormatError";
  }
}

/**
 * A pass-through that counts the rows of every `INSERT INTO \`t\` VALUES (…),(…);` statement (one row a line or all on one) of a
 * mariadb-dump output and notes each `CREATE TABLE`. It understands exactly the format mariadb-dump
 * writes with extended inserts: anything it cannot read fails the stream rather than miscounting.
 * Statements inside `DELIMITER ;;` blocks (routines and triggers) are not looked at.
 */
export class DumpInspector extends Transform {
  /** Rows per table, in the order the tables appear in the dump. */
  readonly rows = new Map<string, number>();
  /** Bytes seen, i.e. the size of the uncompressed dump. */
  bytes = 0;
  /** True once mariadb-dump's closing `-- Dump completed` line has gone by. */
  completed = false;
  private mode = LINE_START;
  private head: number[] = [];
  private delimiter = ";";
  private table = "";
  private count = 0;
  private inString = false;
  private escaped = false;
  private depth = 0;
  private firstTableSeen = false;
  private readonly onFirstTable: (() => void) | undefined;

  /** `onFirstTable` runs when the first table definition goes by: mariadb-dump starts its snapshot before it. */
  constructor(onFirstTable?: () => void) {
    super();
    this.onFirstTable = onFirstTable;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.scan(chunk);
    } catch (err) {
      done(err as Error);
      return;
    }
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    try {
      // Still inside an INSERT: its closing `;` never came, so its rows cannot be trusted.
      if (this.mode === VALUES) throw new DumpFormatError(`the dump ends inside the data of table ${this.table}`);
      if (this.mode === LINE_START && this.head.length > 0) this.endLine();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  private scan(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (this.mode === SKIP_LINE) {
        const nl = buf.indexOf(NEWLINE, i);
        if (nl < 0) return;
        i = nl + 1;
        this.mode = LINE_START;
        this.head.length = 0;
        continue;
      }
      if (this.mode === LINE_START) {
        const b = buf[i++] as number;
        if (b === NEWLINE) {
          this.endLine();
          continue;
        }
        this.head.push(b);
        this.afterHeadByte(b);
        continue;
      }
      i = this.scanValues(buf, i);
    }
  }

  /** The hot loop: counts top-level `(` of a VALUES list, skipping quoted strings. */
  private scanValues(buf: Buffer, from: number): number {
    let inString = this.inString;
    let escaped = this.escaped;
    let depth = this.depth;
    let count = this.count;
    const n = buf.length;
    let i = from;
    let ended = false;
    for (; i < n; i++) {
      const b = buf[i] as number;
      if (inString) {
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) inString = false;
      } else if (b === QUOTE) {
        inString = true;
      } else if (b === OPEN) {
        if (depth === 0) count++;
        depth++;
      } else if (b === CLOSE) {
        depth--;
      } else if (b === SEMICOLON && depth === 0) {
        i++;
        ended = true;
        break;
      }
    }
    this.inString = inString;
    this.escaped = escaped;
    this.depth = depth;
    this.count = count;
    if (ended) {
      this.endInsert();
      this.mode = SKIP_LINE;
    }
    return i;
  }

  private afterHeadByte(b: number): void {
    const head = this.head;
    const len = head.length;
    if (len <= TRAILER.length) {
      const keys = this.delimiter === ";" ? KEYWORDS : [DELIMITER];
      if (!keys.some((k) => prefixMatches(head, k))) {
        this.mode = SKIP_LINE;
        return;
      }
    }
    if (b === SPACE && startsWith(head, INSERT) && this.startValues(Buffer.from(head).toString("utf8"))) return;
    if (len >= HEAD_MAX) {
      if (startsWith(head, INSERT)) {
        throw new DumpFormatError("the dump holds an INSERT statement in a form the row counter does not understand");
      }
      this.mode = SKIP_LINE;
    }
  }

  /** Enters the VALUES list when `line` is an INSERT head; true when it was one. */
  private startValues(line: string): boolean {
    const m = INSERT_HEAD.exec(line);
    if (!m) return false;
    this.table = unquote(m[1] as string);
    if (!this.rows.has(this.table)) this.rows.set(this.table, 0);
    this.count = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.mode = VALUES;
    this.head.length = 0;
    return true;
  }

  private endLine(): void {
    const line = Buffer.from(this.head).toString("utf8");
    this.head.length = 0;
    if (this.delimiter === ";" && this.startValues(line)) return;
    const d = DELIMITER_LINE.exec(line);
    if (d) {
      this.delimiter = d[1] as string;
      return;
    }
    if (this.delimiter !== ";") return;
    if (line.startsWith("-- Dump completed")) {
      this.completed = true;
      return;
    }
    const c = CREATE_LINE.exec(line);
    if (c) {
      const name = unquote(c[1] as string);
      if (!this.rows.has(name)) this.rows.set(name, 0);
      if (!this.firstTableSeen) {
        this.firstTableSeen = true;
        this.onFirstTable?.();
      }
      return;
    }
    if (line.startsWith("INSERT INTO `")) {
      throw new DumpFormatError("the dump holds an INSERT statement in a form the row counter does not understand");
    }
  }

  private endInsert(): void {
    if (this.inString || this.depth !== 0) {
      throw new DumpFormatError(`the dump ends inside the data of table ${this.table}`);
    }
    this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + this.count);
    this.count = 0;
  }
}

function startsWith(head: readonly number[], prefix: Buffer): boolean {
  if (head.length < prefix.length) return false;
  for (let j = 0; j < prefix.length; j++) if (head[j] !== prefix[j]) return false;
  return true;
}

/** True when the shorter of `head` and `keyword` is a prefix of the other. */
function prefixMatches(head: readonly number[], keyword: Buffer): boolean {
  const n = Math.min(head.length, keyword.length);
  for (let j = 0; j < n; j++) if (head[j] !== keyword[j]) return false;
  return true;
}

function unquote(name: string): string {
  return name.replaceAll("``", "`");
}
