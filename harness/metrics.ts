/**
 * The metrics a threshold can name, by workload kind, and how to read each one from a
 * workload result. An unknown name is an error, never a silent pass.
 *
 * @module
 */

import { longestOutageMs } from "./outages.ts";
import type { WorkloadKind } from "./workloads.ts";
import type { UdpEchoResult, UdpProbeResult, WorkloadResult } from "./results.ts";

/** What a metric measures, which decides the units a threshold may use. */
export type MetricUnit = "count" | "ratio" | "duration";

/** One metric: its unit, a description, and how to read it (null: not measured). */
export interface MetricDefinition<R extends WorkloadResult = WorkloadResult> {
  /** Its unit. Durations are read in milliseconds, ratios as 0-1. */
  unit: MetricUnit;
  /** One line for the reference. */
  description: string;
  /** Reads it from a result; null when the run could not measure it. */
  read(result: R): number | null;
}

const NS_PER_MS = 1e6;

const probe: Record<string, MetricDefinition<UdpProbeResult>> = {
  sent: { unit: "count", description: "datagrams sent", read: (r) => r.sent },
  delivered: {
    unit: "count",
    description: "datagrams answered within the timeout",
    read: (r) => r.delivered,
  },
  lost: { unit: "count", description: "datagrams never answered", read: (r) => r.lost },
  loss: { unit: "ratio", description: "lost / sent", read: (r) => r.loss },
  "lost.outbound": {
    unit: "count",
    description: "lost on the way to the echo (needs a squall udpEcho)",
    read: (r) => r.lostOutbound,
  },
  "lost.return": {
    unit: "count",
    description: "lost on the way back (needs a squall udpEcho)",
    read: (r) => r.lostReturn,
  },
  late: { unit: "count", description: "answered after the timeout", read: (r) => r.late },
  "lost.dropped": {
    unit: "count",
    description: "lost to faults (the XDP dropper)",
    read: (r) => r.ledger?.total.droppedByFault.reduce((n, d) => n + d.packets, 0) ?? null,
  },
  "lost.overflow": {
    unit: "count",
    description: "lost to full socket receive buffers",
    read: (r) => r.ledger?.total.receiveBufferOverflow ?? null,
  },
  "lost.unexplained": {
    unit: "count",
    description: "lost for no known reason (0 in a controlled run)",
    read: (r) => r.ledger?.total.unexplained ?? null,
  },
  duplicated: { unit: "count", description: "replies seen twice", read: (r) => r.duplicated },
  "lost.outbound.burst": {
    unit: "count",
    description: "mean run of consecutive datagrams lost on the way to the echo",
    read: (r) =>
      r.outboundLossRuns && r.outboundLossRuns.runs > 0
        ? r.outboundLossRuns.packets / r.outboundLossRuns.runs
        : r.outboundLossRuns
        ? 0
        : null,
  },
  "outage.longest": {
    unit: "duration",
    description: "longest time with nothing answered (timeline resolution)",
    read: (r) => longestOutageMs(r.outages),
  },
  "outage.count": {
    unit: "count",
    description: "number of outages",
    read: (r) => r.outages.length,
  },
  reordered: { unit: "count", description: "replies out of order", read: (r) => r.reordered },
  "rtt.min": rtt("smallest round-trip time", (r) => r.rttSummary.min),
  "rtt.mean": rtt("mean round-trip time", (r) => r.rttSummary.mean),
  "rtt.p50": rtt("median round-trip time", (r) => r.rttSummary.p50),
  "rtt.p90": rtt("90th percentile round-trip time", (r) => r.rttSummary.p90),
  "rtt.p99": rtt("99th percentile round-trip time", (r) => r.rttSummary.p99),
  "rtt.p99.9": rtt("99.9th percentile round-trip time", (r) => r.rttSummary.p999),
  "rtt.max": rtt("largest round-trip time", (r) => r.rttSummary.max),
};

const echo: Record<string, MetricDefinition<UdpEchoResult>> = {
  received: { unit: "count", description: "datagrams received", read: (r) => r.received },
  replied: { unit: "count", description: "datagrams sent back", read: (r) => r.replied },
};

/** Every metric, by workload kind. */
export const METRICS: { [K in WorkloadKind]: Record<string, MetricDefinition> } = {
  udpProbe: probe as Record<string, MetricDefinition>,
  udpEcho: echo as Record<string, MetricDefinition>,
};

/** Every metric name of any kind. */
export const ALL_METRIC_NAMES: readonly string[] = [
  ...new Set(Object.values(METRICS).flatMap((m) => Object.keys(m))),
];

function rtt(
  description: string,
  readNs: (r: UdpProbeResult) => number,
): MetricDefinition<UdpProbeResult> {
  return {
    unit: "duration",
    description,
    read: (r) => r.rttSummary.count === 0 ? null : readNs(r) / NS_PER_MS,
  };
}
