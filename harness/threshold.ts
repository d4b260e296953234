/**
 * Thresholds: `{ "probe.loss": "< 2%", "probe.rtt.p99": "< 5ms" }`. The key names a
 * workload and one of its metrics; the value is a comparison with a limit in the
 * metric's unit. Parsed before anything runs; evaluated over the report.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";
import type { Problem } from "./errors.ts";
import { ALL_METRIC_NAMES, METRICS, type MetricUnit } from "./metrics.ts";
import type { WorkloadResult } from "./results.ts";
import type { WorkloadKind } from "./workloads.ts";

/** A comparison operator of a threshold. */
export type Operator = "<" | "<=" | ">" | ">=" | "==" | "!=";

/** A parsed threshold. */
export interface Threshold {
  /** The key as written: `probe.loss`. */
  key: string;
  /** The workload part of the key: `probe`. */
  workload: string;
  /** The metric part of the key: `loss`. */
  metric: string;
  /** The expression as written: `< 2%`. */
  expression: string;
  /** The comparison. */
  operator: Operator;
  /** The limit in the metric's unit: counts, ratios 0-1, or milliseconds. */
  limit: number;
  /** The unit of the limit. */
  unit: MetricUnit;
}

/** The outcome of one threshold over a run. */
export interface ThresholdOutcome {
  /** The key as written. */
  key: string;
  /** The expression as written. */
  expression: string;
  /** Whether it held. */
  ok: boolean;
  /** The measured value (counts, ratio 0-1, or ms), or null when not measured. */
  value: number | null;
  /** The measured value for people: `0.42%`, `3.1ms`. */
  measured: string;
  /** Why it failed, when it did. */
  reason?: string;
}

const EXPRESSION = /^\s*(<=|>=|==|!=|<|>)\s*(-?(?:\d+(?:\.\d+)?|\.\d+))\s*(%|us|ms|s|m)?\s*$/;
/** Unit to milliseconds, as a power of ten where it is one (exact decimal shifts). */
const DURATION_EXPONENT: Record<string, number> = { us: -3, ms: 0, s: 3 };

/**
 * Parses one threshold, or returns its problems.
 *
 * @example
 * ```ts
 * import { parseThreshold } from "./threshold.ts";
 * const t = parseThreshold("probe.rtt.p99", "< 5ms", "thresholds");
 * console.assert(!Array.isArray(t) && t.limit === 5);
 * ```
 */
export function parseThreshold(
  key: string,
  expression: unknown,
  where: string,
  kind?: WorkloadKind,
): Threshold | Problem[] {
  const at = `${where}[${JSON.stringify(key)}]`;
  const problems: Problem[] = [];
  const dot = key.indexOf(".");
  const workload = dot > 0 ? key.slice(0, dot) : "";
  const metric = dot > 0 ? key.slice(dot + 1) : "";
  const names = kind ? Object.keys(METRICS[kind]) : ALL_METRIC_NAMES;
  const known = names.includes(metric);
  if (!workload || !metric) {
    problems.push({
      where: at,
      message: `expected "<workload>.<metric>" such as "probe.loss", got ${JSON.stringify(key)}`,
    });
  } else if (!known) {
    problems.push({ where: at, message: unknownMetricMessage(workload, metric, names, kind) });
  }
  if (typeof expression !== "string") {
    problems.push({
      where: at,
      message: `expected a comparison such as "< 2%", got ${typeof expression}`,
    });
    return problems;
  }
  const match = EXPRESSION.exec(expression);
  if (!match) {
    problems.push({
      where: at,
      message: `expected a comparison such as "< 2%" or "<= 5ms", got ${
        JSON.stringify(expression)
      }`,
    });
    return problems;
  }
  if (problems.length > 0) return problems;
  const unit = unitOf(metric);
  const operator = match[1] as Operator;
  const number = Number(match[2]);
  const suffix = match[3];
  let limit = number;
  if (unit === "duration") {
    if (!suffix || suffix === "%") {
      problems.push({
        where: at,
        message: `${metric} is a duration: give a unit, as in "< 5ms" (got ${
          JSON.stringify(expression)
        })`,
      });
    } else limit = suffix === "m" ? number * 60_000 : shift(match[2]!, DURATION_EXPONENT[suffix]!);
  } else if (unit === "ratio") {
    if (suffix === "%") limit = shift(match[2]!, -2);
    if (suffix && suffix !== "%") {
      problems.push({
        where: at,
        message: `${metric} is a ratio: give a percentage or a number 0-1, got ${
          JSON.stringify(expression)
        }`,
      });
    } else if (limit < 0 || limit > 1) {
      problems.push({
        where: at,
        message: `${metric} is between 0% and 100%, got ${JSON.stringify(expression)}`,
      });
    }
  } else if (suffix) {
    problems.push({
      where: at,
      message: `${metric} is a count: give a plain number, got ${JSON.stringify(expression)}`,
    });
  }
  if (problems.length > 0) return problems;
  return { key, workload, metric, expression, operator, limit, unit };
}

