// Reads the structure of a mysqldump or mariadb-dump stream as it passes through: each table's columns
// and size, the version row of any table shaped like Matomo's option table, and the statements that
// name a database. Row counts and the closing line are the DumpInspector's job, which runs beside it.
import { Transform, type TransformCallback } from "node:stream";
import { DumpFormatError } from "../backup/dump-inspector.ts";

const NEWLINE = 0x0a;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/** Option rows worth reading: the version says whether the database can be carried over, the rest is reported. */
export const OPTION_NAMES: readonly string[] = [
  "version_core", "PrivacyManager.ipAnonymizerEnabled", "PrivacyManager.ipAddressMaskLength", "PrivacyManager.doNotTrackEnabled",
];

// A line head longer than this is decided on what has been read (column lines and headers are short).
const HEAD_CAP = 4096;
// An INSERT whose head is still unreadable here uses a form the row counter refuses anyway.
const INSERT_HEAD_MAX = 600;
// Longer option values are not kept: a version is a few characters.
const FIELD_CAP = 256;

const upper = (s: string) => Buffer.from(s);
const CREATE_TABLE = upper("CREATE TABLE `");
const INSERT = upper("INSERT INTO `");
const DELIMITER = upper("DELIMITER ");
const DATABASE_KEYWORDS = ["USE ", "CREATE DATABASE ", "CREATE SCHEMA ", "DROP DATABASE ", "DROP SCHEMA ", "/*!40000 DROP DATABASE "].map(upper);
const TOP_KEYWORDS = [CREATE_TABLE, INSERT, DELIMITER, ...DATABASE_KEYWORDS];

