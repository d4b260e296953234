/**
 * Confidence intervals for thresholds such as `"probe.loss": "< 2% @95"`.
 *
 * Two kinds, both exact (no normal approximation) and both conservative:
 *
 * - Proportions (loss = lost / sent): Clopper-Pearson bounds, from the inverse of the
 *   regularized incomplete beta function. They assume independent trials; bursty loss
 *   makes the true uncertainty larger than the interval says.
 * - Quantiles (p50, p99 of a latency histogram): distribution-free order-statistic
 *   bounds. The rank is chosen from the binomial(n, q) distribution, then mapped
 *   through the histogram's buckets to the bucket's lower edge for a lower bound and
 *   its upper edge for an upper bound.
 *
 * Every bound here is one-sided: an upper bound at confidence `c` is a value that the
 * true value exceeds with probability at most `1 - c`. Confidences are probabilities
 * (0.95), not percentages.
 *
 * @module
 */

import { Histogram, type HistogramData } from "./histogram.ts";

/** Which end of an interval: `upper` for `<` and `<=`, `lower` for `>` and `>=`. */
export type Side = "lower" | "upper";

/** One-sided bounds at the same confidence; null where the sample is too small for one. */
export interface Bounds {
  /** The lower bound, or null. */
  lower: number | null;
  /** The upper bound, or null. */
  upper: number | null;
}

/** The bounds of a proportion: both always exist (0 and 1 at worst). */
export interface ProportionBounds {
  /** The lower bound, 0-1. */
  lower: number;
  /** The upper bound, 0-1. */
  upper: number;
}

/** Bounds of a quantile read from a histogram, in its unit (nanoseconds). */
export interface QuantileBounds extends Bounds {
  /** Number of samples. */
  n: number;
  /** The 1-based ranks of the order statistics used, null where none is enough. */
  ranks: Bounds;
}

const LN_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const EPSILON = 1e-15;
const TINY = 1e-300;
const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/**
 * The regularized incomplete beta function `I_x(a, b)`: the probability that a
 * Beta(a, b) variable is at most `x`.
 *
 * @example
 * ```ts
 * import { regularizedBeta } from "./confidence.ts";
 * // I_x(1, 1) is the uniform distribution's CDF.
 * console.assert(Math.abs(regularizedBeta(0.3, 1, 1) - 0.3) < 1e-15);
 * ```
 */
export function regularizedBeta(x: number, a: number, b: number): number {
  checkShape(a, b);
  if (!(x >= 0 && x <= 1)) {
    throw new RangeError(`Cannot compute I_x(a, b): x must be 0-1, got ${x}`);
  }
  return betaCdf(x, 1 - x, a, b);
}

/**
 * The inverse of {@linkcode regularizedBeta} in `x`: the smallest `x` (to double
 * precision) with `I_x(a, b) >= p`, found by bisection.
 *
 * @example
 * ```ts
 * import { inverseRegularizedBeta } from "./confidence.ts";
 * // I_x(1, 2) = 1 - (1 - x)^2, which is 0.75 at x = 0.5.
 * console.assert(Math.abs(inverseRegularizedBeta(0.75, 1, 2) - 0.5) < 1e-15);
 * ```
 */
export function inverseRegularizedBeta(p: number, a: number, b: number): number {
  checkShape(a, b);
  if (!(p >= 0 && p <= 1)) {
    throw new RangeError(`Cannot invert I_x(a, b): p must be 0-1, got ${p}`);
  }
  if (p === 0) return 0;
  if (p === 1) return 1;
  let low = 0;
  let high = 1;
  // Until low and high are neighbouring doubles: about 60 steps, more near 0.
  for (let step = 0; step < 2_000; step++) {
    const middle = low + (high - low) / 2;
    if (middle <= low || middle >= high) break;
    if (betaCdf(middle, 1 - middle, a, b) >= p) high = middle;
    else low = middle;
  }
  return high;
}

