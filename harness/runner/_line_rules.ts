// What a delay or rate limit fault becomes in the receiving namespace: the iptables
// rules that send its packets to a delay line's NFQUEUE queue, and the line's config.
// Rate limits sit in the raw table and delays in mangle, both in PREROUTING: a packet
// accepted by one queue goes on to the next table, so a rate limit and a delay on the
// same packets compose (bottleneck first), while XDP (loss, blackholes) comes before
// both. Rules go in at the top of their chain, so a later fault on the same packets
// takes over from an earlier one. `--queue-bypass`: with no line on the queue (it
// died), packets pass instead of being dropped.

import { tryParseDuration } from "../core/duration.ts";
import { type DelayFault, parseRate, portRange, type RateLimitFault } from "../scenario/faults.ts";
import type { LineConfig } from "../native/delay_schedule.ts";

/** The iptables table of a fault's rules. */
export function lineTable(fault: DelayFault | RateLimitFault): "raw" | "mangle" {
  return fault.kind === "rateLimit" ? "raw" : "mangle";
}

/**
 * The rule specs (after the chain name) that queue the fault's packets arriving on
 * `ifname` to `queue`; `source` is an IPv4 address, or undefined for any.
 */
export function lineRules(
  fault: DelayFault | RateLimitFault,
  ifname: string,
  queue: number,
  source: string | undefined,
): string[][] {
  const target = ["-j", "NFQUEUE", "--queue-num", String(queue), "--queue-bypass"];
  const from = source === undefined ? [] : ["-s", `${source}/32`];
  const m = fault.match;
  const protocol = m.protocol ?? "any";
  if (m.ports === undefined) {
    return [["-i", ifname, ...(protocol === "any" ? [] : ["-p", protocol]), ...from, ...target]];
  }
  const [low, high] = portRange(m.ports);
  const ports = ["--dport", low === high ? String(low) : `${low}:${high}`];
  const protocols = protocol === "any" ? ["udp", "tcp"] : [protocol];
  return protocols.map((p) => ["-i", ifname, "-p", p, ...ports, ...from, ...target]);
}

/** The line config of a (valid) fault. */
export function lineConfig(fault: DelayFault | RateLimitFault): LineConfig {
  if (fault.kind === "delay") {
    return {
      delayNs: (tryParseDuration(fault.delay) as number) * 1e6,
      jitterNs: fault.jitter === null ? 0 : (tryParseDuration(fault.jitter) as number) * 1e6,
      distribution: fault.distribution,
      keepOrder: fault.keepOrder,
      rateBitsPerSecond: 0,
      queueKind: "none",
      queueLimit: 0,
    };
  }
  const q = fault.queue;
  return {
    delayNs: 0,
    jitterNs: 0,
    distribution: "uniform",
    keepOrder: false,
    rateBitsPerSecond: parseRate(fault.rate) as number,
    ...("packets" in q
      ? { queueKind: "packets" as const, queueLimit: q.packets }
      : "bytes" in q
      ? { queueKind: "bytes" as const, queueLimit: q.bytes }
      : { queueKind: "time" as const, queueLimit: (tryParseDuration(q.time) as number) * 1e6 }),
  };
}

/**
 * How long a stopping line may take to release what it holds: the longest a packet can
 * wait in it, plus a second.
 */
export function drainMs(fault: DelayFault | RateLimitFault): number {
  const c = lineConfig(fault);
  const jitter = c.distribution === "normal" ? c.jitterNs * 5 : c.jitterNs;
  const queue = c.queueKind === "time"
    ? c.queueLimit
    : c.queueKind === "packets" && c.rateBitsPerSecond > 0
    ? (c.queueLimit * 65_536 * 8 / c.rateBitsPerSecond) * 1e9
    : c.queueKind === "bytes" && c.rateBitsPerSecond > 0
    ? (c.queueLimit * 8 / c.rateBitsPerSecond) * 1e9
    : 0;
  return Math.min(60_000, (c.delayNs + jitter + queue) / 1e6 + 1000);
}
