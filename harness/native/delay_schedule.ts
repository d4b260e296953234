// When a delay line releases each packet: a fixed delay plus jitter (uniform or normal),
// kept in arrival order or not, behind an optional rate limit that serialises packets
// like a bottleneck link (each leaves the bottleneck size/rate after the one before it)
// and tail-drops what would overfill its queue. Pure: times are numbers of nanoseconds
// on one clock, randomness is passed in.

/** How a rate limit's queue is bounded. */
export type QueueLimitKind = "none" | "bytes" | "packets" | "time";

/** What a delay line does to the packets it holds. */
export interface LineConfig {
  /** Added delay, nanoseconds. */
  delayNs: number;
  /** Jitter: half-width (uniform) or standard deviation (normal), nanoseconds. */
  jitterNs: number;
  /** Shape of the jitter. */
  distribution: "uniform" | "normal";
  /** With jitter, never release a packet before one that arrived earlier. */
  keepOrder: boolean;
  /** Bottleneck rate in bits per second; 0 for none. */
  rateBitsPerSecond: number;
  /** What bounds the bottleneck's queue. */
  queueKind: QueueLimitKind;
  /** The bound: bytes, packets or nanoseconds of backlog. */
  queueLimit: number;
}

/** A config that delays nothing. */
export const NO_DELAY: LineConfig = {
  delayNs: 0,
  jitterNs: 0,
  distribution: "uniform",
  keepOrder: false,
  rateBitsPerSecond: 0,
  queueKind: "none",
  queueLimit: 0,
};

/** The due time of a packet, or TAIL_DROP. */
export const TAIL_DROP = -1;

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** Schedules packets through one line, config by config. */
export class DelaySchedule {
  #config: LineConfig;
  #random: Random;
  #spare: number | undefined;
  /** Due time of the latest packet scheduled (for keepOrder). */
  #lastDue = -Infinity;
  /** When the bottleneck finishes sending what it has accepted. */
  #busyUntil = -Infinity;
  /** Finish times of the packets in the bottleneck's queue, oldest first (ring). */
  #finish = new Float64Array(1024);
  #bytes = new Float64Array(1024);
  #head = 0;
  #count = 0;
  #queuedBytes = 0;

  constructor(config: LineConfig, random: Random = Math.random) {
    this.#config = config;
    this.#random = random;
  }

  /** The config packets are scheduled with. */
  get config(): LineConfig {
    return this.#config;
  }

  /** Schedules later packets with `config` (the bottleneck's backlog carries over). */
  set config(config: LineConfig) {
    this.#config = config;
  }

  /** Packets in the bottleneck's queue at the last admission. */
  get queuedPackets(): number {
    return this.#count;
  }

