import assert from "node:assert/strict";
import {
  COUNTER,
  countFlowDrop,
  createShared,
  FLOW_FIELDS,
  FLOW_RECEIVED,
  FLOW_SLOTS,
  flowSlot,
  readConfig,
  readCounters,
  readFlowDrops,
  writeConfig,
} from "./delay_line_control.ts";
import { NO_DELAY } from "./delay_schedule.ts";

Deno.test("writeConfig publishes a config that readConfig reads back whole", () => {
  const shared = createShared();
  const first = readConfig(shared);
  assert.deepEqual(first.config, NO_DELAY);
  const config = {
    delayNs: 10e6,
    jitterNs: 2e6,
    distribution: "normal" as const,
    keepOrder: true,
    rateBitsPerSecond: 10e6,
    queueKind: "time" as const,
    queueLimit: 50e6,
  };
  writeConfig(shared, config, 1_765_000_000_123.5);
  const read = readConfig(shared);
  assert.deepEqual(read.config, config);
  assert.equal(read.effectiveAtMs, 1_765_000_000_123.5);
  assert.notEqual(read.seq, first.seq);
  assert.equal(read.seq % 2, 0);
});

Deno.test("readCounters names every counter slot", () => {
  const shared = createShared();
  shared.counters[COUNTER.tailDropped] = 7;
  shared.counters[COUNTER.overrun] = 2;
  const counters = readCounters(shared);
  assert.equal(counters.tailDropped, 7);
  assert.equal(counters.overrun, 2);
  assert.equal(Object.keys(counters).length, Object.keys(COUNTER).length);
});

Deno.test("countFlowDrop counts per probe flow until the table is full", () => {
  const shared = createShared();
  assert.ok(countFlowDrop(shared.flows, 5, false));
  assert.ok(countFlowDrop(shared.flows, 5, false));
  assert.ok(countFlowDrop(shared.flows, 9, true));
  shared.flows[flowSlot(shared.flows, 9) * FLOW_FIELDS + FLOW_RECEIVED]! += 3;
  assert.deepEqual(readFlowDrops(shared), [
    { flowId: 5, tailDropped: 2, droppedAtStop: 0, received: 0 },
    { flowId: 9, tailDropped: 0, droppedAtStop: 1, received: 3 },
  ]);
  assert.equal(flowSlot(shared.flows, 5), 0, "a flow keeps its slot");
  for (let f = 100; f < 100 + FLOW_SLOTS - 2; f++) assert.ok(countFlowDrop(shared.flows, f, false));
  assert.equal(countFlowDrop(shared.flows, 1, false), false);
  assert.equal(flowSlot(shared.flows, 1), -1);
});
