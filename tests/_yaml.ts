/**
 * A YAML parser for the subset that CI workflow files use, for tests only (JSR is out of
 * reach, and no npm dependency is worth this): block mappings, block sequences (also a
 * mapping that starts on the dash line, `- name: x`), plain and quoted scalars on one
 * line, literal block scalars (`|`, `|-`, `|+`) and comments. Plain scalars resolve as
 * in YAML 1.2's core schema: `null`, `~` and nothing are null, `true` and `false`
 * booleans, numbers numbers, and everything else a string (so `on` is a string, as
 * GitHub Actions reads it, not YAML 1.1's boolean).
 *
 * Anything outside the subset is an error, never a guess: flow collections (`[a]`,
 * `{a: 1}`), anchors, aliases, tags, folded scalars (`>`), multi-line plain or quoted
 * scalars, documents markers, tabs in indentation, duplicate keys.
 *
 * @module
 */

/** A parsed YAML value. */
export type YamlValue = null | boolean | number | string | YamlValue[] | YamlMapping;

/** A parsed YAML mapping; keys are strings. */
export interface YamlMapping {
  /** The value of each key. */
  [key: string]: YamlValue;
}

/** The text is not YAML, or uses YAML this parser does not support. */
export class YamlError extends SyntaxError {
  /** The 1-based line the problem is on. */
  readonly line: number;

  /** Creates the error for a problem on a 1-based line. */
  constructor(line: number, detail: string) {
    super(`Cannot parse YAML at line ${line}: ${detail}`);
    this.name = "YamlError";
    this.line = line;
  }
}

/** Parses a YAML document of the supported subset; an empty document is null. */
export function parseYaml(text: string): YamlValue {
  return new Parser(text).document();
}

interface Line {
  /** 1-based line number. */
  number: number;
  /** Leading spaces. */
  indent: number;
  /** The line after its indentation (comments still in). */
  content: string;
  /** The whole line, for block scalars. */
  raw: string;
}

const UNSUPPORTED_START: Record<string, string> = {
  "[": "flow sequences ([...]) are not supported",
  "{": "flow mappings ({...}) are not supported",
  "&": "anchors (&) are not supported",
  "*": "aliases (*) are not supported",
  "!": "tags (!) are not supported",
  ">": "folded block scalars (>) are not supported",
  "%": "directives (%) are not supported",
  "@": "a plain scalar cannot start with @",
  "`": "a plain scalar cannot start with `",
  "?": "complex keys (?) are not supported",
};

class Parser {
  #lines: Line[];
  #i = 0;

