/**
 * The tail of a program's stdout or stderr: read to its end, the last lines kept, memory
 * bounded whatever the program writes.
 *
 * @module
 */

/** Lines kept of a program's stdout and of its stderr. */
const TAIL_LINES = 50;
/** Longest line kept; a longer one is cut there and ends in "…". */
const MAX_LINE_CHARS = 1000;

/**
 * Reads a program's stdout or stderr to its end and keeps its last
 * {@linkcode TAIL_LINES} lines, each at most {@linkcode MAX_LINE_CHARS} long: memory
 * stays bounded whatever the program writes.
 */
export class OutputTail {
  /** The lines kept, oldest first (the same array all along). */
  readonly lines: string[] = [];
  /** Resolves once the stream has ended or been cancelled. */
  readonly done: Promise<void>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #onLine: ((line: string) => void) | undefined;
  readonly #decoder = new TextDecoder();
  #partial = "";
  #cut = false;

  constructor(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void) {
    this.#reader = stream.getReader();
    this.#onLine = onLine;
    this.done = this.#read();
  }

  /** Stops reading (a child the program left behind holds the pipe). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#add(this.#decoder.decode(value, { stream: true }));
      }
    } catch {
      // The pipe failed or was cancelled: keep what came.
    }
    this.#add(this.#decoder.decode());
    // A last line without a newline counts too.
    if (this.#partial !== "" || this.#cut) this.#emit();
  }

  #add(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      this.#append(text.slice(start, newline < 0 ? text.length : newline));
      if (newline < 0) return;
      this.#emit();
      start = newline + 1;
    }
  }

  #append(piece: string): void {
    if (this.#cut || piece === "") return;
    this.#partial += piece;
    if (this.#partial.length > MAX_LINE_CHARS) {
      this.#partial = this.#partial.slice(0, MAX_LINE_CHARS);
      this.#cut = true;
    }
  }

  #emit(): void {
    let line = this.#partial.endsWith("\r") ? this.#partial.slice(0, -1) : this.#partial;
    if (this.#cut) line += "…";
    this.#partial = "";
    this.#cut = false;
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    this.#onLine?.(line);
  }
}
