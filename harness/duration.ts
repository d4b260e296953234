/**
 * Durations at the edges of the API: `"250ms"`, `"2s"`, `"1.5m"`, `"500us"` or a
 * number of milliseconds. Inside squall every duration is a number with the unit in
 * its name (`timeoutMs`).
 *
 * @module
 */

/** A duration: milliseconds as a number, or a string with a unit (us, ms, s, m, h). */
export type Duration = number | `${number}${"us" | "ms" | "s" | "m" | "h"}`;

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|ms|s|m|h)\s*$/;

/**
 * Parses a duration into milliseconds, or returns an error message when it is not one.
 *
 * @example
 * ```ts
 * import { tryParseDuration } from "./duration.ts";
 * console.assert(tryParseDuration("2s") === 2000);
 * console.assert(typeof tryParseDuration("soon") === "object");
 * ```
 */
export function tryParseDuration(value: unknown): number | { error: string } {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      return { error: `expected a duration of 0 or more milliseconds, got ${value}` };
    }
    return value;
  }
  if (typeof value === "string") {
    const match = PATTERN.exec(value);
    if (match) return Number(match[1]) * UNIT_MS[match[2]!]!;
    return { error: `expected a duration such as "250ms" or "2s", got ${JSON.stringify(value)}` };
  }
  return { error: `expected a duration such as "250ms" or "2s", got ${describeValue(value)}` };
}

/**
 * Parses a duration into milliseconds.
 *
 * @throws {TypeError} when the value is not a duration.
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * console.assert(parseDuration("250ms") === 250);
 * console.assert(parseDuration(1500) === 1500);
 * ```
 */
export function parseDuration(value: Duration, what = "duration"): number {
  const parsed = tryParseDuration(value);
  if (typeof parsed === "number") return parsed;
  throw new TypeError(`Invalid ${what}: ${parsed.error}`);
}

/**
 * Formats milliseconds for people: `850us`, `12.5ms`, `2.1s`, `3m05s`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * console.assert(formatDuration(0.048) === "48us");
 * console.assert(formatDuration(2500) === "2.5s");
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1) return `${round(ms * 1000)}us`;
  if (ms < 1000) return `${round(ms)}ms`;
  if (ms < 60_000) return `${round(ms / 1000)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, "0")}s`;
}

function round(value: number): string {
  if (value >= 100) return String(Math.round(value));
  if (value >= 10) return String(Math.round(value * 10) / 10);
  return String(Math.round(value * 100) / 100);
}

/** Describes a value for an error message: strings quoted, objects by type. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}