/**
 * The binomial distribution function: the probability of at most `k` successes in `n`
 * independent trials of probability `p`.
 *
 * @example
 * ```ts
 * import { binomialCdf } from "./confidence.ts";
 * // No success in 3 fair trials: 1/8.
 * console.assert(Math.abs(binomialCdf(0, 3, 0.5) - 0.125) < 1e-15);
 * ```
 */
export function binomialCdf(k: number, n: number, p: number): number {
  checkCount(n, "n");
  if (!(p >= 0 && p <= 1)) {
    throw new RangeError(`Cannot compute the binomial CDF: p must be 0-1, got ${p}`);
  }
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p === 0) return 1;
  if (p === 1) return 0;
  const j = Math.floor(k);
  // The two ends in closed form: the search for the smallest sample relies on them.
  if (j === 0) return Math.exp(n * Math.log1p(-p));
  if (j === n - 1) return -Math.expm1(n * Math.log(p));
  // P(X <= j) = I_{1-p}(n - j, j + 1), with 1 - p and p both given exactly.
  return betaCdf(1 - p, p, n - j, j + 1);
}

/**
 * One-sided Clopper-Pearson bounds of a proportion: `successes` of `trials`. The true
 * proportion is above `upper` with probability at most `1 - confidence`, and below
 * `lower` with probability at most `1 - confidence` (so together they make a
 * two-sided interval at `2 * confidence - 1`). With no trials, they are 0 and 1.
 *
 * @example
 * ```ts
 * import { proportionBounds } from "./confidence.ts";
 * // Nothing lost of 100 datagrams: the loss is below 2.95% at 95% confidence.
 * const { upper } = proportionBounds(0, 100, 0.95);
 * console.assert(Math.abs(upper - 0.0295) < 0.0001);
 * ```
 */
export function proportionBounds(
  successes: number,
  trials: number,
  confidence: number,
): ProportionBounds {
  checkCount(trials, "trials");
  checkCount(successes, "successes");
  checkConfidence(confidence);
  if (successes > trials) {
    throw new RangeError(
      `Cannot bound a proportion: ${successes} successes is more than ${trials} trials`,
    );
  }
  if (trials === 0) return { lower: 0, upper: 1 };
  const alpha = 1 - confidence;
  const k = successes;
  const n = trials;
  // k = 0 and k = n in closed form: 1 - alpha^(1/n) and alpha^(1/n).
  const upper = k === n
    ? 1
    : k === 0
    ? -Math.expm1(Math.log(alpha) / n)
    : inverseRegularizedBeta(confidence, k + 1, n - k);
  const lower = k === 0
    ? 0
    : k === n
    ? Math.exp(Math.log(alpha) / n)
    : inverseRegularizedBeta(alpha, k, n - k + 1);
  return { lower, upper };
}

/**
 * The fewest trials with which a perfect result (no successes for the upper bound, all
 * successes for the lower one) gives a bound that `accepts`, or null when no number of
 * trials does. `accepts` must be monotone: once a bound passes, every tighter one does.
 *
 * @example
 * ```ts
 * import { minimumTrials } from "./confidence.ts";
 * // "loss < 2% @95" needs 149 datagrams: with 148, even none lost bounds it at 2.004%.
 * console.assert(minimumTrials((upper) => upper < 0.02, 0.95, "upper") === 149);
 * ```
 */
export function minimumTrials(
  accepts: (bound: number) => boolean,
  confidence: number,
  side: Side,
): number | null {
  checkConfidence(confidence);
  const perfect = (n: number) =>
    side === "upper"
      ? proportionBounds(0, n, confidence).upper
      : proportionBounds(n, n, confidence).lower;
  return smallest((n) => accepts(perfect(n)));
}

