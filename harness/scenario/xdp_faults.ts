// The kinds of fault the XDP dropper applies on a link's receiving end: random loss, bursty
// loss (Gilbert-Elliott) and blackholes. Each kind: its type, options, factory, checks and
// one-line description. faults.ts holds the union of all kinds.

import {
  describeValue,
  type Duration,
  formatDuration,
  tryParseDuration,
} from "../core/duration.ts";
import {
  base,
  type FaultBase,
  type FaultCheck,
  type FaultOptions,
  percent,
  round,
} from "./_fault_base.ts";

/**
 * Random loss: each matching packet is dropped with probability `rate`.
 *
 * @example
 * ```ts
 * import { loss, type LossFault } from "./faults.ts";
 * const fault: LossFault = loss(0.02);
 * console.assert(fault.kind === "loss" && fault.rate === 0.02);
 * ```
 */
export interface LossFault extends FaultBase {
  /** Always `"loss"`. */
  kind: "loss";
  /** Probability of dropping a packet, 0-1. */
  rate: number;
}

/**
 * Bursty loss, Gilbert-Elliott: a good and a bad state; each packet first moves the
 * chain (good → bad with `p`, bad → good with `r`), then is dropped with the new
 * state's loss probability.
 *
 * @example
 * ```ts
 * import { burstLoss, type BurstLossFault } from "./faults.ts";
 * const fault: BurstLossFault = burstLoss({ p: 0.01, r: 0.25 });
 * console.assert(fault.lossGood === 0 && fault.lossBad === 1);
 * ```
 */
export interface BurstLossFault extends FaultBase {
  /** Always `"burstLoss"`. */
  kind: "burstLoss";
  /** Probability of moving from good to bad, per packet. */
  p: number;
  /** Probability of moving from bad to good, per packet. */
  r: number;
  /** Loss probability in the good state (1 - k). */
  lossGood: number;
  /** Loss probability in the bad state (1 - h). */
  lossBad: number;
  /** The long-run loss and mean burst length it was made from, if it was. */
  given?: { loss: number; burst: number };
}

/**
 * Drops every matching packet, for a while or until removed.
 *
 * @example
 * ```ts
 * import { blackhole, type BlackholeFault } from "./faults.ts";
 * const fault: BlackholeFault = blackhole();
 * console.assert(fault.for === null); // on until removed
 * ```
 */
export interface BlackholeFault extends FaultBase {
  /** Always `"blackhole"`. */
  kind: "blackhole";
  /** Removed by itself after this long; null: until removed. */
  for: Duration | null;
}

/** A fault the XDP dropper applies. */
export type XdpFault = LossFault | BurstLossFault | BlackholeFault;

/**
 * Options of {@linkcode burstLoss}: the chain's parameters, or the loss and burst length.
 *
 * @example
 * ```ts
 * import { burstLoss, type BurstLossOptions } from "./faults.ts";
 * // The chain's parameters...
 * const chain: BurstLossOptions = { p: 0.0132, r: 0.25, direction: "forward" };
 * // ...or the long-run loss and the mean burst length.
 * const target: BurstLossOptions = { loss: 0.05, burst: 4 };
 * console.assert(burstLoss(chain).r === burstLoss(target).r);
 * ```
 */
export type BurstLossOptions =
  & FaultOptions
  & (
    | {
      /** Probability of moving from good to bad, per packet. */
      p: number;
      /** Probability of moving from bad to good, per packet (mean burst length is 1/r). */
      r: number;
      /**
       * Loss probability in the good state (1 - k).
       * @default {0}
       */
      lossGood?: number;
      /**
       * Loss probability in the bad state (1 - h).
       * @default {1}
       */
      lossBad?: number;
    }
    | {
      /** Long-run share of packets lost, 0-1. */
      loss: number;
      /** Mean number of packets lost in a row, 1 or more. */
      burst: number;
    }
  );

/**
 * Options of {@linkcode blackhole}.
 *
 * @example
 * ```ts
 * import { blackhole, type BlackholeOptions } from "./faults.ts";
 * const options: BlackholeOptions = { for: "2s", protocol: "udp" };
 * console.assert(blackhole(options).for === "2s");
 * ```
 */
export interface BlackholeOptions extends FaultOptions {
  /** Remove it by itself after this long. */
  for?: Duration;
}

/**
 * Random loss at `rate` (0-1).
 *
 * @example
 * ```ts
 * import { describeFault, loss } from "./faults.ts";
 * const fault = loss(0.1, { protocol: "udp", ports: 7000, direction: "forward" });
 * console.assert(describeFault(fault, ["client", "server"]) === "loss 10% on client → server (udp dport 7000)");
 * ```
 */
export function loss(rate: number, options: FaultOptions = {}): LossFault {
  return { kind: "loss", rate, ...base(options) };
}

