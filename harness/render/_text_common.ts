// What the text report's sections share: the options, colour, tables, and the small
// formats (shares, counts, times since the start, who held a port).

import { styleText } from "node:util";
import { formatDuration } from "../core/duration.ts";
import type { GroupSpread } from "../measure/results.ts";
import type { PortHolder } from "../measure/bind_results.ts";

/** How to render. */
export interface TextOptions {
  /** Use ANSI colours. */
  color: boolean;
}

/** An ANSI style, as node:util's styleText takes it. */
export type Style = Parameters<typeof styleText>[0];

/** `text` in `style` when colour is on. */
export function paint(options: TextOptions, style: Style, text: string): string {
  return options.color ? styleText(style, text, { validateStream: false }) : text;
}

/** A table: the header dimmed, the first column left-aligned, the rest right-aligned. */
export function table(header: string[], rows: string[][], options: TextOptions): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  ");
  return [paint(options, "dim", line(header)), ...rows.map(line)];
}

/** The lines of a SO_REUSEPORT group: one per member, then the spread. */
export function groupLines(spread: GroupSpread, members: string[]): string[] {
  return [
    ...members.map((m) => `    ${m}`),
    `    spread over ${spread.members} members: largest share ${percent(spread.maxShare)} (${
      spread.maxOverEven.toFixed(2)
    }x an even share), smallest ${percent(spread.minShare)}, ${spread.idle} idle`,
  ];
}

/** A share as a percentage with one decimal: `12.5%`. */
export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** Non-zero counts as `name n, name n`. */
export function errorList(counts: Record<string, number>): string {
  return Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
}

/** Time since the run started, `+1.2s`. */
export function since(atMs: number, origin: number): string {
  return `+${formatDuration(Math.max(0, atMs - origin))}`;
}

/** Who held a port, grouped: `held by deno pid 42 (UNCONN 0.0.0.0:7300)`, `held by 47 TIME-WAIT sockets (no process), e.g. ...`. */
export function holderText(holders: PortHolder[] | null): string {
  if (holders === null) return "holder not looked up";
  if (holders.length === 0) return "no socket on the port any more when squall looked";
  const groups = new Map<string, PortHolder[]>();
  for (const h of holders) {
    const key = `${h.program ?? ""}|${h.pid ?? ""}|${h.state}|${h.reusePort ?? ""}|${h.uid ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const socket = (h: PortHolder) =>
    `${h.local}${h.peer !== "*" && !h.peer.endsWith(":*") ? ` ↔ ${h.peer}` : ""}`;
  const parts = [...groups.values()].map((group) => {
    const h = group[0]!;
    const owner = (h.pid !== null ? `${h.program ?? "?"} pid ${h.pid}` : "no process") +
      (h.uid !== undefined && h.uid !== 0 ? ` uid ${h.uid}` : "") +
      (h.reusePort === true ? ", SO_REUSEPORT" : h.reusePort === false ? ", no SO_REUSEPORT" : "");
    return group.length === 1
      ? `${owner} (${h.state} ${socket(h)})`
      : `${group.length} ${h.state} sockets (${owner}), e.g. ${socket(h)}`;
  });
  return `held by ${parts.join("; ")}`;
}