/**
 * The 1-based ranks of the order statistics that bound the `q` quantile of a
 * continuous distribution from `n` samples: the sample of rank `upper` is at or above
 * the true quantile with probability at least `confidence`, the one of rank `lower`
 * at or below it. A rank is null when even the largest (smallest) sample is not
 * enough: `1 - q^n < confidence` (`(1 - q)^n > 1 - confidence`).
 *
 * @example
 * ```ts
 * import { quantileRanks } from "./confidence.ts";
 * // A p99 needs 299 samples for a 95% upper bound: the largest one.
 * console.assert(quantileRanks(298, 0.99, 0.95).upper === null);
 * console.assert(quantileRanks(299, 0.99, 0.95).upper === 299);
 * ```
 */
export function quantileRanks(n: number, q: number, confidence: number): Bounds {
  checkCount(n, "n");
  checkQuantile(q);
  checkConfidence(confidence);
  const alpha = 1 - confidence;
  // The sample of rank r is below the true quantile when at least r samples are, and
  // the number of samples below it is binomial(n, q): P(X(r) >= x_q) = F(r - 1).
  const cdf = (rank: number) => binomialCdf(rank - 1, n, q);
  let upper: number | null = null;
  if (n > 0 && cdf(n) >= confidence) {
    let low = 1; // invariant: the answer is in [low, high]
    let high = n;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if (cdf(middle) >= confidence) high = middle;
      else low = middle + 1;
    }
    upper = low;
  }
  let lower: number | null = null;
  if (n > 0 && cdf(1) <= alpha) {
    let low = 1;
    let high = n;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (cdf(middle) <= alpha) low = middle;
      else high = middle - 1;
    }
    lower = low;
  }
  return { lower, upper };
}

/**
 * The fewest samples for which {@linkcode quantileRanks} gives a bound on `side`.
 *
 * @example
 * ```ts
 * import { minimumQuantileSample } from "./confidence.ts";
 * console.assert(minimumQuantileSample(0.99, 0.95, "upper") === 299);
 * console.assert(minimumQuantileSample(0.5, 0.95, "lower") === 5);
 * ```
 */
export function minimumQuantileSample(q: number, confidence: number, side: Side): number {
  checkQuantile(q);
  checkConfidence(confidence);
  const found = smallest((n) => quantileRanks(n, q, confidence)[side] !== null);
  if (found === null) throw new RangeError(`Cannot bound quantile ${q}: no sample is enough`);
  return found;
}

/**
 * One-sided bounds of the `q` quantile of the distribution a histogram was sampled
 * from (see {@linkcode quantileRanks}), read conservatively from its buckets: the
 * lower edge of the bucket holding the lower rank, the upper edge of the one holding
 * the upper rank, kept within the histogram's min and max.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { quantileBounds } from "./confidence.ts";
 * const h = new Histogram();
 * for (let i = 1; i <= 1000; i++) h.record(i * 1000);
 * const { lower, upper } = quantileBounds(h.toJSON(), 0.5, 0.95);
 * console.assert(lower! < 500_000 && 500_000 < upper!);
 * ```
 */
export function quantileBounds(
  histogram: HistogramData,
  q: number,
  confidence: number,
): QuantileBounds {
  const n = histogram.count;
  const ranks = quantileRanks(n, q, confidence);
  return {
    n,
    ranks,
    lower: ranks.lower === null ? null : valueAtRank(histogram, ranks.lower, "lower"),
    upper: ranks.upper === null ? null : valueAtRank(histogram, ranks.upper, "upper"),
  };
}

/** A bound on the sample of rank `rank` (1-based): its bucket's edge on `side`. */
function valueAtRank(histogram: HistogramData, rank: number, side: Side): number {
  const { buckets, min, max } = histogram;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const [index, count] = buckets[i]!;
    seen += count;
    if (seen < rank) continue;
    const [low, high] = Histogram.bucketBounds(index);
    if (side === "lower") return Math.max(low, min);
    // The last bucket also holds values clamped into it; max bounds them all.
    return i === buckets.length - 1 ? max : Math.min(high, max);
  }
  // Buckets that hold fewer samples than count: only min and max are certain.
  return side === "lower" ? min : max;
}

