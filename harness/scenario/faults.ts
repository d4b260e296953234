/**
 * Faults are plain data plus one way to apply them: `loss(0.1)`, `burstLoss({ p, r })`,
 * `blackhole({ for: "2s" })`, `delay("10ms", { jitter: "2ms" })`, `rateLimit({ rate:
 * "10mbit" })`. Each has a `kind`, a `direction` and a match, describes
 * itself in one line, and is applied to a link by the runner (in options, or while the
 * scenario runs through `t.link(a, b).apply(fault)`), which returns a handle that
 * removes it. In the kernel, each direction of a link has its own XDP dropper on its
 * receiving end (loss, bursts, blackholes), and delays and rate limits go through an
 * NFQUEUE delay line in the receiving host's namespace, after XDP.
 *
 * The kinds are declared in `xdp_faults.ts` (loss, burstLoss, blackhole) and
 * `shaping_faults.ts` (delay, rateLimit, duplicate); this module is the one place to import
 * them from, with the union of all kinds, their checks and their descriptions.
 *
 * @module
 */

import { checkBase, faultCheck, portRange } from "./_fault_base.ts";
import {
  type BlackholeFault,
  type BurstLossFault,
  checkXdpFault,
  describeXdpFault,
  type LossFault,
} from "./xdp_faults.ts";
import {
  checkShapingFault,
  type DelayFault,
  describeShapingFault,
  type DuplicateFault,
  type RateLimitFault,
} from "./shaping_faults.ts";
import type { Problem } from "../core/errors.ts";

export {
  type Direction,
  type FaultBase,
  type FaultMatch,
  type FaultOptions,
  portRange,
} from "./_fault_base.ts";
export {
  blackhole,
  type BlackholeFault,
  type BlackholeOptions,
  burstLoss,
  type BurstLossFault,
  type BurstLossOptions,
  loss,
  type LossFault,
  meanBurstLength,
  stationaryLoss,
} from "./xdp_faults.ts";
export {
  delay,
  type DelayFault,
  type DelayOptions,
  duplicate,
  type DuplicateFault,
  formatRate,
  parseRate,
  type QueueLimit,
  type Rate,
  rateLimit,
  type RateLimitFault,
  type RateLimitOptions,
} from "./shaping_faults.ts";

/**
 * Any fault.
 *
 * @example
 * ```ts
 * import { blackhole, burstLoss, delay, type Fault, loss } from "./faults.ts";
 * const faults: Fault[] = [loss(0.1), burstLoss({ loss: 0.05, burst: 4 }), blackhole(), delay(5)];
 * console.assert(faults.map((f) => f.kind).join() === "loss,burstLoss,blackhole,delay");
 * ```
 */
export type Fault =
  | LossFault
  | BurstLossFault
  | BlackholeFault
  | DelayFault
  | RateLimitFault
  | DuplicateFault;

/**
 * The faults a delay line carries (the others are XDP dropper rules).
 *
 * @example
 * ```ts
 * import { delay, isLineFault, loss } from "./faults.ts";
 * console.assert(isLineFault(delay("1ms")) && !isLineFault(loss(0.1)));
 * ```
 */
export function isLineFault(fault: Fault): fault is DelayFault | RateLimitFault {
  return fault.kind === "delay" || fault.kind === "rateLimit";
}

/** Checks a fault; returns every problem, each at `where` plus a field. */
export function validateFault(fault: unknown, where: string): Problem[] {
  const check = faultCheck(where);
  if (typeof fault !== "object" || fault === null || !("kind" in fault)) {
    check.add("", "expected a fault such as loss(0.1), burstLoss({ p, r }) or blackhole()");
    return check.problems;
  }
  const f = fault as Fault;
  switch (f.kind) {
    case "loss":
    case "burstLoss":
    case "blackhole":
      checkXdpFault(f, check);
      break;
    case "delay":
    case "rateLimit":
    case "duplicate":
      checkShapingFault(f, check);
      break;
    default:
      check.add("kind", `unknown fault kind ${JSON.stringify((f as { kind: unknown }).kind)}`);
      return check.problems;
  }
  checkBase(f, check);
  return check.problems;
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
  const what = f.kind === "loss" || f.kind === "burstLoss" || f.kind === "blackhole"
    ? describeXdpFault(f)
    : describeShapingFault(f);
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
