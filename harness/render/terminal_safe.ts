/**
 * Text from scenarios and programs under test, made safe for a terminal: control
 * characters (C0 and C1, DEL, escape sequences) and the bidirectional overrides are
 * shown as escapes (`\x1b`, `\u202e`), so nothing a scenario name, a check name, a log
 * line or a program's stderr contains can move the cursor, clear the screen, recolour
 * the output or start a line of its own that looks like squall's.
 *
 * @module
 */

// C0 controls but tab, DEL, C1 controls, and the bidi embeddings/overrides/isolates.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
// deno-lint-ignore no-control-regex
const UNSAFE_KEEPING_NEWLINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

function escapeOne(c: string): string {
  if (c === "\n") return "\\n";
  if (c === "\r") return "\\r";
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * A string with every control character shown as an escape. With `keepNewlines`, line
 * breaks stay (the caller indents what follows them).
 *
 * @example
 * ```ts
 * import { escapeControls } from "./terminal_safe.ts";
 * console.assert(escapeControls("a\x1b[2Jb\nscenarios: 9 passed") === "a\\x1b[2Jb\\nscenarios: 9 passed");
 * ```
 */
export function escapeControls(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? UNSAFE_KEEPING_NEWLINES : UNSAFE, escapeOne);
}

/**
 * A copy of plain data (a report, an event) with {@linkcode escapeControls} applied to
 * every string in it, keys included. Numbers and the shape are unchanged.
 *
 * @example
 * ```ts
 * import { terminalSafe } from "./terminal_safe.ts";
 * const safe = terminalSafe({ name: "x\x1b]0;pwned\x07", counts: [1, 2] });
 * console.assert(safe.name === "x\\x1b]0;pwned\\x07" && safe.counts[1] === 2);
 * ```
 */
export function terminalSafe<T>(value: T): T {
  return walk(value) as T;
}

function walk(value: unknown): unknown {
  if (typeof value === "string") return escapeControls(value);
  if (Array.isArray(value)) {
    // Long arrays of numbers (histogram buckets, timelines) are copied as they are.
    return value.some((v) => typeof v !== "number") ? value.map(walk) : value;
  }
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[escapeControls(k)] = walk(v);
  return out;
}
