// The live progress line of `squall run` on a terminal: one line, redrawn in place
// (`\r` + erase to the end of the line), cleared before any other line is printed so
// that the two never mix. Off a terminal the CLI prints plain progress lines instead.

import { styleText } from "node:util";
import type { FlowProgress } from "./runner.ts";
import { formatProgressFigures } from "./text_report.ts";

/** A terminal the live line can be drawn on. */
export interface LiveTerminal {
  /** Writes text as it is: no newline added. */
  write(text: string): void;
  /** The width of the terminal, in columns. */
  columns(): number;
}

/** Carriage return, then erase from the cursor to the end of the line. */
export const CLEAR_LINE = "\r\x1b[K";

/** One line on a terminal, redrawn in place. */
export class LiveLine {
  #terminal: LiveTerminal;
  #color: boolean;
  #shown = false;

  constructor(terminal: LiveTerminal, color: boolean) {
    this.#terminal = terminal;
    this.#color = color;
  }

  /** Draws `text` over the previous live line, cut to the terminal's width. */
  show(text: string): void {
    const width = Math.max(10, this.#terminal.columns() - 1);
    const chars = [...text];
    const fitted = chars.length > width ? chars.slice(0, width - 1).join("") + "…" : text;
    const styled = this.#color ? styleText("dim", fitted, { validateStream: false }) : fitted;
    this.#terminal.write(CLEAR_LINE + styled);
    this.#shown = true;
  }

  /** Erases the live line, if one is drawn; the cursor is left at the start of the line. */
  clear(): void {
    if (!this.#shown) return;
    this.#terminal.write(CLEAR_LINE);
    this.#shown = false;
  }
}

/**
 * The text of the live line: elapsed time, and per running probe, storm or churn what it
 * sent, its loss (or failed fraction) and p99 so far.
 * `⋯ 12.3s udp echo  probe: sent 6150, loss 0.02%, p99 85us`.
 */
export function formatLiveProgress(
  scenario: string,
  elapsedMs: number,
  flows: FlowProgress[],
): string {
  const parts = flows.map((f) => `${f.name}: ${formatProgressFigures(f, false)}`);
  const elapsed = `${(elapsedMs / 1000).toFixed(1)}s`;
  return `  ⋯ ${elapsed.padStart(6)} ${scenario}${parts.length > 0 ? "  " : ""}${
    parts.join(" │ ")
  }`;
}
