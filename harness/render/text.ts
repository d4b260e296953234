/**
 * The terminal report: a header describing every host, link and workload in one line,
 * a table per flow, then checks and thresholds. Colour only when asked (on a TTY).
 *
 * @module
 */

import type { LineTally } from "../runner/report.ts";
import { styleText } from "node:util";
import { formatDuration } from "../core/duration.ts";
import { escapeControls, terminalSafe } from "./terminal_safe.ts";
import type { FlowProgress, RunEvent } from "../runner/events.ts";
import type { RunReport, ScenarioReport, ScenarioStatus } from "../runner/report.ts";
import type { LatencySummary } from "../measure/histogram.ts";
import type {
  GroupSpread,
  LedgerEntry,
  LossLedger,
  OneWayDirection,
  UdpEchoResult,
  UdpGroupMember,
  UdpProbeResult,
  WorkloadResult,
} from "../measure/results.ts";
import type { ObservedBindFailure, PortHolder } from "../measure/bind_results.ts";
import type { TcpGroupMember, TcpProbeResult } from "../measure/tcp_results.ts";

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
export function formatEvent(raw: RunEvent, options: TextOptions): string | undefined {
  const event = terminalSafe(raw);
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
      return dim(
        `  fault  #${event.id} removed (${
          event.duplicated !== undefined
            ? `duplicated ${event.duplicated}`
            : `dropped ${event.dropped}`
        }${event.line ? lineText(event.line) : ""})`,
      );
    case "progress":
      return event.flows.map((f) =>
        dim(
          `  …${formatDuration(event.elapsedMs).padStart(6)}  ${f.name} on ${f.host}: ${
            formatProgressFigures(f, true)
          }`,
        )
      ).join("\n") || undefined;
    case "teardown":
      return undefined;
  }
}

/** How each kind of workload names its figures in progress output. */
const PROGRESS_WORDS: Record<
  FlowProgress["kind"],
  { sent: string; delivered: string; loss: string; p99: string }
> = {
  udpProbe: { sent: "sent", delivered: "delivered", loss: "loss", p99: "p99" },
  tcpProbe: { sent: "requests", delivered: "answered", loss: "failed", p99: "p99" },
  reconnectStorm: {
    sent: "attempts",
    delivered: "connected",
    loss: "failed",
    p99: "connect p99",
  },
  bindChurn: { sent: "binds", delivered: "bound", loss: "failed", p99: "rebind p99" },
};

/**
 * The figures of one running workload in progress output: `sent 6150, loss 0.02%, p99
 * 85us` (with `full`, also how many succeeded: `delivered 6149`). The p99 is `-` until
 * something succeeded.
 *
 * @example
 * ```ts
 * import { formatProgressFigures } from "./text.ts";
 * const storm = {
 *   name: "storm",
 *   host: "clients",
 *   kind: "reconnectStorm" as const,
 *   sent: 1200,
 *   delivered: 1163,
 *   loss: 0.0308,
 *   p99Ns: 2_000_000,
 * };
 * console.assert(
 *   formatProgressFigures(storm, false) === "attempts 1200, failed 3.08%, connect p99 2ms",
 * );
 * ```
 */
export function formatProgressFigures(f: FlowProgress, full: boolean): string {
  const words = PROGRESS_WORDS[f.kind];
  const delivered = full ? `, ${words.delivered} ${f.delivered}` : "";
  const p99 = f.sent > 0 && f.delivered > 0 ? formatDuration(f.p99Ns / 1e6) : "-";
  return `${words.sent} ${f.sent}${delivered}, ${words.loss} ${
    (f.loss * 100).toFixed(2)
  }%, ${words.p99} ${p99}`;
}

