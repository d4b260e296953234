// The fields and checks every fault shares: direction, match, and the helpers the kind files
// (xdp_faults.ts, shaping_faults.ts) and faults.ts use to build, check and describe them.

import { describeValue } from "../core/duration.ts";
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

/** The problems found in one fault, each at the fault's place plus a field. */
export interface FaultCheck {
  /** Every problem so far. */
  problems: Problem[];
  /** Records a problem at `where.field` (at `where` itself for ""). */
  add(field: string, message: string): void;
  /** Records a problem unless `value` is a probability 0-1 (above 0 when `open`). */
  probability(field: string, value: unknown, open?: boolean): void;
}

/** An empty check of the fault at `where`. */
export function faultCheck(where: string): FaultCheck {
  const problems: Problem[] = [];
  const add = (field: string, message: string) =>
    problems.push({ where: field ? `${where}.${field}` : where, message });
  const probability = (field: string, value: unknown, open = false) => {
    const ok = typeof value === "number" && value >= 0 && value <= 1 && !(open && value === 0);
    if (!ok) {
      add(
        field,
        `${field} must be a probability ${open ? "above 0 and at most 1" : "0-1"}, got ${
          describeValue(value)
        }`,
      );
    }
  };
  return { problems, add, probability };
}

/** Checks the fields every fault has: its direction and its match. */
export function checkBase(f: FaultBase, check: FaultCheck): void {
  const { add } = check;
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
}

/** The inclusive destination port range of a match (0-65535 when it has none). */
export function portRange(ports: FaultMatch["ports"]): [number, number] {
  if (ports === undefined) return [0, 65535];
  if (typeof ports === "number") return [ports, ports];
  return [ports[0], ports[1]];
}

/** The base of a fault made with `options`. */
export function base(options: FaultOptions): FaultBase {
  const match: FaultMatch = {};
  if (options.protocol !== undefined) match.protocol = options.protocol;
  if (options.ports !== undefined) match.ports = options.ports;
  if (options.from !== undefined) match.from = options.from;
  return { direction: options.direction ?? "both", match };
}

/** A probability for people: "10%". */
export function percent(value: number): string {
  const p = value * 100;
  return `${Number(p.toPrecision(3))}%`;
}

/** A number to three significant digits. */
export function round(value: number): number {
  return Number(value.toPrecision(3));
}
