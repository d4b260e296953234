/**
 * The HTML report: one self-contained file (inline CSS, SVG drawn here, no scripts, no
 * fonts, nothing fetched) with, per scenario, its status, hosts, links and faults, its
 * thresholds and checks, and a plot for every flow: latency CDFs and histograms, loss
 * over time under the fault timeline, the loss ledger, reconnect storms and bind
 * failures. Built only from histograms, timelines and capped logs, never from samples,
 * so its size does not grow with the number of packets.
 *
 * @module
 */

import { formatDuration } from "../core/duration.ts";
import { Histogram, type HistogramData, type LatencySummary } from "../measure/histogram.ts";
import type { FaultReport, RunReport, ScenarioReport, WorkloadReport } from "../runner/report.ts";
import type {
  BindChurnResult,
  BindFailure,
  ExecResult,
  LedgerEntry,
  LossLedger,
  ObservedBindFailure,
  PortHolder,
  ReconnectStormResult,
  TcpEchoResult,
  TcpProbeResult,
  UdpEchoResult,
  UdpProbeResult,
} from "../measure/results.ts";

/** Most rows of any table; the rest are counted in a last row. */
const MAX_TABLE_ROWS = 500;
/** Most attempts of a storm's attempt log drawn in its scatter plot. */
const MAX_SCATTER_POINTS = 1500;
/** Most lines of a program's stdout or stderr tail shown. */
const MAX_TAIL_LINES = 50;
/** Runs of a program whose output is shown: this many first and last. */
const RUNS_WITH_OUTPUT = 5;
/** Most faults on a time plot labelled with their description (the others by number). */
const MAX_DESCRIBED_FAULTS = 8;
/** Bars of a latency histogram. */
const HISTOGRAM_BINS = 60;

/**
 * Renders a run report as one self-contained HTML page.
 *
 * @example
 * ```ts
 * import { renderHtml } from "./html.ts";
 * const html = renderHtml({
 *   schemaVersion: 1,
 *   tool: { name: "squall", version: "0.1.0", deno: "2.9.6" },
 *   startedAt: "2025-01-01T00:00:00.000Z",
 *   durationMs: 0,
 *   exitCode: 0,
 *   summary: { total: 0, passed: 0, failed: 0, error: 0, interrupted: 0 },
 *   scenarios: [],
 * });
 * console.assert(html.startsWith("<!doctype html>"));
 * ```
 */
export function renderHtml(report: RunReport): string {
  const s = report.summary;
  const bad = s.failed + s.error + s.interrupted;
  const title = `squall report: ${s.total} scenario${s.total === 1 ? "" : "s"}, ${
    bad === 0 ? "all passed" : `${bad} not passed`
  }`;
  const page = h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${title}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header>
<h1>squall report</h1>
<p class="meta">${report.tool.name} ${report.tool.version}, Deno ${report.tool.deno} · started ${report.startedAt} · ${
    duration(report.durationMs)
  } · exit code ${report.exitCode}</p>
<p class="summary">${s.passed} passed, ${s.failed} failed${
    s.error > 0 ? `, ${s.error} errors` : ""
  }${s.interrupted > 0 ? `, ${s.interrupted} interrupted` : ""}</p>
${
    report.scenarios.length > 0
      ? h`<nav aria-label="Scenarios"><ol>${
        report.scenarios.map((sc, i) =>
          h`<li><a href="#scenario-${i + 1}">${sc.name}</a> ${statusBadge(sc.status)}</li>`
        )
      }</ol></nav>`
      : h`<p>No scenarios ran.</p>`
  }
</header>
<main>
${report.scenarios.map((sc, i) => scenarioSection(sc, i + 1))}
</main>
<footer><p>Written by squall ${report.tool.version}. Self-contained: no scripts, nothing loaded from anywhere.</p></footer>
</body>
</html>
`;
  return page.text;
}

// ---------------------------------------------------------------------------------
// Markup: every interpolated value is escaped unless it is already Markup.

/** Markup that is safe to insert as it is. */
class Markup {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

type Part = Markup | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values; control characters become U+FFFD. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "\ufffd");
}

function partText(p: Part): string {
  if (p instanceof Markup) return p.text;
  if (Array.isArray(p)) return p.map(partText).join("");
  if (p === null || p === undefined || typeof p === "boolean") return "";
  return escapeHtml(String(p));
}

/** A template whose values are escaped (Markup is kept, arrays are joined, null and booleans vanish). */
function h(strings: TemplateStringsArray, ...values: readonly Part[]): Markup {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += partText(values[i]) + (strings[i + 1] ?? "");
  return new Markup(out);
}

/** Markup made here, from no report data. */
function raw(text: string): Markup {
  return new Markup(text);
}

// ---------------------------------------------------------------------------------
// Numbers.

/** A coordinate, to a tenth of a pixel. */
function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** `1.2M`, `250k`, `42`. */
function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}G`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}

