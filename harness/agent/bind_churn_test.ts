// Bind churn on loopback with real sockets: what Deno 2.9 does when a socket is closed
// with a receive (or accept) pending, and what the churn reports about it.

import assert from "node:assert/strict";
import type { ChurnSettings } from "./protocol.ts";
import { FAILURE_LOG_LIMIT, startBindChurn } from "./bind_churn.ts";
import { lookupHolders, lookupHoldersSync } from "./holders.ts";
import type { BindChurnResult } from "../measure/bind_results.ts";

const SS = "ss";

/**
 * A port free for UDP and TCP on 127.0.0.1, below the ephemeral range (32768-60999 here)
 * so that no connection of another test picks it meanwhile.
 */
function freePort(): number {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken: try another.
    }
  }
  throw new Error("Cannot find a free port on 127.0.0.1");
}

function settings(overrides: Partial<ChurnSettings> = {}): ChurnSettings {
  return {
    hostname: "127.0.0.1",
    port: freePort(),
    protocol: "udp",
    cycles: 1000,
    pendingReceive: false,
    awaitPending: false,
    liveConnections: 0,
    reuseAddress: false,
    rebindTimeoutMs: 1000,
    maxDurationMs: 30_000,
    ssPath: SS,
    ...overrides,
  };
}

async function churn(overrides: Partial<ChurnSettings> = {}): Promise<BindChurnResult> {
  const running = await startBindChurn(settings(overrides));
  return await running.done;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** The port is free again: a plain bind succeeds. */
function assertReleased(protocol: "udp" | "tcp", port: number): void {
  if (protocol === "udp") {
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
  } else {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  }
}

/** Checks a churn whose every rebind failed once because its own closed socket held the port. */
function assertHeldBySelf(result: BindChurnResult, state: string): void {
  const port = Number(result.address.split(":")[1]);
  // The first bind has nothing to wait for; every rebind after it fails at least once.
  assert.ok(result.failures >= result.cycles - 1, `failures ${result.failures}`);
  assert.deepEqual(result.errors, { EADDRINUSE: result.failures });
  assert.equal(result.attempts, result.cycles + result.failures);
  assert.equal(result.failureLog.length, FAILURE_LOG_LIMIT);
  assert.equal(result.failureLogTruncated, true);
  assert.equal(result.stoppedEarly, false);
  for (const failure of result.failureLog) {
    assert.equal(failure.error, "EADDRINUSE");
    assert.ok(failure.holders !== null && failure.rebindMs !== null);
    const self = failure.holders.filter((h) => h.pid === Deno.pid);
    assert.equal(self.length, 1, JSON.stringify(failure.holders));
    assert.equal(self[0]!.state, state);
    assert.equal(self[0]!.local, `127.0.0.1:${port}`);
    assert.match(self[0]!.program ?? "", /^deno/);
  }
  // The rebind waits for one turn of the event loop: tens of microseconds, with the time
  // spent in ss left out. VM noise (GC pauses of several ms) only moves the tail.
  const rebindMs = median(result.failureLog.map((f) => f.rebindMs!));
  assert.ok(rebindMs < 5, `median rebind ${rebindMs} ms`);
  assert.ok(result.rebind.count >= result.cycles - 1 && result.rebind.count <= result.failures);
  assert.ok(result.rebindSummary.p50 < 5e6, `rebind p50 ${result.rebindSummary.p50} ns`);
}

Deno.test("startBindChurn() rebinds a UDP port 1000 times without a failure when nothing is pending", async () => {
  const result = await churn();
  assert.equal(result.cycles, 1000);
  assert.equal(result.attempts, 1000);
  assert.equal(result.failures, 0);
  assert.deepEqual(result.errors, {});
  assert.deepEqual(result.failureLog, []);
  assert.equal(result.rebind.count, 0);
  assert.equal(result.stoppedEarly, false);
  assert.equal(result.protocol, "udp");
  assert.ok(result.rate > 0 && result.durationMs > 0);
});

Deno.test("startBindChurn() sees every UDP rebind fail with EADDRINUSE, held by itself, when a receive was pending at close", async () => {
  const result = await churn({ pendingReceive: true });
  assertHeldBySelf(result, "UNCONN");
  assertReleased("udp", Number(result.address.split(":")[1]));
});

Deno.test("startBindChurn() sees no UDP failure when the pending receive is awaited after close", async () => {
  const result = await churn({ pendingReceive: true, awaitPending: true });
  assert.equal(result.cycles, 1000);
  assert.equal(result.failures, 0);
});

Deno.test("startBindChurn() sees no UDP failure with SO_REUSEADDR, even with a receive pending at close", async () => {
  // Both sockets set SO_REUSEADDR, so the new one may bind beside the closed one that
  // still waits for its pending receive to be rejected.
  const result = await churn({ pendingReceive: true, reuseAddress: true });
  assert.equal(result.failures, 0);
});

Deno.test("startBindChurn() sees every TCP rebind fail with EADDRINUSE when an accept was pending at close", async () => {
  const result = await churn({ protocol: "tcp", reuseAddress: true, pendingReceive: true });
  assertHeldBySelf(result, "LISTEN");
  assertReleased("tcp", Number(result.address.split(":")[1]));
});

Deno.test("startBindChurn() sees no TCP failure when the pending accept is awaited after close", async () => {
  const result = await churn({
    protocol: "tcp",
    reuseAddress: true,
    pendingReceive: true,
    awaitPending: true,
  });
  assert.equal(result.failures, 0);
});

Deno.test("startBindChurn() keeps TCP live connections open across rebinds without a failure", async () => {
  const s = settings({
    protocol: "tcp",
    reuseAddress: true,
    cycles: 10_000_000,
    liveConnections: 5,
  });
  const running = await startBindChurn(s);
  try {
    // Mid-churn, the five accepted connections hold the port (local port = the listener's).
    // Looked up synchronously: spawning a process while the churn runs makes its rebinds
    // fail now and then (the child holds copies of our sockets until it execs).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const holders = lookupHoldersSync(SS, "tcp", s.port);
    const accepted = holders.filter((h) => h.state === "ESTAB" && h.pid === Deno.pid);
    assert.equal(accepted.length, 5, JSON.stringify(holders));
    assert.ok(accepted.every((h) => h.local === `127.0.0.1:${s.port}`));
  } finally {
    await running.stop();
  }
  const result = await running.done;
  assert.ok(result.cycles > 100, `cycles ${result.cycles}`);
  assert.equal(result.failures, 0);
  assert.equal(result.attempts, result.cycles);
  assert.equal(result.stoppedEarly, true);
  // Closed at the end: no ESTAB left with the port on either end (TIME-WAIT may be).
  const left = await lookupHolders(SS, "tcp", s.port);
  assert.deepEqual(left.filter((h) => h.pid !== null), []);
});

Deno.test("startBindChurn() rejects with AddrInUse naming the port and the holder when the first bind never succeeds", async () => {
  const s = settings({ rebindTimeoutMs: 50 });
  const holder = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: s.port });
  try {
    await assert.rejects(startBindChurn(s), (error: Error) => {
      assert.ok(error instanceof Deno.errors.AddrInUse, String(error));
      assert.ok(error.message.startsWith(`Cannot bind UDP socket to "127.0.0.1:${s.port}": `));
      assert.match(error.message, new RegExp(`held by pid ${Deno.pid} "deno[^"]*", state UNCONN`));
      assert.ok(error.cause instanceof Deno.errors.AddrInUse);
      return true;
    });
  } finally {
    holder.close();
  }
});

