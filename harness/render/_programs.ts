// Programs under test and bind failures in the HTML report: a program's runs and the
// tails of their output; the tables of failed binds (the bind watch's, and a bind
// churn's), with the sockets that held the port.

import type { ScenarioReport, WorkloadReport } from "../runner/report.ts";
import type { ExecResult, ObservedBindFailure, PortHolder } from "../measure/bind_results.ts";
import { duration, h, int, type Markup, rows, table } from "./_markup.ts";
import { type Context, sinceStart } from "./_timeline.ts";

/** Most lines of a program's stdout or stderr tail shown. */
const MAX_TAIL_LINES = 50;
/** Runs of a program whose output is shown: this many first and last. */
const RUNS_WITH_OUTPUT = 5;

// ---------------------------------------------------------------------------------
// Bind failures.
function holdersCell(holders: PortHolder[] | null): Markup {
  if (holders === null) return h`<span class="dim">not looked up</span>`;
  if (holders.length === 0) {
    return h`<span class="dim">no socket on the port when squall looked</span>`;
  }
  return h`<ul class="holders">${
    holders.slice(0, 20).map((x) =>
      h`<li>${x.pid !== null ? `pid ${x.pid} ` : ""}<code>${
        x.program ?? "no process"
      }</code> ${x.state} ${x.local}${
        x.peer !== "*" && !x.peer.endsWith(":*") ? ` ↔ ${x.peer}` : ""
      }${x.uid !== undefined && x.uid !== 0 ? ` uid ${x.uid}` : ""}${
        x.reusePort === true ? " SO_REUSEPORT" : x.reusePort === false ? " no SO_REUSEPORT" : ""
      }</li>`
    )
  }${holders.length > 20 ? h`<li>and ${holders.length - 20} more</li>` : ""}</ul>`;
}

/** The columns of every table of failed binds. */
const BIND_COLUMNS = [
  "time",
  "host",
  "program",
  "pid",
  "address",
  "error",
  "holders (pid, program, state, local ↔ peer)",
  "bound again after",
  "looked within",
];

/** One failed bind in a table of them, cell by cell. */
export interface BindFailureCells {
  /** When it failed (epoch ms). */
  atMs: number;
  host: string;
  program: Markup | string;
  pid: Markup | string;
  /** Protocol, address and port. */
  address: string;
  error: string;
  holders: PortHolder[] | null;
  /** Why a SO_REUSEPORT group refused the bind, if known. */
  reason?: string | undefined;
  /** How long until the port was bound again, or null when it never was. */
  rebindMs: number | null;
  /** How long after the failure the holders were looked up. */
  lookup: Markup | string;
}

/** A capped table of failed binds, from a bind churn or from the bind watch. */
export function bindFailureTable<T>(
  ctx: Context,
  caption: string,
  failures: readonly T[],
  cellsOf: (failure: T) => BindFailureCells,
): Markup {
  return table(
    caption,
    BIND_COLUMNS,
    rows(failures, BIND_COLUMNS.length, (failure) => {
      const c = cellsOf(failure);
      return h`<tr><td class="num">${
        sinceStart(ctx, c.atMs)
      }</td><td>${c.host}</td><td>${c.program}</td><td class="num">${c.pid}</td><td><code>${c.address}</code></td><td class="fail">${c.error}</td><td>${
        holdersCell(c.holders)
      }${c.reason ? h`<p class="note">${c.reason}</p>` : ""}</td><td class="num">${
        c.rebindMs === null ? "never" : duration(c.rebindMs)
      }</td><td class="num">${c.lookup}</td></tr>`;
    }),
    "bind-failures",
  );
}

