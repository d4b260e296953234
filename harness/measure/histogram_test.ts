import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";

function exactPercentile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil((q / 100) * sorted.length) - 1)]!;
}

Deno.test("Histogram percentiles are within 1% of exact ones on random latencies", () => {
  const h = new Histogram();
  const values: number[] = [];
  let seed = 42;
  for (let i = 0; i < 100_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const v = Math.floor(20_000 + (seed / 2 ** 31) ** 4 * 5_000_000);
    values.push(v);
    h.record(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [1, 50, 90, 99, 99.9]) {
    const exact = exactPercentile(values, q);
    const got = h.percentile(q);
    assert.ok(Math.abs(got - exact) / exact < 0.01, `p${q}: got ${got}, exact ${exact}`);
  }
  assert.equal(h.max, values.at(-1));
  assert.equal(h.min, values[0]);
  assert.equal(h.count, 100_000);
});

Deno.test("Histogram keeps small values exactly", () => {
  const h = new Histogram();
  for (const v of [0, 1, 5, 127]) h.record(v);
  assert.equal(h.percentile(25), 0);
  assert.equal(h.percentile(50), 1);
  assert.equal(h.percentile(75), 5);
  assert.equal(h.percentile(100), 127);
});

Deno.test("Histogram bucket bounds contain the values put into them", () => {
  for (const v of [128, 129, 255, 256, 1000, 65_535, 65_536, 1e9, 2 ** 40 - 1]) {
    const h = new Histogram();
    h.record(v);
    const [index] = h.toJSON().buckets[0]!;
    const [low, high] = Histogram.bucketBounds(index);
    assert.ok(low <= v && v < high, `${v} not in [${low}, ${high})`);
    assert.ok((high - low) / low <= 1 / 128);
  }
});

Deno.test("Histogram memory does not depend on the number of samples", () => {
  const h = new Histogram();
  for (let i = 0; i < 1_000_000; i++) h.record(50_000 + (i % 1000));
  assert.ok(h.toJSON().buckets.length < 20);
});

Deno.test("Histogram survives a round trip through JSON and merges", () => {
  const a = new Histogram();
  const b = new Histogram();
  for (let i = 1; i <= 1000; i++) a.record(i * 1000);
  for (let i = 1001; i <= 2000; i++) b.record(i * 1000);
  const copy = Histogram.fromJSON(JSON.parse(JSON.stringify(a)));
  assert.deepEqual(copy.summary(), a.summary());
  copy.merge(b);
  assert.equal(copy.count, 2000);
  assert.equal(copy.min, 1000);
  assert.equal(copy.max, 2_000_000);
  assert.ok(Math.abs(copy.percentile(50) - 1_000_000) / 1_000_000 < 0.01);
});

Deno.test("Histogram of nothing reports zeros", () => {
  const h = new Histogram();
  assert.deepEqual(h.summary(), {
    count: 0,
    min: 0,
    mean: 0,
    p50: 0,
    p90: 0,
    p99: 0,
    p999: 0,
    max: 0,
  });
});

Deno.test("Histogram clamps values beyond its range into the last bucket", () => {
  const h = new Histogram();
  h.record(2 ** 50);
  assert.equal(h.count, 1);
  assert.equal(h.max, 2 ** 50);
});
