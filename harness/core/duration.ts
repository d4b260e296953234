/**
 * Durations at the edges of the API: `"250ms"`, `"2s"`, `"1.5m"`, `"500us"` or a
 * number of milliseconds. Inside squall every duration is a number with the unit in
 * its name (`timeoutMs`).
 *
 * @module
 */

/**
 * A duration: milliseconds as a number, or a string with a unit (us, ms, s, m, h).
 *
 * @example
 * ```ts
 * import { type Duration, parseDuration } from "./duration.ts";
 * const durations: Duration[] = ["500us", "250ms", "2s", "1.5m", 100];
 * console.assert(durations.map((d) => parseDuration(d)).join() === "0.5,250,2000,90000,100");
 * ```
 */
export type Duration = number | `${number}${"us" | "ms" | "s" | "m" | "h"}`;

/**
 * The longest duration squall accepts anywhere: 24 days, within what one timer can hold
 * (2^31-1 ms, about 24.8 days; a longer `setTimeout` fires at once).
 */
export const MAX_DURATION_MS = 24 * 24 * 3_600_000;

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
    return withinLimit(value, value);
  }
  if (typeof value === "string") {
    const match = PATTERN.exec(value);
    if (match) return withinLimit(Number(match[1]) * UNIT_MS[match[2]!]!, value);
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
  // Round first, then pick the unit, so 999.96ms reads "1s" and not "1000ms".
  const us = round(ms * 1000);
  if (us < 1000) return `${us}us`;
  const milli = round(ms);
  if (milli < 1000) return `${milli}ms`;
  const seconds = round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const total = Math.round(ms / 1000);
  return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`;
}

function withinLimit(ms: number, given: unknown): number | { error: string } {
  if (ms <= MAX_DURATION_MS) return ms;
  return { error: `expected a duration of at most 24 days (576h), got ${describeValue(given)}` };
}

/** Rounds to at most three significant digits (two decimals below 10). */
function round(value: number): number {
  if (value >= 100) return Math.round(value);
  if (value >= 10) return Math.round(value * 10) / 10;
  return Math.round(value * 100) / 100;
}

/** Describes a value for an error message: strings quoted, objects by type. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return String(value);
}
