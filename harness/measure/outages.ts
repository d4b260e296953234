/**
 * Outages of a probe flow: runs of timeline intervals in which datagrams were sent and
 * none came back in time. Each says when service stopped and when it came back, to the
 * timeline's resolution (100 ms, coarser on long runs).
 *
 * @module
 */

import type { Timeline } from "./results.ts";

/**
 * A run of intervals with nothing answered: an outage, as a probe saw it.
 *
 * @example
 * ```ts
 * import type { Outage } from "./outages.ts";
 * const outage: Outage = { fromMs: 4100, toMs: 6000, sent: 1902, recovered: true };
 * console.assert(outage.toMs - outage.fromMs === 1900);
 * ```
 */
export interface Outage {
  /** Start of the first silent interval, in ms since the probe started. */
  fromMs: number;
  /** End of the last silent interval: service was back from here (ms since the probe started). */
  toMs: number;
  /** Datagrams sent in the outage. */
  sent: number;
  /**
   * Whether a later interval was answered. False for an outage that lasted until the
   * probe's last interval: service was never seen back, and `toMs` is only where the
   * probe's timeline ends.
   */
  recovered: boolean;
}

/**
 * Finds the outages of a timeline. The last interval is left out when it is partial
 * and nothing was answered because the probe stopped.
 *
 * @example
 * ```ts
 * import { findOutages } from "./outages.ts";
 * const outages = findOutages({
 *   intervalMs: 100,
 *   sent: [10, 10, 10, 10],
 *   delivered: [10, 0, 0, 10],
 *   late: [0, 0, 0, 0],
 * });
 * console.assert(outages.length === 1 && outages[0]!.fromMs === 100 && outages[0]!.toMs === 300);
 * console.assert(outages[0]!.recovered);
 * ```
 */
export function findOutages(timeline: Timeline): Outage[] {
  const outages: Outage[] = [];
  let current: Outage | undefined;
  for (let i = 0; i < timeline.sent.length; i++) {
    const sent = timeline.sent[i] ?? 0;
    const answered = timeline.delivered[i] ?? 0;
    if (sent > 0 && answered === 0) {
      if (!current) {
        current = { fromMs: i * timeline.intervalMs, toMs: 0, sent: 0, recovered: false };
      }
      current.toMs = (i + 1) * timeline.intervalMs;
      current.sent += sent;
    } else if (sent > 0 && current) {
      current.recovered = true;
      outages.push(current);
      current = undefined;
    }
  }
  if (current) outages.push(current);
  return outages;
}

/** The longest outage in ms, 0 when there was none. */
export function longestOutageMs(outages: readonly Outage[]): number {
  return outages.reduce((max, o) => Math.max(max, o.toMs - o.fromMs), 0);
}