  /**
   * The due time of a packet of `bytes` that arrived at `arrivalNs`, or TAIL_DROP when
   * the rate limit's queue has no room for it.
   */
  admit(arrivalNs: number, bytes: number): number {
    const c = this.#config;
    let leaves = arrivalNs;
    if (c.rateBitsPerSecond > 0) {
      this.#drain(arrivalNs);
      if (this.#full(arrivalNs, bytes)) return TAIL_DROP;
      const start = Math.max(arrivalNs, this.#busyUntil);
      leaves = start + (bytes * 8 * 1e9) / c.rateBitsPerSecond;
      this.#busyUntil = leaves;
      this.#push(leaves, bytes);
    }
    let due = leaves + c.delayNs + this.#jitter();
    if (due < leaves) due = leaves;
    if (c.keepOrder && due < this.#lastDue) due = this.#lastDue;
    if (due > this.#lastDue) this.#lastDue = due;
    return due;
  }

  #jitter(): number {
    const c = this.#config;
    if (c.jitterNs <= 0) return 0;
    if (c.distribution === "uniform") return (this.#random() * 2 - 1) * c.jitterNs;
    return this.#gaussian() * c.jitterNs;
  }

  /** A standard normal number (Box-Muller, two per pair of uniforms). */
  #gaussian(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.#random();
    const v = this.#random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  #full(arrivalNs: number, bytes: number): boolean {
    const c = this.#config;
    switch (c.queueKind) {
      case "none":
        return false;
      case "bytes":
        return this.#queuedBytes + bytes > c.queueLimit;
      case "packets":
        return this.#count + 1 > c.queueLimit;
      case "time":
        return this.#busyUntil - arrivalNs > c.queueLimit;
    }
  }

  /** Forgets the packets the bottleneck has finished sending by `nowNs`. */
  #drain(nowNs: number): void {
    const size = this.#finish.length;
    while (this.#count > 0 && this.#finish[this.#head]! <= nowNs) {
      this.#queuedBytes -= this.#bytes[this.#head]!;
      this.#head = (this.#head + 1) % size;
      this.#count--;
    }
    if (this.#count === 0) this.#queuedBytes = 0;
  }

  #push(finishNs: number, bytes: number): void {
    if (this.#count === this.#finish.length) this.#grow();
    const at = (this.#head + this.#count) % this.#finish.length;
    this.#finish[at] = finishNs;
    this.#bytes[at] = bytes;
    this.#count++;
    this.#queuedBytes += bytes;
  }

  #grow(): void {
    const size = this.#finish.length;
    const finish = new Float64Array(size * 2);
    const bytes = new Float64Array(size * 2);
    for (let i = 0; i < this.#count; i++) {
      finish[i] = this.#finish[(this.#head + i) % size]!;
      bytes[i] = this.#bytes[(this.#head + i) % size]!;
    }
    this.#finish = finish;
    this.#bytes = bytes;
    this.#head = 0;
  }
}

/**
 * Packets held until their due times, earliest first (a binary heap over typed arrays;
 * equal due times leave in id order).
 */
export class DueHeap {
  #due = new Float64Array(1024);
  #id = new Float64Array(1024);
  #flow = new Float64Array(1024);
  #size = 0;
  /** The flow of the packet {@linkcode pop} returned last (-1: none known). */
  poppedFlow = -1;

  /** Packets held. */
  get size(): number {
    return this.#size;
  }

  /** The earliest due time, or Infinity when empty. */
  peekDue(): number {
    return this.#size > 0 ? this.#due[0]! : Infinity;
  }

  /** The id of the earliest packet (only when not empty). */
  peekId(): number {
    return this.#id[0]!;
  }

  /** Holds packet `id` (of probe flow `flow`, or -1) until `due`. */
  push(due: number, id: number, flow = -1): void {
    if (this.#size === this.#due.length) {
      const d = new Float64Array(this.#size * 2);
      const i = new Float64Array(this.#size * 2);
      const f = new Float64Array(this.#size * 2);
      d.set(this.#due);
      i.set(this.#id);
      f.set(this.#flow);
      this.#due = d;
      this.#id = i;
      this.#flow = f;
    }
    let at = this.#size++;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#before(due, id, parent)) break;
      this.#due[at] = this.#due[parent]!;
      this.#id[at] = this.#id[parent]!;
      this.#flow[at] = this.#flow[parent]!;
      at = parent;
    }
    this.#due[at] = due;
    this.#id[at] = id;
    this.#flow[at] = flow;
  }

  /** Removes the earliest packet and returns its id (only when not empty). */
  pop(): number {
    const top = this.#id[0]!;
    this.poppedFlow = this.#flow[0]!;
    const last = --this.#size;
    if (last === 0) return top;
    const due = this.#due[last]!;
    const id = this.#id[last]!;
    const flow = this.#flow[last]!;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= last) break;
      if (child + 1 < last && this.#before(this.#due[child + 1]!, this.#id[child + 1]!, child)) {
        child++;
      }
      if (!(this.#due[child]! < due || (this.#due[child] === due && this.#id[child]! < id))) break;
      this.#due[at] = this.#due[child]!;
      this.#id[at] = this.#id[child]!;
      this.#flow[at] = this.#flow[child]!;
      at = child;
    }
    this.#due[at] = due;
    this.#id[at] = id;
    this.#flow[at] = flow;
    return top;
  }

  #before(due: number, id: number, slot: number): boolean {
    const d = this.#due[slot]!;
    return due < d || (due === d && id < this.#id[slot]!);
  }
}
