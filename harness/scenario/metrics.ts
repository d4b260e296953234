/**
 * The metrics a threshold can name, by workload kind, and how to read each one from a
 * workload result. An unknown name is an error, never a silent pass.
 *
 * @module
 */

import { longestOutageMs } from "../measure/outages.ts";
import type { WorkloadKind } from "../workloads/kinds.ts";
import { CONNECT_ERROR_KINDS } from "../measure/connect_errors.ts";
import type { HistogramData, LatencySummary } from "../measure/histogram.ts";
import type { UdpEchoResult, UdpProbeResult, WorkloadResult } from "../measure/results.ts";
import type { BindChurnResult, ExecResult } from "../measure/bind_results.ts";
import type {
  ErrorCounts,
  ReconnectStormResult,
  TcpEchoResult,
  TcpProbeResult,
} from "../measure/tcp_results.ts";

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
  /**
   * For a ratio that is a proportion (`lost / sent`): the counts behind it, for a
   * Clopper-Pearson interval (`"< 2% @95"`); null when not measured. Absent: the
   * metric is no proportion.
   */
  proportion?(result: R): Proportion | null;
  /**
   * For a percentile: the histogram it is read from and which quantile, for an
   * order-statistic interval (`"< 5ms @95"`); null when not measured. Absent: the
   * metric is no percentile.
   */
  quantile?(result: R): QuantileSample | null;
  /**
   * What the trials of `proportion` or the samples of `quantile` are, plural, for
   * messages: `need at least 149 datagrams`.
   *
   * @default {"samples"}
   */
  sample?: string;
}

/** The counts behind a proportion: `successes / trials`, as in lost datagrams / sent. */
export interface Proportion {
  /** The events the ratio counts: lost datagrams, failed requests. */
  successes: number;
  /** The trials they are counted out of: datagrams sent, requests. */
  trials: number;
}

/** A quantile of a latency histogram, as a percentile metric reads it. */
export interface QuantileSample {
  /** The histogram, in nanoseconds (the metric is in milliseconds). */
  histogram: HistogramData;
  /** The quantile, above 0 and below 1: 0.99 for p99. */
  q: number;
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
  loss: {
    unit: "ratio",
    description: "lost / sent",
    read: (r) => r.loss,
    proportion: (r) => ({ successes: r.lost, trials: r.sent }),
    sample: "datagrams",
  },
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
    description: "lost to faults (XDP dropper drops, a rate limit's tail drops)",
    read: (r) => r.ledger?.total.droppedByFault.reduce((n, d) => n + d.packets, 0) ?? null,
  },
  "lost.overflow": {
    unit: "count",
    description: "lost to full socket receive buffers",
    read: (r) => r.ledger?.total.receiveBufferOverflow ?? null,
  },
  "lost.closedSocket": {
    unit: "count",
    description: "lost queued in a SO_REUSEPORT group member's socket when it was stopped",
    read: (r) => r.ledger ? r.ledger.total.closedSocket ?? 0 : null,
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
  "rtt.p50": rtt("median round-trip time", (r) => r.rttSummary.p50, 0.5),
  "rtt.p90": rtt("90th percentile round-trip time", (r) => r.rttSummary.p90, 0.9),
  "rtt.p99": rtt("99th percentile round-trip time", (r) => r.rttSummary.p99, 0.99),
  "rtt.p99.9": rtt("99.9th percentile round-trip time", (r) => r.rttSummary.p999, 0.999),
  "rtt.max": rtt("largest round-trip time", (r) => r.rttSummary.max),
  ...oneWayMetrics("forward", "on the way to the echo"),
  ...oneWayMetrics("return", "on the way back"),
  "owd.echo.p50": echoTime("median", 0.5, (s) => s.p50),
  "owd.echo.p99": echoTime("99th percentile", 0.99, (s) => s.p99),
  "pacing.misses": {
    unit: "count",
    description: "datagrams sent later than their time allowed (needs the native probe)",
    read: (r) => r.pacing?.misses ?? null,
  },
};

