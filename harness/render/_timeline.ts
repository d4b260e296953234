// Time in the HTML report: when a scenario started, times relative to it, the time axis
// of the timelines, the faults drawn over them as shaded bands, and stacked bars per
// interval.

import type { FaultReport, ScenarioReport } from "../runner/report.ts";
import { type AxisSpec, type Frame, linearAxis } from "./_plot.ts";
import { h, type Markup, px, since } from "./_markup.ts";

/** Most faults on a time plot labelled with their description (the others by number). */
const MAX_DESCRIBED_FAULTS = 8;

/** What a scenario's times are measured from: its wall-clock start, in ms since the epoch. */
export function originOf(s: ScenarioReport): number | null {
  const t = Date.parse(s.startedAt);
  return Number.isFinite(t) ? t : null;
}

/** What a scenario's sections draw on: the scenario and when it started. */
export interface Context {
  /** The scenario being drawn. */
  scenario: ScenarioReport;
  /** Wall-clock start of the scenario (epoch ms), or null when its start is unreadable. */
  origin: number | null;
}

/** An epoch time as ms since the scenario started (`fallback` when the start is unknown). */
export function relative(ctx: Context, epochMs: number, fallback: number): number {
  return ctx.origin === null ? fallback : epochMs - ctx.origin;
}

/** An epoch time as `+1.2s` since the scenario started, or a dash when the start is unknown. */
export function sinceStart(ctx: Context, epochMs: number): string {
  return ctx.origin === null ? "—" : since(epochMs - ctx.origin);
}

/** A time axis in seconds since the scenario started. */
export function timeAxis(fromMs: number, toMs: number): AxisSpec {
  const from = fromMs / 1000;
  const to = Math.max(toMs / 1000, from + 0.001);
  return linearAxis(from, to, "time since scenario start (s)", (v, d) => v.toFixed(d), 8, false);
}

/** Shaded bands for faults, labelled with their description, over a time plot. */
export function faultBands(
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
export function coarsen(series: number[][], intervalMs: number, most: number) {
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
export function stackedBars(
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
