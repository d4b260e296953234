/**
 * Thresholds: `{ "probe.loss": "< 2%", "probe.rtt.p99": "< 5ms" }`. The key names a
 * workload and one of its metrics; the value is a comparison with a limit in the
 * metric's unit. Parsed before anything runs; evaluated over the report.
 *
 * A confidence level after `@` asks for a statistical verdict: `"probe.loss": "< 2% @95"`
 * passes only when the one-sided 95% upper bound of the loss is under 2%, not merely
 * the loss measured. `<` and `<=` compare the upper bound, `>` and `>=` the lower bound
 * (the bound the true value is beyond with probability at most 5%); `==` and `!=`
 * cannot take a level. Only proportions (`loss`, `failure.rate`: Clopper-Pearson) and
 * percentiles (`rtt.p99`, `connect.p50`, ...: order statistics over the histogram) have
 * an interval; see `confidence.ts`. A sample too small to decide fails the threshold,
 * with a `warning` that says how large a sample would be needed.
 *
 * @module
 */

import {
  minimumQuantileSample,
  minimumTrials,
  proportionBounds,
  quantileBounds,
  type Side,
} from "../measure/confidence.ts";
import { formatDuration } from "../core/duration.ts";
import type { Problem } from "../core/errors.ts";
import { ALL_METRIC_NAMES, type MetricDefinition, METRICS, type MetricUnit } from "./metrics.ts";
import type { WorkloadResult } from "../measure/results.ts";
import type { WorkloadKind } from "../workloads/kinds.ts";

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
  /**
   * The confidence level in percent, above 0 and below 100, when the expression asks
   * for one (`"< 2% @95"`); absent for a plain comparison of the measured value.
   */
  confidence?: number;
}

/**
 * The outcome of one threshold over a run.
 *
 * @example
 * ```ts
 * import type { ThresholdOutcome } from "./threshold.ts";
 * const outcome: ThresholdOutcome = {
 *   key: "probe.rtt.p99",
 *   expression: "< 25ms",
 *   ok: true,
 *   value: 3.79, // milliseconds
 *   measured: "3.79ms",
 * };
 * console.assert(`${outcome.ok ? "✓" : "✗"} ${outcome.key} ${outcome.expression}` ===
 *   "✓ probe.rtt.p99 < 25ms");
 * ```
 */
export interface ThresholdOutcome {
  /** The key as written. */
  key: string;
  /** The expression as written. */
  expression: string;
  /** Whether it held. */
  ok: boolean;
  /** The measured value (counts, ratio 0-1, or ms), or null when not measured. */
  value: number | null;
  /**
   * The measured value for people: `0.42%`, `3.1ms`; with a confidence level, also the
   * bound compared and the sample size: `1.20% (95% upper bound 1.40%, n=10000)`.
   */
  measured: string;
  /** Why it failed, when it did. */
  reason?: string;
  /** The confidence level in percent, for a threshold with `@`. */
  confidence?: number;
  /**
   * The bound compared with the limit (upper for `<`, `<=`; lower for `>`, `>=`), in
   * the metric's unit; null when the sample is too small for one to exist.
   */
  bound?: number | null;
  /**
   * The one-sided lower and upper bounds at the level (together a two-sided interval
   * at `2 × level - 100` percent); null where the sample is too small for one.
   */
  interval?: [number | null, number | null];
  /** The sample size behind the interval: datagrams sent, samples in the histogram. */
  sampleSize?: number;
  /** Set when the threshold could not be decided: how large a sample it needs. */
  warning?: string;
}

const NS_PER_MS = 1e6;
const EXPRESSION = /^\s*(<=|>=|==|!=|<|>)\s*(-?(?:\d+(?:\.\d+)?|\.\d+))\s*(%|us|ms|s|m)?\s*$/;
/** A trailing confidence level: `@95`, `@ 99.9`, `@95%`. */
const LEVEL = /^(.*?)\s*@\s*(-?(?:\d+(?:\.\d+)?|\.\d+))\s*%?\s*$/s;
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
  let comparison = expression;
  let level: string | undefined;
  if (expression.includes("@")) {
    const withLevel = LEVEL.exec(expression);
    if (!withLevel) {
      problems.push({
        where: at,
        message: `expected a confidence level after "@" as in "< 2% @95", got ${
          JSON.stringify(expression)
        }`,
      });
      return problems;
    }
    comparison = withLevel[1]!;
    level = withLevel[2]!;
  }
  const match = EXPRESSION.exec(comparison);
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
  const threshold: Threshold = { key, workload, metric, expression, operator, limit, unit };
  if (level === undefined) return threshold;
  const wrong = levelProblems(threshold, comparison.trim(), level, kind);
  if (wrong.length > 0) return wrong.map((message) => ({ where: at, message }));
  return { ...threshold, confidence: Number(level) };
}

