/**
 * What workloads report: plain data, sent from agents to the runner as JSON and kept
 * as it is in the report.
 *
 * @module
 */

import type { HistogramData, LatencySummary } from "./histogram.ts";
import type { ReconnectStormResult, TcpEchoResult, TcpProbeResult } from "./tcp_results.ts";
import type { BindChurnResult, ExecResult } from "./bind_results.ts";

/**
 * A run of intervals with nothing answered: an outage, as a probe saw it.
 *
 * @example
 * ```ts
 * import type { Outage } from "./results.ts";
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
 * Loss over time: counts per interval, by the time a datagram was sent.
 *
 * @example
 * ```ts
 * import type { Timeline } from "./results.ts";
 * const timeline: Timeline = {
 *   intervalMs: 100,
 *   sent: [50, 50, 50],
 *   delivered: [50, 0, 49],
 *   late: [0, 0, 1],
 * };
 * const lost = timeline.sent.map((s, i) => s - timeline.delivered[i]! - timeline.late[i]!);
 * console.assert(lost.join() === "0,50,0");
 * ```
 */
export interface Timeline {
  /** Length of one interval in milliseconds. */
  intervalMs: number;
  /** Datagrams sent in each interval. */
  sent: number[];
  /** Of those, how many came back in time. */
  delivered: number[];
  /** Of those, how many came back after the timeout. */
  late: number[];
}

/**
 * The result of a UDP probe flow.
 *
 * @example
 * ```ts
 * import type { UdpProbeResult } from "./results.ts";
 * function describe(r: UdpProbeResult): string {
 *   const split = r.lostOutbound === null ? "" : ` (${r.lostOutbound} out, ${r.lostReturn} back)`;
 *   return `${r.lost} of ${r.sent} lost${split}, p99 ${r.rttSummary.p99 / 1e6}ms`;
 * }
 * ```
 */
export interface UdpProbeResult {
  /** Always `"udpProbe"`. */
  kind: "udpProbe";
  /** Resolved address the probe sent to, `ip:port`. */
  address: string;
  /** The flow id carried in every datagram. */
  flowId: number;
  /** Wall-clock time the first datagram was sent (ms since the epoch). */
  startedAt: number;
  /** From the first send until the probe stopped listening, in milliseconds. */
  durationMs: number;
  /** Datagrams sent per second, over the time spent sending (below `rate` if it fell behind). */
  achievedRate: number;
  /** Datagrams sent. */
  sent: number;
  /** Datagrams whose first reply came back within the timeout. */
  delivered: number;
  /** Datagrams with no reply at all: `sent - delivered - late`. */
  lost: number;
  /** Datagrams whose first reply came after the timeout. */
  late: number;
  /** Replies seen more than once. */
  duplicated: number;
  /** Replies that came after a reply with a higher sequence number. */
  reordered: number;
  /** Datagrams received that were not replies of this flow. */
  foreign: number;
  /** Datagrams of this flow the echo received, or null when the echo is not squall's. */
  echoReceived: number | null;
  /** Lost on the way to the echo (`sent - echoReceived`), or null when unknown. */
  lostOutbound: number | null;
  /** Lost on the way back (`lost - lostOutbound`), or null when unknown. */
  lostReturn: number | null;
  /** `lost / sent`, 0 when nothing was sent. */
  loss: number;
  /** Round-trip times of delivered datagrams. */
  rtt: HistogramData;
  /** Percentiles of `rtt`, in nanoseconds. */
  rttSummary: LatencySummary;
  /** Loss over time. */
  timeline: Timeline;
  /** Send errors by error name (e.g. `ConnectionRefused`). */
  sendErrors: Record<string, number>;
  /** Whether the probe sent fewer than its count (or rate x duration): stopped, or out of time. */
  stoppedEarly: boolean;
  /** Where every lost datagram went; null on loopback, where nothing can be attributed. */
  ledger: LossLedger | null;
  /** When service stopped and came back: runs of intervals with nothing answered. */
  outages: Outage[];
  /**
   * Runs of consecutive datagrams lost on the way to the echo, as the echo saw the gaps
   * in sequence numbers; null when the echo is not squall's.
   */
  outboundLossRuns: { runs: number; packets: number } | null;
  /**
   * Which probe measured: `"native"` (libc in a worker thread, the kernel's socket
   * timestamps) or `"deno"` (Deno's sockets and performance.now(), where the agent may
   * not load libc: loopback without root).
   */
  measuredBy: "native" | "deno";
  /** Where the send and receive times of round trips came from. */
  clock: { send: ClockSource; receive: ClockSource };
  /**
   * One-way delay, lateness, reordering and duplicates per direction, from the stamps
   * squall's native echo writes into each reply; null when not measured (the Deno probe,
   * or an echo that sends datagrams back unchanged).
   */
  oneWay: OneWayDelays | null;
  /** How well the probe held its rate; null for the Deno probe. */
  pacing: ProbePacing | null;
  /** CPU time of the probe's thread, and its share of one core while it ran; null for the Deno probe. */
  cpu: { ns: number; share: number } | null;
}