  constructor(text: string) {
    this.#lines = text.split(/\r?\n/).map((raw, index) => {
      const indent = raw.length - raw.trimStart().length;
      const leading = raw.slice(0, indent);
      if (leading.includes("\t") && raw.trim() !== "") {
        throw new YamlError(index + 1, "tabs are not allowed in indentation");
      }
      return { number: index + 1, indent, content: raw.slice(indent), raw };
    });
  }

  document(): YamlValue {
    const first = this.#next();
    if (first === undefined) return null;
    const value = this.#block(first.indent, -1);
    const rest = this.#next();
    if (rest !== undefined) {
      throw new YamlError(rest.number, `unexpected content at indentation ${rest.indent}`);
    }
    return value;
  }

  /** The next line with content, skipping blank and comment-only lines; undefined at the end. */
  #next(): Line | undefined {
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i]!;
      const content = line.content.trim();
      if (content !== "" && !content.startsWith("#")) {
        if (line.indent === 0 && /^(---|\.\.\.)(\s|$)/.test(line.content)) {
          throw new YamlError(line.number, "document markers (--- and ...) are not supported");
        }
        return line;
      }
      this.#i++;
    }
    return undefined;
  }

  /** The node whose first line is the current line, at `indent`; `parent` is its parent's indentation. */
  #block(indent: number, parent: number): YamlValue {
    const line = this.#next()!;
    if (isSequenceEntry(line.content)) return this.#sequence(indent);
    if (splitKey(line.content, line.number) !== undefined) return this.#mapping(indent);
    this.#i++;
    return this.#inline(stripComment(line.content, line.number), line, parent);
  }

  #mapping(indent: number): YamlMapping {
    const result: YamlMapping = {};
    for (let line = this.#next(); line !== undefined; line = this.#next()) {
      if (line.indent < indent) break;
      if (line.indent > indent) {
        throw new YamlError(line.number, `bad indentation: expected ${indent} spaces`);
      }
      if (isSequenceEntry(line.content)) {
        throw new YamlError(line.number, "a sequence entry where a mapping key belongs");
      }
      const entry = splitKey(line.content, line.number);
      if (entry === undefined) {
        throw new YamlError(line.number, `expected "key: value" in a mapping`);
      }
      const [key, rest] = entry;
      if (Object.hasOwn(result, key)) {
        throw new YamlError(line.number, `duplicate key ${JSON.stringify(key)}`);
      }
      this.#i++;
      let value: YamlValue;
      const text = stripComment(rest, line.number);
      if (text === "") {
        const child = this.#next();
        if (child !== undefined && child.indent > indent) value = this.#block(child.indent, indent);
        else if (child !== undefined && child.indent === indent && isSequenceEntry(child.content)) {
          value = this.#sequence(indent); // "key:" then "- item" at the key's indentation
        } else value = null;
      } else value = this.#inline(text, line, indent);
      Object.defineProperty(result, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return result;
  }

  #sequence(indent: number): YamlValue[] {
    const result: YamlValue[] = [];
    for (let line = this.#next(); line !== undefined; line = this.#next()) {
      if (line.indent < indent || !isSequenceEntry(line.content)) {
        if (line.indent > indent) {
          throw new YamlError(line.number, `bad indentation: expected ${indent} spaces`);
        }
        break;
      }
      if (line.indent > indent) {
        throw new YamlError(line.number, `bad indentation: expected ${indent} spaces`);
      }
      const afterDash = line.content.slice(1);
      const item = afterDash.trimStart();
      const text = stripComment(item, line.number);
      if (text === "") {
        this.#i++;
        const child = this.#next();
        result.push(
          child !== undefined && child.indent > indent ? this.#block(child.indent, indent) : null,
        );
      } else if (text.startsWith("|")) {
        this.#i++;
        result.push(this.#literal(text, line, indent));
      } else {
        // "- key: value" or "- - x": the rest of the line is the first line of a nested
        // node indented as far as its first character.
        const nested = indent + 1 + (afterDash.length - item.length);
        this.#lines[this.#i] = { ...line, indent: nested, content: item };
        result.push(this.#block(nested, indent));
      }
    }
    return result;
  }

  /** A value given on the line of its key or dash: a block scalar or a one-line scalar. */
  #inline(text: string, line: Line, parent: number): YamlValue {
    if (text.startsWith("|")) return this.#literal(text, line, parent);
    return scalar(text, line.number);
  }

  /** A literal block scalar: `header` is `|`, `|-` or `|+`; its lines follow the current line. */
  #literal(header: string, line: Line, parent: number): string {
    const chomping = header.slice(1);
    if (chomping !== "" && chomping !== "-" && chomping !== "+") {
      throw new YamlError(
        line.number,
        `block scalar header ${JSON.stringify(header)} is not supported (use |, |- or |+)`,
      );
    }
    const body: string[] = [];
    let indent: number | undefined;
    while (this.#i < this.#lines.length) {
      const next = this.#lines[this.#i]!;
      if (next.raw.trim() === "") {
        body.push(next.raw);
        this.#i++;
        continue;
      }
      if (next.indent <= parent || (indent !== undefined && next.indent < indent)) break;
      indent ??= next.indent;
      body.push(next.raw);
      this.#i++;
    }
    const lines = body.map((l) => l.slice(indent ?? 0));
    let trailing = 0;
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") {
      lines.pop();
      trailing++;
    }
    // Chomping: "|" keeps one final line break, "|-" none, "|+" every trailing one.
    const text = lines.length > 0 ? `${lines.join("\n")}\n` : "";
    if (chomping === "-") return text.slice(0, -1);
    if (chomping === "+") return text + "\n".repeat(trailing);
    return text;
  }
}