function trim(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function percent(ratio: number, digits = 2): string {
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** A latency in nanoseconds for people: `850ns`, `263µs`, `3.79ms`. */
function latency(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)}ns`;
  return duration(ns / 1e6);
}

/** A duration in ms for people, as the terminal shows it but with µs: `850µs`, `1.5s`. */
function duration(ms: number): string {
  return formatDuration(ms).replace(/us$/, "µs");
}

/** ms since the scenario started, as `+1.2s`. */
function since(ms: number): string {
  return ms < 0 ? `-${duration(-ms)}` : `+${duration(ms)}`;
}

function dash(v: string | number | null | undefined): string {
  return v === null || v === undefined || v === "" ? "—" : String(v);
}

// ---------------------------------------------------------------------------------
// Plots.

type Scale = (v: number) => number;

interface Tick {
  at: number;
  label: string;
}

interface AxisSpec {
  min: number;
  max: number;
  log: boolean;
  label: string;
  ticks: Tick[];
}

/** The plot area in pixels, and its scales. */
interface Frame {
  left: number;
  top: number;
  right: number;
  bottom: number;
  x: Scale;
  y: Scale;
}

interface PlotOptions {
  /** Extra CSS classes, naming the kind of plot. */
  kind: string;
  title: string;
  desc: string;
  width: number;
  height: number;
  x: AxisSpec;
  y: AxisSpec;
  /** Left margin, wide enough for the y tick labels. */
  left?: number;
  body: (frame: Frame) => Markup | Markup[];
}

function scaleOf(axis: AxisSpec, from: number, to: number): Scale {
  if (axis.log) {
    const a = Math.log10(axis.min);
    const span = Math.log10(axis.max) - a || 1;
    return (v) => from + ((Math.log10(Math.max(v, axis.min * 1e-3)) - a) / span) * (to - from);
  }
  const span = axis.max - axis.min || 1;
  return (v) => from + ((v - axis.min) / span) * (to - from);
}

function plot(o: PlotOptions): Markup {
  const left = o.left ?? 58;
  const frame: Frame = {
    left,
    top: 12,
    right: o.width - 16,
    bottom: o.height - 44,
    x: () => 0,
    y: () => 0,
  };
  frame.x = scaleOf(o.x, frame.left, frame.right);
  frame.y = scaleOf(o.y, frame.bottom, frame.top);
  const midX = (frame.left + frame.right) / 2;
  const midY = (frame.top + frame.bottom) / 2;
  const xTicks = o.x.ticks.filter((t) => t.at >= o.x.min && t.at <= o.x.max);
  const yTicks = o.y.ticks.filter((t) => t.at >= o.y.min && t.at <= o.y.max);
  return h`<svg class="plot ${o.kind}" viewBox="0 0 ${o.width} ${o.height}" role="img" preserveAspectRatio="xMidYMid meet">
<title>${o.title}</title>
<desc>${o.desc}</desc>
<g class="grid">${
    xTicks.map((t) => {
      const x = px(frame.x(t.at));
      return raw(`<line x1="${x}" y1="${frame.top}" x2="${x}" y2="${frame.bottom}"/>`);
    })
  }${
    yTicks.map((t) => {
      const y = px(frame.y(t.at));
      return raw(`<line x1="${frame.left}" y1="${y}" x2="${frame.right}" y2="${y}"/>`);
    })
  }</g>
${o.body(frame)}
<g class="axis">
<line x1="${frame.left}" y1="${frame.bottom}" x2="${frame.right}" y2="${frame.bottom}"/>
<line x1="${frame.left}" y1="${frame.top}" x2="${frame.left}" y2="${frame.bottom}"/>
${
    xTicks.filter((t) => t.label !== "").map((t) => {
      const x = px(frame.x(t.at));
      return h`<line x1="${x}" y1="${frame.bottom}" x2="${x}" y2="${
        frame.bottom + 4
      }"/><text x="${x}" y="${frame.bottom + 15}" text-anchor="middle">${t.label}</text>`;
    })
  }
${
    yTicks.filter((t) => t.label !== "").map((t) => {
      const y = px(frame.y(t.at));
      return h`<line x1="${frame.left - 4}" y1="${y}" x2="${frame.left}" y2="${y}"/><text x="${
        frame.left - 6
      }" y="${px(frame.y(t.at) + 4)}" text-anchor="end">${t.label}</text>`;
    })
  }
<text class="label" x="${px(midX)}" y="${o.height - 8}" text-anchor="middle">${o.x.label}</text>
<text class="label" transform="translate(13 ${
    px(midY)
  }) rotate(-90)" text-anchor="middle">${o.y.label}</text>
</g>
</svg>`;
}

/** A round step near `span / count`: 1, 2 or 5 times a power of ten. */
function niceStep(span: number, count: number): number {
  const rough = span / Math.max(1, count);
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const f = rough / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** Decimal places that show a step without noise. */
function decimalsOf(step: number): number {
  return Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
}

/** A linear axis from 0 (or `min`) up to a round number at or above `max`. */
function linearAxis(
  min: number,
  max: number,
  label: string,
  format: (v: number, decimals: number) => string,
  count = 5,
  fromZero = true,
): AxisSpec {
  const low = fromZero ? 0 : min;
  const step = niceStep(Math.max(max - low, 1e-9), count);
  const top = fromZero ? Math.max(step, Math.ceil(max / step - 1e-9) * step) : max;
  const decimals = decimalsOf(step);
  const ticks: Tick[] = [];
  for (let v = Math.ceil(low / step - 1e-9) * step; v <= top + step * 1e-6; v += step) {
    ticks.push({ at: v, label: format(v, decimals) });
  }
  return { min: low, max: top, log: false, label, ticks };
}

/** Ticks at 1, 2 and 5 times each power of ten (only 1 when the range is wide). */
function logTicks(min: number, max: number, format: (v: number) => string): Tick[] {
  const ticks: Tick[] = [];
  const first = Math.floor(Math.log10(min));
  const last = Math.ceil(Math.log10(max));
  const decades = last - first;
  for (let e = first; e <= last; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < min * 0.999 || v > max * 1.001) continue;
      ticks.push({ at: v, label: m === 1 || decades <= 2 ? format(v) : "" });
    }
  }
  return ticks;
}

/** The largest 1-2-5 number at or below `v`. */
function roundDown125(v: number): number {
  const power = 10 ** Math.floor(Math.log10(v));
  const f = v / power;
  return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * power;
}

/** The smallest 1-2-5 number at or above `v`. */
function roundUp125(v: number): number {
  const power = 10 ** Math.floor(Math.log10(v));
  const f = v / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** A log axis of latencies (ns) covering a histogram. */
function latencyAxis(data: HistogramData, label: string): AxisSpec {
  const low = Math.max(1, data.count > 0 ? data.min : 1_000);
  const high = Math.max(low * 1.01, data.count > 0 ? data.max : 1_000_000);
  let min = roundDown125(low);
  let max = roundUp125(high);
  if (max / min < 10) {
    const middle = Math.sqrt(min * max);
    min = roundDown125(middle / 4);
    max = roundUp125(middle * 4);
  }
  min = Math.max(1, min);
  const ticks = logTicks(min, max, latency);
  return { min, max, log: true, label: `${label} (log scale, ${unitsOf(ticks)})`, ticks };
}

/** The units of some tick labels, in order: `µs, ms`. */
function unitsOf(ticks: Tick[]): string {
  const units = ticks.map((t) => /[a-zµ]+$/.exec(t.label)?.[0] ?? "").filter((u) => u !== "");
  return [...new Set(units)].join(", ");
}

/** The CDF of a histogram as an SVG path, at most two points per pixel column. */
function cdfPath(data: HistogramData, frame: Frame, axis: AxisSpec): string {
  const total = data.buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return "";
  const columns = new Map<number, [number, number, number, number]>();
  const add = (xv: number, yv: number) => {
    const x = frame.x(Math.min(Math.max(xv, axis.min), axis.max));
    const y = frame.y(yv);
    const col = Math.floor(x);
    const seen = columns.get(col);
    if (seen) {
      seen[2] = x;
      seen[3] = y;
    } else columns.set(col, [x, y, x, y]);
  };
  add(axis.min, 0);
  let cum = 0;
  for (const [index, n] of data.buckets) {
    const [low, high] = Histogram.bucketBounds(index);
    const from = Math.min(Math.max(low, data.min), data.max);
    const to = Math.min(Math.max(high, data.min), data.max);
    add(from, cum / total);
    cum += n;
    add(to, cum / total);
  }
  add(axis.max, 1);
  const points: string[] = [];
  for (const [x0, y0, x1, y1] of columns.values()) {
    points.push(`${px(x0)},${px(y0)}`);
    if (x1 !== x0 || y1 !== y0) points.push(`${px(x1)},${px(y1)}`);
  }
  return `M${points.join("L")}`;
}

function noSamples(frame: Frame, text: string): Markup {
  return h`<text class="empty" x="${px((frame.left + frame.right) / 2)}" y="${
    px((frame.top + frame.bottom) / 2)
  }" text-anchor="middle">${text}</text>`;
}

