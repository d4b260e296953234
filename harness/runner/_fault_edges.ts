// One fault's dropper rules on the receiving ends of its link, switched at kernel time:
// both ends get the same window, written a little ahead of the instant, so both
// directions flip at that instant whatever the agents' scheduling. A window costs a clock
// read per packet (about 45 ns here), so it is kept only around the edges: an open-ended
// fault is opened to all time once its start has passed, and given its end again when it
// is removed; a fault with a duration keeps its window throughout (a change of both
// fields mid-window could meet a late agent after its end).

import { type Rule, SQ_TIME_FOREVER } from "../kernel/xdp_layout.ts";
import type { RuleTally } from "../kernel/xdp_dropper.ts";
import { toWire, type WriteReply } from "../agent/droppers.ts";
import type { FaultClock } from "./_fault_clock.ts";

/** How long after its start an open-ended fault keeps its window (the start's stamps). */
export const SETTLE_NS = 50_000_000n;

/** One end of a fault: a rule slot of the dropper on one receiving end of the link. */
export interface RuleEnd {
  /** The host that sends what this end receives. */
  from: string;
  /** The receiving host (its agent holds the dropper). */
  to: string;
  /** The receiving interface. */
  ifname: string;
  /** The rule slot. */
  slot: number;
  /** The rule, without a window. */
  rule: Rule;
  /** Calls the receiving host's agent. */
  call(method: string, params: Record<string, unknown>): Promise<unknown>;
}

/** An edge of a fault, in kernel time (CLOCK_MONOTONIC, ns). */
export interface Edge {
  /** When it was asked for (for a planned end, when it was planned to be). */
  askedNs: bigint;
  /** The instant both ends were given. */
  atNs: bigint;
  /** When it took effect at every end: `atNs`, or later if a write landed after it. */
  effectiveNs: bigint;
  /** Receiving hosts whose write landed after `atNs` (they flipped late). */
  late: string[];
  /** When it took effect at each end (in the order of the ends): `atNs` or later. */
  perEndNs: bigint[];
}

/** One end's tally, as the dropper gave it when the rule was taken. */
export interface EndTally {
  /** The end. */
  end: RuleEnd;
  /** What its rule counted and stamped. */
  tally: RuleTally;
  /**
   * Whether its first drop stamp is the first drop: false when the rule was opened to
   * all time before its first drop (it then stamps nothing until its end is given).
   */
  firstDropSeen: boolean;
  /**
   * Whether its last drop stamp is the last drop: false when the rule, opened to all
   * time, dropped nothing from when its end was given (its last stamp is then from its
   * start, and its real last drop unknown).
   */
  lastDropSeen: boolean;
}

/**
 * A fault's rules on its ends, switched at kernel time.
 *
 * @example
 * ```ts ignore
 * import { WindowedFault } from "./_fault_edges.ts";
 * const fault = await WindowedFault.apply(clock, ends, { forNs: 2_000_000_000n });
 * await fault.plannedEnd(signal); // the droppers ended it, at one instant at both ends
 * const tallies = await fault.remove();
 * ```
 */
export class WindowedFault {
  readonly ends: readonly RuleEnd[];
  /** The start. */
  readonly start: Edge;
  readonly #clock: FaultClock;
  /** The end planned or given: SQ_TIME_FOREVER while open-ended. */
  #untilNs: bigint;
  #end: Promise<Edge> | undefined;
  #endEdge: Edge | undefined;
  #settling: Promise<void> | undefined;
  #settle = new AbortController();
  /** When the window was opened to all time (the latest write), if it was. */
  #settledNs: bigint | undefined;
  #taken: Promise<EndTally[]> | undefined;

  private constructor(clock: FaultClock, ends: readonly RuleEnd[], start: Edge, untilNs: bigint) {
    this.#clock = clock;
    this.ends = ends;
    this.start = start;
    this.#untilNs = untilNs;
  }

  /**
   * Writes the rule to every end with a window from a little ahead of now (the clock's
   * lead), until `forNs` later or until removed; resolves once every end has it.
   */
  static async apply(
    clock: FaultClock,
    ends: readonly RuleEnd[],
    options: { forNs?: bigint } = {},
  ): Promise<WindowedFault> {
    const askedNs = clock.nowNs();
    const atNs = askedNs + clock.leadNs();
    const untilNs = options.forNs === undefined ? SQ_TIME_FOREVER : atNs + options.forNs;
    const written = await Promise.all(ends.map((end) =>
      timedCall(clock, end, "dropper.set", {
        ifname: end.ifname,
        slot: end.slot,
        rule: toWire({ ...end.rule, activeFromNs: atNs, activeUntilNs: untilNs }),
      })
    ));
    const start = edge(askedNs, atNs, ends, written);
    let until = untilNs;
    if (options.forNs !== undefined && start.effectiveNs > atNs) {
      // An end flipped late: the fault lasts its duration from then, at both ends.
      until = start.effectiveNs + options.forNs;
      await Promise.all(ends.map((end) =>
        timedCall(clock, end, "dropper.window", {
          ifname: end.ifname,
          slot: end.slot,
          untilNs: String(until),
        })
      ));
    }
    const fault = new WindowedFault(clock, ends, start, until);
    if (until === SQ_TIME_FOREVER) fault.#settling = fault.#openToAllTime();
    return fault;
  }