/**
 * Where a time came from: the kernel's socket timestamps, user space (a clock read
 * around the system call), or some of each.
 *
 * @example
 * ```ts
 * import type { ClockSource } from "./results.ts";
 * function exact(send: ClockSource, receive: ClockSource): boolean {
 *   return send === "kernel" && receive === "kernel";
 * }
 * console.assert(exact("kernel", "kernel"));
 * ```
 */
export type ClockSource = "kernel" | "user" | "mixed";

/**
 * One direction of a probe flow. Every namespace shares one machine clock, so the
 * echo's kernel receive time and its send time give each direction exactly: forward is
 * from the probe's send (the kernel's time as the datagram enters the qdisc) to the
 * echo's kernel receive time; return from the echo's clock just before it sends to the
 * probe's kernel receive time.
 *
 * @example
 * ```ts
 * import type { OneWayDirection } from "./results.ts";
 * function describe(d: OneWayDirection): string {
 *   return `p50 ${d.delaySummary.p50 / 1e3} us, ${d.late} late, ${d.reordered} reordered`;
 * }
 * ```
 */
export interface OneWayDirection {
  /** One-way delays of delivered datagrams. */
  delay: HistogramData;
  /** Percentiles of `delay`, in nanoseconds. */
  delaySummary: LatencySummary;
  /** Late replies whose delay was mostly in this direction. */
  late: number;
  /** Datagrams that fell behind one sent after them in this direction. */
  reordered: number;
  /**
   * Datagrams that arrived more than once in this direction: forward, what squall's echo
   * counted; return, the rest of the probe's duplicates.
   */
  duplicated: number;
}

/**
 * One-way delays of a probe flow, and the echo's own time.
 *
 * @example
 * ```ts
 * import type { OneWayDelays } from "./results.ts";
 * function slower(o: OneWayDelays): string {
 *   return o.forward.delaySummary.p50 > o.return.delaySummary.p50 ? "forward" : "return";
 * }
 * ```
 */
export interface OneWayDelays {
  /** Probe to echo. */
  forward: OneWayDirection;
  /** Echo to probe. */
  return: OneWayDirection;
  /**
   * The echo's own time, from its kernel receive time of a request to just before it
   * sent the reply (its wake-up and its work): part of every round trip, in neither
   * direction.
   */
  echo: { time: HistogramData; timeSummary: LatencySummary };
}

/**
 * How well a probe held its rate.
 *
 * @example
 * ```ts
 * import type { ProbePacing } from "./results.ts";
 * function warn(p: ProbePacing, sent: number): string | undefined {
 *   return p.misses > sent / 100 ? `${p.misses} sends missed their time` : undefined;
 * }
 * ```
 */
export interface ProbePacing {
  /**
   * `"sleep-spin"`: each datagram on its own, sleeping to shortly before its time and
   * spinning the rest; `"batched"`: above 10k/s, what is due goes in one sendmmsg per
   * 200 us; `"ping-pong"`: one in flight.
   */
  mode: "ping-pong" | "sleep-spin" | "batched";
  /** How long after their due time datagrams went out. */
  lateness: LatencySummary;
  /** Datagrams that went out more than `toleranceNs` after their due time. */
  misses: number;
  /** The tolerance, in nanoseconds. */
  toleranceNs: number;
}

/**
 * Lost datagrams of one direction (or of both), by cause.
 *
 * @example
 * ```ts
 * import type { LedgerEntry } from "./results.ts";
 * const outbound: LedgerEntry = {
 *   lost: 1000,
 *   droppedByFault: [{ fault: 1, description: "loss 10% on client → server", packets: 990 }],
 *   receiveBufferOverflow: 10,
 *   noSocket: 0,
 *   unexplained: 0,
 * };
 * const dropped = outbound.droppedByFault.reduce((n, f) => n + f.packets, 0);
 * console.assert(
 *   dropped + outbound.receiveBufferOverflow + outbound.noSocket + outbound.unexplained ===
 *     outbound.lost,
 * );
 * ```
 */
