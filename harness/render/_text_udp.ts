// UDP probes and echoes in the text report: the probes' table with one-way rows, the loss
// ledger (where every lost datagram went), outages, how each probe measured, and an echo's
// line with its SO_REUSEPORT group.

import { formatDuration } from "../core/duration.ts";
import type { WorkloadReport } from "../runner/report.ts";
import type {
  LedgerEntry,
  LossLedger,
  OneWayDirection,
  UdpEchoResult,
  UdpGroupMember,
  UdpProbeResult,
} from "../measure/results.ts";
import { groupLines, paint, percent, table, type TextOptions } from "./_text_common.ts";

/** The UDP probes' table (a row per probe, then its one-way rows), their ledgers and outages. */
export function udpProbeLines(workloads: WorkloadReport[], options: TextOptions): string[] {
  const lines: string[] = [];
  const probes = workloads.filter((w) => w.result?.kind === "udpProbe");
  if (probes.length > 0) {
    const rows = probes.flatMap((w) => {
      const r = w.result as UdpProbeResult;
      return [probeRow(w.name, w.host, r), ...oneWayRows(r)];
    });
    lines.push("", ...table(PROBE_COLUMNS, rows, options).map((l) => `  ${l}`));
  }
  for (const w of workloads) {
    if (w.result?.kind !== "udpProbe") continue;
    const r = w.result as UdpProbeResult;
    if (r.ledger) lines.push(...formatLedger(w.name, r.ledger, options));
    for (const o of r.outages) {
      lines.push(
        paint(
          options,
          "yellow",
          o.recovered
            ? `  ${w.name}: outage from +${formatDuration(o.fromMs)} to +${
              formatDuration(o.toMs)
            } (${o.sent} datagrams unanswered); answered again from +${formatDuration(o.toMs)}`
            : `  ${w.name}: outage from +${
              formatDuration(o.fromMs)
            } until the probe ended (${o.sent} datagrams unanswered); never answered again`,
        ),
      );
    }
  }
  return lines;
}

/** A UDP echo's line, and its SO_REUSEPORT group's. */
export function udpEchoLines(name: string, host: string, r: UdpEchoResult): string[] {
  const lines: string[] = [];
  const errors = Object.entries(r.sendErrors).map(([k, v]) => `${k} ${v}`).join(", ");
  lines.push(
    `  ${name} on ${host} (${r.address}): received ${r.received}, replied ${r.replied}, ${r.flows.length} flow(s)${
      errors ? `, send errors: ${errors}` : ""
    }`,
  );
  if (r.group) lines.push(...groupLines(r.group.spread, r.group.members.map(udpMemberText)));
  return lines;
}

/** What a UDP probe's table does not say: send errors, a rate not held, how it measured. */
export function udpProbeNotes(
  w: WorkloadReport,
  r: UdpProbeResult,
  options: TextOptions,
): string[] {
  const lines: string[] = [];
  const errors = Object.entries(r.sendErrors).map(([k, v]) => `${k} ${v}`).join(", ");
  if (errors) lines.push(paint(options, "yellow", `  ${w.name}: send errors: ${errors}`));
  const asked = w.spec.kind === "udpProbe" && !w.spec.pingPong ? w.spec.rate : undefined;
  if (asked !== undefined && r.sent > 1 && r.achievedRate < asked * 0.95) {
    lines.push(paint(
      options,
      "yellow",
      `  ${w.name}: sent at ${
        Math.round(r.achievedRate)
      }/s, below the ${asked}/s asked: one probe cannot send faster here (split it into several)`,
    ));
  }
  lines.push(...probePathLines(w.name, r, options));
  if (r.echoReceived === null && r.sent > 0) {
    lines.push(
      paint(
        options,
        "dim",
        `  ${w.name}: the target is not a squall udpEcho, so loss is not split by direction`,
      ),
    );
  }
  return lines;
}

/** How a delay line's drop causes read after "by fault #N". */
const CAUSE_TEXT: Record<string, string> = {
  tailDrop: " (tail drop)",
  heldAtStop: " (held when its delay line stopped)",
  queueFull: " (its delay line's queue full)",
  overrun: " (its delay line's netlink socket overrun)",
};

function udpMemberText(m: UdpGroupMember): string {
  return `member ${m.member}${m.state === "stopped" ? " (stopped)" : ""}: ${m.flows} flow(s) (${
    percent(m.flowShare)
  }), received ${m.received} (${percent(m.datagramShare)}), replied ${m.replied}${
    m.discarded ? `, ${m.discarded} lost queued in its socket when it closed` : ""
  }`;
}

