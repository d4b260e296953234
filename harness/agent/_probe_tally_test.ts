import assert from "node:assert/strict";
import { ProbeTally } from "./_probe_tally.ts";

const US = 1000;
const MS = 1e6;

function tally(): ProbeTally {
  return new ProbeTally(0, 100 * MS, 1024, 100 * US);
}

Deno.test("ProbeTally splits each round trip into its two one-way delays", () => {
  const t = tally();
  for (let seq = 0; seq < 10; seq++) {
    const tx = seq * MS;
    t.send(tx, 0);
    // 30 us out, 10 us in the echo, 70 us back.
    t.reply(seq, tx, tx + 110 * US, tx + 30 * US, tx + 40 * US, 3);
  }
  const native = t.native("sleep-spin");
  assert.equal(t.delivered, 10);
  assert.ok(native.oneWay);
  assert.ok(Math.abs(native.oneWay.forward.delaySummary.p50 - 30 * US) < 300);
  assert.ok(Math.abs(native.oneWay.return.delaySummary.p50 - 70 * US) < 600);
  assert.ok(Math.abs(t.rtt.percentile(50) - 110 * US) < 900);
  assert.ok(Math.abs(native.oneWay.echo.timeSummary.p50 - 10 * US) < 100);
  assert.deepEqual(native.clock, { send: "kernel", receive: "kernel" });
});

Deno.test("ProbeTally says one-way delay is not measured when the echo did not stamp", () => {
  const t = tally();
  t.send(0, 0);
  t.reply(0, 0, 50 * US, NaN, NaN, 0);
  const native = t.native("ping-pong");
  assert.equal(native.oneWay, null);
  assert.deepEqual(native.clock, { send: "user", receive: "user" });
  assert.equal(t.delivered, 1);
});

Deno.test("ProbeTally puts a late reply on the direction that made it late", () => {
  const t = tally();
  t.send(0, 0);
  t.send(1 * MS, 0);
  t.reply(0, 0, 150 * MS, 140 * MS, 140 * MS + US); // late on the way out
  t.reply(1, 1 * MS, 200 * MS, 2 * MS, 3 * MS); // late on the way back
  assert.equal(t.late, 2);
  assert.equal(t.lateForward, 1);
  assert.equal(t.lateReturn, 1);
});

Deno.test("ProbeTally tells reordering on the way out from reordering on the way back", () => {
  const t = tally();
  for (let seq = 0; seq < 4; seq++) t.send(seq * MS, 0);
  // 1 overtook 0 on the way out: the echo received 1 first.
  t.reply(1, 1 * MS, 1 * MS + 60 * US, 1 * MS + 20 * US, 1 * MS + 30 * US);
  t.reply(0, 0, 1 * MS + 80 * US, 1 * MS + 40 * US, 1 * MS + 50 * US);
  // 3 overtook 2 on the way back: the echo received and sent 2 first.
  t.reply(3, 3 * MS, 3 * MS + 200 * US, 3 * MS + 20 * US, 3 * MS + 30 * US);
  t.reply(2, 2 * MS, 3 * MS + 300 * US, 2 * MS + 20 * US, 2 * MS + 30 * US);
  assert.equal(t.reordered, 2);
  assert.equal(t.reorderedForward, 1);
  assert.equal(t.reorderedReturn, 1);
});

Deno.test("ProbeTally counts duplicates and replies to datagrams never sent", () => {
  const t = tally();
  t.send(0, 0);
  t.reply(0, 0, 50 * US, NaN, NaN);
  t.reply(0, 0, 60 * US, NaN, NaN);
  t.reply(5, 0, 60 * US, NaN, NaN);
  assert.equal(t.delivered, 1);
  assert.equal(t.duplicated, 1);
  assert.equal(t.foreign, 1);
});

Deno.test("ProbeTally counts sends later than the tolerance as pacing misses", () => {
  const t = tally();
  t.send(0, 10 * US);
  t.send(1 * MS, 150 * US);
  assert.equal(t.native("sleep-spin").pacing!.misses, 1);
});
