/**
 * The TCP probe workload, as run inside an agent: requests of `size` bytes, each
 * echoed back in full before the next goes, at most `rate` a second. It measures the
 * time of every connect and the round trip of every request (histograms, so memory is
 * bounded whatever the count), and counts failures by kind.
 *
 * A request is counted once its outcome is known: answered, or failed with one kind
 * (its connect failed, or its exchange did). So `requests = responses + failed`, and
 * the error counts add up to `failed`. A request that stop() cuts off is not counted.
 * A response that ends early (the peer closed) counts as `reset`; one that differs
 * from the request, as `other`.
 *
 * With `connection: "keep"`, a read stays posted between requests, as in any client
 * with an event loop: when the server closes or resets the idle connection, the probe
 * closes its end at once (so the server's side goes to TIME_WAIT, as it would with a
 * real client), and the next request connects again; that is no failure. A probe that
 * wrote its next request into the dead connection instead would draw an RST that frees
 * the server's port, hiding the very restart bugs squall looks for. It costs about
 * 5us of round trip on loopback (measured).
 *
 * @module
 */

import { classifyError, emptyErrorCounts } from "../measure/connect_errors.ts";
import type { TcpProbeSettings } from "./protocol.ts";
import { type RunningWorkload, runningWorkload } from "./running.ts";
import { Sleeper } from "../core/sleep.ts";
import { Histogram } from "../measure/histogram.ts";
import type { TcpProbeResult } from "../measure/tcp_results.ts";

/**
 * A probe behind its schedule by less than this catches up, back to back; further
 * behind (a request that timed out, say), it skips the slots missed. It covers timer
 * lateness (1 ms granularity, a few ms on a VM), without which rates past ~500/s fail.
 */
const CATCH_UP_MS = 10;
/** Added to the time bound of a probe given a count, for scheduling delays. */
const TIME_BOUND_SLACK_MS = 1000;

/**
 * Starts a TCP probe; it finishes by itself once its count or duration is done.
 *
 * Requests are paced at most `rate` a second, each waiting for its response: a request
 * due while the previous one is still out goes as soon as that one ends. A probe a
 * little behind (timer lateness) catches up; one far behind (a timeout) skips the slots
 * it missed rather than make them up in a burst. With a count, the probe ends
 * after that many requests, or when every request could have taken its longest
 * (connect timeout plus response timeout, or the interval if longer), whichever comes
 * first; with a duration, no request starts after it. Either way `stoppedEarly` says
 * it was cut short.
 *
 * @example
 * ```ts
 * import { startTcpEcho } from "./tcp_echo.ts";
 * import { startTcpProbe } from "./tcp_probe.ts";
 * const echo = await startTcpEcho("127.0.0.1", 0);
 * const probe = startTcpProbe({
 *   hostname: "127.0.0.1",
 *   targetAddress: "127.0.0.1",
 *   targetPort: Number(echo.address.split(":")[1]),
 *   count: 10,
 *   durationMs: null,
 *   rate: 1000,
 *   size: 64,
 *   connectTimeoutMs: 1000,
 *   timeoutMs: 1000,
 *   connection: "keep",
 * });
 * const result = await probe.done;
 * await echo.stop();
 * console.assert(result.responses === 10);
 * ```
 */
