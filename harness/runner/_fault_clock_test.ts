import assert from "node:assert/strict";
import { FaultClock, MAX_LEAD_MS, MIN_LEAD_MS } from "./_fault_clock.ts";
import { closeClock } from "../native/clock.ts";

Deno.test("FaultClock converts kernel time to the run's ms and back, to the microsecond", () => {
  const start = performance.now();
  const clock = new FaultClock(start);
  const runMs = clock.toRunMs(clock.nowNs());
  const perfMs = performance.now() - start;
  assert.ok(Math.abs(runMs - perfMs) < 1, `kernel ${runMs} ms, performance ${perfMs} ms`);
  const ns = clock.nowNs();
  assert.ok(Math.abs(Number(clock.fromRunMs(clock.toRunMs(ns)) - ns)) < 1000, "round trip");
  closeClock();
});

Deno.test("FaultClock's lead is twice the slowest recent round trip, within its bounds", () => {
  const clock = new FaultClock(performance.now());
  assert.equal(clock.leadNs(), 2_000_000n, "2 ms before any round trip is known");
  clock.noteRoundTrip(0.1);
  assert.equal(clock.leadNs(), BigInt(MIN_LEAD_MS * 1e6), "never below the minimum");
  clock.noteRoundTrip(0.8);
  assert.equal(clock.leadNs(), 1_600_000n);
  clock.noteRoundTrip(40);
  assert.equal(clock.leadNs(), BigInt(MAX_LEAD_MS * 1e6), "never above the maximum");
  for (let i = 0; i < 8; i++) clock.noteRoundTrip(0.4);
  assert.equal(clock.leadNs(), 800_000n, "a slow round trip is forgotten after 8 more");
  closeClock();
});

Deno.test("FaultClock.sleepUntil() returns once the kernel's clock has passed the time", async () => {
  const clock = new FaultClock(performance.now());
  const at = clock.nowNs() + 5_000_000n;
  await clock.sleepUntil(at);
  const now = clock.nowNs();
  assert.ok(now >= at, "not before");
  assert.ok(now - at < 50_000_000n, `${Number(now - at) / 1e6} ms late`);
  closeClock();
});