/** `owd.echo.*`: the echo's own time, from its kernel receive time to its reply. */
function echoTime(
  what: string,
  q: number,
  readNs: (s: LatencySummary) => number,
): MetricDefinition<UdpProbeResult> {
  const echo = (r: UdpProbeResult) =>
    r.oneWay && r.oneWay.echo.timeSummary.count > 0 ? r.oneWay.echo : null;
  return {
    unit: "duration",
    description:
      `${what} of the echo's own time, kernel receive to reply (needs the native probe and a squall udpEcho)`,
    read: (r) => {
      const e = echo(r);
      return e ? readNs(e.timeSummary) / NS_PER_MS : null;
    },
    quantile: (r) => {
      const e = echo(r);
      return e ? { histogram: e.time, q } : null;
    },
    sample: "replies",
  };
}

/** `owd.<direction>.*`: one-way delay percentiles and the direction's late, reordered, duplicated. */
function oneWayMetrics(
  direction: "forward" | "return",
  where: string,
): Record<string, MetricDefinition<UdpProbeResult>> {
  const of = (r: UdpProbeResult) => r.oneWay?.[direction] ?? null;
  const needs = "(needs the native probe and a squall udpEcho)";
  const at = (
    name: string,
    description: string,
    readNs: (s: LatencySummary) => number,
    q?: number,
  ): [string, MetricDefinition<UdpProbeResult>] => {
    const definition: MetricDefinition<UdpProbeResult> = {
      unit: "duration",
      description: `${description} one-way delay ${where} ${needs}`,
      read: (r) => {
        const d = of(r);
        return d === null || d.delaySummary.count === 0 ? null : readNs(d.delaySummary) / NS_PER_MS;
      },
    };
    if (q !== undefined) {
      definition.quantile = (r) => {
        const d = of(r);
        return d === null || d.delaySummary.count === 0 ? null : { histogram: d.delay, q };
      };
      definition.sample = "replies";
    }
    return [`owd.${direction}.${name}`, definition];
  };
  const count = (
    name: "late" | "reordered" | "duplicated",
    description: string,
  ): [string, MetricDefinition<UdpProbeResult>] => [
    `owd.${direction}.${name}`,
    {
      unit: "count",
      description: `${description} ${where} ${needs}`,
      read: (r) => of(r)?.[name] ?? null,
    },
  ];
  return Object.fromEntries([
    at("min", "smallest", (s) => s.min),
    at("mean", "mean", (s) => s.mean),
    at("p50", "median", (s) => s.p50, 0.5),
    at("p90", "90th percentile", (s) => s.p90, 0.9),
    at("p99", "99th percentile", (s) => s.p99, 0.99),
    at("p99.9", "99.9th percentile", (s) => s.p999, 0.999),
    at("max", "largest", (s) => s.max),
    count("late", "late replies whose delay was mostly"),
    count("reordered", "datagrams that fell behind"),
    count("duplicated", "datagrams duplicated"),
  ]);
}

const echo: Record<string, MetricDefinition<UdpEchoResult>> = {
  received: { unit: "count", description: "datagrams received", read: (r) => r.received },
  replied: { unit: "count", description: "datagrams sent back", read: (r) => r.replied },
  "group.idle": {
    unit: "count",
    description: "SO_REUSEPORT group members that saw no probe flow (needs group)",
    read: (r) => r.group?.spread.idle ?? null,
  },
  "group.maxOverEven": {
    unit: "count",
    description: "largest member's share of flows over an even share, 1 is even (needs group)",
    read: (r) => r.group?.spread.maxOverEven ?? null,
  },
  "group.discarded": {
    unit: "count",
    description: "datagrams lost queued in stopped members' sockets (needs group)",
    read: (r) => r.group ? r.group.members.reduce((n, m) => n + m.discarded, 0) : null,
  },
};

const tcpEcho: Record<string, MetricDefinition<TcpEchoResult>> = {
  connections: { unit: "count", description: "connections accepted", read: (r) => r.connections },
  "connections.max": {
    unit: "count",
    description: "most connections open at once",
    read: (r) => r.maxConcurrent,
  },
  bytes: { unit: "count", description: "bytes echoed", read: (r) => r.bytes },
  "group.idle": {
    unit: "count",
    description: "SO_REUSEPORT group members that accepted no connection (needs group)",
    read: (r) => r.group?.spread.idle ?? null,
  },
  "group.maxOverEven": {
    unit: "count",
    description:
      "largest member's share of connections over an even share, 1 is even (needs group)",
    read: (r) => r.group?.spread.maxOverEven ?? null,
  },
};