/** A latency CDF with the percentiles marked. */
function cdfPlot(
  data: HistogramData,
  summary: LatencySummary,
  what: string,
  subject: string,
  samples: string,
): Markup {
  const axis = latencyAxis(data, what);
  const quantiles: [string, number, number][] = [
    ["p50", 0.5, summary.p50],
    ["p90", 0.9, summary.p90],
    ["p99", 0.99, summary.p99],
    ["p99.9", 0.999, summary.p999],
  ];
  return plot({
    kind: "cdf",
    title: `Latency CDF: ${what} of ${subject}`,
    desc: data.count === 0
      ? `No ${samples}.`
      : `Share of ${int(data.count)} ${samples} at or below each ${what}; p50 ${
        latency(summary.p50)
      }, p90 ${latency(summary.p90)}, p99 ${latency(summary.p99)}, p99.9 ${
        latency(summary.p999)
      }, max ${latency(summary.max)}.`,
    width: 560,
    height: 280,
    x: axis,
    y: {
      min: 0,
      max: 1,
      log: false,
      label: `${samples} at or below (%)`,
      ticks: [0, 0.25, 0.5, 0.75, 0.9, 1].map((v) => ({ at: v, label: String(v * 100) })),
    },
    body: (f) => {
      if (data.count === 0) return noSamples(f, `no ${samples}`);
      const marks = quantiles.map(([name, q, v], i) => {
        const x = f.x(Math.min(Math.max(v, axis.min), axis.max));
        const y = f.bottom - 6 - i * 13;
        const text = `${name} ${latency(v)}`;
        const fits = x + 3 + text.length * 6 < f.right;
        return h`<line class="quantile" x1="${px(x)}" y1="${px(f.y(q))}" x2="${
          px(x)
        }" y2="${f.bottom}"/><text class="quantile" x="${px(fits ? x + 3 : x - 3)}" y="${y}"${
          fits ? "" : raw(' text-anchor="end"')
        }>${text}</text>`;
      });
      return [
        ...marks,
        h`<path class="cdf-line" d="${cdfPath(data, f, axis)}"/>`,
      ];
    },
  });
}

/** A latency histogram: log-spaced bins, one bar each. */
function histogramPlot(
  data: HistogramData,
  what: string,
  subject: string,
  samples: string,
): Markup {
  const axis = latencyAxis(data, what);
  const bins = new Array<number>(HISTOGRAM_BINS).fill(0);
  const a = Math.log10(axis.min);
  const span = Math.log10(axis.max) - a;
  for (const [index, n] of data.buckets) {
    const [low, high] = Histogram.bucketBounds(index);
    const mid = Math.min(Math.max((low + high) / 2, data.min, 1), Math.max(data.max, 1));
    const bin = Math.floor(((Math.log10(mid) - a) / span) * HISTOGRAM_BINS);
    bins[Math.min(Math.max(bin, 0), HISTOGRAM_BINS - 1)]! += n;
  }
  const most = Math.max(1, ...bins);
  return plot({
    kind: "histogram",
    title: `Latency histogram: ${what} of ${subject}`,
    desc: `${
      int(data.count)
    } ${samples} in ${HISTOGRAM_BINS} log-spaced bins; the fullest bin holds ${int(most)}.`,
    width: 560,
    height: 280,
    x: axis,
    y: linearAxis(0, most, `${samples} per bin`, (v) => compact(v), 4),
    body: (f) => {
      if (data.count === 0) return noSamples(f, `no ${samples}`);
      const bars: string[] = [];
      bins.forEach((n, i) => {
        if (n === 0) return;
        const x0 = f.left + (i / HISTOGRAM_BINS) * (f.right - f.left);
        const x1 = f.left + ((i + 1) / HISTOGRAM_BINS) * (f.right - f.left);
        const y = Math.min(f.y(n), f.bottom - 1);
        bars.push(`M${px(x0 + 0.5)} ${f.bottom}V${px(y)}H${px(x1 - 0.5)}V${f.bottom}Z`);
      });
      return h`<path class="bars k-delivered" d="${bars.join("")}"/>`;
    },
  });
}

/** A time axis in seconds since the scenario started. */
function timeAxis(fromMs: number, toMs: number): AxisSpec {
  const from = fromMs / 1000;
  const to = Math.max(toMs / 1000, from + 0.001);
  return linearAxis(from, to, "time since scenario start (s)", (v, d) => v.toFixed(d), 8, false);
}

/** Shaded bands for faults, labelled with their description, over a time plot. */
function faultBands(
  faults: FaultReport[],
  frame: Frame,
  fromMs: number,
  toMs: number,
): { bands: Markup[]; labels: Markup[] } {
  const rowsEnd: number[] = [0, 0, 0];
  const bands: Markup[] = [];
  const labels: Markup[] = [];
  const visible = faults.filter((f) =>
    (f.removedAtMs ?? toMs) >= fromMs && f.appliedAtMs <= toMs &&
    (f.removedAtMs ?? toMs) >= f.appliedAtMs
  );
  // With many faults, labels say only their number; the band's tooltip and the fault
  // table say the rest.
  const brief = visible.length > MAX_DESCRIBED_FAULTS;
  for (const f of visible) {
    const start = Math.max(f.appliedAtMs, fromMs);
    const end = Math.min(f.removedAtMs ?? toMs, toMs);
    const x0 = frame.x(start / 1000);
    const x1 = Math.max(frame.x(end / 1000), x0 + 1);
    const full = `#${f.id} ${f.description}, from ${since(f.appliedAtMs)} ${
      f.removedAtMs === null ? "until the end" : `to ${since(f.removedAtMs)}`
    }`;
    bands.push(
      h`<rect class="fault" x="${px(x0)}" y="${frame.top}" width="${px(x1 - x0)}" height="${
        frame.bottom - frame.top
      }"><title>${full}</title></rect>`,
    );
    const row = rowsEnd.findIndex((e) => e <= x0);
    if (row === -1) continue;
    const room = Math.floor((frame.right - x0 - 4) / 5.6);
    if (room < 3) continue;
    const text = brief ? `#${f.id}` : `#${f.id} ${f.description}`;
    const label = text.length > room ? `${text.slice(0, room - 1)}…` : text;
    rowsEnd[row] = x0 + label.length * 5.6 + 8;
    labels.push(
      h`<text class="fault-label" x="${px(x0 + 3)}" y="${
        frame.top + 11 + row * 12
      }">${label}</text>`,
    );
  }
  return { bands, labels };
}

/** Sums adjacent intervals so that a series has at most `most` of them. */
function coarsen(series: number[][], intervalMs: number, most: number) {
  const length = Math.max(0, ...series.map((s) => s.length));
  const factor = Math.max(1, Math.ceil(length / most));
  if (factor === 1) return { series, intervalMs, length };
  const merged = series.map((s) => {
    const out = new Array<number>(Math.ceil(length / factor)).fill(0);
    s.forEach((v, i) => out[Math.floor(i / factor)]! += v);
    return out;
  });
  return { series: merged, intervalMs: intervalMs * factor, length: Math.ceil(length / factor) };
}

