// Markup for the HTML report: every interpolated value is escaped unless it is already
// Markup; numbers, latencies and durations for people; capped tables and the small
// one-row stats tables.

import { formatDuration } from "../core/duration.ts";
import type { LatencySummary } from "../measure/histogram.ts";

/** Most rows of any table; the rest are counted in a last row. */
export const MAX_TABLE_ROWS = 500;

/** Markup that is safe to insert as it is. */
export class Markup {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** What a template takes: markup, text, numbers, lists of them; null and booleans vanish. */
export type Part = Markup | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values; control characters become U+FFFD. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "\ufffd");
}

/** The markup of a template value. */
function partText(p: Part): string {
  if (p instanceof Markup) return p.text;
  if (Array.isArray(p)) return p.map(partText).join("");
  if (p === null || p === undefined || typeof p === "boolean") return "";
  return escapeHtml(String(p));
}

/** A template whose values are escaped (Markup is kept, arrays are joined, null and booleans vanish). */
export function h(strings: TemplateStringsArray, ...values: readonly Part[]): Markup {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += partText(values[i]) + (strings[i + 1] ?? "");
  return new Markup(out);
}

/** Markup made here, from no report data. */
export function raw(text: string): Markup {
  return new Markup(text);
}

// ---------------------------------------------------------------------------------
// Numbers.

/** A coordinate, to a tenth of a pixel. */
export function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** An integer with thousands separators: `12,345`. */
export function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** `1.2M`, `250k`, `42`. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}G`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}

/** A number to two decimals at most. */
function trim(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A ratio as a percentage: `1.25%`. */
export function percent(ratio: number, digits = 2): string {
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** A latency in nanoseconds for people: `850ns`, `263µs`, `3.79ms`. */
export function latency(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)}ns`;
  return duration(ns / 1e6);
}

/** A duration in ms for people, as the terminal shows it but with µs: `850µs`, `1.5s`. */
export function duration(ms: number): string {
  return formatDuration(ms).replace(/us$/, "µs");
}

/** ms since the scenario started, as `+1.2s`. */
export function since(ms: number): string {
  return ms < 0 ? `-${duration(-ms)}` : `+${duration(ms)}`;
}

/** A value, or an em dash when there is none. */
export function dash(v: string | number | null | undefined): string {
  return v === null || v === undefined || v === "" ? "—" : String(v);
}

// ---------------------------------------------------------------------------------
// Tables.

/** Rows of a table, capped, with a last row counting the rest. */
export function rows<T>(items: readonly T[], columns: number, row: (item: T) => Markup): Markup[] {
  const shown = items.slice(0, MAX_TABLE_ROWS).map(row);
  if (items.length > MAX_TABLE_ROWS) {
    shown.push(
      h`<tr class="more"><td colspan="${columns}">and ${
        int(items.length - MAX_TABLE_ROWS)
      } more (see the JSON report)</td></tr>`,
    );
  }
  return shown;
}

/** A captioned table with a header row, in a wrapper that scrolls sideways. */
export function table(caption: string, headers: string[], body: Markup[], cls = ""): Markup {
  return h`<div class="table-wrap"><table class="${cls}"><caption>${caption}</caption><thead><tr>${
    headers.map((c) => h`<th scope="col">${c}</th>`)
  }</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** The non-zero counts of a record: `EAGAIN 3, ENOBUFS 1`. */
export function counts(record: Record<string, number>): string {
  return Object.entries(record).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${int(n)}`).join(
    ", ",
  );
}

/** Small one-row tables side by side: `[caption, [header, value][]]` each. */
export function statsTable(groups: [string, [string, string][]][]): Markup {
  return h`<div class="stats-row">${
    groups.map(([caption, pairs]) =>
      h`<table class="stats"><caption>${caption}</caption><thead><tr>${
        pairs.map(([k]) => h`<th scope="col">${k}</th>`)
      }</tr></thead><tbody><tr>${
        pairs.map(([, v]) => h`<td class="num">${v}</td>`)
      }</tr></tbody></table>`
    )
  }</div>`;
}

/** The p50, p90, p99, p99.9 and max cells of a latency summary (dashes when empty). */
export function latencyCells(summary: LatencySummary): [string, string][] {
  const v = (ns: number) => summary.count === 0 ? "—" : latency(ns);
  return [
    ["p50", v(summary.p50)],
    ["p90", v(summary.p90)],
    ["p99", v(summary.p99)],
    ["p99.9", v(summary.p999)],
    ["max", v(summary.max)],
  ];
}