const tcpProbe: Record<string, MetricDefinition<TcpProbeResult>> = {
  requests: { unit: "count", description: "requests sent", read: (r) => r.requests },
  responses: {
    unit: "count",
    description: "requests answered in full within the timeout",
    read: (r) => r.responses,
  },
  failed: { unit: "count", description: "requests not answered", read: (r) => r.failed },
  "failure.rate": {
    unit: "ratio",
    description: "failed / requests",
    read: (r) => r.failureRate,
    proportion: (r) => ({ successes: r.failed, trials: r.requests }),
    sample: "requests",
  },
  connects: { unit: "count", description: "connection attempts", read: (r) => r.connects },
  "connects.failed": {
    unit: "count",
    description: "connection attempts that failed",
    read: (r) => r.connectFailures,
  },
  ...errorMetrics<TcpProbeResult>(),
  ...latencyMetrics<TcpProbeResult>(
    "connect",
    "connect time",
    "connects",
    (r) => r.connectSummary,
    (r) => r.connectTime,
  ),
  ...latencyMetrics<TcpProbeResult>(
    "rtt",
    "request-response time",
    "responses",
    (r) => r.rttSummary,
    (r) => r.rtt,
  ),
};

const storm: Record<string, MetricDefinition<ReconnectStormResult>> = {
  attempts: { unit: "count", description: "connection attempts", read: (r) => r.attempts },
  successes: {
    unit: "count",
    description: "attempts whose cycle succeeded",
    read: (r) => r.successes,
  },
  failures: { unit: "count", description: "attempts that failed", read: (r) => r.failures },
  "failure.rate": {
    unit: "ratio",
    description: "failures / attempts",
    read: (r) => r.attempts === 0 ? 0 : r.failures / r.attempts,
    proportion: (r) => ({ successes: r.failures, trials: r.attempts }),
    sample: "attempts",
  },
  ...errorMetrics<ReconnectStormResult>(),
  ...latencyMetrics<ReconnectStormResult>(
    "connect",
    "connect time",
    "connects",
    (r) => r.connectSummary,
    (r) => r.connectTime,
  ),
  "burst.max": {
    unit: "count",
    description: "most attempts in flight at the same moment",
    read: (r) => r.maxConcurrentAttempts,
  },
  recovery: {
    unit: "duration",
    description: "after the last fault on its path ended, time until every client was served",
    read: (r) => r.recoveryMs,
  },
  "unserved.longest": {
    unit: "duration",
    description: "longest time some client could not get served",
    read: (r) =>
      r.unservedPeriods.length === 0 ? 0 : Math.max(
        ...r.unservedPeriods.map((p) => (p.endMs ?? r.startedAt + r.durationMs) - p.startMs),
      ),
  },
  "unserved.count": {
    unit: "count",
    description: "times some client could not get served",
    read: (r) => r.unservedPeriods.length,
  },
  timeWait: {
    unit: "count",
    description: "TIME_WAIT sockets to the target left when it ended",
    read: (r) => r.timeWait,
  },
};

const churn: Record<string, MetricDefinition<BindChurnResult>> = {
  cycles: { unit: "count", description: "bind-close cycles done", read: (r) => r.cycles },
  attempts: { unit: "count", description: "bind() calls", read: (r) => r.attempts },
  failures: { unit: "count", description: "bind() calls that failed", read: (r) => r.failures },
  "failures.addressInUse": {
    unit: "count",
    description: "bind() calls that failed with EADDRINUSE",
    read: (r) => r.errors["EADDRINUSE"] ?? 0,
  },
  rate: { unit: "count", description: "cycles per second", read: (r) => r.rate },
  ...latencyMetrics<BindChurnResult>(
    "rebind",
    "time from a close to a successful rebind, of cycles that needed a retry",
    "rebinds",
    (r) => r.rebindSummary,
    (r) => r.rebind,
  ),
};