/** Stacked bars as one path per layer: `layers[k][i]` is layer k's height in interval i. */
function stackedBars(
  layers: { cls: string; values: (number | null)[] }[],
  frame: Frame,
  startMs: number,
  intervalMs: number,
): Markup[] {
  const base: number[] = [];
  return layers.map((layer) => {
    const d: string[] = [];
    layer.values.forEach((v, i) => {
      const b = base[i] ?? 0;
      if (v === null || v <= 0) return;
      base[i] = b + v;
      const x0 = frame.x((startMs + i * intervalMs) / 1000);
      const x1 = frame.x((startMs + (i + 1) * intervalMs) / 1000);
      const y0 = frame.y(b);
      const y1 = Math.min(frame.y(b + v), y0 - 0.6);
      d.push(`M${px(x0)} ${px(y0)}V${px(y1)}H${px(Math.max(x1, x0 + 0.6))}V${px(y0)}Z`);
    });
    return d.length > 0 ? h`<path class="bars ${layer.cls}" d="${d.join("")}"/>` : h``;
  });
}

function legend(items: [string, string][]): Markup {
  return h`<ul class="legend">${
    items.map(([cls, text]) => h`<li><span class="swatch ${cls}"></span>${text}</li>`)
  }</ul>`;
}

function figure(plotMarkup: Markup, caption: Markup | string, legendItems?: [string, string][]) {
  return h`<figure>${plotMarkup}${
    legendItems ? legend(legendItems) : ""
  }<figcaption>${caption}</figcaption></figure>`;
}

// ---------------------------------------------------------------------------------
// Scenario.

function statusBadge(status: ScenarioReport["status"]): Markup {
  return h`<span class="badge ${status}">${status.toUpperCase()}</span>`;
}

/** Rows of a table, capped, with a last row counting the rest. */
function rows<T>(items: readonly T[], columns: number, row: (item: T) => Markup): Markup[] {
  const shown = items.slice(0, MAX_TABLE_ROWS).map(row);
  if (items.length > MAX_TABLE_ROWS) {
    shown.push(
      h`<tr class="more"><td colspan="${columns}">and ${
        int(items.length - MAX_TABLE_ROWS)
      } more (see the JSON report)</td></tr>`,
    );
  }
  return shown;
}

function table(caption: string, headers: string[], body: Markup[], cls = ""): Markup {
  return h`<div class="table-wrap"><table class="${cls}"><caption>${caption}</caption><thead><tr>${
    headers.map((c) => h`<th scope="col">${c}</th>`)
  }</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** What a scenario's times are measured from: its wall-clock start, in ms since the epoch. */
function originOf(s: ScenarioReport): number | null {
  const t = Date.parse(s.startedAt);
  return Number.isFinite(t) ? t : null;
}

interface Context {
  scenario: ScenarioReport;
  /** Wall-clock start of the scenario (epoch ms), or null when its start is unreadable. */
  origin: number | null;
}

/** An epoch time as ms since the scenario started (`fallback` when the start is unknown). */
function relative(ctx: Context, epochMs: number, fallback: number): number {
  return ctx.origin === null ? fallback : epochMs - ctx.origin;
}

function scenarioSection(s: ScenarioReport, number: number): Markup {
  const ctx: Context = { scenario: s, origin: originOf(s) };
  const failedThresholds = s.thresholds.filter((t) => !t.ok).length;
  const failedChecks = s.checks.filter((c) => !c.ok).length;
  return h`<section class="scenario ${s.status}" id="scenario-${number}" aria-labelledby="scenario-${number}-name">
<h2 id="scenario-${number}-name">${statusBadge(s.status)} ${s.name}</h2>
<p class="meta">${
    s.file ? h`<code>${s.file}</code> · ` : ""
  }run ${s.runId} · ${s.network} · started ${s.startedAt} · ${duration(s.durationMs)}${
    s.setupMs !== null ? ` (setup ${duration(s.setupMs)})` : ""
  } · exit code ${s.exitCode}${
    failedThresholds + failedChecks > 0
      ? ` · ${failedThresholds} threshold(s) and ${failedChecks} check(s) failed`
      : ""
  }</p>
${s.errors.length > 0 ? errorsBlock(s.errors) : ""}
${thresholdsTable(s)}
${topologyTables(s)}
${s.workloads.map((w) => workloadSection(ctx, w))}
${s.bindFailures !== null ? bindFailuresSection(ctx, s) : ""}
${
    s.bindWatch.active
      ? ""
      : h`<p class="note">Bind watch did not run${
        s.bindWatch.reason ? h`: ${s.bindWatch.reason}` : ""
      }.</p>`
  }
${
    s.log.length > 0
      ? table(
        "Log of the scenario function",
        ["time", "message"],
        rows(
          s.log,
          2,
          (l) => h`<tr><td class="num">${since(l.atMs)}</td><td><pre>${l.message}</pre></td></tr>`,
        ),
      )
      : ""
  }
</section>
`;
}

function errorsBlock(errors: string[]): Markup {
  return h`<div class="errors" role="alert"><h3>Errors</h3><ul>${
    errors.slice(0, MAX_TABLE_ROWS).map((e) => h`<li><pre>${e}</pre></li>`)
  }${
    errors.length > MAX_TABLE_ROWS
      ? h`<li>and ${int(errors.length - MAX_TABLE_ROWS)} more</li>`
      : ""
  }</ul></div>`;
}

function thresholdsTable(s: ScenarioReport): Markup {
  if (s.thresholds.length + s.checks.length === 0) return h``;
  const mark = (ok: boolean) =>
    h`<span class="${ok ? "ok" : "fail"}">${ok ? "✓ held" : "✗ failed"}</span>`;
  return table(
    "Thresholds and checks",
    ["", "name", "value", "limit", "reason or detail"],
    [
      ...rows(
        s.thresholds,
        5,
        (t) =>
          h`<tr class="${t.ok ? "" : "failed"}"><td>${
            mark(t.ok)
          }</td><td><code>${t.key}</code></td><td class="num">${t.measured}</td><td><code>${t.expression.trim()}</code></td><td>${
            t.reason ?? ""
          }</td></tr>`,
      ),
      ...rows(
        s.checks,
        5,
        (c) =>
          h`<tr class="${c.ok ? "" : "failed"}"><td>${
            mark(c.ok)
          }</td><td>check: ${c.name}</td><td></td><td></td><td>${c.detail ?? ""}</td></tr>`,
      ),
    ],
    "thresholds",
  );
}

function topologyTables(s: ScenarioReport): Markup {
  const hosts = table(
    "Hosts",
    ["host", "address", "agent pid", "interfaces"],
    rows(
      s.hosts,
      4,
      (host) =>
        h`<tr><td>${host.name}</td><td><code>${host.address}</code></td><td class="num">${
          dash(host.agentPid)
        }</td><td>${
          host.interfaces.map((i) =>
            h`<code>${i.name}</code> ${i.address}/${i.prefixLength} → ${i.peerHost}<br>`
          )
        }</td></tr>`,
    ),
  );
  const links = s.links.length === 0 ? h`` : table(
    "Links",
    ["link", "subnet", "interfaces"],
    rows(
      s.links,
      3,
      (l) =>
        h`<tr><td>${l.hosts[0]} ↔ ${l.hosts[1]}</td><td><code>${l.subnet}</code></td><td><code>${
          l.interfaces[0]
        }</code> ↔ <code>${l.interfaces[1]}</code></td></tr>`,
    ),
  );
  const faults = s.faults.length === 0 ? h`` : table(
    "Faults (the fault timeline)",
    ["#", "fault", "applied", "removed", "passed", "dropped"],
    rows(
      s.faults,
      6,
      (f) =>
        h`<tr><td class="num">${f.id}</td><td>${f.description}</td><td class="num">${
          since(f.appliedAtMs)
        }</td><td class="num">${
          f.removedAtMs === null ? "still on at the end" : since(f.removedAtMs)
        }</td><td class="num">${int(f.passed)}</td><td class="num">${int(f.dropped)}</td></tr>`,
    ),
  );
  const workloads = table(
    "Workloads",
    ["workload", "host", "what", "started", "status"],
    rows(
      s.workloads,
      5,
      (w) =>
        h`<tr class="${
          w.status === "failed" ? "failed" : ""
        }"><td>${w.name}</td><td>${w.host}</td><td>${w.description}</td><td class="num">${
          since(w.startedAtMs)
        }</td><td>${w.status}${w.error ? h`: <span class="fail">${w.error}</span>` : ""}</td></tr>`,
    ),
  );
  return h`<details class="topology" open><summary>Hosts, links, faults and workloads</summary><div class="tables">${hosts}${links}${faults}</div>${workloads}</details>`;
}

function workloadSection(ctx: Context, w: WorkloadReport): Markup {
  const r = w.result;
  if (!r) return h``;
  switch (r.kind) {
    case "udpProbe":
      return udpProbeSection(ctx, w, r);
    case "udpEcho":
      return udpEchoLine(w, r);
    case "tcpEcho":
      return tcpEchoLine(w, r);
    case "tcpProbe":
      return tcpProbeSection(w, r);
    case "reconnectStorm":
      return stormSection(ctx, w, r);
    case "bindChurn":
      return churnSection(ctx, w, r);
    case "exec":
      return execSection(ctx, w, r);
  }
}

function counts(record: Record<string, number>): string {
  return Object.entries(record).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${int(n)}`).join(
    ", ",
  );
}

