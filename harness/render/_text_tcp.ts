// TCP probes and echoes in the text report: the probes' table and an echo's line with its
// SO_REUSEPORT group.

import { formatDuration } from "../core/duration.ts";
import type { WorkloadReport } from "../runner/report.ts";
import type { LatencySummary } from "../measure/histogram.ts";
import type { TcpEchoResult, TcpGroupMember, TcpProbeResult } from "../measure/tcp_results.ts";
import { errorList, groupLines, percent, table, type TextOptions } from "./_text_common.ts";

/** The TCP probes' table, a row per probe. */
export function tcpProbeLines(workloads: WorkloadReport[], options: TextOptions): string[] {
  const lines: string[] = [];
  const tcpProbes = workloads.filter((w) => w.result?.kind === "tcpProbe");
  if (tcpProbes.length > 0) {
    const rows = tcpProbes.map((w) => tcpProbeRow(w.name, w.host, w.result as TcpProbeResult));
    lines.push("", ...table(TCP_PROBE_COLUMNS, rows, options).map((l) => `  ${l}`));
  }
  return lines;
}

/** A TCP echo's line, and its SO_REUSEPORT group's. */
export function tcpEchoLines(name: string, host: string, r: TcpEchoResult): string[] {
  const errors = errorList(r.errors);
  return [
    `  ${name} on ${host} (${r.address}): ${r.connections} connections (at most ${r.maxConcurrent} at once), ${r.bytes} bytes${
      errors ? `, errors: ${errors}` : ""
    }`,
    ...(r.group ? groupLines(r.group.spread, r.group.members.map(tcpMemberText)) : []),
  ];
}

function tcpMemberText(m: TcpGroupMember): string {
  return `member ${m.member}${
    m.state === "stopped" ? " (stopped)" : ""
  }: ${m.connections} connection(s) (${percent(m.share)}), ${m.bytes} bytes`;
}

const TCP_PROBE_COLUMNS = [
  "tcp flow",
  "requests",
  "answered",
  "failed",
  "connects",
  "conn fail",
  "connect p50",
  "p99",
  "rtt p50",
  "p99",
  "max",
  "errors",
];

function tcpProbeRow(name: string, host: string, r: TcpProbeResult): string[] {
  const at = (summary: LatencySummary, ns: number) =>
    summary.count === 0 ? "-" : formatDuration(ns / 1e6);
  return [
    `${name} ${host}→${r.address}`,
    String(r.requests),
    String(r.responses),
    String(r.failed),
    String(r.connects),
    String(r.connectFailures),
    at(r.connectSummary, r.connectSummary.p50),
    at(r.connectSummary, r.connectSummary.p99),
    at(r.rttSummary, r.rttSummary.p50),
    at(r.rttSummary, r.rttSummary.p99),
    at(r.rttSummary, r.rttSummary.max),
    errorList(r.errors) || "-",
  ];
}
