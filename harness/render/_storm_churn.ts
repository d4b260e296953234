// Reconnect storms and bind churns in the HTML report: a storm's attempts over time under
// the fault timeline, its unserved periods and recovery, the connect time of each attempt;
// a churn's binds, rebind times and failed binds.

import type { WorkloadReport } from "../runner/report.ts";
import type { BindChurnResult, BindFailure } from "../measure/bind_results.ts";
import type { ReconnectStormResult } from "../measure/tcp_results.ts";
import {
  compact,
  counts,
  dash,
  duration,
  h,
  int,
  latency,
  latencyCells,
  type Markup,
  px,
  rows,
  since,
  statsTable,
  table,
} from "./_markup.ts";
import {
  atLeastADecade,
  type AxisSpec,
  cdfPlot,
  figure,
  linearAxis,
  logAxis,
  noSamples,
  plot,
  roundDown125,
  roundUp125,
} from "./_plot.ts";
import { coarsen, type Context, faultBands, relative, stackedBars, timeAxis } from "./_timeline.ts";
import { connectTimeFigure } from "./_tcp.ts";
import { type BindFailureCells, bindFailureTable } from "./_programs.ts";

/** Most attempts of a storm's attempt log drawn in its scatter plot. */
const MAX_SCATTER_POINTS = 1500;

// ---------------------------------------------------------------------------------
// Reconnect storms.

