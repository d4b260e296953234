/**
 * The terminal report: a header describing every host, link and workload in one line,
 * a table per flow, then checks and thresholds. Colour only when asked (on a TTY).
 *
 * @module
 */

import { styleText } from "node:util";
import { formatDuration } from "./duration.ts";
import type { RunEvent } from "./runner.ts";
import type { RunReport, ScenarioReport, ScenarioStatus } from "./report.ts";
import type { LedgerEntry, LossLedger, UdpEchoResult, UdpProbeResult } from "./results.ts";

/** How to render. */
export interface TextOptions {
  /** Use ANSI colours. */
  color: boolean;
}

type Style = Parameters<typeof styleText>[0];

function paint(options: TextOptions, style: Style, text: string): string {
  return options.color ? styleText(style, text, { validateStream: false }) : text;
}

/** Renders a run event as a progress line, or undefined for events that print nothing. */
export function formatEvent(event: RunEvent, options: TextOptions): string | undefined {
  const dim = (s: string) => paint(options, "dim", s);
  switch (event.type) {
    case "setup": {
      const lines = [
        paint(options, "bold", `▶ ${event.scenario}`) +
        dim(`  (run ${event.runId}, ${event.backend})`),
      ];
      for (const link of event.plan.links) {
        lines.push(
          `  link   ${link.hosts[0]} ↔ ${link.hosts[1]}  ${link.subnet}  ${
            dim(`${link.interfaces[0]} ↔ ${link.interfaces[1]}`)
          }`,
        );
      }
      return lines.join("\n");
    }
    case "ready":
      return [
        ...event.hosts.map((h) => {
          const ends = h.interfaces.map((i) => `${i.name} ${i.address} → ${i.peerHost}`).join(", ");
          return `  host   ${h.name.padEnd(10)} ${h.address.padEnd(12)} ${
            dim(`agent pid ${h.agentPid}`)
          }${ends ? dim(`  ${ends}`) : ""}`;
        }),
        dim(`  ready in ${formatDuration(event.setupMs)}`),
      ].join("\n");
    case "workload-started":
      return `  start  ${event.name} on ${event.host}: ${event.description}`;
    case "workload-ended":
      return event.status === "failed"
        ? paint(options, "red", `  failed ${event.name} on ${event.host}`)
        : undefined;
    case "log":
      return dim(`  log    ${event.message}`);
    case "fault-applied":
      return `  fault  #${event.id} ${event.description}`;
    case "fault-removed":
      return dim(`  fault  #${event.id} removed (dropped ${event.dropped})`);
    case "progress":
      return event.flows.map((f) =>
        dim(
          `  …${
            formatDuration(event.elapsedMs).padStart(6)
          }  ${f.name} on ${f.host}: sent ${f.sent}, delivered ${f.delivered}, loss ${
            (f.loss * 100).toFixed(2)
          }%, p99 ${formatDuration(f.p99Ns / 1e6)}`,
        )
      ).join("\n") || undefined;
    case "teardown":
      return undefined;
  }
}

