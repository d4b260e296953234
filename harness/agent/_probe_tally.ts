// What a UDP probe counts, whichever path measured: the timeline by send time, and (for
// the native probe's samples) delivered, late, duplicated and reordered replies, round
// trips, one-way delays per direction and pacing. Memory is bounded whatever the count.

import { Histogram } from "../measure/histogram.ts";
import { SeqWindow } from "../native/seq_window.ts";
import type { ClockSource, OneWayDirection, Timeline, UdpProbeResult } from "../measure/results.ts";

/** The timeline starts at this interval and doubles when it has too many entries. */
const TIMELINE_START_MS = 100;
const TIMELINE_MAX_ENTRIES = 1200;

/** Counts per interval by send time; doubles the interval when it grows too long. */
export class TimelineCounter {
  #intervalMs = TIMELINE_START_MS;
  #sent: number[] = [];
  #delivered: number[] = [];
  #late: number[] = [];

  /** One datagram sent `atMs` after the start. */
  sent(atMs: number): void {
    this.#add(this.#sent, atMs);
  }

  /** One datagram sent `atMs` after the start was answered in time. */
  delivered(atMs: number): void {
    this.#add(this.#delivered, atMs);
  }

  /** One datagram sent `atMs` after the start was answered late. */
  late(atMs: number): void {
    this.#add(this.#late, atMs);
  }

