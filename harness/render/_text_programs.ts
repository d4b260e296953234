// Programs under test in the text report: each run of a program, its crashes' stderr, what
// was lost with it, the bind failures the bind watch saw (with who held the port), and
// whether the bind watch could see them.

import { formatDuration } from "../core/duration.ts";
import type { ScenarioReport } from "../runner/report.ts";
import type { ExecResult, ObservedBindFailure } from "../measure/bind_results.ts";
import { holderText, paint, since, type TextOptions } from "./_text_common.ts";

/** A program under test's lines: one per run, then its failed binds and lost datagrams. */
export function programLines(
  name: string,
  host: string,
  r: ExecResult,
  options: TextOptions,
): string[] {
  const dim = (text: string) => paint(options, "dim", text);
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

/** A warning when the bind watch lost events, or did not run while programs did. */
export function bindWatchLines(report: ScenarioReport, options: TextOptions): string[] {
  const lines: string[] = [];
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
  return lines;
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
export function formatBindFailures(
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
