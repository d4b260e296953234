// SVG plots for the HTML report: a plot frame with axes, grid and labels, linear and log
// axes with round ticks, latency CDFs and histograms, figures with legends.

import { Histogram, type HistogramData, type LatencySummary } from "../measure/histogram.ts";
import { compact, h, int, latency, type Markup, px, raw } from "./_markup.ts";

/** Bars of a latency histogram. */
const HISTOGRAM_BINS = 60;

/** Maps a value on an axis to a pixel coordinate. */
export type Scale = (v: number) => number;

/** A tick on an axis: where, and its label (empty for an unlabelled tick). */
export interface Tick {
  at: number;
  label: string;
}

/** An axis: its range, whether it is logarithmic, its label and ticks. */
export interface AxisSpec {
  min: number;
  max: number;
  log: boolean;
  label: string;
  ticks: Tick[];
}

/** The plot area in pixels, and its scales. */
export interface Frame {
  left: number;
  top: number;
  right: number;
  bottom: number;
  x: Scale;
  y: Scale;
}

/** What a plot shows: its kind, title, description, size, axes and body. */
export interface PlotOptions {
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

/** The scale of an axis onto the pixels from `from` to `to`. */
function scaleOf(axis: AxisSpec, from: number, to: number): Scale {
  if (axis.log) {
    const a = Math.log10(axis.min);
    const span = Math.log10(axis.max) - a || 1;
    return (v) => from + ((Math.log10(Math.max(v, axis.min * 1e-3)) - a) / span) * (to - from);
  }
  const span = axis.max - axis.min || 1;
  return (v) => from + ((v - axis.min) / span) * (to - from);
}

/** An SVG plot: grid, body, axes with ticks and labels, a title and a description. */
export function plot(o: PlotOptions): Markup {
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
export function linearAxis(
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
export function roundDown125(v: number): number {
  const power = 10 ** Math.floor(Math.log10(v));
  const f = v / power;
  return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * power;
}

/** The smallest 1-2-5 number at or above `v`. */
export function roundUp125(v: number): number {
  const power = 10 ** Math.floor(Math.log10(v));
  const f = v / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** A range widened around its geometric middle to a decade when it spans less. */
export function atLeastADecade(min: number, max: number): [number, number] {
  if (max / min >= 10) return [min, max];
  const middle = Math.sqrt(min * max);
  return [roundDown125(middle / 4), roundUp125(middle * 4)];
}

/** A log axis from `min` to `max` with 1-2-5 ticks; the label names the units of the ticks. */
export function logAxis(
  min: number,
  max: number,
  label: string,
  format: (v: number) => string,
): AxisSpec {
  const ticks = logTicks(min, max, format);
  return { min, max, log: true, label: `${label} (log scale, ${unitsOf(ticks)})`, ticks };
}

/** A log axis of latencies (ns) covering a histogram. */
function latencyAxis(data: HistogramData, label: string): AxisSpec {
  const low = Math.max(1, data.count > 0 ? data.min : 1_000);
  const high = Math.max(low * 1.01, data.count > 0 ? data.max : 1_000_000);
  const [min, max] = atLeastADecade(roundDown125(low), roundUp125(high));
  return logAxis(Math.max(1, min), max, label, latency);
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

/** A note in the middle of an empty plot. */
export function noSamples(frame: Frame, text: string): Markup {
  return h`<text class="empty" x="${px((frame.left + frame.right) / 2)}" y="${
    px((frame.top + frame.bottom) / 2)
  }" text-anchor="middle">${text}</text>`;
}

/** A latency CDF with the percentiles marked. */
export function cdfPlot(
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
export function histogramPlot(
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

/** The legend of a figure: a swatch and a text per item. */
function legend(items: [string, string][]): Markup {
  return h`<ul class="legend">${
    items.map(([cls, text]) => h`<li><span class="swatch ${cls}"></span>${text}</li>`)
  }</ul>`;
}

/** A figure: a plot, an optional legend and a caption. */
export function figure(
  plotMarkup: Markup,
  caption: Markup | string,
  legendItems?: [string, string][],
) {
  return h`<figure>${plotMarkup}${
    legendItems ? legend(legendItems) : ""
  }<figcaption>${caption}</figcaption></figure>`;
}
