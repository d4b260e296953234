// The kinds of fault past the XDP dropper: delays (with jitter and reordering) and rate
// limits, held by an NFQUEUE delay line in the receiving namespace, and duplicates, cloned
// by a tc BPF program on the sending end. Each kind: its type, options, factory, checks and
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
} from "./_fault_base.ts";

/**
 * Delays every matching packet, optionally with jitter (packets then overtake each other
 * unless `keepOrder`). Held by an NFQUEUE delay line on the receiving end.
 *
 * @example
 * ```ts
 * import { delay, type DelayFault } from "./faults.ts";
 * const fault: DelayFault = delay("10ms", { jitter: "2ms" });
 * console.assert(fault.kind === "delay" && fault.distribution === "uniform");
 * ```
 */
export interface DelayFault extends FaultBase {
  /** Always `"delay"`. */
  kind: "delay";
  /** The added delay. */
  delay: Duration;
  /** Half-width (uniform) or standard deviation (normal) of the jitter; null: none. */
  jitter: Duration | null;
  /** Shape of the jitter. */
  distribution: "uniform" | "normal";
  /** Whether packets keep their order despite the jitter. */
  keepOrder: boolean;
}

/**
 * A bit rate: bits per second, or a number with `bit`, `kbit`, `mbit` or `gbit` (tc's
 * units, powers of 1000).
 *
 * @example
 * ```ts
 * import { parseRate, type Rate } from "./faults.ts";
 * const rate: Rate = "10mbit";
 * console.assert(parseRate(rate) === 10_000_000);
 * ```
 */
export type Rate = number | `${number}${"bit" | "kbit" | "mbit" | "gbit"}`;

/**
 * What bounds a rate limit's queue: packets, bytes, or how long the backlog takes to send.
 *
 * @example
 * ```ts
 * import type { QueueLimit } from "./faults.ts";
 * const limits: QueueLimit[] = [{ packets: 100 }, { bytes: 64_000 }, { time: "50ms" }];
 * console.assert(limits.length === 3);
 * ```
 */
export type QueueLimit = { packets: number } | { bytes: number } | { time: Duration };

/**
 * A bottleneck: matching packets leave at most at `rate`, queueing behind each other;
 * what would overfill the queue is dropped at its tail.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitFault } from "./faults.ts";
 * const fault: RateLimitFault = rateLimit({ rate: "10mbit" });
 * console.assert(fault.kind === "rateLimit" && "packets" in fault.queue);
 * ```
 */
export interface RateLimitFault extends FaultBase {
  /** Always `"rateLimit"`. */
  kind: "rateLimit";
  /** The bottleneck's rate. */
  rate: Rate;
  /** Its queue's bound. */
  queue: QueueLimit;
}

/**
 * Sends each matching packet twice with probability `rate`: a copy is cloned on the
 * sending end's egress (a tc BPF program), so the receiver sees it right after the
 * original, before any delay.
 *
 * @example
 * ```ts
 * import { duplicate, type DuplicateFault } from "./faults.ts";
 * const fault: DuplicateFault = duplicate(0.2, { direction: "forward" });
 * console.assert(fault.kind === "duplicate" && fault.rate === 0.2);
 * ```
 */
export interface DuplicateFault extends FaultBase {
  /** Always `"duplicate"`. */
  kind: "duplicate";
  /** Probability of sending a packet twice, 0-1. */
  rate: number;
}

/** A fault past the XDP dropper: a delay line's or the duplicator's. */
export type ShapingFault = DelayFault | RateLimitFault | DuplicateFault;

/**
 * Duplicates each matching packet with probability `rate` (0-1). One per link
 * direction at a time.
 *
 * @example
 * ```ts
 * import { describeFault, duplicate } from "./faults.ts";
 * const fault = duplicate(0.2, { protocol: "udp", direction: "forward" });
 * console.assert(describeFault(fault, ["client", "server"]) === "duplicate 20% on client → server (udp)");
 * ```
 */