/** Every failed bind() the bind watch saw in the run's namespaces. */
export function bindFailuresSection(ctx: Context, s: ScenarioReport): Markup {
  const failures = s.bindFailures ?? [];
  const lookup = (f: ObservedBindFailure) => {
    if (f.holderLookupDelayMs === null) return h`—`;
    const late = f.rebindMs !== null && f.holderLookupDelayMs > f.rebindMs;
    return h`${duration(f.holderLookupDelayMs)}${
      late ? h`<br><span class="warn">after the rebind: may show the new socket</span>` : ""
    }`;
  };
  const cells = (f: ObservedBindFailure): BindFailureCells => ({
    atMs: f.atMs,
    host: f.host,
    program: h`<code>${f.program}</code>${f.workload ? h` (${f.workload})` : ""}`,
    pid: h`${f.pid}${f.tid !== f.pid ? h`<br><span class="dim">tid ${f.tid}</span>` : ""}`,
    address: `${f.protocol ?? ""} ${f.address}:${f.port}`,
    error: f.error,
    holders: f.holders,
    reason: f.reason,
    rebindMs: f.rebindMs,
    lookup: lookup(f),
  });
  return h`<section class="workload bind-failures-section">
<h3>Bind failures seen by the bind watch: ${int(failures.length)}</h3>
${
    s.bindWatch.lost + s.bindWatch.untracked > 0
      ? h`<p class="warn">The bind watch lost ${
        int(s.bindWatch.lost)
      } event(s) and could not follow ${
        int(s.bindWatch.untracked)
      } bind() call(s): failures may be missing.</p>`
      : ""
  }
${
    failures.length === 0
      ? h`<p class="note">No bind() failed in the run's namespaces.</p>`
      : bindFailureTable(
        ctx,
        "Failed binds of every process in the run's namespaces",
        failures,
        cells,
      )
  }
</section>
`;
}

// ---------------------------------------------------------------------------------
// Programs under test.

/** A program under test: its command and its runs, with the tails of their output. */
export function execSection(ctx: Context, w: WorkloadReport, r: ExecResult): Markup {
  const at = (epoch: number) => sinceStart(ctx, epoch);
  const tail = (name: string, lines: string[]) =>
    lines.length === 0
      ? h``
      : h`<details><summary>${name} (last ${
        Math.min(lines.length, MAX_TAIL_LINES)
      } lines)</summary><pre>${lines.slice(-MAX_TAIL_LINES).join("\n")}</pre></details>`;
  const shown = (i: number) => i < RUNS_WITH_OUTPUT || i >= r.runs.length - RUNS_WITH_OUTPUT;
  return h`<section class="workload exec">
<h3>Program ${w.name} on ${w.host}</h3>
<p><code>${r.command.join(" ")}</code></p>
${
    table(
      `Runs of ${w.name}`,
      ["run", "pid", "started", "ready after", "ended", "how", "output"],
      rows(r.runs.map((run, i) => [run, i] as const), 7, ([run, i]) => {
        const how = run.endedAt === null
          ? "running at the end"
          : run.signal !== null
          ? `ended by ${run.signal}${run.endedBySquall ? " (squall)" : ""}`
          : `exited with code ${run.exitCode}${run.endedBySquall ? " (squall stopped it)" : ""}`;
        const crashed = run.endedAt !== null && !run.endedBySquall &&
          (run.exitCode !== 0 || run.signal !== null);
        return h`<tr class="${crashed ? "failed" : ""}"><td class="num">${
          i + 1
        }</td><td class="num">${run.pid}</td><td class="num">${
          at(run.startedAt)
        }</td><td class="num">${
          run.readyMs === null ? "—" : duration(run.readyMs)
        }</td><td class="num">${
          run.endedAt === null ? "—" : at(run.endedAt)
        }</td><td>${how}</td><td>${
          shown(i)
            ? h`${tail("stderr", run.stderrTail)}${tail("stdout", run.stdoutTail)}`
            : h`<span class="dim">output of the first and last ${RUNS_WITH_OUTPUT} runs only</span>`
        }</td></tr>`;
      }),
    )
  }
${
    r.bindFailures && r.bindFailures.length > 0
      ? h`<p class="warn">${r.bindFailures.length} failed bind(s) of its processes: see the bind failures below.</p>`
      : ""
  }
</section>
`;
}