function udpEchoLine(w: WorkloadReport, r: UdpEchoResult): Markup {
  const errors = counts(r.sendErrors);
  return h`<p class="server">${w.name} on ${w.host} (<code>${r.address}</code>): received ${
    int(r.received)
  }, replied ${int(r.replied)}, ${r.flows.length} flow(s)${
    errors ? `, send errors: ${errors}` : ""
  }</p>`;
}

function tcpEchoLine(w: WorkloadReport, r: TcpEchoResult): Markup {
  const errors = counts(r.errors);
  return h`<p class="server">${w.name} on ${w.host} (<code>${r.address}</code>): ${
    int(r.connections)
  } connections (at most ${int(r.maxConcurrent)} at once), ${int(r.bytes)} bytes${
    errors ? `, errors: ${errors}` : ""
  }</p>`;
}

/** Small one-row tables side by side: `[caption, [header, value][]]` each. */
function statsTable(groups: [string, [string, string][]][]): Markup {
  return h`<div class="stats-row">${
    groups.map(([caption, pairs]) =>
      h`<table class="stats"><caption>${caption}</caption><thead><tr>${
        pairs.map(([k]) => h`<th scope="col">${k}</th>`)
      }</tr></thead><tbody><tr>${
        pairs.map(([, v]) => h`<td class="num">${v}</td>`)
      }</tr></tbody></table>`
    )
  }</div>`;
}

function latencyCells(summary: LatencySummary): [string, string][] {
  const v = (ns: number) => summary.count === 0 ? "—" : latency(ns);
  return [
    ["p50", v(summary.p50)],
    ["p90", v(summary.p90)],
    ["p99", v(summary.p99)],
    ["p99.9", v(summary.p999)],
    ["max", v(summary.max)],
  ];
}

// ---------------------------------------------------------------------------------
// UDP probes.

function udpProbeSection(ctx: Context, w: WorkloadReport, r: UdpProbeResult): Markup {
  const subject = `${w.name} (${w.host} → ${r.address})`;
  const stats = statsTable([["datagrams", [
    ["sent", int(r.sent)],
    ["delivered", int(r.delivered)],
    ["lost", int(r.lost)],
    [
      "out/back",
      r.lostOutbound === null ? "?" : `${int(r.lostOutbound)}/${int(r.lostReturn ?? 0)}`,
    ],
    ["late", int(r.late)],
    ["dup", int(r.duplicated)],
    ["reord", int(r.reordered)],
    ["loss", percent(r.loss)],
    ["rate", `${int(r.achievedRate)}/s`],
  ]], ["round-trip time", latencyCells(r.rttSummary)]]);
  const notes: Markup[] = [];
  const errors = counts(r.sendErrors);
  if (errors) notes.push(h`<li class="warn">send errors: ${errors}</li>`);
  if (r.stoppedEarly) notes.push(h`<li class="warn">stopped early: sent fewer than asked</li>`);
  if (r.echoReceived === null && r.sent > 0) {
    notes.push(h`<li>the target is not a squall udpEcho, so loss is not split by direction</li>`);
  }
  for (const o of r.outages.slice(0, 20)) {
    const start = relative(ctx, r.startedAt, w.startedAtMs);
    notes.push(
      h`<li class="warn">outage from ${since(start + o.fromMs)} to ${since(start + o.toMs)} (${
        int(o.sent)
      } datagrams unanswered); answered again from ${since(start + o.toMs)}</li>`,
    );
  }
  if (r.outages.length > 20) notes.push(h`<li>and ${r.outages.length - 20} more outages</li>`);
  return h`<section class="workload udp-probe">
<h3>UDP probe ${subject}</h3>
${stats}
${notes.length > 0 ? h`<ul class="notes">${notes}</ul>` : ""}
<div class="pair">
${
    figure(
      cdfPlot(r.rtt, r.rttSummary, "round-trip time", subject, "replies"),
      `Round-trip time CDF of ${int(r.rtt.count)} replies in time.`,
    )
  }
${figure(histogramPlot(r.rtt, "round-trip time", subject, "replies"), "Round-trip time histogram.")}
</div>
${lossTimeline(ctx, w, r, subject)}
${
    r.ledger
      ? ledgerFigure(r, r.ledger, subject)
      : h`<p class="note">No loss ledger: nothing can be attributed on loopback.</p>`
  }
</section>
`;
}