const INSERT_HEAD = /^INSERT INTO `((?:[^`]|``)+)` VALUES$/;
const CREATE_LINE = /^CREATE TABLE `((?:[^`]|``)+)` \(/;
const COLUMN_LINE = /^\s+`((?:[^`]|``)+)`/;
const DELIMITER_LINE = /^DELIMITER (\S+)/i;
const QUOTED_NAME = /`((?:[^`]|``)+)`/;
const USE_BARE = /^USE\s+([^\s;`]+)/i;

// Modes of the line machine.
const HEAD = 0;
const PASS = 1;
const DROP = 2;
const VALUES = 3;

// States of the VALUES reader of an option table.
const BETWEEN = 0;
const FIELD = 1;
const BARE = 2;
const STRING = 3;
const ESCAPE = 4;
const QUOTE_SEEN = 5;
const AFTER = 6;

const ESCAPES: Readonly<Record<string, number>> = { "0": 0, b: 8, n: 10, r: 13, t: 9, Z: 26 };

export interface ScannedTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** Bytes of the dump from the table's definition to the next table's: its size in the dump. */
  readonly bytes: number;
}

export interface DatabaseStatement {
  /** The database named, when the statement names one. */
  readonly database: string | undefined;
  /** The statement's first characters, for messages. */
  readonly text: string;
  /** True when it comes before the first table's definition (a dump made with `--databases` starts so). */
  readonly beforeFirstTable: boolean;
}

export interface ScanOptions {
  /**
   * Leave out the database statements that come before the first table (`CREATE DATABASE`, `USE`), so
   * the dump loads into whatever database the client was given.
   */
  readonly dropLeadingDatabaseStatements?: boolean;
}

interface TableState {
  columns: string[];
  bytes: number;
}

/** A pass-through Transform that notes a dump's tables, option versions and database statements. */
export class DumpScanner extends Transform {
  private readonly tableState = new Map<string, TableState>();
  /** Per option-shaped table, the OPTION_NAMES rows it holds. */
  readonly options = new Map<string, Map<string, string>>();
  readonly databaseStatements: DatabaseStatement[] = [];
  private readonly dropLeading: boolean;

  private mode = HEAD;
  private head: number[] = [];
  private inCreate = false;
  private delimiter = ";";
  private offset = 0;
  private lineStart = 0;
  private current: string | undefined;
  private currentStart = 0;

  // The VALUES reader of an option table.
  private optionTable = "";
  private nameField = 0;
  private valueField = 1;
  private state = BETWEEN;
  private field = 0;
  private bytes: number[] = [];
  private fields: (string | undefined)[] = [];

  constructor(opts: ScanOptions = {}) {
    super();
    this.dropLeading = opts.dropLeadingDatabaseStatements ?? false;
  }

  /** The tables in the order the dump defines them. */
  get tables(): ScannedTable[] {
    const out: ScannedTable[] = [];
    for (const [name, t] of this.tableState) {
      const open = name === this.current ? this.offset - this.currentStart : 0;
      out.push({ name, columns: t.columns, bytes: t.bytes + open });
    }
    return out;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const out: Buffer[] = [];
    try {
      this.scan(chunk, out);
    } catch (err) {
      done(err as Error);
      return;
    }
    for (const b of out) this.push(b);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.mode === HEAD && this.head.length > 0) {
      const keep = this.decide(true) !== DROP;
      if (keep) this.push(Buffer.from(this.head));
      this.head = [];
    }
    done();
  }

  private scan(buf: Buffer, out: Buffer[]): void {
    const base = this.offset;
    const n = buf.length;
    // Start of the bytes being passed through, or -1 while a line head is held back.
    let seg = this.mode === PASS || this.mode === VALUES ? 0 : -1;
    let i = 0;
    while (i < n) {
      if (this.mode === PASS || this.mode === DROP) {
        const nl = buf.indexOf(NEWLINE, i);
        if (nl < 0) break;
        i = nl + 1;
        if (this.mode === PASS) out.push(buf.subarray(seg, i));
        seg = -1;
        this.mode = HEAD;
        this.lineStart = base + i;
        continue;
      }
      if (this.mode === VALUES) {
        i = this.readValues(buf, i);
        continue;
      }
      const b = buf[i++] as number;
      this.head.push(b);
      this.offset = base + i;
      const next = b === NEWLINE ? this.decide(true) : this.head.length >= HEAD_CAP ? this.decide(false, true) : this.decide(false);
      if (next === undefined) continue;
      if (next !== DROP) out.push(Buffer.from(this.head));
      this.head = [];
      if (b === NEWLINE) {
        this.mode = HEAD;
        this.lineStart = base + i;
      } else {
        this.mode = next;
        seg = next === DROP ? -1 : i;
      }
    }
    if (seg >= 0 && (this.mode === PASS || this.mode === VALUES)) out.push(buf.subarray(seg, n));
    this.offset = base + n;
  }

  /**
   * What to do with the line whose head is held: undefined to read more, else the mode for the rest
   * of the line (PASS or VALUES to keep it, DROP to leave it out).
   */
  private decide(complete: boolean, full = false): number | undefined {
    const head = this.head;
    const atEnd = complete || full;
    if (this.inCreate) {
      if (!atEnd) return undefined;
      const line = text(head);
      if (line.startsWith(")")) this.inCreate = false;
      else {
        const col = COLUMN_LINE.exec(line);
        if (col) this.tableState.get(this.current as string)?.columns.push(unquote(col[1] as string));
      }
      return PASS;
    }
    const keywords = this.delimiter === ";" ? TOP_KEYWORDS : [DELIMITER];
    const matching = keywords.filter((k) => prefixMatches(head, k));
    if (matching.length === 0) return PASS;
    if (matching.includes(INSERT) && head.length >= INSERT.length) {
      // The head is complete once it ends with VALUES.
      const m = head[head.length - 1] === 0x53 ? INSERT_HEAD.exec(text(head)) : null;
      if (m) return this.startInsert(unquote(m[1] as string));
      return atEnd || head.length >= INSERT_HEAD_MAX ? PASS : undefined;
    }
    if (!atEnd) return undefined;
    return this.classifyLine(text(head).replace(/\r?\n$/, ""));
  }

  private classifyLine(line: string): number {
    const d = DELIMITER_LINE.exec(line);
    if (d) {
      this.delimiter = d[1] as string;
      return PASS;
    }
    if (this.delimiter !== ";") return PASS;
    const c = CREATE_LINE.exec(line);
    if (c) {
      const name = unquote(c[1] as string);
      this.switchTable(name);
      if (!this.tableState.has(name)) this.tableState.set(name, { columns: [], bytes: 0 });
      else (this.tableState.get(name) as TableState).columns = [];
      this.inCreate = true;
      return PASS;
    }
    if (DATABASE_KEYWORDS.some((k) => prefixMatches(this.head, k) && this.head.length >= k.length)) {
      const quoted = QUOTED_NAME.exec(line);
      const bare = USE_BARE.exec(line);
      const database = quoted ? unquote(quoted[1] as string) : bare?.[1];
      const beforeFirstTable = this.tableState.size === 0;
      this.databaseStatements.push({ database, text: line.slice(0, 80), beforeFirstTable });
      return this.dropLeading && beforeFirstTable ? DROP : PASS;
    }
    return PASS;
  }

  /** Attributes the bytes since the previous table's start to it, and starts counting for `name`. */
  private switchTable(name: string): void {
    if (this.current !== undefined) {
      const t = this.tableState.get(this.current);
      if (t) t.bytes += this.lineStart - this.currentStart;
    }
    this.current = name;
    this.currentStart = this.lineStart;
  }

  private startInsert(table: string): number {
    if (table !== this.current) this.switchTable(table);
    const columns = this.tableState.get(table)?.columns ?? [];
    const nameField = columns.indexOf("option_name");
    const valueField = columns.indexOf("option_value");
    if (!table.endsWith("option") || nameField < 0 || valueField < 0) return PASS;
    this.optionTable = table;
    this.nameField = nameField;
    this.valueField = valueField;
    this.state = BETWEEN;
    return VALUES;
  }

  /** Reads the rows of an option table's INSERT, keeping the OPTION_NAMES rows; returns where it stopped. */
  private readValues(buf: Buffer, from: number): number {
    const n = buf.length;
    for (let i = from; i < n; i++) {
      const b = buf[i] as number;
      switch (this.state) {
        case BETWEEN:
          if (b === OPEN) {
            this.field = 0;
            this.fields = [];
            this.startField();
            this.state = FIELD;
          } else if (b === SEMICOLON) {
            this.mode = PASS;
            return i + 1;
          } else if (b !== COMMA && !isSpace(b)) {
            throw new DumpFormatError(`the rows of table ${this.optionTable} are not in the form mysqldump writes`);
          }
          break;
        case FIELD:
          if (b === QUOTE) this.state = STRING;
          else if (b === CLOSE) this.endTuple();
          else if (b === COMMA) this.nextField();
          else if (!isSpace(b)) {
            this.keep(b);
            this.state = BARE;
          }
          break;
        case BARE:
          // `_binary'…'` and `_utf8mb4'…'`: the introducer is not part of the value.
          if (b === QUOTE) {
            this.bytes = [];
            this.state = STRING;
          } else if (b === COMMA) this.nextField();
          else if (b === CLOSE) this.endTuple();
          else this.keep(b);
          break;
        case STRING:
          if (b === BACKSLASH) this.state = ESCAPE;
          else if (b === QUOTE) this.state = QUOTE_SEEN;
          else this.keep(b);
          break;
        case ESCAPE:
          this.keep(ESCAPES[String.fromCharCode(b)] ?? b);
          this.state = STRING;
          break;
        case QUOTE_SEEN:
          if (b === QUOTE) {
            this.keep(QUOTE);
            this.state = STRING;
            break;
          }
          this.state = AFTER;
          i--;
          break;
        case AFTER:
          if (b === COMMA) this.nextField();
          else if (b === CLOSE) this.endTuple();
          else if (!isSpace(b)) throw new DumpFormatError(`the rows of table ${this.optionTable} are not in the form mysqldump writes`);
          break;
      }
    }
    return n;
  }

  private startField(): void {
    this.bytes = [];
  }

  private keep(b: number): void {
    if ((this.field === this.nameField || this.field === this.valueField) && this.bytes.length <= FIELD_CAP) this.bytes.push(b);
  }

  private nextField(): void {
    this.fields[this.field] = this.bytes.length > FIELD_CAP ? undefined : Buffer.from(this.bytes).toString("utf8");
    this.field++;
    this.startField();
    this.state = FIELD;
  }

  private endTuple(): void {
    this.nextField();
    const name = this.fields[this.nameField];
    const value = this.fields[this.valueField];
    if (name !== undefined && value !== undefined && OPTION_NAMES.includes(name)) {
      const rows = this.options.get(this.optionTable) ?? new Map<string, string>();
      rows.set(name, value);
      this.options.set(this.optionTable, rows);
    }
    this.state = BETWEEN;
  }
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === NEWLINE || b === 0x0d || b === 0x09;
}

function text(bytes: readonly number[]): string {
  return Buffer.from(bytes).toString("utf8");
}

/** True when the shorter of `head` and `keyword` is a prefix of the other, ignoring ASCII case. */
function prefixMatches(head: readonly number[], keyword: Buffer): boolean {
  const n = Math.min(head.length, keyword.length);
  for (let j = 0; j < n; j++) {
    const h = head[j] as number;
    if ((h >= 0x61 && h <= 0x7a ? h - 0x20 : h) !== keyword[j]) return false;
  }
  return true;
}

function unquote(name: string): string {
  return name.replaceAll("``", "`");
}