/** The ledger of a flow: one line per direction, and a loud line if anything is unexplained. */
function formatLedger(name: string, ledger: LossLedger, options: TextOptions): string[] {
  const line = (label: string, e: LedgerEntry) => {
    const causes = [
      ...e.droppedByFault.map((d) =>
        `${d.packets} by fault #${d.fault}${CAUSE_TEXT[d.cause ?? ""] ?? ""}`
      ),
      ...(e.receiveBufferOverflow ? [`${e.receiveBufferOverflow} receive buffer overflow`] : []),
      ...(e.noSocket ? [`${e.noSocket} no socket`] : []),
      ...(e.closedSocket ? [`${e.closedSocket} queued in a closed group member`] : []),
      ...(e.queueDropsNotSplit?.packets
        ? [
          `${e.queueDropsNotSplit.packets} by delay lines' queues, not split among flows (${
            e.queueDropsNotSplit.queues.map((q) =>
              `fault #${q.fault} dropped ${q.dropped} across ${q.flows} flows`
            ).join(", ")
          })`,
        ]
        : []),
      ...(e.unexplained ? [paint(options, ["bold", "red"], `${e.unexplained} UNEXPLAINED`)] : []),
    ];
    return `  ${name} ${label}: lost ${e.lost}${
      causes.length > 0 ? ` = ${causes.join(" + ")}` : ""
    }`;
  };
  const lines: string[] = [];
  if (ledger.outbound && ledger.return) {
    lines.push(line("out ", ledger.outbound), line("back", ledger.return));
  } else lines.push(line("lost", ledger.total));
  if (ledger.total.unexplained !== 0) {
    lines.push(paint(
      options,
      ["bold", "red"],
      `  ${name}: ${ledger.total.unexplained} lost datagrams have no known cause`,
    ));
  }
  if (ledger.kernelCountersShared) {
    lines.push(
      paint(
        options,
        "dim",
        `  ${name}: another probe shared these namespaces; kernel counts are shared`,
      ),
    );
  }
  return lines;
}

const PROBE_COLUMNS = [
  "flow",
  "sent",
  "delivered",
  "lost",
  "out/back",
  "late",
  "dup",
  "reord",
  "loss",
  "p50",
  "p90",
  "p99",
  "p99.9",
  "max",
];

function probeRow(name: string, host: string, r: UdpProbeResult): string[] {
  const us = (ns: number) => r.rttSummary.count === 0 ? "-" : formatDuration(ns / 1e6);
  const split = r.lostOutbound === null ? "?" : `${r.lostOutbound}/${r.lostReturn}`;
  return [
    `${name} ${host}→${r.address}`,
    String(r.sent),
    String(r.delivered),
    String(r.lost),
    split,
    String(r.late),
    String(r.duplicated),
    String(r.reordered),
    `${(r.loss * 100).toFixed(2)}%`,
    us(r.rttSummary.p50),
    us(r.rttSummary.p90),
    us(r.rttSummary.p99),
    us(r.rttSummary.p999),
    us(r.rttSummary.max),
  ];
}

/** The one-way rows below a probe's row: each direction's loss, late, dup, reord, delays. */
function oneWayRows(r: UdpProbeResult): string[][] {
  const o = r.oneWay;
  if (!o) return [];
  const row = (label: string, d: OneWayDirection, lost: number | null) => {
    const t = (ns: number) => d.delaySummary.count === 0 ? "-" : formatDuration(ns / 1e6);
    return [
      `  ${label} (one way)`,
      "",
      "",
      lost === null ? "?" : String(lost),
      "",
      String(d.late),
      String(d.duplicated),
      String(d.reordered),
      "",
      t(d.delaySummary.p50),
      t(d.delaySummary.p90),
      t(d.delaySummary.p99),
      t(d.delaySummary.p999),
      t(d.delaySummary.max),
    ];
  };
  return [row("out", o.forward, r.lostOutbound), row("back", o.return, r.lostReturn)];
}

/** Which probe measured, what it cost, and whether it held its rate. */
function probePathLines(name: string, r: UdpProbeResult, options: TextOptions): string[] {
  const lines: string[] = [];
  if (r.measuredBy === "deno") {
    lines.push(paint(
      options,
      "dim",
      `  ${name}: measured on Deno's sockets (this agent may not load libc): times include event-loop wake-ups, one-way delay not measured`,
    ));
    return lines;
  }
  const clock = r.clock.send === "kernel" && r.clock.receive === "kernel"
    ? "the kernel's socket timestamps"
    : `send times from ${
      r.clock.send === "kernel" ? "the kernel" : "user space"
    }, receive times from ${r.clock.receive === "kernel" ? "the kernel" : "user space"}`;
  const echo = r.oneWay
    ? `, the echo's own time p50 ${formatDuration(r.oneWay.echo.timeSummary.p50 / 1e6)}`
    : r.sent > 0
    ? ", one-way delay not measured (the echo does not stamp its replies)"
    : "";
  const cpu = r.cpu ? `, CPU ${(r.cpu.share * 100).toFixed(0)}% of a core` : "";
  lines.push(paint(options, "dim", `  ${name}: measured natively (${clock})${echo}${cpu}`));
  const p = r.pacing;
  if (p && r.sent > 0 && p.misses > r.sent / 100) {
    lines.push(paint(
      options,
      "yellow",
      `  ${name}: pacing missed: ${p.misses} of ${r.sent} datagrams went out more than ${
        formatDuration(p.toleranceNs / 1e6)
      } after their time (p99 ${formatDuration(p.lateness.p99 / 1e6)}): the machine was busy`,
    ));
  }
  return lines;
}