function lossTimeline(ctx: Context, w: WorkloadReport, r: UdpProbeResult, subject: string): Markup {
  const t = r.timeline;
  const start = relative(ctx, r.startedAt, w.startedAtMs);
  const lost = t.sent.map((s, i) => Math.max(0, s - (t.delivered[i] ?? 0) - (t.late[i] ?? 0)));
  const c = coarsen([t.sent, lost, t.late], t.intervalMs, 600);
  const [sent, lostC, lateC] = c.series as [number[], number[], number[]];
  const lossRatio = lostC.map((l, i) => (sent[i] ?? 0) > 0 ? l / sent[i]! : null);
  const lateRatio = lateC.map((l, i) => (sent[i] ?? 0) > 0 ? l / sent[i]! : null);
  const top = Math.max(
    0.01,
    ...lossRatio.map((v, i) => (v ?? 0) + (lateRatio[i] ?? 0)),
  );
  const endMs = start + Math.max(r.durationMs, t.sent.length * t.intervalMs);
  const x = timeAxis(start, endMs);
  const y = linearAxis(
    0,
    Math.min(1, top),
    "lost per interval (%)",
    (v, d) => (v * 100).toFixed(Math.max(0, d - 2)),
    5,
  );
  const worst = Math.max(0, ...lossRatio.map((v) => v ?? 0));
  const svg = plot({
    kind: "loss-timeline",
    title: `Loss over time of ${subject}, with the fault timeline`,
    desc: `Share of datagrams lost (and late) per ${
      duration(c.intervalMs)
    } interval, by when they were sent; worst interval ${
      percent(worst)
    }. ${ctx.scenario.faults.length} fault(s) shown as shaded bands.`,
    width: 960,
    height: 260,
    x,
    y,
    body: (f) => {
      const { bands, labels } = faultBands(ctx.scenario.faults, f, x.min * 1000, x.max * 1000);
      return [
        ...bands,
        ...stackedBars(
          [{ cls: "k-lost", values: lossRatio }, { cls: "k-late", values: lateRatio }],
          f,
          start,
          c.intervalMs,
        ),
        ...labels,
        lostC.every((v) => v === 0) && lateC.every((v) => v === 0)
          ? noSamples(f, "nothing lost, nothing late")
          : h``,
      ];
    },
  });
  return figure(
    svg,
    h`Loss over time: each bar is one ${duration(c.intervalMs)} interval of sending${
      ctx.origin === null
        ? " (times from the probe's own start: the scenario start is unreadable)"
        : ""
    }.`,
    [["k-lost", "lost"], ["k-late", "late (answered after the timeout)"], [
      "k-fault",
      "fault applied",
    ]],
  );
}

interface Segment {
  cls: string;
  label: string;
  /** What the bar itself says, when the segment is wide enough. */
  short: string;
  value: number;
}

/** Faults that get a colour of their own in a ledger; the others share one. */
const LEDGER_FAULT_COLOURS = 5;

function ledgerFigure(r: UdpProbeResult, ledger: LossLedger, subject: string): Markup {
  const split = ledger.outbound !== null && ledger.return !== null;
  const entries: LedgerEntry[] = split ? [ledger.outbound!, ledger.return!] : [ledger.total];
  // Every fault that dropped something, the biggest first.
  const faults = new Map<number, { description: string; packets: number }>();
  for (const e of entries) {
    for (const d of e.droppedByFault) {
      const seen = faults.get(d.fault);
      if (seen) seen.packets += d.packets;
      else faults.set(d.fault, { description: d.description, packets: d.packets });
    }
  }
  const ranked = [...faults.entries()].sort((a, b) => b[1].packets - a[1].packets || a[0] - b[0]);
  const coloured = ranked.slice(0, LEDGER_FAULT_COLOURS);
  const others = ranked.slice(LEDGER_FAULT_COLOURS);
  const dropped = (e: LedgerEntry, id: number) =>
    e.droppedByFault.find((d) => d.fault === id)?.packets ?? 0;
  const causes = (e: LedgerEntry): Segment[] => [
    ...coloured.map(([id], i) => ({
      cls: `k-fault${i}`,
      label: `dropped by fault #${id}`,
      short: `fault #${id}`,
      value: dropped(e, id),
    })),
    ...(others.length > 0
      ? [{
        cls: "k-fault-other",
        label: `dropped by ${others.length} other faults`,
        short: "other faults",
        value: others.reduce((sum, [id]) => sum + dropped(e, id), 0),
      }]
      : []),
    {
      cls: "k-overflow",
      label: "receive buffer overflow",
      short: "rcvbuf",
      value: e.receiveBufferOverflow,
    },
    { cls: "k-nosocket", label: "no socket", short: "no socket", value: e.noSocket },
    { cls: "k-unexplained", label: "unexplained", short: "unexplained", value: e.unexplained },
  ];
  const sentRow: Segment[] = [
    { cls: "k-delivered", label: "delivered", short: "delivered", value: r.delivered },
    { cls: "k-late", label: "late", short: "late", value: ledger.late },
    ...(split
      ? [
        {
          cls: "k-lost",
          label: "lost on the way there",
          short: "lost out",
          value: ledger.outbound!.lost,
        },
        {
          cls: "k-lostback",
          label: "lost on the way back",
          short: "back",
          value: ledger.return!.lost,
        },
      ]
      : [{ cls: "k-lost", label: "lost", short: "lost", value: ledger.total.lost }]),
  ];
  const bars: { label: string; total: number; scale: number; segments: Segment[] }[] = [
    { label: `all sent (${int(r.sent)})`, total: r.sent, scale: r.sent, segments: sentRow },
  ];
  if (ledger.total.lost > 0) {
    const named: [string, LedgerEntry][] = split
      ? [["way there", ledger.outbound!], ["way back", ledger.return!]]
      : [["lost", ledger.total]];
    for (const [name, e] of named) {
      bars.push({
        label: `${name} (${int(e.lost)} lost)`,
        total: e.lost,
        scale: ledger.total.lost,
        segments: causes(e),
      });
    }
  }
  const width = 960;
  const left = 190;
  const right = width - 20;
  const rowHeight = 30;
  const height = 24 + bars.length * (rowHeight + 10) + 22;
  const parts: Markup[] = [];
  bars.forEach((bar, i) => {
    const y = 14 + i * (rowHeight + 10);
    parts.push(
      h`<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" text-anchor="end">${bar.label}</text>`,
      h`<rect class="track" x="${left}" y="${y}" width="${right - left}" height="${rowHeight}"/>`,
    );
    let x = left;
    for (const seg of bar.segments) {
      if (seg.value <= 0 || bar.scale <= 0 || x >= right) continue;
      const w = Math.min(Math.max(2, (seg.value / bar.scale) * (right - left)), right - x);
      const share = bar.total > 0 ? seg.value / bar.total : 0;
      parts.push(
        h`<rect class="${seg.cls}" x="${px(x)}" y="${y}" width="${
          px(w)
        }" height="${rowHeight}"><title>${seg.label}: ${int(seg.value)} (${
          percent(share)
        })</title></rect>`,
      );
      const text = `${seg.short} ${int(seg.value)}`;
      if (w > text.length * 6.2 + 6) {
        parts.push(
          h`<text class="in-bar" x="${px(x + 4)}" y="${y + rowHeight / 2 + 4}">${text}</text>`,
        );
      }
      x += w;
    }
  });
  parts.push(
    h`<text class="label" x="${(left + right) / 2}" y="${height - 6}" text-anchor="middle">${
      ledger.total.lost > 0
        ? "datagrams: the first bar to scale of all sent, the others to scale of all lost"
        : "datagrams, to scale of all sent"
    }</text>`,
  );
  const totalCauses = causes(ledger.total).filter((c) => c.value > 0);
  const svg = h`<svg class="plot ledger" viewBox="0 0 ${width} ${height}" role="img">
<title>Loss ledger of ${subject}</title>
<desc>Of ${int(r.sent)} datagrams sent, ${int(r.delivered)} delivered, ${int(ledger.late)} late, ${
    int(ledger.total.lost)
  } lost${
    totalCauses.length > 0
      ? `: ${totalCauses.map((c) => `${c.label} ${int(c.value)}`).join(", ")}`
      : ""
  }.</desc>
${parts}
</svg>`;
  const legendItems: [string, string][] = [
    ["k-delivered", "delivered"],
    ["k-late", "late"],
    ...(split
      ? [["k-lost", "lost on the way there"], ["k-lostback", "lost on the way back"]] as [
        string,
        string,
      ][]
      : [["k-lost", "lost"]] as [string, string][]),
    ...coloured.map(([id, f], i) =>
      [`k-fault${i}`, `dropped by fault #${id} ${f.description}`] as [string, string]
    ),
    ...(others.length > 0
      ? [["k-fault-other", `dropped by ${others.length} other faults`] as [string, string]]
      : []),
    ["k-overflow", "receive buffer overflow"],
    ["k-nosocket", "no socket"],
    ["k-unexplained", "unexplained"],
  ];
  // The table: one row per cause, every fault included.
  const columns = split ? ["cause", "way there", "way back", "total"] : ["cause", "lost"];
  const cells = (value: (e: LedgerEntry) => number) =>
    (split ? [ledger.outbound!, ledger.return!, ledger.total] : [ledger.total]).map((e) =>
      h`<td class="num">${int(value(e))}</td>`
    );
  const causeRows = [
    ...rows(
      ranked,
      columns.length,
      ([id, f]) =>
        h`<tr><th scope="row">dropped by fault #${id} ${f.description}</th>${
          cells((e) => dropped(e, id))
        }</tr>`,
    ),
    h`<tr><th scope="row">receive buffer overflow</th>${
      cells((e) => e.receiveBufferOverflow)
    }</tr>`,
    h`<tr><th scope="row">no socket</th>${cells((e) => e.noSocket)}</tr>`,
    h`<tr class="${
      ledger.total.unexplained !== 0 ? "failed" : ""
    }"><th scope="row">unexplained</th>${cells((e) => e.unexplained)}</tr>`,
    h`<tr class="sum"><th scope="row">lost</th>${cells((e) => e.lost)}</tr>`,
  ];
  const ledgerTable = table(
    `Loss ledger of ${subject}: lost = dropped by faults + receive buffer overflow + no socket + unexplained`,
    columns,
    causeRows,
    "ledger-table",
  );
  const notes: Markup[] = [];
  if (ledger.total.unexplained !== 0) {
    notes.push(
      h`<p class="fail loud">${
        int(ledger.total.unexplained)
      } lost datagrams have no known cause.</p>`,
    );
  }
  if (ledger.kernelCountersShared) {
    notes.push(
      h`<p class="note">Another probe shared these namespaces: kernel counts (overflow, no socket) are shared.</p>`,
    );
  }
  return h`${
    figure(svg, "Loss ledger: where every datagram went.", legendItems)
  }${notes}${ledgerTable}`;
}