/** The smallest n >= 1 for which a monotone predicate holds, or null below 2^53. */
function smallest(holds: (n: number) => boolean): number | null {
  let high = 1;
  while (!holds(high)) {
    if (high >= Number.MAX_SAFE_INTEGER) return null;
    high = Math.min(high * 2, Number.MAX_SAFE_INTEGER);
  }
  if (high === 1) return 1;
  let low = Math.floor(high / 2) + 1; // not holds(low - 1), holds(high)
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (holds(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * `I_x(a, b)` given both `x` and `y = 1 - x`, so that either can be exact: Numerical
 * Recipes' continued fraction (modified Lentz), on whichever side converges.
 */
function betaCdf(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const logX = x < 0.5 ? Math.log(x) : Math.log1p(-y);
  const logY = y < 0.5 ? Math.log(y) : Math.log1p(-x);
  const front = Math.exp(a * logX + b * logY - logBeta(a, b));
  if (x < (a + 1) / (a + b + 2)) return (front * continuedFraction(x, a, b)) / a;
  return 1 - (front * continuedFraction(y, b, a)) / b;
}

function continuedFraction(x: number, a: number, b: number): number {
  const sum = a + b;
  let c = 1;
  let d = 1 - (sum * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  // Converges in O(sqrt(max(a, b))) steps on this side of the mean.
  const limit = 1_000 + Math.ceil(20 * Math.sqrt(Math.max(a, b)));
  for (let m = 1; m <= limit; m++) {
    const m2 = 2 * m;
    let term = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + term * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + term / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    term = (-(a + m) * (sum + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + term * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + term / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < EPSILON) return h;
  }
  throw new RangeError(`Cannot compute I_x(${a}, ${b}) at x = ${x}: no convergence`);
}

/** `log B(a, b)`, without the cancellation of three large log-gammas (R's lbeta). */
function logBeta(a: number, b: number): number {
  const p = Math.min(a, b);
  const q = Math.max(a, b);
  if (p >= 10) {
    const correction = stirlingCorrection(p) + stirlingCorrection(q) -
      stirlingCorrection(p + q);
    return -0.5 * Math.log(q) + LN_SQRT_2PI + correction + (p - 0.5) * Math.log(p / (p + q)) +
      q * Math.log1p(-p / (p + q));
  }
  if (q >= 10) {
    const correction = stirlingCorrection(q) - stirlingCorrection(p + q);
    return logGamma(p) + correction + p - p * Math.log(p + q) +
      (q - 0.5) * Math.log1p(-p / (p + q));
  }
  return logGamma(p) + logGamma(q) - logGamma(p + q);
}

/** `log Γ(x)` for x > 0. */
function logGamma(x: number): number {
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingCorrection(x);
  // Lanczos (g = 7, 9 terms), for x >= 0.5; reflection below.
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return LN_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** `log Γ(x) - ((x - 1/2) log x - x + log sqrt(2π))` for x >= 10: Stirling's series. */
function stirlingCorrection(x: number): number {
  const inverse = 1 / x;
  const square = inverse * inverse;
  // Bernoulli terms B_2k / (2k (2k - 1) x^(2k - 1)), k = 1..7: error below 1e-17 at 10.
  return inverse * (1 / 12 + square * (-1 / 360 + square * (1 / 1260 + square * (-1 / 1680 +
                square * (1 / 1188 + square * (-691 / 360360 + square * (1 / 156)))))));
}

function checkShape(a: number, b: number): void {
  if (!(a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b))) {
    throw new RangeError(`Cannot compute I_x(a, b): a and b must be above 0, got ${a} and ${b}`);
  }
}

function checkCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot compute a bound: ${name} must be a whole number, got ${value}`);
  }
}

function checkQuantile(q: number): void {
  if (!(q > 0 && q < 1)) {
    throw new RangeError(`Cannot bound a quantile: q must be above 0 and below 1, got ${q}`);
  }
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(
      `Cannot compute a bound: confidence must be above 0 and below 1, got ${confidence}`,
    );
  }
}