export function duplicate(rate: number, options: FaultOptions = {}): DuplicateFault {
  return { kind: "duplicate", rate, ...base(options) };
}

/**
 * Options of {@linkcode delay}.
 *
 * @example
 * ```ts
 * import { delay, type DelayOptions } from "./faults.ts";
 * const options: DelayOptions = { jitter: "2ms", distribution: "normal", direction: "forward" };
 * console.assert(delay("10ms", options).jitter === "2ms");
 * ```
 */
export interface DelayOptions extends FaultOptions {
  /**
   * Jitter: each packet's delay is drawn around the delay (never below 0).
   * @default {0}
   */
  jitter?: Duration;
  /**
   * Uniform over delay ± jitter, or normal with jitter as its standard deviation.
   * @default {"uniform"}
   */
  distribution?: "uniform" | "normal";
  /**
   * Keep packets in order despite the jitter (a packet waits for those before it).
   * @default {false}
   */
  keepOrder?: boolean;
}

/**
 * Delays matching packets by `duration`, with optional jitter. A later delay on the same
 * packets takes over from an earlier one for packets arriving after it is applied.
 *
 * @example
 * ```ts
 * import { delay, describeFault } from "./faults.ts";
 * const fault = delay("10ms", { jitter: "2ms", direction: "forward" });
 * console.assert(describeFault(fault, ["client", "server"]) === "delay 10ms ± 2ms on client → server");
 * ```
 */
export function delay(duration: Duration, options: DelayOptions = {}): DelayFault {
  return {
    kind: "delay",
    delay: duration,
    jitter: options.jitter ?? null,
    distribution: options.distribution ?? "uniform",
    keepOrder: options.keepOrder ?? false,
    ...base(options),
  };
}

/**
 * Options of {@linkcode rateLimit}.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitOptions } from "./faults.ts";
 * const options: RateLimitOptions = { rate: "1mbit", queue: { time: "100ms" } };
 * console.assert(rateLimit(options).rate === "1mbit");
 * ```
 */
export interface RateLimitOptions extends FaultOptions {
  /** The rate. */
  rate: Rate;
  /**
   * The queue's bound; packets past it are dropped (tail drop).
   * @default {{ packets: 1000 }}
   */
  queue?: QueueLimit;
}

/**
 * Limits matching packets to `rate`, queueing them behind each other like a bottleneck
 * link, and tail-drops past the queue's bound.
 *
 * @example
 * ```ts
 * import { describeFault, rateLimit } from "./faults.ts";
 * const fault = rateLimit({ rate: "10mbit", queue: { packets: 50 }, direction: "reverse" });
 * console.assert(describeFault(fault, ["client", "server"]) === "rate limit 10 Mbit/s, queue 50 packets on server → client");
 * ```
 */
export function rateLimit(options: RateLimitOptions): RateLimitFault {
  return {
    kind: "rateLimit",
    rate: options.rate,
    queue: options.queue ?? { packets: 1000 },
    ...base(options),
  };
}

const RATE = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)$/i;
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/**
 * A rate in bits per second, or what is wrong with it.
 *
 * @example
 * ```ts
 * import { parseRate } from "./faults.ts";
 * console.assert(parseRate("2.5gbit") === 2.5e9 && parseRate(8000) === 8000);
 * console.assert(typeof parseRate("fast") === "object");
 * ```
 */
export function parseRate(rate: unknown): number | { error: string } {
  let bits: number | undefined;
  if (typeof rate === "number") bits = rate;
  else if (typeof rate === "string") {
    const m = RATE.exec(rate.trim());
    if (m) bits = Number(m[1]) * RATE_UNITS[m[2]!.toLowerCase()]!;
  }
  if (bits === undefined || !Number.isFinite(bits) || bits < 1000 || bits > 100e9) {
    return {
      error:
        `rate must be 1kbit-100gbit, as bits per second or "10mbit" (bit, kbit, mbit, gbit), got ${
          describeValue(rate)
        }`,
    };
  }
  return bits;
}