export interface LedgerEntry {
  /** Datagrams lost. */
  lost: number;
  /**
   * Dropped by faults, by fault id (see the report's `faults`); a delay line's drops
   * carry their cause: a rate limit's tail drop, held when the line stopped, or dropped
   * by the kernel for the line's queue while this flow alone crossed it (queue full, or
   * overrun: the line did not read its queue fast enough).
   */
  droppedByFault: {
    fault: number;
    description: string;
    packets: number;
    cause?: LineDropCause;
  }[];
  /** Dropped because the receiving socket's buffer was full (nstat UdpRcvbufErrors). */
  receiveBufferOverflow: number;
  /** Dropped because no socket was bound to the port (nstat UdpNoPorts). */
  noSocket: number;
  /**
   * Queued in a SO_REUSEPORT group member's socket when that member was stopped: read
   * by nobody, gone with the socket. Only present when above 0.
   */
  closedSocket?: number;
  /**
   * Lost to the kernel's drops for delay lines' queues that more than this flow crossed
   * (other probe flows, other traffic): the kernel counts those drops per queue, so they
   * cannot be split among flows. `packets`: how many of this flow's losses they account
   * for, which is what is left after every other cause, at most what the queues dropped;
   * `queues`: each queue's drops, of every flow (`flows`: probe flows that crossed it,
   * `otherPackets`: packets of other traffic it carried). Only present when such a queue
   * dropped packets.
   */
  queueDropsNotSplit?: {
    packets: number;
    queues: {
      fault: number;
      description: string;
      cause: "queueFull" | "overrun";
      dropped: number;
      flows: number;
      otherPackets: number;
    }[];
  };
  /** Lost for no known reason: lost minus every cause above. 0 in a controlled run. */
  unexplained: number;
}

/**
 * Why a delay line dropped a packet: a rate limit's tail drop, held when the line
 * stopped, or dropped by the kernel for the line's queue, full (`queueFull`, more packets
 * than the queue holds) or overrun (`overrun`: the line did not read its queue fast
 * enough).
 *
 * @example
 * ```ts
 * import type { LineDropCause } from "./results.ts";
 * const kernel: LineDropCause[] = ["queueFull", "overrun"];
 * ```
 */
export type LineDropCause = "tailDrop" | "heldAtStop" | "queueFull" | "overrun";

/**
 * The loss ledger of a probe flow: `sent = delivered + late + lost`, and per direction
 * `lost = dropped by faults + receive buffer overflow + no socket + unexplained`.
 *
 * @example
 * ```ts
 * import type { LossLedger } from "./results.ts";
 * function where(ledger: LossLedger): string {
 *   if (ledger.outbound === null || ledger.return === null) {
 *     return `${ledger.total.lost} lost, direction unknown`;
 *   }
 *   return `${ledger.outbound.lost} lost on the way out, ${ledger.return.lost} on the way back`;
 * }
 * ```
 */
export interface LossLedger {
  /** Client to echo; null when the echo is not squall's (no split by direction). */
  outbound: LedgerEntry | null;
  /** Echo to client; null when the echo is not squall's. */
  return: LedgerEntry | null;
  /** Both directions together. */
  total: LedgerEntry;
  /** Answered after the timeout (not lost, not delivered). */
  late: number;
  /**
   * Whether another probe used the same namespaces meanwhile: kernel counters are per
   * namespace, so overflow and no-socket counts are then shared between flows.
   */
  kernelCountersShared: boolean;
}

/**
 * What a UDP echo saw of one probe flow.
 *
 * @example
 * ```ts
 * import type { EchoFlow } from "./results.ts";
 * const flow: EchoFlow = {
 *   flowId: 7,
 *   from: "198.18.0.1:40112",
 *   received: 1980,
 *   duplicated: 0,
 *   lossRuns: 5,
 *   lossRunPackets: 20,
 *   highestSeq: 1999,
 * };
 * console.assert(flow.lossRunPackets / flow.lossRuns === 4); // mean burst on the way out
 * ```
 */