// ---------------------------------------------------------------------------------
// TCP probes.

function tcpProbeSection(w: WorkloadReport, r: TcpProbeResult): Markup {
  const subject = `${w.name} (${w.host} → ${r.address})`;
  const stats = statsTable([
    ["requests", [
      ["requests", int(r.requests)],
      ["answered", int(r.responses)],
      ["failed", int(r.failed)],
      ["failure rate", percent(r.failureRate)],
      ["connects", int(r.connects)],
      ["connect failures", int(r.connectFailures)],
      ["errors", counts(r.errors) || "—"],
    ]],
    ["connect time", latencyCells(r.connectSummary)],
    ["request round-trip time", latencyCells(r.rttSummary)],
  ]);
  return h`<section class="workload tcp-probe">
<h3>TCP probe ${subject}</h3>
${stats}
${r.stoppedEarly ? h`<p class="warn">Stopped early: sent fewer requests than asked.</p>` : ""}
<div class="pair">
${
    figure(
      cdfPlot(r.connectTime, r.connectSummary, "connect time", subject, "connects"),
      `Connect time CDF of ${int(r.connectTime.count)} successful connects.`,
    )
  }
${
    figure(
      cdfPlot(r.rtt, r.rttSummary, "request round-trip time", subject, "responses"),
      `Request-to-response time CDF of ${int(r.rtt.count)} responses.`,
    )
  }
</div>
</section>
`;
}

// ---------------------------------------------------------------------------------
// Reconnect storms.

function stormSection(ctx: Context, w: WorkloadReport, r: ReconnectStormResult): Markup {
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
${
    figure(
      cdfPlot(r.connectTime, r.connectSummary, "connect time", subject, "connects"),
      `Connect time CDF of ${int(r.connectTime.count)} successful connects.`,
    )
  }
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
  let min = roundDown125(Math.max(lowMs, 0.001));
  let max = roundUp125(Math.max(highMs, min * 1.01));
  if (max / min < 10) {
    const middle = Math.sqrt(min * max);
    min = roundDown125(middle / 4);
    max = roundUp125(middle * 4);
  }
  const ticks = logTicks(min, max, (v) => latency(v * 1e6));
  const y: AxisSpec = {
    min,
    max,
    log: true,
    label: `connect time (log scale, ${unitsOf(ticks)})`,
    ticks,
  };
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
// Bind churn and bind failures.

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
      }</li>`
    )
  }${holders.length > 20 ? h`<li>and ${holders.length - 20} more</li>` : ""}</ul>`;
}

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

function churnSection(ctx: Context, w: WorkloadReport, r: BindChurnResult): Markup {
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
  const row = (f: BindFailure) =>
    h`<tr><td class="num">${
      ctx.origin === null ? "—" : since(f.atMs - ctx.origin)
    }</td><td>${w.host}</td><td>squall bind churn (${w.name})</td><td class="num">—</td><td><code>${r.protocol} ${r.address}</code></td><td class="fail">${f.error}</td><td>${
      holdersCell(f.holders)
    }</td><td class="num">${
      f.rebindMs === null ? "never" : duration(f.rebindMs)
    }</td><td class="num">—</td></tr>`;
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
      ? table(
        `Failed binds of ${subject}${
          r.failureLogTruncated
            ? ` (the log stopped at ${int(r.failureLog.length)} of ${int(r.failures)})`
            : ""
        }`,
        BIND_COLUMNS,
        rows(r.failureLog, BIND_COLUMNS.length, row),
        "bind-failures",
      )
      : ""
  }