/** Renders the results of one scenario: flows, servers, thresholds, checks, errors. */
export function formatScenarioReport(raw: ScenarioReport, options: TextOptions): string {
  // Names, logs and programs' output are shown escaped; errors keep their line breaks,
  // each indented below the error, so no text of theirs starts a line of its own.
  const report = {
    ...terminalSafe({ ...raw, errors: [] }),
    errors: raw.errors.map((e) => escapeControls(e, true)),
  };
  const lines: string[] = [];
  const probes = report.workloads.filter((w) => w.result?.kind === "udpProbe");
  if (probes.length > 0) {
    const rows = probes.flatMap((w) => {
      const r = w.result as UdpProbeResult;
      return [probeRow(w.name, w.host, r), ...oneWayRows(r)];
    });
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
  const tcpProbes = report.workloads.filter((w) => w.result?.kind === "tcpProbe");
  if (tcpProbes.length > 0) {
    const rows = tcpProbes.map((w) => tcpProbeRow(w.name, w.host, w.result as TcpProbeResult));
    lines.push("", ...table(TCP_PROBE_COLUMNS, rows, options).map((l) => `  ${l}`));
  }
  const origin = Date.parse(report.startedAt);
  for (const w of report.workloads) {
    if (w.result) lines.push(...formatResult(w.name, w.host, w.result, origin, options));
  }
  // A bind churn's failures are shown with the churn, with the holders it saw at once.
  const churns = new Set(
    report.workloads.filter((w) => w.spec.kind === "bindChurn").map((w) => w.name),
  );
  const others = (report.bindFailures ?? []).filter((f) => !f.workload || !churns.has(f.workload));
  if (others.length > 0) lines.push(...formatBindFailures(others, origin, options));
  const watch = report.bindWatch;
  const programs = report.workloads.some((w) => w.spec.kind === "exec");
  if (watch.lost + watch.untracked > 0) {
    lines.push(paint(
      options,
      "yellow",
      `  bind watch: lost ${watch.lost} event(s) and could not follow ${watch.untracked} bind() call(s): bind failures may be missing, and thresholds on programs' bindFailures are not decided`,
    ));
  } else if (programs && !watch.active) {
    lines.push(paint(
      options,
      "yellow",
      `  bind watch: not running (${watch.reason}): programs' failed binds are not reported`,
    ));
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
      if (r.group) lines.push(...groupLines(r.group.spread, r.group.members.map(udpMemberText)));
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
    if (t.warning) lines.push(paint(options, "yellow", `    ${t.warning}`));
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

/** What a delay line did, after its fault's drop count: causes, releases, reordering. */
function lineText(t: LineTally): string {
  const causes = [
    t.tailDropped ? `${t.tailDropped} tail drop` : "",
    t.queueFull ? `${t.queueFull} queue full` : "",
    t.overrun ? `${t.overrun} netlink overrun` : "",
    t.droppedAtStop ? `${t.droppedAtStop} held when its line stopped` : "",
  ].filter(Boolean);
  return `${
    causes.length ? `: ${causes.join(", ")}` : ""
  }; released ${t.released}, reordered ${t.reordered}, at most ${t.maxHeld} held${
    t.failed ? `; its delay line failed: ${t.failed}` : ""
  }`;
}

/** How a delay line's drop causes read after "by fault #N". */
const CAUSE_TEXT: Record<string, string> = {
  tailDrop: " (tail drop)",
  heldAtStop: " (held when its delay line stopped)",
};

/** The lines of a SO_REUSEPORT group: one per member, then the spread. */
function groupLines(spread: GroupSpread, members: string[]): string[] {
  return [
    ...members.map((m) => `    ${m}`),
    `    spread over ${spread.members} members: largest share ${percent(spread.maxShare)} (${
      spread.maxOverEven.toFixed(2)
    }x an even share), smallest ${percent(spread.minShare)}, ${spread.idle} idle`,
  ];
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function udpMemberText(m: UdpGroupMember): string {
  return `member ${m.member}${m.state === "stopped" ? " (stopped)" : ""}: ${m.flows} flow(s) (${
    percent(m.flowShare)
  }), received ${m.received} (${percent(m.datagramShare)}), replied ${m.replied}${
    m.discarded ? `, ${m.discarded} lost queued in its socket when it closed` : ""
  }`;
}

function tcpMemberText(m: TcpGroupMember): string {
  return `member ${m.member}${
    m.state === "stopped" ? " (stopped)" : ""
  }: ${m.connections} connection(s) (${percent(m.share)}), ${m.bytes} bytes`;
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

/** Non-zero counts as `name n, name n`. */
function errorList(counts: Record<string, number>): string {
  return Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
}

/** Time since the run started, `+1.2s`. */
function since(atMs: number, origin: number): string {
  return `+${formatDuration(Math.max(0, atMs - origin))}`;
}

/** Who held a port, grouped: `held by deno pid 42 (UNCONN 0.0.0.0:7300)`, `held by 47 TIME-WAIT sockets (no process), e.g. ...`. */
export function holderText(holders: PortHolder[] | null): string {
  if (holders === null) return "holder not looked up";
  if (holders.length === 0) return "no socket on the port any more when squall looked";
  const groups = new Map<string, PortHolder[]>();
  for (const h of holders) {
    const key = `${h.program ?? ""}|${h.pid ?? ""}|${h.state}|${h.reusePort ?? ""}|${h.uid ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const socket = (h: PortHolder) =>
    `${h.local}${h.peer !== "*" && !h.peer.endsWith(":*") ? ` ↔ ${h.peer}` : ""}`;
  const parts = [...groups.values()].map((group) => {
    const h = group[0]!;
    const owner = (h.pid !== null ? `${h.program ?? "?"} pid ${h.pid}` : "no process") +
      (h.uid !== undefined && h.uid !== 0 ? ` uid ${h.uid}` : "") +
      (h.reusePort === true ? ", SO_REUSEPORT" : h.reusePort === false ? ", no SO_REUSEPORT" : "");
    return group.length === 1
      ? `${owner} (${h.state} ${socket(h)})`
      : `${group.length} ${h.state} sockets (${owner}), e.g. ${socket(h)}`;
  });
  return `held by ${parts.join("; ")}`;
}

/** Lines for the results of TCP servers, storms, churns and programs under test. */
function formatResult(
  name: string,
  host: string,
  r: WorkloadResult,
  origin: number,
  options: TextOptions,
): string[] {
  const dim = (text: string) => paint(options, "dim", text);
  const ms = (ns: number) => formatDuration(ns / 1e6);
  switch (r.kind) {
    case "tcpEcho": {
      const errors = errorList(r.errors);
      return [
        `  ${name} on ${host} (${r.address}): ${r.connections} connections (at most ${r.maxConcurrent} at once), ${r.bytes} bytes${
          errors ? `, errors: ${errors}` : ""
        }`,
        ...(r.group ? groupLines(r.group.spread, r.group.members.map(tcpMemberText)) : []),
      ];
    }
    case "reconnectStorm": {
      const errors = errorList(r.errors);
      const c = r.connectSummary;
      const lines = [
        `  ${name} on ${host} → ${r.address}: ${r.clients} ${r.protocol} clients, ${r.attempts} attempts, ${r.successes} ok, ${r.failures} failed${
          errors ? ` (${errors})` : ""
        }; connect p50 ${c.count ? ms(c.p50) : "-"}, p99 ${
          c.count ? ms(c.p99) : "-"
        }; at most ${r.maxConcurrentAttempts} attempts at once`,
      ];
      for (const p of r.unservedPeriods.slice(0, 5)) {
        lines.push(paint(
          options,
          "yellow",
          `  ${name}: ${p.clients} client(s) unserved from ${since(p.startMs, origin)} ${
            p.endMs === null ? "until the end" : `to ${since(p.endMs, origin)}`
          }`,
        ));
      }
      if (r.unservedPeriods.length > 5) {
        lines.push(dim(`  ${name}: and ${r.unservedPeriods.length - 5} more unserved periods`));
      }
      const after = [
        r.recoveryMs !== null
          ? `every client served again ${formatDuration(r.recoveryMs)} after the last fault ended`
          : "",
        r.timeWait !== null ? `${r.timeWait} TIME_WAIT sockets left` : "",
      ].filter((t) => t);
      if (after.length > 0) lines.push(`  ${name}: ${after.join("; ")}`);
      return lines;
    }
    case "bindChurn": {
      const errors = errorList(r.errors);
      const rb = r.rebindSummary;
      const lines = [
        `  ${name} on ${host} (${r.protocol} ${r.address}): ${r.cycles} cycles, ${r.attempts} binds, ${r.failures} failed${
          errors ? ` (${errors})` : ""
        }, ${Math.round(r.rate)} cycles/s${
          rb.count > 0 ? `; rebind after a failure p50 ${ms(rb.p50)}, max ${ms(rb.max)}` : ""
        }${r.stoppedEarly ? paint(options, "yellow", "; stopped early") : ""}`,
      ];
      for (const f of r.failureLog.slice(0, 3)) {
        lines.push(dim(
          `    ${f.error} at ${since(f.atMs, origin)}: ${holderText(f.holders)}${
            f.reason ? `; ${f.reason}` : ""
          }${f.rebindMs !== null ? `; bound again after ${formatDuration(f.rebindMs)}` : ""}`,
        ));
      }
      if (r.failures > 3) lines.push(dim(`    and ${r.failures - 3} more failures`));
      return lines;
    }
    case "exec": {
      const lines: string[] = [];
      for (const [i, run] of r.runs.entries()) {
        const ready = run.readyMs !== null ? `ready in ${formatDuration(run.readyMs)}` : "";
        const end = run.endedAt === null
          ? "running at the end"
          : run.signal !== null
          ? `ended by ${run.signal}${run.endedBySquall ? " (squall)" : ""}`
          : `exited with code ${run.exitCode}${run.endedBySquall ? " (squall stopped it)" : ""}`;
        lines.push(
          `  ${name} on ${host} run ${i + 1}: pid ${run.pid}${ready ? `, ${ready}` : ""}, ${end}`,
        );
        const crashed = run.endedAt !== null && !run.endedBySquall &&
          (run.exitCode !== 0 || run.signal !== null);
        if (crashed) {
          for (const line of run.stderrTail.slice(-5)) lines.push(dim(`    stderr: ${line}`));
        }
      }
      if (r.bindFailures && r.bindFailures.length > 0) {
        lines.push(paint(
          options,
          "yellow",
          `  ${name}: ${r.bindFailures.length} failed bind(s), see bind failures below`,
        ));
      }
      for (const q of r.queuedAtKill ?? []) {
        lines.push(
          `  ${name} run ${
            q.run + 1
          }: ${q.datagrams} datagram(s) queued unread in its SO_REUSEPORT socket(s) when killed, lost with them (${q.flows.length} probe flow(s))`,
        );
      }
      return lines;
    }
    default:
      return [];
  }
}

/** When squall looked; a warning when the port had been bound again by then. */
function lookupNote(f: ObservedBindFailure): string {
  if (f.holderLookupDelayMs === null) return "";
  const late = f.rebindMs !== null && f.holderLookupDelayMs > f.rebindMs;
  return ` (looked within ${formatDuration(f.holderLookupDelayMs)}${
    late ? ", after the port was bound again: this may be the new socket" : ""
  })`;
}

/** Bind failures shown in full; the JSON report has all of them. */
const SHOWN_BIND_FAILURES = 5;

/** The bind failures the bind watch saw, with who held the port. */
function formatBindFailures(
  failures: ObservedBindFailure[],
  origin: number,
  options: TextOptions,
): string[] {
  const lines = ["", `  bind failures (bind watch): ${failures.length}`];
  for (const f of failures.slice(0, SHOWN_BIND_FAILURES)) {
    lines.push(
      `  ${since(f.atMs, origin)} ${f.host} ${f.program} pid ${f.pid}${
        f.workload ? ` (${f.workload})` : ""
      }: bind ${f.protocol ?? ""} ${f.address}:${f.port} ${paint(options, "red", f.error)}`,
    );
    lines.push(paint(
      options,
      "dim",
      `    ${holderText(f.holders)}${lookupNote(f)}${f.reason ? `; ${f.reason}` : ""}; ${
        f.rebindMs !== null ? `bound again after ${formatDuration(f.rebindMs)}` : "not bound again"
      }`,
    ));
  }
  if (failures.length > SHOWN_BIND_FAILURES) {
    lines.push(paint(
      options,
      "dim",
      `  and ${failures.length - SHOWN_BIND_FAILURES} more (see the JSON report)`,
    ));
  }
  return lines;
}

function table(header: string[], rows: string[][], options: TextOptions): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  ");
  return [paint(options, "dim", line(header)), ...rows.map(line)];
}
