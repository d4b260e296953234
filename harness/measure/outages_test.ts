import assert from "node:assert/strict";
import { findOutages, longestOutageMs } from "./outages.ts";

const timeline = (sent: number[], delivered: number[]) => ({
  intervalMs: 100,
  sent,
  delivered,
  late: sent.map(() => 0),
});

Deno.test("findOutages() finds each run of silent intervals, with when service came back", () => {
  const outages = findOutages(timeline([5, 5, 5, 5, 5, 5, 5], [5, 0, 0, 4, 0, 5, 5]));
  assert.deepEqual(outages, [
    { fromMs: 100, toMs: 300, sent: 10, recovered: true },
    { fromMs: 400, toMs: 500, sent: 5, recovered: true },
  ]);
  assert.equal(longestOutageMs(outages), 200);
});

Deno.test("findOutages() skips intervals where nothing was sent, without ending the outage", () => {
  assert.deepEqual(findOutages(timeline([5, 0, 5, 5], [0, 0, 0, 5])), [
    { fromMs: 0, toMs: 300, sent: 10, recovered: true },
  ]);
});

Deno.test("findOutages() reports an outage still going at the end as never recovered", () => {
  assert.deepEqual(findOutages(timeline([5, 5], [5, 0])), [
    { fromMs: 100, toMs: 200, sent: 5, recovered: false },
  ]);
  assert.deepEqual(findOutages(timeline([5, 5, 0], [0, 0, 0])), [
    { fromMs: 0, toMs: 200, sent: 10, recovered: false },
  ]);
});

Deno.test("findOutages() of a flow with no loss is empty", () => {
  assert.deepEqual(findOutages(timeline([5, 5], [5, 5])), []);
  assert.equal(longestOutageMs([]), 0);
});