/** A reconnect storm: attempts over time, recovery, connect times and unserved periods. */
export function stormSection(ctx: Context, w: WorkloadReport, r: ReconnectStormResult): Markup {
  const subject = `${w.name} (${w.host} → ${r.address})`;
  const start = relative(ctx, r.startedAt, w.startedAtMs);
  const toRel = (epoch: number) => relative(ctx, epoch, w.startedAtMs + (epoch - r.startedAt));
  const t = r.timeline;
  const c = coarsen([t.successes, t.failures, t.attempts], t.intervalMs, 600);
  const [ok, failed, attempts] = c.series as [number[], number[], number[]];
  const endMs = start + Math.max(r.durationMs, t.attempts.length * t.intervalMs);
  const x = timeAxis(start, endMs);
  const y = linearAxis(
    0,
    Math.max(1, ...attempts),
    `attempts per ${duration(c.intervalMs)}`,
    (v) => compact(v),
    5,
  );
  const lastRemoval = ctx.scenario.faults
    .map((f) => f.removedAtMs)
    .filter((v): v is number => v !== null && v >= start && v <= endMs)
    .reduce((a, b) => Math.max(a, b), -Infinity);
  const recovery = r.recoveryMs !== null && Number.isFinite(lastRemoval)
    ? { from: lastRemoval, to: lastRemoval + r.recoveryMs }
    : null;
  const unserved = mergeSpans(
    r.unservedPeriods.map((p) => [toRel(p.startMs), p.endMs === null ? endMs : toRel(p.endMs)]),
    ((x.max - x.min) * 1000) / 900,
  );
  const timeline = plot({
    kind: "storm-timeline",
    title: `Reconnect storm ${subject}: attempts over time, with the fault timeline`,
    desc: `${int(r.attempts)} attempts, ${int(r.successes)} succeeded and ${
      int(r.failures)
    } failed, per ${
      duration(c.intervalMs)
    } interval; ${r.unservedPeriods.length} unserved period(s) shaded; ${
      recovery
        ? `every client served again ${duration(r.recoveryMs!)} after the last fault was removed`
        : "no recovery measured"
    }.`,
    width: 960,
    height: 280,
    x,
    y,
    body: (f) => {
      const out: Markup[] = unserved.map(([a, b]) => {
        const x0 = f.x(Math.max(a, x.min * 1000) / 1000);
        const x1 = Math.max(f.x(Math.min(b, x.max * 1000) / 1000), x0 + 1);
        return h`<rect class="unserved" x="${px(x0)}" y="${f.top}" width="${px(x1 - x0)}" height="${
          f.bottom - f.top
        }"/>`;
      });
      const { bands, labels } = faultBands(ctx.scenario.faults, f, x.min * 1000, x.max * 1000);
      out.push(...bands);
      out.push(
        ...stackedBars(
          [{ cls: "k-delivered", values: ok }, { cls: "k-lost", values: failed }],
          f,
          start,
          c.intervalMs,
        ),
      );
      out.push(...labels);
      if (recovery) {
        const x0 = f.x(recovery.from / 1000);
        const x1 = f.x(Math.min(recovery.to, x.max * 1000) / 1000);
        const yy = f.top + 44;
        out.push(
          h`<g class="recovery"><line x1="${px(x0)}" y1="${f.top}" x2="${
            px(x0)
          }" y2="${f.bottom}"/><line x1="${px(x1)}" y1="${f.top}" x2="${
            px(x1)
          }" y2="${f.bottom}"/><line x1="${px(x0)}" y1="${yy}" x2="${
            px(x1)
          }" y2="${yy}"/><text x="${px(Math.min(x1 + 4, f.right - 150))}" y="${
            yy + 4
          }">recovered in ${duration(r.recoveryMs!)}</text></g>`,
        );
      }
      return out;
    },
  });
  const errors = counts(r.errors);
  const stats = statsTable([
    ["attempts", [
      ["protocol", r.protocol],
      ["clients", int(r.clients)],
      ["attempts", int(r.attempts)],
      ["ok", int(r.successes)],
      ["failed", int(r.failures)],
      ["errors", errors || "—"],
      ["most at once", int(r.maxConcurrentAttempts)],
    ]],
    ["connect time", latencyCells(r.connectSummary)],
    ["after the faults", [
      ["recovery", r.recoveryMs === null ? "—" : duration(r.recoveryMs)],
      ["TIME_WAIT left", dash(r.timeWait)],
    ]],
  ]);
  const periods = r.unservedPeriods.length === 0
    ? h`<p class="note">Every client was served throughout.</p>`
    : table(
      `Unserved periods of ${subject}`,
      ["from", "to", "length", "clients unserved"],
      rows(
        r.unservedPeriods,
        4,
        (p) =>
          h`<tr><td class="num">${since(toRel(p.startMs))}</td><td class="num">${
            p.endMs === null ? "the end" : since(toRel(p.endMs))
          }</td><td class="num">${
            p.endMs === null ? "—" : duration(p.endMs - p.startMs)
          }</td><td class="num">${int(p.clients)}</td></tr>`,
      ),
    );
  return h`<section class="workload storm">
<h3>Reconnect storm ${subject}</h3>
${stats}
${r.stoppedEarly ? h`<p class="warn">Stopped early.</p>` : ""}
${
    figure(
      timeline,
      h`Attempts per interval, by when they started${
        recovery
          ? h`; every client was served again <strong>${
            duration(r.recoveryMs!)
          }</strong> after the last fault was removed`
          : ""
      }.`,
      [["k-delivered", "succeeded"], ["k-lost", "failed"], ["k-unserved", "some client unserved"], [
        "k-fault",
        "fault applied",
      ]],
    )
  }
<div class="pair">
${stormScatter(ctx, w, r, subject, x)}
${connectTimeFigure(r.connectTime, r.connectSummary, subject)}
</div>
${periods}
</section>
`;
}

