import assert from "node:assert/strict";
import { FaultClock, MAX_LEAD_MS, MIN_LEAD_MS } from "./_fault_clock.ts";
import { closeClock } from "../native/clock.ts";

Deno.test("FaultClock converts kernel time to the run's ms and back, to the microsecond", () => {
  const start = performance.now();
  using clock = new FaultClock(start);
  const runMs = clock.toRunMs(clock.nowNs());
  const perfMs = performance.now() - start;
  assert.ok(Math.abs(runMs - perfMs) < 1, `kernel ${runMs} ms, performance ${perfMs} ms`);
  const ns = clock.nowNs();
  assert.ok(Math.abs(Number(clock.fromRunMs(clock.toRunMs(ns)) - ns)) < 1000, "round trip");
  closeClock();
});

Deno.test("FaultClock's lead is 3 times the median recent write latency, within its bounds", () => {
  using clock = new FaultClock(performance.now());
  const ms = (v: number) => BigInt(Math.round(v * 1e6));
  const write = (latencyMs: number) =>
    clock.noteWrite(1_000_000_000n, 1_000_000_000n + ms(latencyMs));
  assert.equal(clock.leadNs(), 2_000_000n, "2 ms before any write is known");
  write(0.05);
  assert.equal(clock.leadNs(), ms(MIN_LEAD_MS), "never below the minimum");
  write(0.4);
  write(0.4);
  assert.equal(clock.leadNs(), ms(3 * 0.4 + 0.1));
  write(40);
  assert.equal(clock.leadNs(), ms(3 * 0.4 + 0.1), "one slow write moves the median little");
  for (let i = 0; i < 3; i++) write(40);
  assert.equal(clock.leadNs(), ms(MAX_LEAD_MS), "never above the maximum");
  for (let i = 0; i < 8; i++) write(0.01);
  assert.equal(clock.leadNs(), ms(MIN_LEAD_MS), "slow writes are forgotten after 8 more");
  clock.noteWrite(2n, 1n); // a clock that went back: ignored
  assert.equal(clock.leadNs(), ms(MIN_LEAD_MS));
  closeClock();
});

Deno.test("FaultClock.sleepUntil() returns once the kernel's clock has passed the time", async () => {
  using clock = new FaultClock(performance.now());
  const at = clock.nowNs() + 5_000_000n;
  await clock.sleepUntil(at);
  const now = clock.nowNs();
  assert.ok(now >= at, "not before");
  assert.ok(now - at < 50_000_000n, `${Number(now - at) / 1e6} ms late`);
  closeClock();
});
