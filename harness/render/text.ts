/**
 * The terminal report: a header describing every host, link and workload in one line,
 * a table per flow, then checks and thresholds. Colour only when asked (on a TTY). Each
 * family of workloads has its section in a file of its own (`_text_udp.ts`,
 * `_text_tcp.ts`, `_text_storm_churn.ts`, `_text_programs.ts`), as the HTML report does.
 *
 * @module
 */

import type { LineTally } from "../runner/report.ts";
import { formatDuration } from "../core/duration.ts";
import { escapeControls, terminalSafe } from "./terminal_safe.ts";
import type { FlowProgress, RunEvent } from "../runner/events.ts";
import type { RunReport, ScenarioReport, ScenarioStatus } from "../runner/report.ts";
import type { UdpEchoResult, UdpProbeResult, WorkloadResult } from "../measure/results.ts";
import { paint, type TextOptions } from "./_text_common.ts";
import { udpEchoLines, udpProbeLines, udpProbeNotes } from "./_text_udp.ts";
import { tcpEchoLines, tcpProbeLines } from "./_text_tcp.ts";
import { stormChurnLines } from "./_text_storm_churn.ts";
import { bindWatchLines, formatBindFailures, programLines } from "./_text_programs.ts";

export { holderText, type TextOptions } from "./_text_common.ts";

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
  lines.push(...udpProbeLines(report.workloads, options));
  lines.push(...tcpProbeLines(report.workloads, options));
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
  lines.push(...bindWatchLines(report, options));
  for (const w of report.workloads) {
    if (w.result?.kind === "udpEcho") {
      lines.push(...udpEchoLines(w.name, w.host, w.result as UdpEchoResult));
    }
    if (w.result?.kind === "udpProbe") {
      lines.push(...udpProbeNotes(w, w.result as UdpProbeResult, options));
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

/** Lines for the results of TCP servers, storms, churns and programs under test. */
function formatResult(
  name: string,
  host: string,
  r: WorkloadResult,
  origin: number,
  options: TextOptions,
): string[] {
  switch (r.kind) {
    case "tcpEcho":
      return tcpEchoLines(name, host, r);
    case "reconnectStorm":
    case "bindChurn":
      return stormChurnLines(name, host, r, origin, options);
    case "exec":
      return programLines(name, host, r, options);
    default:
      return [];
  }
}