/**
 * Bursty loss (Gilbert-Elliott), from the chain's parameters or from the loss and mean
 * burst length (then the bad state always drops and the good state never does).
 *
 * @example
 * ```ts
 * import { burstLoss, stationaryLoss } from "./faults.ts";
 * const fault = burstLoss({ loss: 0.05, burst: 4 });
 * console.assert(Math.abs(stationaryLoss(fault) - 0.05) < 1e-12);
 * ```
 */
export function burstLoss(options: BurstLossOptions): BurstLossFault {
  if ("loss" in options) {
    const r = 1 / options.burst;
    const p = options.loss * r / (1 - options.loss);
    const given = { loss: options.loss, burst: options.burst };
    return { kind: "burstLoss", p, r, lossGood: 0, lossBad: 1, given, ...base(options) };
  }
  return {
    kind: "burstLoss",
    p: options.p,
    r: options.r,
    lossGood: options.lossGood ?? 0,
    lossBad: options.lossBad ?? 1,
    ...base(options),
  };
}

/**
 * Drops everything that matches, optionally only `for` a while.
 *
 * @example
 * ```ts
 * import { blackhole } from "./faults.ts";
 * const outage = blackhole({ for: "2s", direction: "reverse" });
 * console.assert(outage.kind === "blackhole");
 * ```
 */
export function blackhole(options: BlackholeOptions = {}): BlackholeFault {
  return { kind: "blackhole", for: options.for ?? null, ...base(options) };
}

/**
 * Long-run share of packets a burst-loss fault drops.
 *
 * @example
 * ```ts
 * import { burstLoss, stationaryLoss } from "./faults.ts";
 * // In the bad state p / (p + r) of the time, and it drops everything there.
 * const fault = burstLoss({ p: 0.01, r: 0.09 });
 * console.assert(Math.abs(stationaryLoss(fault) - 0.1) < 1e-12);
 * ```
 */
export function stationaryLoss(f: BurstLossFault): number {
  const bad = f.p / (f.p + f.r);
  return (1 - bad) * f.lossGood + bad * f.lossBad;
}

/**
 * Mean length of a run of losses in the bad state (exact when lossBad is 1 and lossGood 0).
 *
 * @example
 * ```ts
 * import { burstLoss, meanBurstLength } from "./faults.ts";
 * console.assert(meanBurstLength(burstLoss({ loss: 0.05, burst: 4 })) === 4);
 * ```
 */
export function meanBurstLength(f: BurstLossFault): number {
  return 1 / f.r;
}

/** Checks the fields of an XDP fault's kind, into `check`. */
export function checkXdpFault(f: XdpFault, check: FaultCheck): void {
  const { add, probability, problems } = check;
  switch (f.kind) {
    case "loss":
      probability("rate", f.rate);
      break;
    case "burstLoss":
      if (f.given) {
        // Say what is wrong with what was given, not with the chain made from it.
        const { loss, burst } = f.given;
        const before = problems.length;
        if (!(typeof loss === "number" && loss > 0 && loss < 1)) {
          add("loss", `loss must be a probability above 0 and below 1, got ${describeValue(loss)}`);
        }
        if (!(typeof burst === "number" && Number.isFinite(burst) && burst >= 1)) {
          add(
            "burst",
            `burst must be a mean burst length of 1 or more packets, got ${describeValue(burst)}`,
          );
        }
        if (problems.length > before) break;
      }
      if (
        !(typeof f.p === "number" && f.p > 0 && f.p < 1) ||
        !(typeof f.r === "number" && f.r > 0 && f.r <= 1)
      ) {
        add(
          "",
          `burst parameters make no chain: need 0 < p < 1 and 0 < r <= 1 (or 0 < loss < 1 and burst >= 1), got p ${f.p}, r ${f.r}`,
        );
      }
      probability("lossGood", f.lossGood);
      probability("lossBad", f.lossBad);
      break;
    case "blackhole":
      if (f.for !== null) {
        const d = tryParseDuration(f.for);
        if (typeof d !== "number") add("for", d.error);
        else if (d <= 0) add("for", "for must be above 0");
      }
      break;
  }
}

/** What an XDP fault does, for the run header: "loss 10%" (faults.ts adds where). */
export function describeXdpFault(f: XdpFault): string {
  switch (f.kind) {
    case "loss":
      return `loss ${percent(f.rate)}`;
    case "burstLoss":
      return `burst loss ${percent(stationaryLoss(f))} in bursts of ${
        round(meanBurstLength(f))
      } (p ${round(f.p)}, r ${round(f.r)})`;
    case "blackhole": {
      const d = f.for === null ? undefined : tryParseDuration(f.for);
      return typeof d === "number" ? `blackhole for ${formatDuration(d)}` : "blackhole";
    }
  }
}