Deno.test("startBindChurn() waits for a port held by someone else and reports the wait", async () => {
  // Without ss: its lookup time is left out of rebindMs, and a holder other than the
  // churn itself can let go during a lookup (see BindChurn's #retry).
  const s = settings({ cycles: 10, ssPath: null });
  const holder = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: s.port });
  const release = setTimeout(() => holder.close(), 30);
  const result = await (await startBindChurn(s)).done;
  clearTimeout(release);
  assert.equal(result.cycles, 10);
  assert.equal(result.stoppedEarly, false);
  // The quick retries, then one per timer tick (1-2 ms): tens of failures, not thousands.
  assert.ok(result.failures > 16 && result.failures < 200, `failures ${result.failures}`);
  const first = result.failureLog[0]!;
  assert.equal(first.error, "EADDRINUSE");
  assert.equal(first.holders, null);
  assert.ok(
    first.rebindMs !== null && first.rebindMs > 25 && first.rebindMs < 500,
    `rebind ${first.rebindMs} ms`,
  );
  // There was no close before the first bind: nothing in the rebind histogram.
  assert.equal(result.rebind.count, 0);
});

Deno.test("startBindChurn() stop() ends the churn early and releases the port", async () => {
  const s = settings({ cycles: 10_000_000, pendingReceive: true, ssPath: null });
  const running = await startBindChurn(s);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const mid = await running.snapshot();
  const result = await running.stop();
  assert.ok(result.stoppedEarly);
  assert.ok(result.cycles >= mid.cycles && result.cycles < s.cycles);
  assert.equal(result.attempts, result.cycles + result.failures);
  assert.ok(result.failureLog.every((f) => f.holders === null));
  assertReleased("udp", s.port);
});

Deno.test("startBindChurn() stops at its time limit", async () => {
  const result = await churn({ cycles: 10_000_000, maxDurationMs: 100 });
  assert.ok(result.stoppedEarly);
  assert.ok(result.durationMs >= 100 && result.durationMs < 1000, `${result.durationMs} ms`);
  assert.ok(result.cycles > 100);
});

Deno.test("startBindChurn() rejects settings it cannot run", async () => {
  await assert.rejects(startBindChurn(settings({ port: 0 })), RangeError);
  await assert.rejects(startBindChurn(settings({ liveConnections: 2 })), RangeError);
  await assert.rejects(startBindChurn(settings({ protocol: "sctp" as "udp" })), TypeError);
});
