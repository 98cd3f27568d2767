// Reads the INI dialect of Matomo's config files the way Matomo sees them, so rendered configuration
// can be checked against Matomo's own global.ini.php and read back value for value.

export interface IniEntry {
  /** 1-based line in the source text. */
  readonly line: number;
  /** Undefined for a key written before any section header (Matomo files never do this on purpose). */
  readonly section: string | undefined;
  readonly key: string;
  /** True for `key[] = v` and `key[index] = v`. */
  readonly array: boolean;
  /** The `index` of `key[index] = v`; undefined for scalars and for `key[] = v`. */
  readonly index: string | undefined;
  /** The value as Matomo uses it: after PHP's INI parsing and Matomo's HTML-entity decoding. */
  readonly value: string;
}

export interface IniDocument {
  /** Section names in order of first appearance. */
  readonly sections: readonly string[];
  readonly entries: readonly IniEntry[];
  /**
   * Lines like `;trusted_hosts[] = example.com`: global.ini.php documents optional keys that have no
   * default this way, so they count as declared even though PHP ignores them.
   */
  readonly commented: readonly IniEntry[];
}

const SECTION = /^\[([^\]]+)\]\s*(?:;.*)?$/;
const KEY_LINE = /^([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?\s*=\s*(.*)$/;

/** Parses INI text; throws on any line that is not blank, a comment, a section header or a key line. */
export function parseIni(text: string): IniDocument {
  const sections: string[] = [];
  const entries: IniEntry[] = [];
  const commented: IniEntry[] = [];
  let section: string | undefined;

  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "") return;
    if (trimmed.startsWith(";")) {
      const example = KEY_LINE.exec(trimmed.slice(1).trim());
      if (example) commented.push(toEntry(line, section, example, true));
      return;
    }
    const header = SECTION.exec(trimmed);
    if (header) {
      section = (header[1] ?? "").trim();
      if (!sections.includes(section)) sections.push(section);
      return;
    }
    const keyLine = KEY_LINE.exec(trimmed);
    if (!keyLine) throw new Error(`line ${line}: not a section, key or comment: ${JSON.stringify(trimmed)}`);
    entries.push(toEntry(line, section, keyLine, false));
  });

  return { sections, entries, commented };
}

export type IniSettings = ReadonlyMap<string, ReadonlyMap<string, string | readonly string[]>>;

/**
 * Folds entries into section → key → value as Matomo does within one file: a later scalar wins and
 * `key[]` lines append. A `key[index]` entry is kept under the key `key[index]`.
 */
export function iniSettings(doc: IniDocument): IniSettings {
  const out = new Map<string, Map<string, string | string[]>>();
  for (const e of doc.entries) {
    const sectionName = e.section ?? "";
    const keys = out.get(sectionName) ?? new Map<string, string | string[]>();
    out.set(sectionName, keys);
    if (e.array && e.index === undefined) {
      const list = keys.get(e.key);
      if (Array.isArray(list)) list.push(e.value);
      else keys.set(e.key, [e.value]);
    } else {
      keys.set(e.index === undefined ? e.key : `${e.key}[${e.index}]`, e.value);
    }
  }
  return out;
}

function toEntry(line: number, section: string | undefined, m: RegExpExecArray, lenient: boolean): IniEntry {
  const rest = m[3] ?? "";
  let value: string;
  try {
    value = readValue(rest);
  } catch (e) {
    // Commented examples are prose as much as syntax; only their key matters.
    if (!lenient) throw new Error(`line ${line}: ${(e as Error).message}`, { cause: e });
    value = rest;
  }
  const index = m[2];
  return { line, section, key: m[1] ?? "", array: index !== undefined, index: index === "" ? undefined : index, value };
}

function readValue(rest: string): string {
  if (rest.startsWith('"')) return decodeEntities(readDoubleQuoted(rest));
  if (rest.startsWith("'")) {
    const end = rest.indexOf("'", 1);
    if (end < 0) throw new Error("unterminated single-quoted value");
    expectOnlyComment(rest.slice(end + 1));
    return decodeEntities(rest.slice(1, end));
  }
  const semicolon = rest.indexOf(";");
  return decodeEntities(bareKeyword((semicolon < 0 ? rest : rest.slice(0, semicolon)).trim()));
}

// PHP's scanner in double quotes: `\"`, `\\` and `\$` stand for the character, any other backslash is
// literal, and `${…}` would be replaced by an environment variable, which no rendered value may use.
function readDoubleQuoted(rest: string): string {
  let out = "";
  for (let i = 1; i < rest.length; i++) {
    const c = rest[i];
    if (c === "\\") {
      const next = rest[i + 1];
      if (next === '"' || next === "\\" || next === "$") {
        out += next;
        i++;
      } else {
        out += c;
      }
    } else if (c === "$" && rest[i + 1] === "{") {
      throw new Error("${…} inside a quoted value is expanded by PHP");
    } else if (c === '"') {
      expectOnlyComment(rest.slice(i + 1));
      return out;
    } else {
      out += c;
    }
  }
  throw new Error("unterminated double-quoted value (a quoted value spanning lines is not supported)");
}

function expectOnlyComment(tail: string): void {
  const t = tail.trim();
  if (t !== "" && !t.startsWith(";")) throw new Error(`unexpected text after a quoted value: ${JSON.stringify(t)}`);
}

// Bare words PHP turns into booleans and null before Matomo sees them.
function bareKeyword(v: string): string {
  const lower = v.toLowerCase();
  if (lower === "true" || lower === "on" || lower === "yes") return "1";
  if (lower === "false" || lower === "off" || lower === "no" || lower === "none" || lower === "null") return "";
  return v;
}

// Matomo's config chain runs html_entity_decode(ENT_COMPAT) over every value it reads. Only the
// entities Matomo itself writes (and the XML basics) are decoded here; `&#39;` stays, as ENT_COMPAT leaves it.
const NAMED: Readonly<Record<string, string>> = { amp: "&", quot: '"', lt: "<", gt: ">" };

function decodeEntities(v: string): string {
  return v.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);/g, (whole, name: string) => {
    if (!name.startsWith("#")) return NAMED[name] ?? whole;
    const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    if (code === 39 || code > 0x10ffff) return whole;
    return String.fromCodePoint(code);
  });
}
