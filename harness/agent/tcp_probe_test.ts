import assert from "node:assert/strict";
import net from "node:net";
import { classifyError } from "../measure/connect_errors.ts";
import type { TcpProbeSettings } from "./protocol.ts";
import type { TcpProbeResult } from "../measure/tcp_results.ts";
import { startTcpEcho } from "./tcp_echo.ts";
import { startTcpProbe } from "./tcp_probe.ts";

const LOOPBACK = "127.0.0.1";

function probeSettings(port: number, more: Partial<TcpProbeSettings> = {}): TcpProbeSettings {
  return {
    hostname: LOOPBACK,
    targetAddress: LOOPBACK,
    targetPort: port,
    count: 20,
    durationMs: null,
    rate: 1000,
    size: 64,
    connectTimeoutMs: 1000,
    timeoutMs: 1000,
    connection: "keep",
    ...more,
  };
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** The counts hold together whatever happened. */
function assertConsistent(r: TcpProbeResult): void {
  assert.equal(r.requests, r.responses + r.failed, "requests = responses + failed");
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  assert.equal(errors, r.failed, "the error counts add up to the failures");
  assert.equal(r.rtt.count, r.responses, "one round trip per response");
  assert.equal(r.connectTime.count, r.connects - r.connectFailures, "one time per connect");
  assert.equal(r.failureRate, r.requests === 0 ? 0 : r.failed / r.requests);
}

/** A port with nothing listening on it (as long as nobody else takes it). */
async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepting = listener.accept();
  listener.close();
  await accepting.catch(() => {});
  return port;
}

/** A server that accepts and reads, and does what `onData` says with what it reads. */
async function nodeServer(
  onData: (socket: net.Socket, data: Uint8Array) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (data: Uint8Array) => onData(socket, data));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