/** What is wrong with a confidence level on a threshold otherwise valid. */
function levelProblems(
  threshold: Threshold,
  comparison: string,
  level: string,
  kind: WorkloadKind | undefined,
): string[] {
  const { metric, operator, limit } = threshold;
  const problems: string[] = [];
  const percent = Number(level);
  if (!(percent > 0 && percent < 100)) {
    problems.push(`confidence level must be above 0 and below 100, got ${level}`);
  }
  if (operator === "==" || operator === "!=") {
    problems.push(
      `"${operator}" cannot be decided at a confidence level: use <, <=, > or >=, or remove @${level}`,
    );
  }
  // With the kind unknown (a workload the scenario's function starts), the metric may
  // belong to several kinds: only when none has an interval is it an error already.
  const definitions = kind
    ? [METRICS[kind][metric]!]
    : Object.values(METRICS).flatMap((m) => m[metric] ? [m[metric]] : []);
  if (!definitions.some((d) => d.proportion || d.quantile)) {
    problems.push(`${metric} has no confidence interval: remove @${level}`);
  }
  if (problems.length > 0) return problems;
  if (definitions.some((d) => d.proportion)) {
    const side = sideOf(operator);
    if (minimumTrials((bound) => compare(bound, operator, limit), percent / 100, side) === null) {
      problems.push(
        `${metric} ${comparison} cannot be shown at ${percent}% confidence by any sample size: change the limit or remove @${level}`,
      );
    }
  }
  return problems;
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
  if (threshold.confidence !== undefined) {
    return evaluateWithConfidence(threshold, threshold.confidence, definition, result);
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

/**
 * Evaluates a threshold with a confidence level: compares the one-sided bound on the
 * operator's side (upper for `<`, `<=`; lower for `>`, `>=`) with the limit. A sample
 * too small for even a perfect result to pass fails, with a warning.
 */
function evaluateWithConfidence(
  threshold: Threshold,
  level: number,
  definition: MetricDefinition,
  result: WorkloadResult,
): ThresholdOutcome {
  const { key, expression, metric, operator, limit, unit } = threshold;
  const notMeasured = {
    key,
    expression,
    ok: false,
    value: null,
    measured: "-",
    reason: `${metric} was not measured in this run`,
    confidence: level,
  };
  const value = definition.read(result);
  if (value === null) return notMeasured;
  const measuredValue = formatMetric(value, unit);
  if (!definition.proportion && !definition.quantile) {
    return {
      key,
      expression,
      ok: false,
      value,
      measured: measuredValue,
      reason: `${metric} has no confidence interval: remove @${level}`,
      confidence: level,
    };
  }
  const confidence = level / 100;
  const side = sideOf(operator);
  const accepts = (bound: number) => compare(bound, operator, limit);
  let interval: [number | null, number | null];
  let n: number;
  let minimum: number | null;
  if (definition.proportion) {
    const counts = definition.proportion(result);
    if (!counts) return notMeasured;
    const { successes, trials } = counts;
    if (
      !(Number.isSafeInteger(trials) && Number.isSafeInteger(successes)) || successes < 0 ||
      successes > trials
    ) {
      return {
        ...notMeasured,
        value,
        measured: measuredValue,
        reason: `${metric} cannot be bounded: the run counted ${successes} of ${trials}`,
      };
    }
    const bounds = proportionBounds(successes, trials, confidence);
    interval = [bounds.lower, bounds.upper];
    n = trials;
    minimum = minimumTrials(accepts, confidence, side);
  } else {
    const sample = definition.quantile!(result);
    if (!sample) return notMeasured;
    const bounds = quantileBounds(sample.histogram, sample.q, confidence);
    // Histograms hold nanoseconds; duration metrics are milliseconds.
    const toMs = (ns: number | null) => ns === null ? null : ns / NS_PER_MS;
    interval = [toMs(bounds.lower), toMs(bounds.upper)];
    n = bounds.n;
    minimum = minimumQuantileSample(sample.q, confidence, side);
  }
  const bound = side === "upper" ? interval[1] : interval[0];
  const comparison = expression.slice(0, expression.indexOf("@")).trim();
  const stated = bound === null
    ? `n=${n}, too few for a ${level}% ${side} bound`
    : `${level}% ${side} bound ${formatMetric(bound, unit)}, n=${n}`;
  const measured = `${measuredValue} (${stated})`;
  const samples = definition.sample ?? "samples";
  const statistics = { confidence: level, bound, interval, sampleSize: n };
  let reason: string | undefined;
  let warning: string | undefined;
  if (minimum === null) {
    reason = `${metric} ${comparison} cannot be shown at ${level}% confidence by any sample size`;
  } else if (n < minimum || bound === null) {
    reason =
      `sample too small to decide at ${level}%: need at least ${minimum} ${samples}, got ${n}`;
    warning =
      `${key} ${expression.trim()} was not decided: ${n} ${samples} cannot show it at ${level}% confidence whatever they measure; it needs at least ${minimum}`;
  } else if (!accepts(bound)) {
    reason = `${level}% ${side} bound ${
      formatMetric(bound, unit)
    } is not ${comparison} (measured ${measuredValue}, n=${n})`;
  }
  if (reason === undefined) return { key, expression, ok: true, value, measured, ...statistics };
  return {
    key,
    expression,
    ok: false,
    value,
    measured,
    reason,
    ...statistics,
    ...(warning === undefined ? {} : { warning }),
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

function sideOf(operator: Operator): Side {
  return operator === "<" || operator === "<=" ? "upper" : "lower";
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
