// The kernel's clock as the fault manager uses it: faults switch at a kernel time
// (CLOCK_MONOTONIC, what the droppers' bpf_ktime_get_ns() reads) chosen a little ahead
// of now, written to both ends of a link, so both directions flip at one instant. How
// far ahead (the lead) follows how long the agents' writes have taken to land lately
// (from the call to the kernel time the agent read right after its write): long enough
// that both writes land before the instant, short enough that a fault takes effect
// within about a millisecond of the call on an idle machine.

import { MonotonicClock } from "../native/clock.ts";
import { sleep } from "../core/sleep.ts";

/** The shortest lead. */
export const MIN_LEAD_MS = 0.5;
/** The longest: past this, a late agent lets its end flip late (the timeline says so). */
export const MAX_LEAD_MS = 5;
/** Write latencies remembered for the lead. */
const LATENCIES = 8;
/**
 * The lead is this many times the median recent write latency, plus `LEAD_SLACK_MS`: a
 * write that was descheduled once says little about the next, and one that lands late
 * only moves its edge (the timeline says when it took effect).
 */
const LEAD_FACTOR = 3;
const LEAD_SLACK_MS = 0.1;
/** Before any latency is known. */
const FIRST_LEAD_MS = 2;

/**
 * Kernel time for one run: now, ahead by the lead, and conversions to the run's clock
 * (ms since the run started, by `performance.now()`, which runs on CLOCK_MONOTONIC too).
 *
 * @example
 * ```ts ignore
 * import { FaultClock } from "./_fault_clock.ts";
 * const clock = new FaultClock(performance.now());
 * clock.noteWrite(clock.nowNs() - 200_000n, clock.nowNs()); // a write took 0.2 ms
 * const at = clock.nowNs() + clock.leadNs(); // when both ends flip
 * await clock.sleepUntil(at);
 * console.log(clock.toRunMs(at)); // ms since the run started
 * ```
 */
export class FaultClock implements Disposable {
  readonly #startMs: number;
  readonly #clock: MonotonicClock;
  readonly #offsetMs: number;
  #latencies: number[] = [];

  /** `startMs`: `performance.now()` when the run started. Opens libc (`libcPath`). */
  constructor(startMs: number, libcPath?: string) {
    this.#startMs = startMs;
    this.#clock = new MonotonicClock(libcPath);
    this.#offsetMs = this.#clock.offsetMs();
  }

  /** The kernel's clock now, ns. */
  nowNs(): bigint {
    return this.#clock.nowNs();
  }

  /** Unloads libc. */
  [Symbol.dispose](): void {
    this.#clock[Symbol.dispose]();
  }

  /** A kernel time as ms since the run started. */
  toRunMs(ns: bigint): number {
    return Number(ns) / 1e6 - this.#offsetMs - this.#startMs;
  }

  /** A time in ms since the run started, as kernel time. */
  fromRunMs(ms: number): bigint {
    return BigInt(Math.round((ms + this.#startMs + this.#offsetMs) * 1e6));
  }

  /**
   * Remembers how long a write took to land: from `sentNs` (kernel time when the call
   * was sent) to `writtenNs` (the kernel time the agent read right after its write).
   */
  noteWrite(sentNs: bigint, writtenNs: bigint): void {
    const ms = Number(writtenNs - sentNs) / 1e6;
    if (!(ms >= 0)) return;
    this.#latencies.push(ms);
    if (this.#latencies.length > LATENCIES) this.#latencies.shift();
  }

  /** How far ahead of now the next edge goes, ns. */
  leadNs(): bigint {
    const ms = this.#latencies.length === 0 ? FIRST_LEAD_MS : Math.min(
      MAX_LEAD_MS,
      Math.max(MIN_LEAD_MS, LEAD_FACTOR * median(this.#latencies) + LEAD_SLACK_MS),
    );
    return BigInt(Math.round(ms * 1e6));
  }

  /**
   * Resolves once the kernel's clock has passed `ns` (by timer: up to a few ms late here;
   * the droppers keep the exact time, this only says when to read them).
   */
  async sleepUntil(ns: bigint, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const leftMs = Number(ns - this.#clock.nowNs()) / 1e6;
      if (leftMs < 0) return;
      await sleep(Math.max(leftMs, 0.1), signal);
    }
  }
}

/** The median (the upper one of an even count). */
function median(values: readonly number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
}
