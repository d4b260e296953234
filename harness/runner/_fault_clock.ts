// The kernel's clock as the fault manager uses it: faults switch at a kernel time
// (CLOCK_MONOTONIC, what the droppers' bpf_ktime_get_ns() reads) chosen a little ahead
// of now, written to both ends of a link, so both directions flip at one instant. How
// far ahead (the lead) follows how long the agents have taken to answer lately: long
// enough that both writes land before the instant, short enough that a fault takes
// effect within about a millisecond of the call on an idle machine.

import { monotonicNs, monotonicOffsetMs } from "../native/clock.ts";
import { sleep } from "../core/sleep.ts";

/** The shortest lead: two map writes and a reply take about 0.1-0.3 ms on an idle machine. */
export const MIN_LEAD_MS = 0.6;
/** The longest: past this, a late agent lets its end flip late (the timeline says so). */
export const MAX_LEAD_MS = 5;
/** Round trips remembered for the lead. */
const ROUND_TRIPS = 8;
/** The lead is this many times the slowest recent round trip. */
const LEAD_FACTOR = 2;
/** Before any round trip is known. */
const FIRST_LEAD_MS = 2;

/**
 * Kernel time for one run: now, ahead by the lead, and conversions to the run's clock
 * (ms since the run started, by `performance.now()`, which runs on CLOCK_MONOTONIC too).
 *
 * @example
 * ```ts ignore
 * import { FaultClock } from "./_fault_clock.ts";
 * const clock = new FaultClock(performance.now());
 * clock.noteRoundTrip(0.3);
 * const at = clock.nowNs() + clock.leadNs(); // when both ends flip
 * await clock.sleepUntil(at);
 * console.log(clock.toRunMs(at)); // ms since the run started
 * ```
 */
export class FaultClock {
  readonly #startMs: number;
  readonly #offsetMs: number;
  #roundTrips: number[] = [];

  /** `startMs`: `performance.now()` when the run started. */
  constructor(startMs: number) {
    this.#startMs = startMs;
    this.#offsetMs = monotonicOffsetMs();
  }

  /** The kernel's clock now, ns. */
  nowNs(): bigint {
    return monotonicNs();
  }

  /** A kernel time as ms since the run started. */
  toRunMs(ns: bigint): number {
    return Number(ns) / 1e6 - this.#offsetMs - this.#startMs;
  }

  /** A time in ms since the run started, as kernel time. */
  fromRunMs(ms: number): bigint {
    return BigInt(Math.round((ms + this.#startMs + this.#offsetMs) * 1e6));
  }

  /** Remembers how long an agent took to answer a call (ms, sent to reply). */
  noteRoundTrip(ms: number): void {
    if (!(ms >= 0)) return;
    this.#roundTrips.push(ms);
    if (this.#roundTrips.length > ROUND_TRIPS) this.#roundTrips.shift();
  }

  /** How far ahead of now the next edge goes, ns. */
  leadNs(): bigint {
    const slowest = this.#roundTrips.length === 0
      ? FIRST_LEAD_MS / LEAD_FACTOR
      : Math.max(...this.#roundTrips);
    const ms = Math.min(MAX_LEAD_MS, Math.max(MIN_LEAD_MS, LEAD_FACTOR * slowest));
    return BigInt(Math.round(ms * 1e6));
  }

  /**
   * Resolves once the kernel's clock has passed `ns` (by timer: up to a few ms late here;
   * the droppers keep the exact time, this only says when to read them).
   */
  async sleepUntil(ns: bigint, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const leftMs = Number(ns - monotonicNs()) / 1e6;
      if (leftMs < 0) return;
      await sleep(Math.max(leftMs, 0.1), signal);
    }
  }
}
