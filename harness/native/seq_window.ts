// A sliding window of sequence numbers seen, with memory fixed at creation: tells a
// first arrival from a duplicate for the most recent `size` sequence numbers.

/** What {@linkcode SeqWindow.mark} found. */
export type Arrival = "new" | "duplicate" | "old";

/** A window over the last `size` sequence numbers (size is rounded up to a power of 2). */
export class SeqWindow {
  #bits: Uint32Array;
  #mask: number;
  #high = -1;

  constructor(size: number) {
    let s = 1024;
    while (s < size) s *= 2;
    this.#bits = new Uint32Array(s / 32);
    this.#mask = s - 1;
  }

  /** Number of sequence numbers the window covers. */
  get size(): number {
    return this.#mask + 1;
  }

  /** Highest sequence number seen, or -1. */
  get high(): number {
    return this.#high;
  }

  /** Marks `seq` as seen; says whether it is new, a duplicate, or too old to tell. */
  mark(seq: number): Arrival {
    if (seq > this.#high) {
      if (seq - this.#high > this.#mask) this.#bits.fill(0);
      else for (let s = this.#high + 1; s < seq; s++) this.#clear(s);
      this.#high = seq;
      this.#set(seq);
      return "new";
    }
    if (this.#high - seq > this.#mask) return "old";
    const slot = seq & this.#mask;
    if ((this.#bits[slot >>> 5]! >>> (slot & 31)) & 1) return "duplicate";
    this.#set(seq);
    return "new";
  }

  #set(seq: number): void {
    const slot = seq & this.#mask;
    this.#bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  #clear(seq: number): void {
    const slot = seq & this.#mask;
    this.#bits[slot >>> 5]! &= ~(1 << (slot & 31));
  }
}