/** Joins spans closer than `gap` (ms), so that no more than one band is drawn per pixel. */
function mergeSpans(spans: [number, number][], gap: number): [number, number][] {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + gap) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Connect time of logged attempts over time; failures as marks in a lane on top. */
function stormScatter(
  ctx: Context,
  w: WorkloadReport,
  r: ReconnectStormResult,
  subject: string,
  x: AxisSpec,
): Markup {
  const log = r.attemptLog;
  const stride = Math.max(1, Math.ceil(log.length / MAX_SCATTER_POINTS));
  const shown = log.filter((_, i) => i % stride === 0);
  const times = shown.map((a) => a.connectMs).filter((v): v is number => v !== null && v > 0);
  const lowMs = times.length > 0 ? Math.min(...times) : 0.1;
  const highMs = times.length > 0 ? Math.max(...times) : 10;
  const low = roundDown125(Math.max(lowMs, 0.001));
  const [min, max] = atLeastADecade(low, roundUp125(Math.max(highMs, low * 1.01)));
  const y = logAxis(min, max, "connect time", (v) => latency(v * 1e6));
  const failures = shown.filter((a) => a.connectMs === null || a.outcome !== "ok").length;
  const svg = plot({
    kind: "storm-scatter",
    title: `Connect time of each attempt over time: ${subject}`,
    desc: `${int(shown.length)} of ${int(r.attempts)} attempts${
      stride > 1 ? ` (every ${stride}th logged attempt)` : ""
    }: connect time of successful connects; ${int(failures)} failures marked along the top.`,
    width: 560,
    height: 280,
    x: { ...x, ticks: x.ticks.filter((_, i) => i % 2 === 0) },
    y,
    body: (f) => {
      const ok: string[] = [];
      const bad: string[] = [];
      for (const a of shown) {
        const at = relative(ctx, a.atMs, w.startedAtMs + (a.atMs - r.startedAt)) / 1000;
        const cx = f.x(Math.min(Math.max(at, x.min), x.max));
        if (a.connectMs !== null && a.outcome === "ok") {
          const cy = f.y(Math.min(Math.max(a.connectMs, min), max));
          ok.push(`M${px(cx - 1)} ${px(cy - 1)}h2v2h-2z`);
        } else {
          bad.push(`M${px(cx)} ${f.top + 1}v8`);
        }
      }
      return [
        h`<path class="dots" d="${ok.join("")}"/>`,
        h`<path class="fail-marks" d="${bad.join("")}"/>`,
        log.length === 0 ? noSamples(f, "no attempts logged") : h``,
      ];
    },
  });
  return figure(
    svg,
    `Connect time of ${int(shown.length)} logged attempts${
      r.attemptLogTruncated ? ` (the log stopped at ${int(log.length)} of ${int(r.attempts)})` : ""
    }; red marks on top are failed attempts.`,
  );
}

// ---------------------------------------------------------------------------------
// Bind churn.

/** A bind churn: its binds, the time to rebind after a failure, and its failed binds. */
export function churnSection(ctx: Context, w: WorkloadReport, r: BindChurnResult): Markup {
  const subject = `${w.name} (${w.host}, ${r.protocol} ${r.address})`;
  const errors = counts(r.errors);
  const stats = statsTable([
    ["binds", [
      ["cycles", int(r.cycles)],
      ["binds", int(r.attempts)],
      ["failed", int(r.failures)],
      ["errors", errors || "—"],
      ["cycles/s", int(r.rate)],
    ]],
    ["rebind after a failure", latencyCells(r.rebindSummary)],
  ]);
  const cells = (f: BindFailure): BindFailureCells => ({
    atMs: f.atMs,
    host: w.host,
    program: `squall bind churn (${w.name})`,
    pid: "—",
    address: `${r.protocol} ${r.address}`,
    error: f.error,
    holders: f.holders,
    reason: f.reason,
    rebindMs: f.rebindMs,
    lookup: "—",
  });
  return h`<section class="workload churn">
<h3>Bind churn ${subject}</h3>
${stats}
${r.stoppedEarly ? h`<p class="warn">Stopped early.</p>` : ""}
${
    r.rebind.count > 0
      ? h`<div class="pair">${
        figure(
          cdfPlot(r.rebind, r.rebindSummary, "rebind time", subject, "rebinds"),
          "Time from a close to the next successful bind, for cycles that needed a retry.",
        )
      }</div>`
      : ""
  }
${
    r.failureLog.length > 0
      ? bindFailureTable(
        ctx,
        `Failed binds of ${subject}${
          r.failureLogTruncated
            ? ` (the log stopped at ${int(r.failureLog.length)} of ${int(r.failures)})`
            : ""
        }`,
        r.failureLog,
        cells,
      )
      : ""
  }
</section>
`;
}