</section>
`;
}

function bindFailuresSection(ctx: Context, s: ScenarioReport): Markup {
  const failures = s.bindFailures ?? [];
  const lookup = (f: ObservedBindFailure) => {
    if (f.holderLookupDelayMs === null) return h`—`;
    const late = f.rebindMs !== null && f.holderLookupDelayMs > f.rebindMs;
    return h`${duration(f.holderLookupDelayMs)}${
      late ? h`<br><span class="warn">after the rebind: may show the new socket</span>` : ""
    }`;
  };
  const row = (f: ObservedBindFailure) =>
    h`<tr><td class="num">${
      ctx.origin === null ? "—" : since(f.atMs - ctx.origin)
    }</td><td>${f.host}</td><td><code>${f.program}</code>${
      f.workload ? h` (${f.workload})` : ""
    }</td><td class="num">${f.pid}${
      f.tid !== f.pid ? h`<br><span class="dim">tid ${f.tid}</span>` : ""
    }</td><td><code>${
      f.protocol ?? ""
    } ${f.address}:${f.port}</code></td><td class="fail">${f.error}</td><td>${
      holdersCell(f.holders)
    }</td><td class="num">${
      f.rebindMs === null ? "never" : duration(f.rebindMs)
    }</td><td class="num">${lookup(f)}</td></tr>`;
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
      : table(
        "Failed binds of every process in the run's namespaces",
        BIND_COLUMNS,
        rows(failures, BIND_COLUMNS.length, row),
        "bind-failures",
      )
  }
</section>
`;
}

// ---------------------------------------------------------------------------------
// Programs under test.

function execSection(ctx: Context, w: WorkloadReport, r: ExecResult): Markup {
  const at = (epoch: number) => ctx.origin === null ? "—" : since(epoch - ctx.origin);
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

// ---------------------------------------------------------------------------------
// Style. Colours: Okabe-Ito, readable by colour-blind readers.

const CSS = `
:root{color-scheme:light;--fg:#1d1d1f;--dim:#666;--line:#d8d8d8;--bg:#fff;--panel:#f7f7f8}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{margin:0 0 4px;font-size:24px}
h2{margin:28px 0 4px;font-size:20px;border-top:2px solid var(--line);padding-top:16px}
h3{margin:22px 0 6px;font-size:16px}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre{margin:0;white-space:pre-wrap;word-break:break-word}
.meta,.dim,.note{color:var(--dim)}
nav ol{margin:6px 0;padding-left:22px}
a{color:#0060a8}
.badge{display:inline-block;padding:1px 7px;border-radius:4px;font-size:12px;font-weight:700;color:#fff;vertical-align:2px}
.badge.passed{background:#007a55}.badge.failed,.badge.error{background:#c0392b}.badge.interrupted{background:#b07800}
.ok{color:#007a55;font-weight:600}.fail{color:#c0392b;font-weight:600}.warn{color:#9a5b00}
.loud{font-size:16px}
.errors{border:1px solid #e3b3ad;background:#fdf1ef;border-radius:6px;padding:4px 14px;margin:10px 0}
.errors h3{margin:6px 0}
.table-wrap{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--fg)}
th,td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#444;white-space:nowrap}
td.num,table.stats td{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.num .warn{white-space:normal;display:inline-block;max-width:14em;text-align:left;font-size:12px}
.stats-row{display:flex;flex-wrap:wrap;gap:4px 28px;margin:6px 0}
.stats-row caption{font-weight:500;color:var(--dim);font-size:12.5px}
table.stats th{text-align:right}
tr.failed td{background:#fdf1ef}
tr.more td{color:var(--dim);font-style:italic}
tr.sum th,tr.sum td{font-weight:700;border-top:2px solid var(--line)}
table.ledger-table th[scope=row]{font-weight:400;white-space:normal}
ul.holders{margin:0;padding-left:16px}
details.topology{margin:10px 0}
details.topology>summary{cursor:pointer;font-weight:600}
.tables{display:flex;flex-wrap:wrap;gap:0 28px}
.workload{margin-top:14px;padding:2px 16px 12px;background:var(--panel);border-radius:8px}
.pair{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:8px 18px}
figure{margin:8px 0}
figcaption{font-size:12.5px;color:var(--dim)}
ul.notes{margin:4px 0;padding-left:20px}
svg.plot{display:block;width:100%;height:auto;background:#fff;border:1px solid var(--line);border-radius:4px}
svg text{font-size:11px;fill:#333}
svg text.label{font-size:12px;fill:#222}
svg text.empty{font-size:14px;fill:#888}
svg .grid line{stroke:#ececec}
svg .axis line{stroke:#555}
svg .cdf-line{fill:none;stroke:#0072b2;stroke-width:2}
svg line.quantile{stroke:#999;stroke-dasharray:3 3}
svg text.quantile{font-size:10.5px;fill:#555}
svg rect.fault{fill:#7b61ff;fill-opacity:.13;stroke:#7b61ff;stroke-opacity:.6;stroke-dasharray:4 3}
svg text.fault-label{font-size:10px;fill:#4b2fbf;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg rect.unserved{fill:#e69f00;fill-opacity:.2}
svg .recovery line{stroke:#007a55;stroke-width:1.5;stroke-dasharray:5 3}
svg .recovery text{fill:#007a55;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .dots{fill:#0072b2;fill-opacity:.55}
svg .fail-marks{stroke:#d55e00;stroke-width:1.2}
svg rect.track{fill:#f1f1f1}
svg text.in-bar{fill:#fff;font-size:11px;font-weight:600}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:2px 16px;margin:4px 0;padding:0;font-size:12.5px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.k-delivered{fill:#009e73;background:#009e73}
.k-late{fill:#e69f00;background:#e69f00}
.k-lost{fill:#d55e00;background:#d55e00}
.k-lostback{fill:#8c3a00;background:#8c3a00}
.k-fault{background:#7b61ff66;border:1px dashed #7b61ff}
.k-unserved{background:#e69f0055}
.k-fault0{fill:#7b3294;background:#7b3294}.k-fault1{fill:#c51b7d;background:#c51b7d}
.k-fault2{fill:#542788;background:#542788}.k-fault3{fill:#8073ac;background:#8073ac}
.k-fault4{fill:#9e0142;background:#9e0142}.k-fault5{fill:#40004b;background:#40004b}
.k-fault-other{fill:#a6a6a6;background:#a6a6a6}
.k-overflow{fill:#0072b2;background:#0072b2}
.k-nosocket{fill:#56b4e9;background:#56b4e9}
.k-unexplained{fill:#000;background:#000}
footer{margin-top:32px;color:var(--dim);font-size:12px}
@media print{.workload{break-inside:avoid}}
`;