Deno.test("startTcpProbe() against startTcpEcho() on loopback", async (t) => {
  await t.step("keep: every request is answered over one connection", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    const r = await startTcpProbe(probeSettings(portOf(echo.address), { count: 300, rate: 3000 }))
      .done;
    const e = await echo.stop();
    assertConsistent(r);
    assert.equal(r.kind, "tcpProbe");
    assert.equal(r.address, `${LOOPBACK}:${portOf(echo.address)}`);
    assert.equal(r.requests, 300);
    assert.equal(r.responses, 300);
    assert.equal(r.failed, 0);
    assert.equal(r.connects, 1);
    assert.equal(r.connectFailures, 0);
    assert.equal(r.stoppedEarly, false);
    assert.equal(r.connectTime.count, 1);
    assert.ok(r.connectSummary.p50 > 0 && r.connectSummary.p50 < 1e9, "connect time in (0, 1s)");
    const s = r.rttSummary;
    assert.equal(s.count, 300);
    assert.ok(s.min > 1_000, `an RTT over 1us, got min ${s.min} ns`);
    assert.ok(s.p50 < 50e6, `p50 under 50ms, got ${s.p50} ns`);
    assert.ok(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
    // 300 at 3000/s: about 100ms, and no faster than the rate allows.
    assert.ok(r.durationMs >= 99, `durationMs ${r.durationMs}`);
    assert.ok(r.startedAt <= Date.now() && r.startedAt > Date.now() - 60_000);
    assert.deepEqual(e, {
      kind: "tcpEcho",
      address: echo.address,
      connections: 1,
      maxConcurrent: 1,
      bytes: 300 * 64,
      errors: {},
    });
  });

  await t.step("per-request: one connect per request, each measured", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    const r = await startTcpProbe(
      probeSettings(portOf(echo.address), { count: 50, connection: "per-request", size: 1000 }),
    ).done;
    const e = await echo.stop();
    assertConsistent(r);
    assert.equal(r.requests, 50);
    assert.equal(r.responses, 50);
    assert.equal(r.connects, 50);
    assert.equal(r.connectTime.count, 50);
    assert.ok(r.connectSummary.p50 > 0 && r.connectSummary.p99 <= r.connectSummary.max);
    assert.equal(e.connections, 50);
    assert.equal(e.bytes, 50 * 1000);
    assert.deepEqual(e.errors, {});
  });

  await t.step("keep: a close or reset by the server while idle is no failure", async () => {
    const endAfterAnswer = await nodeServer((socket, data) => socket.end(data));
    // Data that came before the RST can still be read (Linux): the answer arrives whole.
    const resetAfterAnswer = await nodeServer((socket, data) => {
      socket.write(data, () => socket.resetAndDestroy());
    });
    for (const [name, server] of Object.entries({ endAfterAnswer, resetAfterAnswer })) {
      // Slow enough that the close comes long before the next request, even on a busy
      // machine (the server runs in this process).
      const r = await startTcpProbe(probeSettings(server.port, { count: 3, rate: 5 })).done;
      await server.close();
      assertConsistent(r);
      assert.equal(r.responses, 3, `${name}: ${JSON.stringify(r.errors)}`);
      // Noticed while idle: closed at once, and the next request connects again.
      assert.equal(r.connects, 3, name);
    }
  });

  await t.step("a request of 64 KiB, the largest, comes back whole", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    const r = await startTcpProbe(
      probeSettings(portOf(echo.address), { count: 5, size: 65_536 }),
    ).done;
    const e = await echo.stop();
    assertConsistent(r);
    assert.equal(r.responses, 5);
    assert.equal(e.bytes, 5 * 65_536);
  });

  await t.step("a duration: about rate x duration requests, not stopped early", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    const r = await startTcpProbe(
      probeSettings(portOf(echo.address), { count: null, durationMs: 300, rate: 100 }),
    ).done;
    await echo.stop();
    assertConsistent(r);
    assert.equal(r.stoppedEarly, false);
    assert.equal(r.failed, 0);
    // 30 slots; a slot missed by a late timer is skipped, not made up.
    assert.ok(r.requests >= 20 && r.requests <= 30, `requests ${r.requests}`);
  });

  await t.step("stop() mid-run: stoppedEarly, and the echo's port is free at once", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    const port = portOf(echo.address);
    for (const more of [{ count: null, durationMs: 10_000 }, { count: 100_000 }]) {
      const probe = startTcpProbe(probeSettings(port, { ...more, rate: 500 }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const t0 = performance.now();
      const r = await probe.stop();
      assert.ok(performance.now() - t0 < 100, "stop() is prompt");
      assert.deepEqual(await probe.done, r);
      assertConsistent(r);
      assert.equal(r.stoppedEarly, true);
      assert.equal(r.failed, 0, "a request cut off by stop() is not a failure");
      assert.ok(r.requests > 20 && r.requests < 200, `requests ${r.requests}`);
    }
    // A connection still open when the echo stops is closed by it.
    const client = await Deno.connect({ hostname: LOOPBACK, port });
    const e = await echo.stop();
    assert.equal(e.connections, 3);
    assert.deepEqual(e.errors, {});
    assert.equal(await client.read(new Uint8Array(1)), null);
    client.close();
    const again = Deno.listen({ hostname: LOOPBACK, port });
    again.close();
  });

  await t.step("stop() while connecting returns at once", async () => {
    // A connect with no answer: fill a listener's accept queue (Deno's backlog is 511).
    const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const queued = await fillAcceptQueue(port);
    const probe = startTcpProbe(probeSettings(port, { count: 1, connectTimeoutMs: 5000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const t0 = performance.now();
    const r = await probe.stop();
    assert.ok(performance.now() - t0 < 100, "stop() is prompt");
    assertConsistent(r);
    assert.equal(r.requests, 0);
    assert.equal(r.connects, 0);
    assert.equal(r.stoppedEarly, true);
    for (const c of queued) c.close();
    listener.close();
  });

  await t.step("the echo counts a reset by its peer as an error", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    const socket = net.connect(portOf(echo.address), LOOPBACK);
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("hello");
    await new Promise((resolve) => socket.once("data", resolve));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.resetAndDestroy();
    await closed;
    // Give the echo's read its turn.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const e = await echo.stop();
    assert.deepEqual(e.errors, { ConnectionReset: 1 });
    assert.equal(e.bytes, 5);
  });

  await t.step("listening on a port in use fails with the address", async () => {
    const echo = await startTcpEcho(LOOPBACK, 0);
    await assert.rejects(startTcpEcho(LOOPBACK, portOf(echo.address)), (error: Error) => {
      assert.ok(error instanceof Deno.errors.AddrInUse);
      assert.equal(
        error.message,
        `Cannot listen on TCP "${echo.address}": address already in use`,
      );
      return true;
    });
    await echo.stop();
  });
});

Deno.test("startTcpProbe() counts failures by kind", async (t) => {
  await t.step("refused: every attempt, and it ends", async () => {
    const port = await freePort();
    const r = await startTcpProbe(probeSettings(port, { count: 10, rate: 200 })).done;
    assertConsistent(r);
    assert.equal(r.requests, 10);
    assert.equal(r.responses, 0);
    assert.equal(r.connects, 10);
    assert.equal(r.connectFailures, 10);
    assert.equal(r.errors.refused, 10);
    assert.equal(r.stoppedEarly, false);
  });

  await t.step("refused per request too, and by duration", async () => {
    const port = await freePort();
    const r = await startTcpProbe(
      probeSettings(port, { count: null, durationMs: 100, connection: "per-request", rate: 100 }),
    ).done;
    assertConsistent(r);
    // 10 slots; on a busy machine a timer late by more than a slot skips some.
    assert.ok(r.requests >= 1 && r.requests <= 10, `requests ${r.requests}`);
    assert.equal(r.errors.refused, r.requests);
    assert.equal(r.stoppedEarly, false);
  });

  await t.step("timedOut: a server that reads but never answers", async () => {
    const server = await nodeServer(() => {});
    const t0 = performance.now();
    const r = await startTcpProbe(
      probeSettings(server.port, { count: 3, rate: 1000, timeoutMs: 100 }),
    ).done;
    const elapsed = performance.now() - t0;
    await server.close();
    assertConsistent(r);
    assert.equal(r.requests, 3);
    assert.equal(r.errors.timedOut, 3);
    // The connection is closed after a timeout: each request connects again.
    assert.equal(r.connects, 3);
    assert.equal(r.connectFailures, 0);
    assert.equal(r.stoppedEarly, false);
    assert.ok(elapsed >= 300 && elapsed < 1000, `took ${elapsed} ms`);
  });

  await t.step("timedOut: a connect with no answer", async () => {
    const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const queued = await fillAcceptQueue(port);
    const r = await startTcpProbe(probeSettings(port, { count: 2, connectTimeoutMs: 100 })).done;
    for (const c of queued) c.close();
    listener.close();
    assertConsistent(r);
    assert.equal(r.requests, 2);
    assert.equal(r.connectFailures, 2);
    assert.equal(r.errors.timedOut, 2);
  });

  await t.step("reset: a server that resets the connection", async () => {
    const server = await nodeServer((socket) => socket.resetAndDestroy());
    const r = await startTcpProbe(probeSettings(server.port, { count: 4 })).done;
    await server.close();
    assertConsistent(r);
    assert.equal(r.requests, 4);
    assert.equal(r.errors.reset, 4);
    assert.equal(r.connects, 4);
    assert.equal(r.connectFailures, 0);
  });

  await t.step("reset: a server that closes before the whole response", async () => {
    const server = await nodeServer((socket) => socket.end("half"));
    const r = await startTcpProbe(probeSettings(server.port, { count: 4, size: 64 })).done;
    await server.close();
    assertConsistent(r);
    assert.equal(r.errors.reset, 4);
  });

  await t.step("other: a server that answers something else", async () => {
    const server = await nodeServer((socket, data) => socket.write(new Uint8Array(data.length)));
    const r = await startTcpProbe(probeSettings(server.port, { count: 3, size: 64 })).done;
    await server.close();
    assertConsistent(r);
    assert.equal(r.errors.other, 3);
  });
});

Deno.test("classifyError() knows errors by name, and by errno code when the name is Error", () => {
  assert.equal(classifyError(new Deno.errors.ConnectionReset("x")), "reset");
  assert.equal(classifyError(new Deno.errors.UnexpectedEof("x")), "reset");
  assert.equal(classifyError(new DOMException("x", "TimeoutError")), "timedOut");
  // What Deno.connect throws when ARP gets no answer (measured in a namespace).
  const noRoute = Object.assign(new Error("No route to host (os error 113)"), {
    code: "EHOSTUNREACH",
  });
  assert.equal(classifyError(noRoute), "unreachable");
  assert.equal(classifyError(new Deno.errors.InvalidData("x")), "other");
  assert.equal(classifyError("not an error"), "other");
});

/** Connects to `port` until a connect gets no answer: its accept queue is full. */
async function fillAcceptQueue(port: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < 5000; i++) {
    try {
      conns.push(
        // Long enough that a connect slowed by a busy machine is not taken for a full queue.
        await Deno.connect({ hostname: LOOPBACK, port, signal: AbortSignal.timeout(250) }),
      );
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") return conns;
      throw error;
    }
  }
  throw new Error(`The accept queue of port ${port} took 5000 connections`);
}
