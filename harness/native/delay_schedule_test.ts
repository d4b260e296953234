import assert from "node:assert/strict";
import { DelaySchedule, DueHeap, type LineConfig, NO_DELAY, TAIL_DROP } from "./delay_schedule.ts";

const MS = 1e6;

function config(overrides: Partial<LineConfig>): LineConfig {
  return { ...NO_DELAY, ...overrides };
}

/** A seeded uniform source (mulberry32), so the tests are repeatable. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("DelaySchedule adds the delay to the arrival time", () => {
  const s = new DelaySchedule(config({ delayNs: 10 * MS }));
  assert.equal(s.admit(5, 100), 5 + 10 * MS);
  s.config = config({ delayNs: 600 * MS });
  assert.equal(s.admit(7, 100), 7 + 600 * MS);
});

Deno.test("DelaySchedule spreads uniform jitter over [delay - j, delay + j]", () => {
  const s = new DelaySchedule(
    config({ delayNs: 10 * MS, jitterNs: 2 * MS }),
    seeded(1),
  );
  const added: number[] = [];
  for (let i = 0; i < 20_000; i++) added.push(s.admit(i * 1000, 100) - i * 1000);
  added.sort((a, b) => a - b);
  assert.ok(added[0]! >= 8 * MS && added.at(-1)! <= 12 * MS);
  for (let d = 1; d < 10; d++) {
    const decile = added[Math.floor((d / 10) * added.length)]!;
    assert.ok(Math.abs(decile - (8 * MS + (d / 10) * 4 * MS)) < 0.1 * MS, `decile ${d}`);
  }
});

Deno.test("DelaySchedule's normal jitter has the asked standard deviation and never goes negative", () => {
  const s = new DelaySchedule(
    config({ delayNs: 1 * MS, jitterNs: 0.5 * MS, distribution: "normal" }),
    seeded(2),
  );
  const added: number[] = [];
  for (let i = 0; i < 20_000; i++) added.push(s.admit(i, 100) - i);
  const mean = added.reduce((a, b) => a + b, 0) / added.length;
  const sd = Math.sqrt(added.reduce((a, b) => a + (b - mean) ** 2, 0) / added.length);
  assert.ok(Math.abs(mean - 1 * MS) < 0.02 * MS, `mean ${mean}`);
  assert.ok(Math.abs(sd - 0.5 * MS) < 0.03 * MS, `sd ${sd}`);
  assert.ok(Math.min(...added) >= 0);
});

Deno.test("DelaySchedule with jitter reorders, and with keepOrder never does", () => {
  for (const keepOrder of [false, true]) {
    const s = new DelaySchedule(
      config({ delayNs: 10 * MS, jitterNs: 2 * MS, keepOrder }),
      seeded(3),
    );
    let reordered = 0;
    let last = -Infinity;
    for (let i = 0; i < 1000; i++) {
      const due = s.admit(i * 0.1 * MS, 100);
      if (due < last) reordered++;
      last = Math.max(last, due);
    }
    if (keepOrder) assert.equal(reordered, 0);
    else assert.ok(reordered > 100, `reordered ${reordered}`);
  }
});

Deno.test("DelaySchedule serialises at the rate: back-to-back packets leave size/rate apart", () => {
  // 10 Mbit/s: 1250 bytes take 1 ms.
  const s = new DelaySchedule(config({ rateBitsPerSecond: 10e6, delayNs: 5 * MS }));
  assert.equal(s.admit(0, 1250), 1 * MS + 5 * MS);
  assert.equal(s.admit(0, 1250), 2 * MS + 5 * MS);
  assert.equal(s.admit(0.5 * MS, 1250), 3 * MS + 5 * MS);
  // After the bottleneck idles, a packet leaves its own transmission time after arriving.
  assert.equal(s.admit(100 * MS, 1250), 101 * MS + 5 * MS);
});

Deno.test("DelaySchedule tail-drops past a queue of bytes, packets or time", () => {
  const cases: [LineConfig["queueKind"], number][] = [
    ["bytes", 3 * 1250],
    ["packets", 3],
    ["time", 2.5 * MS],
  ];
  for (const [queueKind, queueLimit] of cases) {
    const s = new DelaySchedule(config({ rateBitsPerSecond: 10e6, queueKind, queueLimit }));
    const verdicts = [0, 0, 0, 0, 0].map(() => s.admit(0, 1250) === TAIL_DROP);
    assert.deepEqual(verdicts, [false, false, false, true, true], queueKind);
    // Once the first packet has left, there is room for one more.
    assert.notEqual(s.admit(1 * MS, 1250), TAIL_DROP, queueKind);
    assert.equal(s.admit(1 * MS, 1250), TAIL_DROP, queueKind);
  }
});

Deno.test("DelaySchedule holds throughput at the rate under overload", () => {
  const s = new DelaySchedule(
    config({ rateBitsPerSecond: 10e6, queueKind: "packets", queueLimit: 50 }),
  );
  let bytes = 0;
  let lastDue = 0;
  // 20 Mbit/s offered for one second.
  for (let i = 0; i < 2000; i++) {
    const due = s.admit(i * 0.5 * MS, 1250);
    if (due !== TAIL_DROP) {
      bytes += 1250;
      lastDue = due;
    }
  }
  const rate = (bytes * 8) / (lastDue / 1e9);
  assert.ok(Math.abs(rate - 10e6) / 10e6 < 0.01, `rate ${rate}`);
});

Deno.test("DueHeap pops earliest first, equal due times in id order", () => {
  const heap = new DueHeap();
  const random = seeded(4);
  const items: [number, number][] = [];
  for (let id = 1; id <= 5000; id++) {
    const due = Math.floor(random() * 500);
    items.push([due, id]);
    heap.push(due, id);
  }
  items.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.equal(heap.size, 5000);
  const popped: number[] = [];
  while (heap.size > 0) popped.push(heap.pop());
  assert.deepEqual(popped, items.map(([, id]) => id));
  assert.equal(heap.peekDue(), Infinity);
});