const program: Record<string, MetricDefinition<ExecResult>> = {
  runs: { unit: "count", description: "times it was started", read: (r) => r.runs.length },
  orphans: {
    unit: "count",
    description: "processes that outlived it (a restart or stop with keepChildren left them)",
    read: (r) => r.orphans?.length ?? 0,
  },
  exitCode: {
    unit: "count",
    description: "exit code of its last run (null while running or ended by a signal)",
    read: (r) => r.runs.at(-1)?.exitCode ?? null,
  },
  ready: {
    unit: "duration",
    description: "time from start to ready, of its last run",
    read: (r) => r.runs.at(-1)?.readyMs ?? null,
  },
  bindFailures: {
    unit: "count",
    description: "failed binds of its processes (needs the bind watch)",
    read: (r) => r.bindFailures?.length ?? null,
  },
  "bindFailures.addressInUse": {
    unit: "count",
    description: "binds of its processes that failed with EADDRINUSE (needs the bind watch)",
    read: (r) => r.bindFailures?.filter((f) => f.error === "EADDRINUSE").length ?? null,
  },
};

/** Every metric, by workload kind. */
export const METRICS: { [K in WorkloadKind]: Record<string, MetricDefinition> } = {
  udpProbe: probe as Record<string, MetricDefinition>,
  udpEcho: echo as Record<string, MetricDefinition>,
  tcpEcho: tcpEcho as Record<string, MetricDefinition>,
  tcpProbe: tcpProbe as Record<string, MetricDefinition>,
  reconnectStorm: storm as Record<string, MetricDefinition>,
  bindChurn: churn as Record<string, MetricDefinition>,
  exec: program as Record<string, MetricDefinition>,
};

function errorMetrics<R extends WorkloadResult & { errors: ErrorCounts }>(): Record<
  string,
  MetricDefinition<R>
> {
  return Object.fromEntries(CONNECT_ERROR_KINDS.map((kind) => [
    `errors.${kind}`,
    {
      unit: "count",
      description: `failures of kind ${kind}`,
      read: (r: R) => r.errors[kind],
    } satisfies MetricDefinition<R>,
  ]));
}

function latencyMetrics<R extends WorkloadResult>(
  prefix: string,
  what: string,
  samples: string,
  summary: (r: R) => LatencySummary,
  histogram: (r: R) => HistogramData,
): Record<string, MetricDefinition<R>> {
  const at = (
    description: string,
    readNs: (s: LatencySummary) => number,
    q?: number,
  ): MetricDefinition<R> => {
    const definition: MetricDefinition<R> = {
      unit: "duration",
      description: `${description} ${what}`,
      read: (r) => {
        const s = summary(r);
        return s.count === 0 ? null : readNs(s) / NS_PER_MS;
      },
    };
    if (q === undefined) return definition;
    return {
      ...definition,
      quantile: (r) => summary(r).count === 0 ? null : { histogram: histogram(r), q },
      sample: samples,
    };
  };
  return {
    [`${prefix}.p50`]: at("median", (s) => s.p50, 0.5),
    [`${prefix}.p90`]: at("90th percentile", (s) => s.p90, 0.9),
    [`${prefix}.p99`]: at("99th percentile", (s) => s.p99, 0.99),
    [`${prefix}.max`]: at("largest", (s) => s.max),
  };
}

/** Every metric name of any kind. */
export const ALL_METRIC_NAMES: readonly string[] = [
  ...new Set(Object.values(METRICS).flatMap((m) => Object.keys(m))),
];

function rtt(
  description: string,
  readNs: (r: UdpProbeResult) => number,
  q?: number,
): MetricDefinition<UdpProbeResult> {
  const definition: MetricDefinition<UdpProbeResult> = {
    unit: "duration",
    description,
    read: (r) => r.rttSummary.count === 0 ? null : readNs(r) / NS_PER_MS,
  };
  if (q === undefined) return definition;
  return {
    ...definition,
    quantile: (r) => r.rttSummary.count === 0 ? null : { histogram: r.rtt, q },
    sample: "replies",
  };
}