export interface EchoFlow {
  /** The probe's flow id. */
  flowId: number;
  /** Where the flow came from, `ip:port`. */
  from: string;
  /** Distinct datagrams received. */
  received: number;
  /** Datagrams received more than once. */
  duplicated: number;
  /** Gaps in the sequence numbers received: runs of datagrams that never arrived. */
  lossRuns: number;
  /** Datagrams in those gaps. */
  lossRunPackets: number;
  /** Highest sequence number received (datagrams lost after it are in no gap yet). */
  highestSeq: number;
  /**
   * Datagrams that reached the echo's socket but were never read: queued in a member of
   * a SO_REUSEPORT group when that member was stopped (they die with its socket). Only
   * present when above 0.
   */
  discarded?: number;
}

/**
 * One socket of a UDP echo's SO_REUSEPORT group, and its share of the traffic.
 *
 * @example
 * ```ts
 * import type { UdpGroupMember } from "./results.ts";
 * const member: UdpGroupMember = {
 *   member: 2,
 *   state: "stopped",
 *   received: 480,
 *   replied: 480,
 *   flows: 3,
 *   flowShare: 0.375,
 *   datagramShare: 0.24,
 *   discarded: 40,
 * };
 * console.assert(member.discarded > 0 && member.state === "stopped");
 * ```
 */
export interface UdpGroupMember {
  /** Its index in the group, from 0. */
  member: number;
  /** `"open"`, or `"stopped"` by `stopMember()` before the echo stopped. */
  state: "open" | "stopped";
  /** Datagrams it received (and read). */
  received: number;
  /** Datagrams it sent back. */
  replied: number;
  /** Probe flows it saw (a flow re-hashed to another member counts at both). */
  flows: number;
  /** Its `flows` over the sum of every member's, 0-1. */
  flowShare: number;
  /** Its `received` over the group's, 0-1. */
  datagramShare: number;
  /** Datagrams queued in its socket when it was stopped: lost with the socket. */
  discarded: number;
}

/**
 * How evenly the kernel spread the traffic across a SO_REUSEPORT group.
 *
 * @example
 * ```ts
 * import type { GroupSpread } from "./results.ts";
 * const spread: GroupSpread = { members: 4, units: 8, idle: 0, minShare: 0.125, maxShare: 0.375, maxOverEven: 1.5 };
 * console.assert(spread.maxShare * spread.members === spread.maxOverEven);
 * ```
 */
export interface GroupSpread {
  /** Sockets in the group. */
  members: number;
  /** What was spread: probe flows (UDP) or connections (TCP), summed over members. */
  units: number;
  /** Members that got none. */
  idle: number;
  /** The smallest member's share, 0-1. */
  minShare: number;
  /** The largest member's share, 0-1. */
  maxShare: number;
  /** `maxShare` over an even share (`1 / members`): 1 is perfectly even; 0 when nothing came. */
  maxOverEven: number;
}

/**
 * The result of a UDP echo server.
 *
 * @example
 * ```ts
 * import type { UdpEchoResult } from "./results.ts";
 * const echo: UdpEchoResult = {
 *   kind: "udpEcho",
 *   address: "0.0.0.0:7000",
 *   received: 2000,
 *   replied: 2000,
 *   sendErrors: {},
 *   flows: [],
 * };
 * console.assert(echo.received === echo.replied);
 * ```
 */
export interface UdpEchoResult {
  /** Always `"udpEcho"`. */
  kind: "udpEcho";
  /** Address it listened on, `ip:port`. */
  address: string;
  /** Datagrams received. */
  received: number;
  /** Datagrams sent back. */
  replied: number;
  /** Send errors by error name. */
  sendErrors: Record<string, number>;
  /** Probe flows seen. */
  flows: EchoFlow[];
  /** Its SO_REUSEPORT group, member by member; absent for one plain socket. */
  group?: { members: UdpGroupMember[]; spread: GroupSpread };
}

/**
 * Any workload result.
 *
 * @example
 * ```ts
 * import type { WorkloadResult } from "./results.ts";
 * function headline(r: WorkloadResult): string {
 *   switch (r.kind) {
 *     case "udpProbe":
 *       return `loss ${(r.loss * 100).toFixed(2)}%`;
 *     case "tcpProbe":
 *     case "reconnectStorm":
 *       return `${r.errors.timedOut} timed out`;
 *     default:
 *       return r.kind;
 *   }
 * }
 * ```
 */
export type WorkloadResult =
  | UdpProbeResult
  | UdpEchoResult
  | TcpEchoResult
  | TcpProbeResult
  | ReconnectStormResult
  | BindChurnResult
  | ExecResult;