/** Checks the fields of a shaping fault's kind, into `check`. */
export function checkShapingFault(f: ShapingFault, check: FaultCheck): void {
  const { add, probability } = check;
  switch (f.kind) {
    case "duplicate":
      probability("rate", f.rate);
      break;
    case "delay": {
      const d = tryParseDuration(f.delay);
      if (typeof d !== "number") add("delay", d.error);
      else if (d < 0 || d > 60_000) {
        add("delay", `delay must be 0-60s, got ${describeValue(f.delay)}`);
      }
      if (f.jitter !== null) {
        const j = tryParseDuration(f.jitter);
        if (typeof j !== "number") add("jitter", j.error);
        else if (j < 0 || j > 60_000) {
          add("jitter", `jitter must be 0-60s, got ${describeValue(f.jitter)}`);
        }
      }
      if (f.distribution !== "uniform" && f.distribution !== "normal") {
        add("distribution", `expected "uniform" or "normal", got ${describeValue(f.distribution)}`);
      }
      if (typeof f.keepOrder !== "boolean") {
        add("keepOrder", `expected true or false, got ${describeValue(f.keepOrder)}`);
      }
      break;
    }
    case "rateLimit": {
      const rate = parseRate(f.rate);
      if (typeof rate !== "number") add("rate", rate.error);
      const q = f.queue as Record<string, unknown> | undefined;
      const keys = typeof q === "object" && q !== null ? Object.keys(q) : [];
      const count = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;
      if (keys.length !== 1) {
        add("queue", `expected { packets }, { bytes } or { time }, got ${describeValue(q)}`);
      } else if ("packets" in q! && !count(q.packets)) {
        add(
          "queue.packets",
          `expected a whole number of packets, 1 or more, got ${describeValue(q.packets)}`,
        );
      } else if ("bytes" in q! && !count(q.bytes)) {
        add(
          "queue.bytes",
          `expected a whole number of bytes, 1 or more, got ${describeValue(q.bytes)}`,
        );
      } else if ("time" in q!) {
        const t = tryParseDuration(q.time);
        if (typeof t !== "number") add("queue.time", t.error);
        else if (t <= 0) add("queue.time", "queue.time must be above 0");
      } else if (!["packets", "bytes", "time"].includes(keys[0]!)) {
        add("queue", `expected { packets }, { bytes } or { time }, got ${describeValue(q)}`);
      }
      break;
    }
  }
}

/** What a shaping fault does, for the run header: "delay 10ms ± 2ms" (faults.ts adds where). */
export function describeShapingFault(f: ShapingFault): string {
  switch (f.kind) {
    case "delay": {
      let what = `delay ${formatDuration(tryParseDuration(f.delay) as number)}`;
      const j = f.jitter === null ? 0 : tryParseDuration(f.jitter) as number;
      if (j > 0) {
        what += ` ${f.distribution === "normal" ? "σ" : "±"} ${formatDuration(j)}`;
        if (f.distribution === "normal") what += " (normal)";
        if (f.keepOrder) what += ", in order";
      }
      return what;
    }
    case "duplicate":
      return `duplicate ${percent(f.rate)}`;
    case "rateLimit":
      return `rate limit ${formatRate(parseRate(f.rate) as number)}, queue ${
        describeQueue(f.queue)
      }`;
  }
}

/** A rate for people: "10 Mbit/s". */
export function formatRate(bitsPerSecond: number): string {
  const [unit, scale] = bitsPerSecond >= 1e9
    ? ["Gbit/s", 1e9]
    : bitsPerSecond >= 1e6
    ? ["Mbit/s", 1e6]
    : ["kbit/s", 1e3];
  return `${Number((bitsPerSecond / scale).toPrecision(3))} ${unit}`;
}

function describeQueue(queue: QueueLimit): string {
  if ("packets" in queue) return `${queue.packets} packets`;
  if ("bytes" in queue) return `${queue.bytes} bytes`;
  return formatDuration(tryParseDuration(queue.time) as number);
}
