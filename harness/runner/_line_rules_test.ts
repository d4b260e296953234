import assert from "node:assert/strict";
import { drainMs, lineConfig, lineRules, lineTable } from "./_line_rules.ts";
import { delay, rateLimit } from "../scenario/faults.ts";

Deno.test("lineRules queues matching packets on the interface, one rule per protocol", () => {
  const target = ["-j", "NFQUEUE", "--queue-num", "3", "--queue-bypass"];
  assert.deepEqual(lineRules(delay("10ms"), "sq-1-0b", 3, undefined), [[
    "-i",
    "sq-1-0b",
    ...target,
  ]]);
  assert.deepEqual(
    lineRules(delay("10ms", { protocol: "udp", ports: [7000, 7010] }), "sq-1-0b", 3, "198.18.0.1"),
    [["-i", "sq-1-0b", "-p", "udp", "--dport", "7000:7010", "-s", "198.18.0.1/32", ...target]],
  );
  assert.deepEqual(
    lineRules(delay("10ms", { ports: 80 }), "x", 3, undefined).map((r) => r[3]),
    ["udp", "tcp"],
  );
});

Deno.test("rate limits go in the raw table and delays in mangle, so both apply to a packet", () => {
  assert.equal(lineTable(rateLimit({ rate: "1mbit" })), "raw");
  assert.equal(lineTable(delay(5)), "mangle");
});

Deno.test("lineConfig turns durations into nanoseconds and rates into bits per second", () => {
  const d = lineConfig(delay("10ms", { jitter: "2ms", distribution: "normal", keepOrder: true }));
  assert.deepEqual(
    [d.delayNs, d.jitterNs, d.distribution, d.keepOrder, d.rateBitsPerSecond],
    [10e6, 2e6, "normal", true, 0],
  );
  const r = lineConfig(rateLimit({ rate: "10mbit", queue: { time: "50ms" } }));
  assert.deepEqual([r.rateBitsPerSecond, r.queueKind, r.queueLimit], [10e6, "time", 50e6]);
  assert.equal(lineConfig(rateLimit({ rate: 8000, queue: { bytes: 1500 } })).queueKind, "bytes");
});

Deno.test("drainMs covers the longest wait in the line plus a second", () => {
  assert.equal(drainMs(delay("600ms")), 1600);
  assert.equal(drainMs(delay("10ms", { jitter: "2ms" })), 1012);
  assert.equal(drainMs(rateLimit({ rate: "8mbit", queue: { bytes: 1_000_000 } })), 2000);
});