  /** The plain-data form. */
  toJSON(): Timeline {
    const length = this.#sent.length;
    const fill = (a: number[]) => Array.from({ length }, (_, i) => a[i] ?? 0);
    return {
      intervalMs: this.#intervalMs,
      sent: fill(this.#sent),
      delivered: fill(this.#delivered),
      late: fill(this.#late),
    };
  }

  #add(series: number[], atMs: number): void {
    let index = Math.max(0, Math.floor(atMs / this.#intervalMs));
    while (index >= TIMELINE_MAX_ENTRIES) {
      this.#coarsen();
      index = Math.floor(atMs / this.#intervalMs);
    }
    while (series.length <= index) series.push(0);
    series[index]! += 1;
  }

  #coarsen(): void {
    this.#intervalMs *= 2;
    for (const series of [this.#sent, this.#delivered, this.#late]) {
      const merged: number[] = [];
      for (let i = 0; i < series.length; i += 2) {
        merged.push((series[i] ?? 0) + (series[i + 1] ?? 0));
      }
      series.length = 0;
      series.push(...merged);
    }
  }
}

/** What the native probe adds to a probe's counts. */
export type NativeTally = Pick<UdpProbeResult, "oneWay" | "clock" | "pacing">;

/** Counts of a probe flow from send and reply samples (times in ns on one clock). */
export class ProbeTally {
  readonly rtt = new Histogram();
  readonly timeline = new TimelineCounter();
  readonly lateness = new Histogram();
  readonly forward = new Histogram();
  readonly back = new Histogram();
  readonly echoTime = new Histogram();
  sent = 0;
  delivered = 0;
  late = 0;
  duplicated = 0;
  reordered = 0;
  foreign = 0;
  lateForward = 0;
  lateReturn = 0;
  reorderedForward = 0;
  reorderedReturn = 0;
  pacingMisses = 0;
  /** Replies with the echo's stamps, and without. */
  stamped = 0;
  unstamped = 0;
  kernelSend = 0;
  kernelReceive = 0;
  readonly #window: SeqWindow;
  readonly #timeoutNs: number;
  readonly #startNs: number;
  readonly #toleranceNs: number;
  /** The highest seq answered so far, and the echo's receive and send times of it. */
  #highEchoRx = -Infinity;
  #highEchoTx = -Infinity;

  /**
   * `startNs`: when the first send was due; `timeoutNs`: a reply later than this is late;
   * `window`: sequence numbers the duplicate check covers; `toleranceNs`: a send later
   * than this after its due time missed its pacing.
   */
  constructor(startNs: number, timeoutNs: number, window: number, toleranceNs: number) {
    this.#startNs = startNs;
    this.#timeoutNs = timeoutNs;
    this.#window = new SeqWindow(window);
    this.#toleranceNs = toleranceNs;
  }

  /** A datagram went out at `atNs`, `lateNs` after its due time. */
  send(atNs: number, lateNs: number): void {
    this.sent++;
    this.timeline.sent((atNs - this.#startNs) / 1e6);
    this.lateness.record(lateNs);
    if (lateNs > this.#toleranceNs) this.pacingMisses++;
  }

  /**
   * A reply of `seq`: sent at `txNs`, received at `rxNs`, received and sent back by the
   * echo at `echoRxNs` and `echoTxNs` (NaN when it did not stamp them); `flags` bit 0:
   * the send time is the kernel's, bit 1: the receive time is.
   */
  reply(
    seq: number,
    txNs: number,
    rxNs: number,
    echoRxNs: number,
    echoTxNs: number,
    flags = 0,
  ): void {
    if (seq >= this.sent) {
      this.foreign++;
      return;
    }
    const arrival = this.#window.mark(seq);
    if (arrival === "duplicate") {
      this.duplicated++;
      return;
    }
    if (flags & 1) this.kernelSend++;
    if (flags & 2) this.kernelReceive++;
    const stamped = !Number.isNaN(echoRxNs) && !Number.isNaN(echoTxNs);
    const forward = echoRxNs - txNs;
    const back = rxNs - echoTxNs;
    const rtt = rxNs - txNs;
    if (arrival === "old" || rtt > this.#timeoutNs) {
      this.late++;
      this.timeline.late((txNs - this.#startNs) / 1e6);
      if (stamped) {
        if (forward >= back) this.lateForward++;
        else this.lateReturn++;
      }
      return;
    }
    if (seq < this.#window.high) {
      this.reordered++;
      // Sent before the highest answered so far: where did it fall behind? At the echo
      // (it arrived there after the later one) or on the way back.
      if (stamped) {
        if (echoRxNs > this.#highEchoRx) this.reorderedForward++;
        else if (echoTxNs < this.#highEchoTx) this.reorderedReturn++;
      }
    } else if (stamped) {
      this.#highEchoRx = echoRxNs;
      this.#highEchoTx = echoTxNs;
    }
    this.delivered++;
    this.timeline.delivered((txNs - this.#startNs) / 1e6);
    this.rtt.record(rtt);
    if (stamped) {
      this.stamped++;
      this.forward.record(forward);
      this.back.record(back);
      this.echoTime.record(echoTxNs - echoRxNs);
    } else {
      this.unstamped++;
    }
  }

  /** The native probe's own part of the result. */
  native(mode: NonNullable<NativeTally["pacing"]>["mode"]): NativeTally {
    const direction = (h: Histogram, late: number, reordered: number): OneWayDirection => ({
      delay: h.toJSON(),
      delaySummary: h.summary(),
      late,
      reordered,
      duplicated: 0,
    });
    const answered = this.delivered + this.late;
    return {
      // Measured only when every delivered reply was stamped: a mix would be two flows.
      oneWay: this.stamped > 0 && this.unstamped === 0
        ? {
          forward: direction(this.forward, this.lateForward, this.reorderedForward),
          return: direction(this.back, this.lateReturn, this.reorderedReturn),
          echo: { time: this.echoTime.toJSON(), timeSummary: this.echoTime.summary() },
        }
        : null,
      clock: {
        send: source(this.kernelSend, answered),
        receive: source(this.kernelReceive, answered),
      },
      pacing: {
        mode,
        lateness: this.lateness.summary(),
        misses: this.pacingMisses,
        toleranceNs: this.#toleranceNs,
      },
    };
  }
}

function source(kernel: number, all: number): ClockSource {
  return kernel === 0 ? "user" : kernel === all ? "kernel" : "mixed";
}