/**
 * Evaluates a threshold against the results of the run's workloads, by name. A
 * workload that never ran, or a metric its kind does not have, fails the threshold.
 */
export function evaluateThreshold(
  threshold: Threshold,
  results: ReadonlyMap<string, WorkloadResult>,
): ThresholdOutcome {
  const base = { key: threshold.key, expression: threshold.expression };
  const result = results.get(threshold.workload);
  if (!result) {
    const names = [...results.keys()].join(", ") || "none";
    return {
      ...base,
      ok: false,
      value: null,
      measured: "-",
      reason: `no workload named "${threshold.workload}" ran (workloads: ${names})`,
    };
  }
  const definition = METRICS[result.kind][threshold.metric];
  if (!definition) {
    const known = Object.keys(METRICS[result.kind]).join(", ");
    return {
      ...base,
      ok: false,
      value: null,
      measured: "-",
      reason:
        `"${threshold.workload}" is a ${result.kind}, which has no metric "${threshold.metric}" (it has: ${known})`,
    };
  }
  const value = definition.read(result);
  if (value === null) {
    return {
      ...base,
      ok: false,
      value: null,
      measured: "-",
      reason: `${threshold.metric} was not measured in this run`,
    };
  }
  const ok = compare(value, threshold.operator, threshold.limit);
  const measured = formatMetric(value, threshold.unit);
  return ok ? { ...base, ok, value, measured } : {
    ...base,
    ok,
    value,
    measured,
    reason: `${threshold.key} is ${measured}, expected ${threshold.expression.trim()}`,
  };
}

/** Formats a metric value for people, by unit. */
export function formatMetric(value: number, unit: MetricUnit): string {
  switch (unit) {
    case "ratio":
      return `${(value * 100).toFixed(value * 100 < 10 ? 2 : 1)}%`;
    case "duration":
      return formatDuration(value);
    case "count":
      return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(2)));
  }
}

/** `digits × 10^exponent`, parsed as a decimal so "0.7" and -2 give exactly 0.007. */
function shift(digits: string, exponent: number): number {
  return Number(`${digits}e${exponent}`);
}

function compare(value: number, operator: Operator, limit: number): boolean {
  switch (operator) {
    case "<":
      return value < limit;
    case "<=":
      return value <= limit;
    case ">":
      return value > limit;
    case ">=":
      return value >= limit;
    case "==":
      return value === limit;
    case "!=":
      return value !== limit;
  }
}

function unitOf(metric: string): MetricUnit {
  for (const kind of Object.values(METRICS)) {
    const definition = kind[metric];
    if (definition) return definition.unit;
  }
  throw new RangeError(`Cannot find metric "${metric}"`);
}

function unknownMetricMessage(
  workload: string,
  metric: string,
  names: readonly string[],
  kind: WorkloadKind | undefined,
): string {
  const close = names.filter((m) => editDistance(m, metric) <= 2);
  const hint = close.length > 0 ? `; did you mean ${close.map((m) => `"${m}"`).join(" or ")}?` : "";
  if (kind) {
    return `"${workload}" is a ${kind}, which has no metric "${metric}"${hint} (it has: ${
      names.join(", ")
    })`;
  }
  return `unknown metric "${metric}"${hint} (metrics: ${names.join(", ")})`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
