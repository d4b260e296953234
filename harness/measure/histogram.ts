/**
 * A latency histogram with bounded memory: log-linear buckets (128 per power of two,
 * under 0.8% relative error), whatever the number of samples. Values are nanoseconds.
 *
 * @module
 */

const SUB_BITS = 7;
const SUB_COUNT = 1 << SUB_BITS;
/** Largest exponent kept: 2^41 ns is about 36 minutes; larger values are clamped. */
const MAX_EXPONENT = 41;
const BUCKETS = SUB_COUNT + (MAX_EXPONENT - SUB_BITS + 1) * SUB_COUNT;

/**
 * The plain-data form of a {@linkcode Histogram}, as it appears in reports.
 *
 * @example
 * ```ts
 * import type { HistogramData } from "./histogram.ts";
 * // Two samples, 1 us and 3 us.
 * const rtt: HistogramData = {
 *   unit: "ns",
 *   subBucketBits: 7,
 *   count: 2,
 *   min: 1000,
 *   max: 3000,
 *   sum: 4000,
 *   buckets: [[506, 1], [699, 1]],
 * };
 * console.assert(rtt.sum / rtt.count === 2000); // the mean, in nanoseconds
 * ```
 */
export interface HistogramData {
  /** Unit of every value: always nanoseconds. */
  unit: "ns";
  /** Buckets per power of two, as a power of two. */
  subBucketBits: number;
  /** Number of samples. */
  count: number;
  /** Smallest sample, or 0 when empty. */
  min: number;
  /** Largest sample, or 0 when empty. */
  max: number;
  /** Sum of all samples. */
  sum: number;
  /** The non-empty buckets as `[index, count]` pairs, in index order. */
  buckets: [number, number][];
}

/**
 * Percentiles and extremes of a histogram, in nanoseconds.
 *
 * @example
 * ```ts
 * import type { LatencySummary } from "./histogram.ts";
 * const rtt: LatencySummary = {
 *   count: 2000,
 *   min: 120_000,
 *   mean: 310_000,
 *   p50: 263_000,
 *   p90: 670_000,
 *   p99: 3_790_000,
 *   p999: 11_700_000,
 *   max: 11_700_000,
 * };
 * console.assert(rtt.p99 / 1e6 === 3.79); // milliseconds
 * ```
 */
export interface LatencySummary {
  /** Number of samples. */
  count: number;
  /** Smallest sample. */
  min: number;
  /** Mean of the samples. */
  mean: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Largest sample. */
  max: number;
}

/**
 * A latency histogram of nanosecond values with bounded memory.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram();
 * for (let i = 1; i <= 1000; i++) h.record(i * 1000);
 * console.assert(Math.abs(h.percentile(50) - 500_000) / 500_000 < 0.01);
 * ```
 */
export class Histogram {
  #counts = new Float64Array(BUCKETS);
  #count = 0;
  #min = Infinity;
  #max = 0;
  #sum = 0;

  /** Records one value in nanoseconds. Negative values count as 0. */
  record(ns: number): void {
    const value = ns > 0 ? ns : 0;
    this.#counts[bucketOf(value)]! += 1;
    this.#count += 1;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Smallest value recorded, or 0 when empty. */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  /** Largest value recorded, or 0 when empty. */
  get max(): number {
    return this.#max;
  }

  /** Mean of the values recorded, or 0 when empty. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** The value at or below which `q` percent of values fall (0 when empty). */
  percentile(q: number): number {
    if (this.#count === 0) return 0;
    if (q <= 0) return this.min;
    if (q >= 100) return this.#max;
    const rank = Math.ceil((q / 100) * this.#count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return clamp(midpointOf(i), this.min, this.#max);
    }
    return this.#max;
  }

  /** Adds every value of another histogram to this one. */
  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i]! += other.#counts[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#count > 0) {
      this.#min = Math.min(this.#min, other.#min);
      this.#max = Math.max(this.#max, other.#max);
    }
  }

  /** Percentiles, mean and extremes. */
  summary(): LatencySummary {
    return {
      count: this.#count,
      min: this.min,
      mean: this.mean,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max,
    };
  }

  /** The plain-data form, for reports and for sending between processes. */
  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.#counts[i]!;
      if (n > 0) buckets.push([i, n]);
    }
    return {
      unit: "ns",
      subBucketBits: SUB_BITS,
      count: this.#count,
      min: this.min,
      max: this.#max,
      sum: this.#sum,
      buckets,
    };
  }

  /** Rebuilds a histogram from its plain-data form. */
  static fromJSON(data: HistogramData): Histogram {
    if (data.subBucketBits !== SUB_BITS) {
      throw new RangeError(
        `Cannot read histogram: subBucketBits is ${data.subBucketBits}, expected ${SUB_BITS}`,
      );
    }
    const h = new Histogram();
    for (const [index, n] of data.buckets) {
      if (index < 0 || index >= BUCKETS) {
        throw new RangeError(`Cannot read histogram: bucket ${index} is out of range`);
      }
      h.#counts[index]! += n;
    }
    h.#count = data.count;
    h.#sum = data.sum;
    h.#min = data.count === 0 ? Infinity : data.min;
    h.#max = data.max;
    return h;
  }

  /** The lower and upper bound (exclusive) of values in bucket `index`. */
  static bucketBounds(index: number): [number, number] {
    return boundsOf(index);
  }
}

function bucketOf(value: number): number {
  const v = Math.floor(value);
  if (v < SUB_COUNT) return v;
  const exponent = Math.min(Math.floor(Math.log2(v)), MAX_EXPONENT);
  if (exponent === MAX_EXPONENT && v >= 2 ** (MAX_EXPONENT + 1)) return BUCKETS - 1;
  const shift = exponent - SUB_BITS;
  let sub = Math.floor(v / 2 ** shift) - SUB_COUNT;
  // Math.log2 may round up just below a power of two.
  if (sub < 0) return bucketOf(2 ** exponent - 1);
  if (sub >= SUB_COUNT) sub = SUB_COUNT - 1;
  return SUB_COUNT + shift * SUB_COUNT + sub;
}

function boundsOf(index: number): [number, number] {
  if (index < SUB_COUNT) return [index, index + 1];
  const shift = Math.floor((index - SUB_COUNT) / SUB_COUNT);
  const sub = (index - SUB_COUNT) % SUB_COUNT;
  const low = (SUB_COUNT + sub) * 2 ** shift;
  return [low, low + 2 ** shift];
}

function midpointOf(index: number): number {
  const [low, high] = boundsOf(index);
  return index < SUB_COUNT ? low : (low + high) / 2;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
