// The live progress line of `squall run` on a terminal: one line, redrawn in place
// (`\r` + erase to the end of the line), cleared before any other line is printed so
// that the two never mix. Off a terminal the CLI prints plain progress lines instead.

import { styleText } from "node:util";
import type { FlowProgress } from "../runner/events.ts";
import { formatProgressFigures } from "../render/text.ts";
import { escapeControls } from "../render/terminal_safe.ts";

/** A terminal the live line can be drawn on. */
export interface LiveTerminal {
  /** Writes text as it is: no newline added. */
  write(text: string): void;
  /**
   * The width of the terminal, in columns. Anything but a positive whole number (a
   * 0x0 pty, as under `script`, reports 0) means unknown: the line is then cut to
   * {@linkcode DEFAULT_COLUMNS}.
   */
  columns(): number;
}

/** The width assumed when the terminal does not say its own. */
export const DEFAULT_COLUMNS = 80;

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
    const columns = this.#terminal.columns();
    const known = Number.isInteger(columns) && columns > 0 ? columns : DEFAULT_COLUMNS;
    const width = Math.max(10, known - 1);
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
  // Names come from the scenario: shown with control characters escaped.
  const parts = flows.map((f) => `${escapeControls(f.name)}: ${formatProgressFigures(f, false)}`);
  const elapsed = `${(elapsedMs / 1000).toFixed(1)}s`;
  return `  ⋯ ${elapsed.padStart(6)} ${escapeControls(scenario)}${parts.length > 0 ? "  " : ""}${
    parts.join(" │ ")
  }`;
}
