/**
 * What workloads report: plain data, sent from agents to the runner as JSON and kept
 * as it is in the report.
 *
 * @module
 */

import type { HistogramData, LatencySummary } from "./histogram.ts";
import type { Outage } from "./outages.ts";

/** Loss over time: counts per interval, by the time a datagram was sent. */
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

/** The result of a UDP probe flow. */
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
}

/** Lost datagrams of one direction (or of both), by cause. */
export interface LedgerEntry {
  /** Datagrams lost. */
  lost: number;
  /** Dropped by faults, by fault id (see the report's `faults`). */
  droppedByFault: { fault: number; description: string; packets: number }[];
  /** Dropped because the receiving socket's buffer was full (nstat UdpRcvbufErrors). */
  receiveBufferOverflow: number;
  /** Dropped because no socket was bound to the port (nstat UdpNoPorts). */
  noSocket: number;
  /** Lost for no known reason: lost minus every cause above. 0 in a controlled run. */
  unexplained: number;
}

/**
 * The loss ledger of a probe flow: `sent = delivered + late + lost`, and per direction
 * `lost = dropped by faults + receive buffer overflow + no socket + unexplained`.
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

/** What a UDP echo saw of one probe flow. */
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
}

/** The result of a UDP echo server. */
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
}

/** Any workload result. */
export type WorkloadResult = UdpProbeResult | UdpEchoResult;