export function startTcpProbe(settings: TcpProbeSettings): RunningWorkload<TcpProbeResult> {
  const { targetAddress: hostname, targetPort: port } = settings;
  const connectTime = new Histogram();
  const rtt = new Histogram();
  const errors = emptyErrorCounts();
  let requests = 0;
  let responses = 0;
  let connects = 0;
  let connectFailures = 0;
  let startMs = 0;
  let startedAt = 0;
  let endMs = 0;
  let stopping = false;
  let stoppedEarly = false;
  let conn: Deno.TcpConn | undefined;
  // Keep mode, between requests: a read posted on the connection, so that a close by
  // the peer is noticed (and answered with a close) while idle, as a client with an
  // event loop would. The next exchange takes it over as its first read.
  let idleRead: Promise<number | null> | undefined;
  let idleWatch: Promise<void> = Promise.resolve();
  /** Every wait of the probe; stop() wakes them. */
  const sleeper = new Sleeper();
  let abortConnect: (() => void) | undefined;

  const result = (): TcpProbeResult => {
    const failed = requests - responses;
    return {
      kind: "tcpProbe",
      address: `${hostname}:${port}`,
      startedAt,
      durationMs: (endMs || performance.now()) - startMs,
      requests,
      responses,
      failed,
      failureRate: requests === 0 ? 0 : failed / requests,
      connects,
      connectFailures,
      connectTime: connectTime.toJSON(),
      connectSummary: connectTime.summary(),
      rtt: rtt.toJSON(),
      rttSummary: rtt.summary(),
      errors: { ...errors },
      stoppedEarly,
    };
  };

  /** Closes the connection, if one is open; a pending read or write on it then fails. */
  function disconnect(): void {
    const c = conn;
    conn = undefined;
    c?.close();
  }

  /** Counts a request that failed with `error`. */
  function failed(error: unknown): void {
    requests++;
    errors[classifyError(error)]++;
  }

  /** Connects; on failure counts the failed request and returns undefined. */
  async function connect(): Promise<Deno.TcpConn | undefined> {
    // Not AbortSignal.any([stop, AbortSignal.timeout()]): every call of it leaves a
    // WeakRef on the long-lived signal (~70 B each, measured), unbounded per request.
    const attempt = new AbortController();
    const timer = setTimeout(() => {
      attempt.abort(
        new DOMException(
          `Cannot connect to "${hostname}:${port}": no answer within ${settings.connectTimeoutMs} ms`,
          "TimeoutError",
        ),
      );
    }, settings.connectTimeoutMs);
    abortConnect = () => attempt.abort();
    const t0 = performance.now();
    try {
      const c = await Deno.connect({ hostname, port, signal: attempt.signal });
      const t1 = performance.now();
      if (stopping) {
        c.close();
        return undefined;
      }
      connects++;
      connectTime.record((t1 - t0) * 1e6);
      conn = c;
      c.setNoDelay(true);
      return c;
    } catch (error) {
      if (stopping) return undefined;
      connects++;
      connectFailures++;
      failed(error);
      return undefined;
    } finally {
      clearTimeout(timer);
      abortConnect = undefined;
    }
  }

  /** Posts a read on the idle connection `c`: if it ends while idle, closes `c`. */
  function watchIdle(c: Deno.TcpConn, response: Uint8Array): void {
    const reading = c.read(response);
    idleRead = reading;
    const ended = () => {
      // An exchange took it over (and unset idleRead): the read is its own.
      if (idleRead !== reading) return;
      // Closed, reset, or data nobody asked for: this connection is done with.
      idleRead = undefined;
      if (conn === c) disconnect();
    };
    idleWatch = reading.then(ended, ended);
  }

  /** Sends `request` on `c` and reads it back; throws on failure. Round trip in ns. */
  async function exchange(
    c: Deno.TcpConn,
    request: Uint8Array,
    response: Uint8Array,
  ): Promise<number> {
    const first = idleRead;
    idleRead = undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (conn === c) disconnect();
    }, settings.timeoutMs);
    try {
      const t0 = performance.now();
      let written = 0;
      while (written < request.length) written += await c.write(request.subarray(written));
      let read = 0;
      while (read < response.length) {
        const n = read === 0 && first ? await first : await c.read(response.subarray(read));
        if (n === null) {
          throw new Deno.errors.UnexpectedEof(
            `Connection to "${hostname}:${port}" closed after ${read} of ${response.length} bytes of a response`,
          );
        }
        read += n;
      }
      const t1 = performance.now();
      // Past the timeout the connection is closed already, whatever came in.
      if (timedOut) throw timeoutError();
      if (!equal(request, response)) {
        throw new Deno.errors.InvalidData(
          `Response from "${hostname}:${port}" differs from the request`,
        );
      }
      return (t1 - t0) * 1e6;
    } catch (error) {
      throw timedOut ? timeoutError() : error;
    } finally {
      clearTimeout(timer);
    }
  }

  function timeoutError(): Error {
    return new Deno.errors.TimedOut(
      `No full response from "${hostname}:${port}" within ${settings.timeoutMs} ms`,
    );
  }

  /** One request: connects if need be, exchanges, closes if one per request. */
  async function request(seq: number, req: Uint8Array, res: Uint8Array): Promise<void> {
    const c = conn ?? await connect();
    if (!c) return;
    // The sequence number (big-endian, as much as fits) makes each request differ.
    for (let i = 0; i < Math.min(4, req.length); i++) req[i] = seq >>> (24 - 8 * i);
    try {
      const ns = await exchange(c, req, res);
      requests++;
      responses++;
      rtt.record(ns);
    } catch (error) {
      if (stopping) return;
      failed(error);
      if (conn === c) disconnect();
      // The idle read this exchange took over may still be pending: let it end.
      await idleWatch;
      return;
    }
    if (settings.connection === "per-request") disconnect();
    else if (conn === c) watchIdle(c, res);
  }

  async function run(): Promise<void> {
    // Random bytes, so that an answer that is not an echo shows (see exchange()).
    const req = crypto.getRandomValues(new Uint8Array(settings.size));
    const res = new Uint8Array(settings.size);
    const intervalMs = 1000 / settings.rate;
    const total = settings.count ?? Infinity;
    startMs = performance.now();
    startedAt = Date.now();
    // The longest a request can take: its connect times out, then its response does.
    const longestMs = Math.max(intervalMs, settings.connectTimeoutMs + settings.timeoutMs);
    const stopAt = settings.count === null
      ? startMs + (settings.durationMs ?? 0)
      : startMs + settings.count * longestMs + TIME_BOUND_SLACK_MS;
    let slot = startMs;
    let seq = 0;
    while (!stopping && requests < total) {
      const now = performance.now();
      if (now - slot >= Math.max(intervalMs, CATCH_UP_MS)) {
        slot += Math.floor((now - slot) / intervalMs) * intervalMs;
      }
      if (Math.max(now, slot) >= stopAt) break;
      if (now < slot) {
        await sleeper.sleep(slot - now);
        if (stopping) break;
      }
      slot += intervalMs;
      await request(seq++, req, res);
    }
    // Only stop() sets `stopping` while this runs.
    stoppedEarly = settings.count === null
      ? stopping && performance.now() < stopAt
      : requests < total;
  }

  return runningWorkload({
    address: `${settings.hostname}:0`,
    run,
    release: () => {
      stopping = true;
      disconnect();
      endMs = performance.now();
      // The rejected read is what releases the socket.
      return idleWatch;
    },
    result,
    halt: () => {
      if (!stopping) {
        stopping = true;
        sleeper.wakeAll();
        abortConnect?.();
        disconnect();
      }
    },
  });
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