function isSequenceEntry(content: string): boolean {
  return content === "-" || content.startsWith("- ") || content.startsWith("-\t");
}

/**
 * Splits `key: rest` (or `key:`) when the line is a mapping entry; undefined when it is
 * not one. The key may be plain or quoted.
 */
function splitKey(content: string, line: number): [string, string] | undefined {
  if (content.startsWith('"') || content.startsWith("'")) {
    const [key, end] = quoted(content, line);
    const after = content.slice(end);
    const colon = /^\s*:(\s|$)/.exec(after);
    if (!colon) return undefined;
    return [key, after.slice(colon[0].length)];
  }
  const match = /:(\s|$)/.exec(content);
  if (!match) return undefined;
  const key = content.slice(0, match.index).trimEnd();
  if (key.includes(" #") || key.startsWith("#")) return undefined;
  if (key === "") throw new YamlError(line, "empty key");
  const unsupported = UNSUPPORTED_START[key[0]!];
  if (unsupported) throw new YamlError(line, unsupported);
  return [key, content.slice(match.index + 1).trimStart()];
}

/** Removes a trailing comment (` # ...`) outside quotes, and surrounding spaces. */
function stripComment(text: string, line: number): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith("'")) {
    const [, end] = quoted(trimmed, line);
    const rest = trimmed.slice(end).trim();
    if (rest !== "" && !rest.startsWith("#")) {
      throw new YamlError(line, `unexpected ${JSON.stringify(rest)} after a quoted scalar`);
    }
    return trimmed.slice(0, end);
  }
  if (trimmed.startsWith("#")) return "";
  const comment = /\s#/.exec(trimmed);
  return (comment ? trimmed.slice(0, comment.index) : trimmed).trimEnd();
}

/** A one-line scalar: quoted, or plain and resolved by the core schema. */
function scalar(text: string, line: number): YamlValue {
  if (text.startsWith('"') || text.startsWith("'")) return quoted(text, line)[0];
  const unsupported = UNSUPPORTED_START[text[0]!];
  if (unsupported) throw new YamlError(line, unsupported);
  if (/:(\s|$)/.test(text)) {
    throw new YamlError(line, `": " in a plain scalar: quote ${JSON.stringify(text)}`);
  }
  if (/^(null|Null|NULL|~)$/.test(text)) return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?[0-9]+$/.test(text)) return Number(text);
  if (/^0o[0-7]+$/.test(text)) return parseInt(text.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return parseInt(text.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(text)) return Number(text);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(text)) return NaN;
  return text;
}

const ESCAPES: Record<string, string> = {
  "0": "\0",
  "a": "\x07",
  "b": "\b",
  "t": "\t",
  "\t": "\t",
  "n": "\n",
  "v": "\v",
  "f": "\f",
  "r": "\r",
  "e": "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  "N": "\x85",
  "_": "\xa0",
  "L": "\u2028",
  "P": "\u2029",
};

/** A quoted scalar at the start of `text`: its value, and the index just after it. */
function quoted(text: string, line: number): [string, number] {
  const quote = text[0]!;
  let value = "";
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c !== "'") value += c;
      else if (text[i + 1] === "'") {
        value += "'";
        i++;
      } else return [value, i + 1];
      continue;
    }
    if (c === '"') return [value, i + 1];
    if (c !== "\\") {
      value += c;
      continue;
    }
    const e = text[i + 1];
    if (e === undefined) break;
    const hex = { x: 2, u: 4, U: 8 }[e];
    if (hex !== undefined) {
      const digits = text.slice(i + 2, i + 2 + hex);
      if (!new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) {
        throw new YamlError(line, `bad escape "\\${e}${digits}"`);
      }
      value += String.fromCodePoint(parseInt(digits, 16));
      i += 1 + hex;
      continue;
    }
    const escaped = ESCAPES[e];
    if (escaped === undefined) throw new YamlError(line, `unknown escape "\\${e}"`);
    value += escaped;
    i++;
  }
  throw new YamlError(line, "unterminated quoted scalar (multi-line scalars are not supported)");
}
