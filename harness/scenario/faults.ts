/**
 * Faults are plain data plus one way to apply them: `loss(0.1)`, `burstLoss({ p, r })`,
 * `blackhole({ for: "2s" })`. Each has a `kind`, a `direction` and a match, describes
 * itself in one line, and is applied to a link by the runner (in options, or while the
 * scenario runs through `t.link(a, b).apply(fault)`), which returns a handle that
 * removes it. In the kernel, each direction of a link has its own XDP dropper on its
 * receiving end.
 *
 * @module
 */

import {
  describeValue,
  type Duration,
  formatDuration,
  tryParseDuration,
} from "../core/duration.ts";
import type { Problem } from "../core/errors.ts";
import { isPort } from "../core/addresses.ts";

/**
 * Which way a fault acts on a link between `a` and `b` (as the link names them):
 * `"forward"` is a → b, `"reverse"` is b → a, `"both"` is both ways.
 *
 * @example
 * ```ts
 * import { type Direction, loss } from "./faults.ts";
 * // On a link ["client", "server"], "forward" is client → server: requests only.
 * const direction: Direction = "forward";
 * console.assert(loss(0.1, { direction }).direction === "forward");
 * ```
 */
export type Direction = "both" | "forward" | "reverse";

/**
 * What a fault matches on. Everything matches by default.
 *
 * @example
 * ```ts
 * import { type FaultMatch, loss } from "./faults.ts";
 * // UDP to ports 7000-7099, sent by the client.
 * const match: FaultMatch = { protocol: "udp", ports: [7000, 7099], from: "client" };
 * console.assert(loss(0.5, match).match.from === "client");
 * ```
 */
export interface FaultMatch {
  /**
   * Protocol.
   * @default {"any"}
   */
  protocol?: "udp" | "tcp" | "any";
  /** Destination port, or an inclusive range `[low, high]`. All ports when not given. */
  ports?: number | readonly [number, number];
  /** Source: a host name of the scenario or an IPv4 address. Any source when not given. */
  from?: string;
}

/**
 * Options every fault takes: a direction and a match.
 *
 * @example
 * ```ts
 * import { blackhole, type FaultOptions } from "./faults.ts";
 * const options: FaultOptions = { direction: "reverse", protocol: "tcp", ports: 7500 };
 * const fault = blackhole(options);
 * console.assert(fault.direction === "reverse" && fault.match.ports === 7500);
 * ```
 */
export interface FaultOptions extends FaultMatch {
  /**
   * Which way the fault acts.
   * @default {"both"}
   */
  direction?: Direction;
}

/**
 * Fields every fault has.
 *
 * @example
 * ```ts
 * import { type FaultBase, loss } from "./faults.ts";
 * // Both ways and every packet unless told otherwise.
 * const base: FaultBase = loss(0.1);
 * console.assert(base.direction === "both" && Object.keys(base.match).length === 0);
 * ```
 */
export interface FaultBase {
  /** Which way it acts. */
  direction: Direction;
  /** What it matches. */
  match: FaultMatch;
}

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

/**
 * Any fault.
 *
 * @example
 * ```ts
 * import { blackhole, burstLoss, type Fault, loss } from "./faults.ts";
 * const faults: Fault[] = [loss(0.1), burstLoss({ loss: 0.05, burst: 4 }), blackhole()];
 * console.assert(faults.map((f) => f.kind).join() === "loss,burstLoss,blackhole");
 * ```
 */
export type Fault = LossFault | BurstLossFault | BlackholeFault;

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

/** Checks a fault; returns every problem, each at `where` plus a field. */
export function validateFault(fault: unknown, where: string): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) =>
    problems.push({ where: field ? `${where}.${field}` : where, message });
  if (typeof fault !== "object" || fault === null || !("kind" in fault)) {
    add("", "expected a fault such as loss(0.1), burstLoss({ p, r }) or blackhole()");
    return problems;
  }
  const f = fault as Fault;
  const probability = (field: string, value: unknown, open = false) => {
    const ok = typeof value === "number" && value >= 0 && value <= 1 && !(open && value === 0);
    if (!ok) {
      add(
        field,
        `${field} must be a probability ${open ? "above 0 and at most 1" : "0-1"}, got ${value}`,
      );
    }
  };
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
    default:
      add("kind", `unknown fault kind ${JSON.stringify((f as { kind: unknown }).kind)}`);
      return problems;
  }
  if (!["both", "forward", "reverse"].includes(f.direction)) {
    add("direction", `expected "both", "forward" or "reverse", got ${JSON.stringify(f.direction)}`);
  }
  const m = f.match ?? {};
  if (m.protocol !== undefined && !["udp", "tcp", "any"].includes(m.protocol)) {
    add("protocol", `expected "udp", "tcp" or "any", got ${JSON.stringify(m.protocol)}`);
  }
  if (m.ports !== undefined) {
    const [low, high] = portRange(m.ports);
    if (!isPort(low) || !isPort(high)) {
      add(
        "ports",
        `ports must be a port 1-65535 or a range [low, high], got ${JSON.stringify(m.ports)}`,
      );
    } else if (low > high) {
      add("ports", `port range is upside down: [${low}, ${high}]`);
    }
  }
  if (m.from !== undefined && (typeof m.from !== "string" || m.from === "")) {
    add("from", `expected a host name or an IPv4 address, got ${JSON.stringify(m.from)}`);
  }
  return problems;
}

/** The inclusive destination port range of a match (0-65535 when it has none). */
export function portRange(ports: FaultMatch["ports"]): [number, number] {
  if (ports === undefined) return [0, 65535];
  if (typeof ports === "number") return [ports, ports];
  return [ports[0], ports[1]];
}

/**
 * Describes a (valid) fault in one line, for the run header:
 * `loss 10% on client → server (udp dport 7000)`.
 */
export function describeFault(f: Fault, link: readonly [string, string]): string {
  const [a, b] = link;
  const where = f.direction === "forward"
    ? `${a} → ${b}`
    : f.direction === "reverse"
    ? `${b} → ${a}`
    : `${a} ↔ ${b}`;
  let what: string;
  switch (f.kind) {
    case "loss":
      what = `loss ${percent(f.rate)}`;
      break;
    case "burstLoss":
      what = `burst loss ${percent(stationaryLoss(f))} in bursts of ${
        round(meanBurstLength(f))
      } (p ${round(f.p)}, r ${round(f.r)})`;
      break;
    case "blackhole": {
      const d = f.for === null ? undefined : tryParseDuration(f.for);
      what = typeof d === "number" ? `blackhole for ${formatDuration(d)}` : "blackhole";
      break;
    }
  }
  const match: string[] = [];
  const m = f.match;
  if (m.protocol && m.protocol !== "any") match.push(m.protocol);
  if (m.ports !== undefined) {
    const [low, high] = portRange(m.ports);
    match.push(low === high ? `dport ${low}` : `dport ${low}-${high}`);
  }
  if (m.from !== undefined) match.push(`from ${m.from}`);
  return `${what} on ${where}${match.length > 0 ? ` (${match.join(" ")})` : ""}`;
}

function base(options: FaultOptions): FaultBase {
  const match: FaultMatch = {};
  if (options.protocol !== undefined) match.protocol = options.protocol;
  if (options.ports !== undefined) match.ports = options.ports;
  if (options.from !== undefined) match.from = options.from;
  return { direction: options.direction ?? "both", match };
}

function percent(value: number): string {
  const p = value * 100;
  return `${Number(p.toPrecision(3))}%`;
}

function round(value: number): number {
  return Number(value.toPrecision(3));
}