/** Renders the results of one scenario: flows, servers, thresholds, checks, errors. */
export function formatScenarioReport(report: ScenarioReport, options: TextOptions): string {
  const lines: string[] = [];
  const probes = report.workloads.filter((w) => w.result?.kind === "udpProbe");
  if (probes.length > 0) {
    const rows = probes.map((w) => probeRow(w.name, w.host, w.result as UdpProbeResult));
    lines.push("", ...table(PROBE_COLUMNS, rows, options).map((l) => `  ${l}`));
  }
  for (const w of report.workloads) {
    if (w.result?.kind !== "udpProbe") continue;
    const r = w.result as UdpProbeResult;
    if (r.ledger) lines.push(...formatLedger(w.name, r.ledger, options));
    for (const o of r.outages) {
      lines.push(
        paint(
          options,
          "yellow",
          `  ${w.name}: outage from +${formatDuration(o.fromMs)} to +${
            formatDuration(o.toMs)
          } (${o.sent} datagrams unanswered); answered again from +${formatDuration(o.toMs)}`,
        ),
      );
    }
  }
  for (const w of report.workloads) {
    if (w.result?.kind === "udpEcho") {
      const r = w.result as UdpEchoResult;
      const errors = Object.entries(r.sendErrors).map(([k, v]) => `${k} ${v}`).join(", ");
      lines.push(
        `  ${w.name} on ${w.host} (${r.address}): received ${r.received}, replied ${r.replied}, ${r.flows.length} flow(s)${
          errors ? `, send errors: ${errors}` : ""
        }`,
      );
    }
    if (w.result?.kind === "udpProbe") {
      const r = w.result as UdpProbeResult;
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
      if (r.echoReceived === null && r.sent > 0) {
        lines.push(
          paint(
            options,
            "dim",
            `  ${w.name}: the target is not a squall udpEcho, so loss is not split by direction`,
          ),
        );
      }
    }
    if (w.status === "failed") {
      lines.push(paint(options, "red", `  ✗ ${w.name} on ${w.host} failed: ${w.error}`));
    }
  }
  if (report.thresholds.length + report.checks.length > 0) lines.push("");
  for (const t of report.thresholds) {
    const mark = t.ok ? paint(options, "green", "✓") : paint(options, "red", "✗");
    const text = `${t.key} ${t.expression.trim()}`;
    lines.push(
      `  ${mark} ${text.padEnd(32)} ${t.measured}${
        t.ok ? "" : paint(options, "red", `  ${t.reason}`)
      }`,
    );
  }
  for (const c of report.checks) {
    const mark = c.ok ? paint(options, "green", "✓") : paint(options, "red", "✗");
    lines.push(
      `  ${mark} check: ${c.name}${c.detail ? paint(options, "dim", ` (${c.detail})`) : ""}`,
    );
  }
  for (const e of report.errors) {
    lines.push(paint(options, "red", `  error: ${e.replaceAll("\n", "\n    ")}`));
  }
  lines.push(
    `  ${statusWord(report.status, options)} ${report.name} ${
      paint(options, "dim", `in ${formatDuration(report.durationMs)}`)
    }`,
  );
  return lines.join("\n");
}

/** Renders the last line of a run: scenarios by outcome. */
export function formatSummary(report: RunReport, options: TextOptions): string {
  const s = report.summary;
  const parts = [`${s.passed} passed`, `${s.failed} failed`];
  if (s.error > 0) parts.push(`${s.error} errors`);
  if (s.interrupted > 0) parts.push(`${s.interrupted} interrupted`);
  const text = `scenarios: ${parts.join(", ")} (${formatDuration(report.durationMs)})`;
  const ok = s.failed + s.error + s.interrupted === 0;
  return "\n" + paint(options, ok ? "green" : "red", text);
}

/** The ledger of a flow: one line per direction, and a loud line if anything is unexplained. */
function formatLedger(name: string, ledger: LossLedger, options: TextOptions): string[] {
  const line = (label: string, e: LedgerEntry) => {
    const causes = [
      ...e.droppedByFault.map((d) => `${d.packets} by fault #${d.fault}`),
      ...(e.receiveBufferOverflow ? [`${e.receiveBufferOverflow} receive buffer overflow`] : []),
      ...(e.noSocket ? [`${e.noSocket} no socket`] : []),
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

function statusWord(status: ScenarioStatus, options: TextOptions): string {
  switch (status) {
    case "passed":
      return paint(options, ["bold", "green"], "PASSED");
    case "failed":
      return paint(options, ["bold", "red"], "FAILED");
    case "error":
      return paint(options, ["bold", "red"], "ERROR ");
    case "interrupted":
      return paint(options, ["bold", "yellow"], "INTERRUPTED");
  }
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

function table(header: string[], rows: string[][], options: TextOptions): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  ");
  return [paint(options, "dim", line(header)), ...rows.map(line)];
}