  /** The end planned (a fault with a duration) or given, kernel time; null while open. */
  get untilNs(): bigint | null {
    return this.#untilNs === SQ_TIME_FOREVER ? null : this.#untilNs;
  }

  /** The end edge, once it is known (planned, or given by {@linkcode WindowedFault.end}). */
  get endEdge(): Edge | undefined {
    return this.#endEdge;
  }

  /**
   * Resolves once a fault with a duration has ended in the kernel (the droppers end it;
   * this only waits). Rejects with the signal's reason when it aborts first.
   *
   * @throws {TypeError} when the fault is open-ended.
   */
  async plannedEnd(signal?: AbortSignal): Promise<void> {
    if (this.#untilNs === SQ_TIME_FOREVER) {
      throw new TypeError("Cannot wait for the end of an open-ended fault: it has none planned");
    }
    await this.#clock.sleepUntil(this.#untilNs, signal);
  }

  /**
   * Ends the fault at every end at one instant, a little ahead of now, unless its planned
   * end comes first; resolves with the end edge once it has passed. Safe to call twice.
   */
  end(): Promise<Edge> {
    this.#end ??= (async () => {
      this.#settle.abort();
      await this.#settling;
      const askedNs = this.#clock.nowNs();
      const atNs = askedNs + this.#clock.leadNs();
      let edgeNow: Edge;
      if (this.#untilNs <= atNs) {
        // Planned, and due sooner than a new end could be: the droppers end it.
        const at = this.#untilNs;
        edgeNow = {
          askedNs: at,
          atNs: at,
          effectiveNs: at,
          late: [],
          perEndNs: this.ends.map(() => at),
        };
      } else {
        const written = await Promise.all(
          this.ends.map((end) =>
            timedCall(this.#clock, end, "dropper.window", {
              ifname: end.ifname,
              slot: end.slot,
              untilNs: String(atNs),
            })
          ),
        );
        this.#untilNs = atNs;
        edgeNow = edge(askedNs, atNs, this.ends, written);
      }
      this.#endEdge = edgeNow;
      await this.#clock.sleepUntil(edgeNow.effectiveNs);
      return edgeNow;
    })();
    return this.#end;
  }

  /**
   * Ends the fault (see {@linkcode WindowedFault.end}), then takes every end's rule: its
   * counts and stamps, and the slot free again. Safe to call twice.
   */
  remove(): Promise<EndTally[]> {
    this.#taken ??= (async () => {
      await this.end();
      return await Promise.all(this.ends.map(async (end) => {
        const tally = await end.call("dropper.take", {
          ifname: end.ifname,
          slot: end.slot,
        }) as RuleTally;
        const settled = this.#settledNs;
        const firstDropSeen = tally.firstDropNs !== null &&
          (settled === undefined || tally.firstDropNs < Number(settled));
        // Opened to all time, it stamped again only once its end was asked for.
        const endAsked = this.#endEdge?.askedNs;
        const lastDropSeen = tally.lastDropNs !== null &&
          (settled === undefined || endAsked === undefined || tally.lastDropNs >= Number(endAsked));
        return { end, tally, firstDropSeen, lastDropSeen };
      }));
    })();
    return this.#taken;
  }

  /**
   * Once the start has passed (and its stamps had time to come), opens the window to all
   * time at every end: one field, from its start to 0, the same verdict for any packet
   * that sees half of the write; packets then pay no clock read.
   */
  async #openToAllTime(): Promise<void> {
    try {
      await this.#clock.sleepUntil(this.start.effectiveNs + SETTLE_NS, this.#settle.signal);
      const written = await Promise.all(
        this.ends.map((end) =>
          timedCall(this.#clock, end, "dropper.window", {
            ifname: end.ifname,
            slot: end.slot,
            fromNs: "0",
          })
        ),
      );
      this.#settledNs = written.reduce((a, b) => (a > b ? a : b), 0n);
    } catch {
      // Ended first (aborted), or an agent is gone: the rule keeps its window.
    }
  }
}

/** Calls an end's agent, notes how long its write took to land, and returns when it did. */
async function timedCall(
  clock: FaultClock,
  end: RuleEnd,
  method: string,
  params: Record<string, unknown>,
): Promise<bigint> {
  const sentNs = clock.nowNs();
  const reply = await end.call(method, params) as WriteReply;
  const writtenNs = BigInt(reply.writtenNs);
  clock.noteWrite(sentNs, writtenNs);
  return writtenNs;
}

/** The edge asked at `askedNs` for `atNs`, given when each end's write landed. */
function edge(askedNs: bigint, atNs: bigint, ends: readonly RuleEnd[], written: bigint[]): Edge {
  const late = ends.filter((_, i) => written[i]! > atNs).map((e) => e.to);
  const perEndNs = written.map((w) => (w > atNs ? w : atNs));
  const effectiveNs = perEndNs.reduce((a, b) => (a > b ? a : b), atNs);
  return { askedNs, atNs, effectiveNs, late, perEndNs };
}
