// The reconnect storm against real loopback sockets: minimal TCP and UDP echoes of the
// tests' own (not squall's, so that a bug there cannot hide one here).

import assert from "node:assert/strict";
import type { StormSettings } from "./protocol.ts";
import { startReconnectStorm } from "./reconnect_storm.ts";
import type { ReconnectStormResult, StormAttempt } from "../measure/tcp_results.ts";
import {
  closedPort,
  tcpEcho,
  tcpEchoOnFixedPort,
  type TestServer,
  udpEcho,
} from "../../tests/_loopback_servers.ts";

const LOOPBACK = "127.0.0.1";

/** Settings for a storm against `port` on loopback, with `overrides`. */
function settings(port: number, overrides: Partial<StormSettings>): StormSettings {
  return {
    hostname: LOOPBACK,
    targetAddress: LOOPBACK,
    targetPort: port,
    clients: 20,
    cycles: 10,
    durationMs: null,
    concurrency: 20,
    backoff: { type: "fixed", initialMs: 1, maxMs: 1, factor: 2, jitter: 0 },
    protocol: "tcp",
    connectTimeoutMs: 1000,
    size: 64,
    ...overrides,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The attempts of each client, in order. */
function byClient(result: ReconnectStormResult): StormAttempt[][] {
  const clients: StormAttempt[][] = Array.from({ length: result.clients }, () => []);
  for (const a of result.attemptLog) clients[a.client]!.push(a);
  return clients;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

Deno.test("startReconnectStorm() over TCP", async (t) => {
  await t.step("completes every cycle of 20 clients against an echo", async () => {
    const echo = tcpEcho();
    try {
      const result = await startReconnectStorm(settings(echo.port, {})).done;
      assert.equal(result.kind, "reconnectStorm");
      assert.equal(result.address, `${LOOPBACK}:${echo.port}`);
      assert.equal(result.protocol, "tcp");
      assert.equal(result.clients, 20);
      assert.equal(result.attempts, 200);
      assert.equal(result.successes, 200);
      assert.equal(result.failures, 0);
      assert.deepEqual(Object.values(result.errors), Object.values(result.errors).map(() => 0));
      assert.equal(result.attemptLog.length, 200);
      assert.equal(result.attemptLogTruncated, false);
      assert.equal(result.connectTime.count, 200);
      assert.ok(result.connectSummary.p50 > 0);
      assert.equal(sum(result.timeline.attempts), 200);
      assert.equal(sum(result.timeline.successes), 200);
      assert.equal(result.timeline.intervalMs, 100);
      assert.deepEqual(result.unservedPeriods, []);
      assert.equal(result.stoppedEarly, false);
      assert.equal(result.recoveryMs, null);
      assert.equal(result.timeWait, null);
      assert.ok(result.maxConcurrentAttempts > 1 && result.maxConcurrentAttempts <= 20);
      // Oldest first, ten per client, every one with a connect time.
      for (let i = 1; i < result.attemptLog.length; i++) {
        assert.ok(result.attemptLog[i]!.atMs >= result.attemptLog[i - 1]!.atMs);
      }
      for (const attempts of byClient(result)) {
        assert.equal(attempts.length, 10);
        for (const a of attempts) {
          assert.equal(a.outcome, "ok");
          assert.ok(a.connectMs !== null && a.connectMs >= 0);
        }
      }
      const first = result.attemptLog[0]!.atMs;
      assert.ok(first >= result.startedAt && first - result.startedAt < 50);
    } finally {
      await echo.close();
    }
  });

  await t.step("never has more attempts in flight than its concurrency", async () => {
    const echo = tcpEcho();
    try {
      const result = await startReconnectStorm(settings(echo.port, {
        clients: 10,
        cycles: 5,
        concurrency: 1,
      })).done;
      assert.equal(result.successes, 50);
      assert.equal(result.maxConcurrentAttempts, 1);
      const three = await startReconnectStorm(settings(echo.port, {
        clients: 10,
        cycles: 5,
        concurrency: 3,
      })).done;
      assert.equal(three.successes, 50);
      assert.ok(three.maxConcurrentAttempts <= 3, `${three.maxConcurrentAttempts}`);
    } finally {
      await echo.close();
    }
  });

  await t.step("counts every attempt as refused when nothing listens", async () => {
    const result = await startReconnectStorm(settings(closedPort(), {
      clients: 3,
      cycles: 7,
      backoff: { type: "exponential", initialMs: 5, maxMs: 80, factor: 2, jitter: 0 },
    })).done;
    assert.equal(result.attempts, 21);
    assert.equal(result.successes, 0);
    assert.equal(result.failures, 21);
    assert.equal(result.errors.refused, 21);
    assert.equal(result.connectTime.count, 0);
    assert.ok(result.attemptLog.every((a) => a.outcome === "refused" && a.connectMs === null));
    assert.equal(sum(result.timeline.failures), 21);
    // Every client failed, none was ever served again: one period, still open.
    assert.equal(result.unservedPeriods.length, 1);
    const period = result.unservedPeriods[0]!;
    assert.equal(period.endMs, null);
    assert.equal(period.clients, 3);
    assert.equal(period.startMs, result.attemptLog[0]!.atMs);
    assert.equal(result.stoppedEarly, false);
  });

  await t.step("backs off exponentially after failures in a row", async () => {
    const result = await startReconnectStorm(settings(closedPort(), {
      clients: 3,
      cycles: 7,
      backoff: { type: "exponential", initialMs: 5, maxMs: 80, factor: 2, jitter: 0 },
    })).done;
    const expected = [5, 10, 20, 40, 80, 80];
    for (const attempts of byClient(result)) {
      const intervals = attempts.slice(1).map((a, i) => a.atMs - attempts[i]!.atMs);
      assert.equal(intervals.length, expected.length);
      intervals.forEach((ms, i) => {
        const want = expected[i]!;
        assert.ok(ms >= want && ms < want + 15, `interval ${i} ${ms} ms, expected ${want}`);
      });
    }
  });

  await t.step("spreads waits by the jitter", async () => {
    const result = await startReconnectStorm(settings(closedPort(), {
      clients: 2,
      cycles: 11,
      backoff: { type: "fixed", initialMs: 20, maxMs: 20, factor: 2, jitter: 0.5 },
    })).done;
    const intervals = byClient(result).flatMap((attempts) =>
      attempts.slice(1).map((a, i) => a.atMs - attempts[i]!.atMs)
    );
    assert.equal(intervals.length, 20);
    for (const ms of intervals) assert.ok(ms >= 10 && ms < 30 + 15, `${ms} ms`);
    // Uniform in 10-30 ms: 20 waits all within 2 ms of one another is all but impossible.
    assert.ok(Math.max(...intervals) - Math.min(...intervals) > 2, intervals.join(", "));
  });

  await t.step("fails an exchange that is not done in time as timedOut", async () => {
    const silent = tcpEcho(0, true);
    try {
      const result = await startReconnectStorm(settings(silent.port, {
        clients: 2,
        cycles: 2,
        connectTimeoutMs: 100,
      })).done;
      assert.equal(result.attempts, 4);
      assert.equal(result.errors.timedOut, 4);
      // The connects themselves succeeded.
      assert.equal(result.connectTime.count, 4);
      assert.ok(result.attemptLog.every((a) => a.outcome === "timedOut" && a.connectMs !== null));
      assert.ok(result.durationMs >= 200 && result.durationMs < 1000, `${result.durationMs}`);
    } finally {
      await silent.close();
    }
  });

  await t.step("opens an unserved period while the echo is away", async () => {
    const echo = tcpEchoOnFixedPort();
    let reopened: TestServer | undefined;
    try {
      const storm = startReconnectStorm(settings(echo.port, {
        clients: 5,
        cycles: null,
        durationMs: 1500,
        backoff: { type: "fixed", initialMs: 10, maxMs: 10, factor: 2, jitter: 0 },
        connectTimeoutMs: 500,
      }));
      await delay(400);
      const closedAt = epochMs();
      await echo.close();
      await delay(300);
      reopened = tcpEcho(echo.port);
      const reopenedAt = epochMs();
      const result = await storm.done;

      assert.equal(result.stoppedEarly, false);
      assert.ok(result.durationMs >= 1400 && result.durationMs < 2000, `${result.durationMs}`);
      assert.ok(result.failures > 0);
      assert.equal(result.failures, result.errors.refused + result.errors.reset);
      assert.equal(result.attempts, result.successes + result.failures);
      assert.equal(result.unservedPeriods.length, 1, JSON.stringify(result.unservedPeriods));
      const period = result.unservedPeriods[0]!;
      assert.equal(period.clients, 5);
      // It starts with the first attempt that failed: one under way at the close, or
      // the next one at most a backoff later.
      assert.ok(period.startMs > closedAt - 20, `start ${period.startMs - closedAt} ms`);
      assert.ok(period.startMs < closedAt + 50, `start ${period.startMs - closedAt} ms`);
      // It ends when the last client has been served again, within a backoff or two.
      assert.ok(period.endMs !== null, "the period ended");
      assert.ok(period.endMs > reopenedAt, `end ${period.endMs - reopenedAt} ms`);
      assert.ok(period.endMs < reopenedAt + 100, `end ${period.endMs - reopenedAt} ms`);
      // The timeline shows the failures in the intervals between.
      const failed = result.timeline.failures.flatMap((n, i) => n > 0 ? [i] : []);
      const at = (ms: number) => Math.floor((ms - result.startedAt) / result.timeline.intervalMs);
      assert.ok(failed[0]! >= at(closedAt) - 1 && failed.at(-1)! <= at(reopenedAt) + 1);
    } finally {
      await reopened?.close();
    }
  });

  await t.step("stops at once: no new attempts, those in flight aborted", async () => {
    const silent = tcpEcho(0, true);
    try {
      const storm = startReconnectStorm(settings(silent.port, {
        clients: 5,
        cycles: null,
        durationMs: 10_000,
        connectTimeoutMs: 5_000,
      }));
      await delay(200);
      const mid = storm.snapshot() as ReconnectStormResult;
      assert.equal(mid.attempts, 0, "every attempt waits for the silent echo");
      assert.equal(mid.maxConcurrentAttempts, 5);
      const before = performance.now();
      const result = await storm.stop();
      assert.ok(performance.now() - before < 200);
      assert.equal(result.stoppedEarly, true);
      assert.equal(result.attempts, 0, "an attempt cut short by stop() is not counted");
      assert.deepEqual(await storm.stop(), result);
    } finally {
      await silent.close();
    }
  });

  await t.step("runs for its duration, then lets attempts in flight finish", async () => {
    const echo = tcpEcho();
    try {
      const storm = startReconnectStorm(settings(echo.port, {
        clients: 4,
        cycles: null,
        durationMs: 300,
        backoff: { type: "fixed", initialMs: 5, maxMs: 5, factor: 2, jitter: 0 },
      }));
      await delay(150);
      const mid = storm.snapshot() as ReconnectStormResult;
      assert.ok(mid.attempts > 0 && mid.durationMs < 300);
      const result = await storm.done;
      assert.equal(result.stoppedEarly, false);
      assert.ok(result.durationMs >= 290 && result.durationMs < 500, `${result.durationMs}`);
      assert.ok(result.attempts > mid.attempts);
      assert.equal(result.successes, result.attempts);
      const last = result.attemptLog.at(-1)!.atMs - result.startedAt;
      assert.ok(last < 300, `last attempt at ${last} ms`);
    } finally {
      await echo.close();
    }
  });

  await t.step("rejects settings out of range before it connects", () => {
    assert.throws(() => startReconnectStorm(settings(1, { clients: 0 })), RangeError);
    assert.throws(() => startReconnectStorm(settings(1, { durationMs: 100 })), TypeError);
    assert.throws(
      () =>
        startReconnectStorm(settings(1, {
          backoff: { type: "exponential", initialMs: 10, maxMs: 5, factor: 2, jitter: 0 },
        })),
      RangeError,
    );
  });
});

Deno.test("startReconnectStorm() over UDP", async (t) => {
  await t.step("completes every exchange against an echo", async () => {
    const echo = udpEcho();
    try {
      const result = await startReconnectStorm(settings(echo.port, {
        protocol: "udp",
        clients: 10,
        cycles: 5,
        size: 512,
      })).done;
      assert.equal(result.protocol, "udp");
      assert.equal(result.attempts, 50);
      assert.equal(result.successes, 50);
      assert.equal(result.connectTime.count, 50);
      assert.equal(result.attemptLog.length, 50);
      assert.deepEqual(result.unservedPeriods, []);
    } finally {
      await echo.close();
    }
  });

  await t.step("times out when nothing answers, and frees every socket", async () => {
    const port = (() => {
      const conn = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK, port: 0 });
      const p = (conn.addr as Deno.NetAddr).port;
      conn.close();
      return p;
    })();
    const result = await startReconnectStorm(settings(port, {
      protocol: "udp",
      clients: 3,
      cycles: 2,
      connectTimeoutMs: 100,
    })).done;
    assert.equal(result.attempts, 6);
    assert.equal(result.errors.timedOut, 6);
    assert.equal(result.unservedPeriods.length, 1);
    assert.equal(result.unservedPeriods[0]!.endMs, null);
  });
});
