/**
 * The reconnect storm workload, as run inside an agent: `clients` clients, each in a
 * loop of connect, exchange `size` bytes with an echo, close, wait (the backoff), at
 * most `concurrency` attempts in flight at once. It measures what a fleet of
 * reconnecting clients sees when the service goes away and comes back: failures by
 * kind, connect times, and the periods when some client could not get served.
 *
 * Memory is bounded whatever the number of attempts, apart from the attempt log, which
 * stops at 20,000 entries: a histogram for connect times, a timeline whose interval
 * doubles when it grows too long, and at most 1,000 unserved periods (further ones are
 * merged into the last). Reads and writes use two buffers shared by every client.
 *
 * Every time in the result that is "ms since the epoch" is `performance.timeOrigin +
 * performance.now()`: sub-millisecond, and on the same clock for every attempt.
 *
 * @module
 */

import type { StormSettings } from "./protocol.ts";
import { type RunningWorkload, runningWorkload } from "./running.ts";
import { Sleeper } from "../core/sleep.ts";
import { classifyError, emptyErrorCounts } from "../measure/connect_errors.ts";
import { Histogram } from "../measure/histogram.ts";
import type {
  ConnectErrorKind,
  ReconnectStormResult,
  StormAttempt,
  UnservedPeriod,
} from "../measure/tcp_results.ts";

/** Most attempts kept in `attemptLog`; later ones are counted but not logged. */
const MAX_ATTEMPT_LOG = 20_000;
/** Most unserved periods kept; past it, a new period is merged into the last one. */
const MAX_UNSERVED_PERIODS = 1_000;
/** The timeline starts at this interval and doubles when it has too many entries. */
const TIMELINE_START_MS = 100;
const TIMELINE_MAX_ENTRIES = 1200;
/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;
/** Added to the computed time bound, for timer lateness and a busy machine. */
const BOUND_SLACK_MS = 2_000;

/** Why an attempt was aborted: its time was up, or the storm was stopped. */
const TIMED_OUT = "timedOut";
const STOPPED = "stopped";

/**
 * Starts a reconnect storm; it finishes by itself once every client has made its
 * `cycles` attempts, or once `durationMs` has passed (attempts in flight then finish).
 *
 * An attempt is, over TCP: connect, write `size` bytes, read `size` bytes back, close;
 * over UDP: bind a new socket, send a `size`-byte datagram, wait for the echo, close.
 * The whole attempt must be done within `connectTimeoutMs`, or it fails as timedOut.
 * An attempt cut short by `stop()` is not counted.
 *
 * @example
 * ```ts
 * import { startReconnectStorm } from "./reconnect_storm.ts";
 * // Nothing listens on a port just closed: every attempt is refused.
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = listener.addr.port;
 * listener.close();
 * const storm = startReconnectStorm({
 *   hostname: "127.0.0.1",
 *   targetAddress: "127.0.0.1",
 *   targetPort: port,
 *   clients: 2,
 *   cycles: 3,
 *   durationMs: null,
 *   concurrency: 2,
 *   backoff: { type: "exponential", initialMs: 1, maxMs: 4, factor: 2, jitter: 0 },
 *   protocol: "tcp",
 *   connectTimeoutMs: 1000,
 *   size: 64,
 * });
 * const result = await storm.done;
 * console.assert(result.attempts === 6 && result.errors.refused === 6);
 * ```
 */
export function startReconnectStorm(
  settings: StormSettings,
): RunningWorkload<ReconnectStormResult> {
  validate(settings);
  const { clients, cycles, durationMs, concurrency, backoff, protocol, size } = settings;
  const timeoutMs = settings.connectTimeoutMs;

  const slots = new Slots(concurrency);
  const connectTime = new Histogram();
  const timeline = new StormTimeline();
  const errors = emptyErrorCounts();
  const attemptLog: StormAttempt[] = [];
  const unserved = new UnservedTracker(clients);
  /**
   * Attempts in flight, oldest first (a Set keeps insertion order). Every attempt has
   * the same timeout, so this is also the order of their deadlines.
   */
  const inFlight = new Set<InFlightAttempt>();
  /** The one timer that times out attempts, armed for the oldest deadline in flight. */
  let timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  /** Clients waiting out a backoff; halt() wakes them all. */
  const sleeper = new Sleeper();
  // Written from one shared buffer, read into another: only the byte count matters,
  // so memory does not grow with the number of clients.
  const payload = new Uint8Array(size).fill(0x5a);
  const scratch = new Uint8Array(protocol === "udp" ? size + 1 : Math.min(size, 65_536));

  let attempts = 0;
  let successes = 0;
  let failures = 0;
  let active = 0;
  let maxConcurrentAttempts = 0;
  let attemptLogTruncated = false;
  let stopping = false;
  let stoppedEarly = false;
  let endPerf = 0;
  const startPerf = performance.now();
  const startedAt = performance.timeOrigin + startPerf;
  const deadline = durationMs === null ? null : startPerf + durationMs;
  const hardBound = setTimeout(() => {
    stoppedEarly = true;
    halt();
  }, boundMs(settings));

  const result = (): ReconnectStormResult => ({
    kind: "reconnectStorm",
    address: `${settings.targetAddress}:${settings.targetPort}`,
    protocol,
    clients,
    startedAt,
    durationMs: (endPerf || performance.now()) - startPerf,
    attempts,
    successes,
    failures,
    errors: { ...errors },
    connectTime: connectTime.toJSON(),
    connectSummary: connectTime.summary(),
    timeline: timeline.toJSON(),
    maxConcurrentAttempts,
    unservedPeriods: unserved.toJSON(),
    attemptLog: attemptLog.map((a) => ({ ...a })),
    attemptLogTruncated,
    recoveryMs: null,
    timeWait: null,
    stoppedEarly,
  });

  /** No new attempts; wakes every waiting client and aborts every attempt in flight. */
  function halt(): void {
    if (stopping) return;
    stopping = true;
    slots.close();
    sleeper.wakeAll();
    for (const attempt of inFlight) abort(attempt, STOPPED);
  }

  /** Cuts an attempt short: closes its socket, or aborts its connect. */
  function abort(attempt: InFlightAttempt, why: AbortReason): void {
    if (attempt.abortedBy !== undefined) return;
    attempt.abortedBy = why;
    if (attempt.socket !== undefined) closeSocket(attempt);
    else attempt.connectAbort?.abort(why);
  }

  function closeSocket(attempt: InFlightAttempt): void {
    const socket = attempt.socket;
    attempt.socket = undefined;
    socket?.close();
  }

  /** Arms the timeout timer for `deadline`, unless it is already armed. */
  function armTimeout(deadline: number): void {
    if (timeoutTimer !== undefined) return;
    // Rounded up: a timer that fired before the deadline would time out nothing.
    timeoutTimer = setTimeout(timeOut, Math.max(0, Math.ceil(deadline - performance.now())));
  }

  /** Times out every attempt past its deadline, then waits for the next oldest. */
  function timeOut(): void {
    timeoutTimer = undefined;
    const now = performance.now();
    for (const attempt of inFlight) {
      if (attempt.deadline > now) {
        armTimeout(attempt.deadline);
        return;
      }
      abort(attempt, TIMED_OUT);
    }
  }

  function record(client: number, atMs: number, connectMs: number | null, outcome: Outcome): void {
    attempts++;
    const ok = outcome === "ok";
    if (ok) successes++;
    else {
      failures++;
      errors[outcome]++;
    }
    timeline.add(atMs - startedAt, ok);
    if (attemptLog.length < MAX_ATTEMPT_LOG) {
      insertByTime(attemptLog, { client, atMs, connectMs, outcome });
    } else {
      attemptLogTruncated = true;
    }
    const nowMs = performance.timeOrigin + performance.now();
    if (ok) unserved.served(client, nowMs);
    else unserved.failed(client, atMs);
  }

  /** One attempt: returns how it went, or STOPPED if `stop()` cut it short. */
  async function attempt(client: number): Promise<Outcome | typeof STOPPED> {
    const current: InFlightAttempt = {
      deadline: performance.now() + timeoutMs,
      socket: undefined,
      connectAbort: undefined,
      abortedBy: undefined,
    };
    inFlight.add(current);
    armTimeout(current.deadline);
    active++;
    if (active > maxConcurrentAttempts) maxConcurrentAttempts = active;
    let connectMs: number | null = null;
    let atMs = 0;
    try {
      if (protocol === "tcp") {
        // Only for the connect: once there is a socket, closing it ends the attempt.
        const connectAbort = new AbortController();
        current.connectAbort = connectAbort;
        const t0 = performance.now();
        atMs = performance.timeOrigin + t0;
        const conn = await Deno.connect({
          hostname: settings.targetAddress,
          port: settings.targetPort,
          signal: connectAbort.signal,
        });
        current.socket = conn;
        connectMs = performance.now() - t0;
        connectTime.record(connectMs * 1e6);
        if (current.abortedBy !== undefined) throw new Error(current.abortedBy);
        await exchangeTcp(conn);
      } else {
        // No connect in UDP: the attempt's time is the whole exchange.
        const t0 = performance.now();
        atMs = performance.timeOrigin + t0;
        const conn = Deno.listenDatagram({
          transport: "udp",
          hostname: settings.hostname,
          port: 0,
        });
        current.socket = conn;
        await exchangeUdp(conn);
        connectMs = performance.now() - t0;
        connectTime.record(connectMs * 1e6);
      }
      closeSocket(current);
      record(client, atMs, connectMs, "ok");
      return "ok";
    } catch (error) {
      // Closing a socket rejects its pending read or receive (and so frees its port,
      // see PLATFORM.md): it has been awaited by the time we get here.
      closeSocket(current);
      if (current.abortedBy === STOPPED) return STOPPED;
      const kind = current.abortedBy === TIMED_OUT ? "timedOut" : classifyError(error);
      record(client, atMs, connectMs, kind);
      return kind;
    } finally {
      inFlight.delete(current);
      active--;
    }
  }

  async function exchangeTcp(conn: Deno.Conn): Promise<void> {
    for (let written = 0; written < size;) {
      written += await conn.write(payload.subarray(written));
    }
    for (let read = 0; read < size;) {
      const n = await conn.read(scratch.subarray(0, Math.min(scratch.length, size - read)));
      if (n === null) {
        throw new Deno.errors.UnexpectedEof(
          `Connection to "${settings.targetAddress}:${settings.targetPort}" closed after ${read} of ${size} bytes`,
        );
      }
      read += n;
    }
  }

  async function exchangeUdp(conn: Deno.DatagramConn): Promise<void> {
    const target: Deno.NetAddr = {
      transport: "udp",
      hostname: settings.targetAddress,
      port: settings.targetPort,
    };
    await conn.send(payload, target);
    // Bounded by the attempt's timeout: timing out closes the socket.
    for (;;) {
      const [data, from] = await conn.receive(scratch);
      const addr = from as Deno.NetAddr;
      if (addr.hostname !== target.hostname || addr.port !== target.port) continue;
      if (data.byteLength !== size) {
        throw new Deno.errors.InvalidData(
          `Echo from "${target.hostname}:${target.port}" sent ${data.byteLength} bytes, expected ${size}`,
        );
      }
      return;
    }
  }

  /** Whether no new attempt may start: stopped, or the duration has passed. */
  function over(): boolean {
    return stopping || (deadline !== null && performance.now() >= deadline);
  }

  async function runClient(client: number): Promise<void> {
    let failuresInRow = 0;
    for (let made = 0; cycles === null || made < cycles;) {
      if (over() || !await slots.acquire()) break;
      if (over()) {
        slots.release();
        break;
      }
      let outcome: Outcome | typeof STOPPED;
      try {
        outcome = await attempt(client);
      } finally {
        slots.release();
      }
      if (outcome === STOPPED) break;
      made++;
      if (cycles !== null && made >= cycles) return;
      failuresInRow = outcome === "ok" ? 0 : failuresInRow + 1;
      const waitMs = backoffMs(backoff, failuresInRow);
      if (deadline !== null && performance.now() + waitMs >= deadline) return;
      // A zero wait goes on at once: setTimeout(0) takes about 2 ms in Deno 2.9, and each
      // attempt already awaits I/O, so the loop yields without it.
      if (waitMs > 0) await sleeper.sleep(waitMs);
    }
    // Out of the loop early: stopped (or out of time) before its cycles or duration.
    if (stopping && !(deadline !== null && performance.now() >= deadline)) stoppedEarly = true;
  }

  return runningWorkload({
    address: `${settings.hostname}:0`,
    run: async () => {
      const runs = Array.from(
        { length: clients },
        (_, client) =>
          runClient(client).catch((error) => {
            // A bug, not a failed attempt: stop the others before giving up.
            halt();
            throw error;
          }),
      );
      const failed = (await Promise.allSettled(runs)).find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    },
    release: () => {
      clearTimeout(hardBound);
      clearTimeout(timeoutTimer);
      halt();
      endPerf = performance.now();
    },
    result,
    halt,
  });
}

type Outcome = "ok" | ConnectErrorKind;
type AbortReason = typeof TIMED_OUT | typeof STOPPED;

/** An attempt in flight, as the timeout timer and `stop()` see it. */
interface InFlightAttempt {
  /** When it times out, on the `performance.now()` clock. */
  deadline: number;
  /** Its socket once it has one: closing it ends the attempt. */
  socket: Deno.Conn | Deno.DatagramConn | undefined;
  /** Aborts its `Deno.connect` (TCP), for when it has no socket yet. */
  connectAbort: AbortController | undefined;
  /** Why it was cut short, if it was. */
  abortedBy: AbortReason | undefined;
}

/**
 * The wait before the next attempt: `initialMs` after a success; after `failuresInRow`
 * failures, `initialMs` (fixed) or `initialMs * factor^(failuresInRow - 1)` up to
 * `maxMs` (exponential); then spread uniformly over w x (1 +- jitter).
 */
function backoffMs(backoff: StormSettings["backoff"], failuresInRow: number): number {
  let waitMs = failuresInRow === 0 || backoff.type === "fixed"
    ? backoff.initialMs
    : Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** (failuresInRow - 1));
  if (backoff.jitter > 0) waitMs *= 1 + backoff.jitter * (2 * Math.random() - 1);
  return Math.max(0, waitMs);
}

/**
 * How long a storm may run at most before it is cut short (and says so): with a
 * duration, the duration plus one attempt and one longest wait; with cycles, every
 * attempt timing out through `concurrency` slots, plus the client's own attempts and
 * longest waits. Twice that, plus slack: it only catches what should not happen.
 */
function boundMs(s: StormSettings): number {
  const longestWaitMs = s.backoff.maxMs * (1 + s.backoff.jitter);
  if (s.cycles === null) {
    return (s.durationMs ?? 0) + s.connectTimeoutMs + longestWaitMs + BOUND_SLACK_MS;
  }
  const queuedMs = s.clients * s.cycles * s.connectTimeoutMs / s.concurrency;
  const ownMs = s.cycles * (s.connectTimeoutMs + longestWaitMs);
  // setTimeout takes at most 2^31 - 1 ms.
  return Math.min(2 * (queuedMs + ownMs) + BOUND_SLACK_MS, 2 ** 31 - 1);
}

function validate(s: StormSettings): void {
  const whole = (name: string, value: number, min: number, max: number) => {
    if (typeof value !== "number") {
      throw new TypeError(`Cannot start reconnect storm: ${name} must be a number`);
    }
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(
        `Cannot start reconnect storm: ${name} must be a whole number ${min}-${max}, got ${value}`,
      );
    }
  };
  whole("clients", s.clients, 1, 1_000_000);
  whole("concurrency", s.concurrency, 1, 1_000_000);
  whole("targetPort", s.targetPort, 1, 65_535);
  whole("size", s.size, 1, MAX_DATAGRAM);
  if ((s.cycles === null) === (s.durationMs === null)) {
    throw new TypeError("Cannot start reconnect storm: give exactly one of cycles and durationMs");
  }
  if (s.cycles !== null) whole("cycles", s.cycles, 1, Number.MAX_SAFE_INTEGER);
  if (s.durationMs !== null && !(s.durationMs > 0)) {
    throw new RangeError(`Cannot start reconnect storm: durationMs must be above 0`);
  }
  if (!(s.connectTimeoutMs > 0)) {
    throw new RangeError(`Cannot start reconnect storm: connectTimeoutMs must be above 0`);
  }
  const b = s.backoff;
  if (!(b.initialMs >= 0) || !(b.maxMs >= b.initialMs) || !(b.factor >= 1)) {
    throw new RangeError(
      `Cannot start reconnect storm: backoff needs 0 <= initialMs <= maxMs and factor >= 1, got ${
        JSON.stringify(b)
      }`,
    );
  }
  if (!(b.jitter >= 0 && b.jitter <= 1)) {
    throw new RangeError(`Cannot start reconnect storm: backoff.jitter must be 0-1`);
  }
  if (s.protocol !== "tcp" && s.protocol !== "udp") {
    throw new TypeError(`Cannot start reconnect storm: unknown protocol "${s.protocol}"`);
  }
}

/** Inserts an attempt in start-time order (attempts end nearly in the order they start). */
function insertByTime(log: StormAttempt[], entry: StormAttempt): void {
  let i = log.length;
  while (i > 0 && log[i - 1]!.atMs > entry.atMs) i--;
  if (i === log.length) log.push(entry);
  else log.splice(i, 0, entry);
}

/** A counting semaphore; `close()` turns every waiter (and later caller) away. */
class Slots {
  #free: number;
  #waiters: ((granted: boolean) => void)[] = [];
  #head = 0;
  #closed = false;

  constructor(count: number) {
    this.#free = count;
  }

  /** Resolves true with a slot taken, or false once closed. */
  acquire(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Gives a slot back, to the longest waiter if any. */
  release(): void {
    const next = this.#waiters[this.#head];
    if (next === undefined) {
      this.#free++;
      return;
    }
    this.#waiters[this.#head++] = undefined!;
    if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    next(true);
  }

  close(): void {
    this.#closed = true;
    const waiters = this.#waiters.slice(this.#head);
    this.#waiters = [];
    this.#head = 0;
    this.#free += waiters.length;
    for (const resolve of waiters) resolve(false);
  }
}

/** Attempts, successes and failures per interval by start time; the interval doubles. */
class StormTimeline {
  #intervalMs = TIMELINE_START_MS;
  #attempts: number[] = [];
  #successes: number[] = [];
  #failures: number[] = [];

  /** Counts an attempt that started `atMs` after the storm started. */
  add(atMs: number, ok: boolean): void {
    let index = Math.max(0, Math.floor(atMs / this.#intervalMs));
    while (index >= TIMELINE_MAX_ENTRIES) {
      this.#coarsen();
      index = Math.floor(atMs / this.#intervalMs);
    }
    for (const series of [this.#attempts, this.#successes, this.#failures]) {
      while (series.length <= index) series.push(0);
    }
    this.#attempts[index]! += 1;
    (ok ? this.#successes : this.#failures)[index]! += 1;
  }

  toJSON(): ReconnectStormResult["timeline"] {
    return {
      intervalMs: this.#intervalMs,
      attempts: [...this.#attempts],
      successes: [...this.#successes],
      failures: [...this.#failures],
    };
  }

  #coarsen(): void {
    this.#intervalMs *= 2;
    for (const series of [this.#attempts, this.#successes, this.#failures]) {
      const merged: number[] = [];
      for (let i = 0; i < series.length; i += 2) {
        merged.push((series[i] ?? 0) + (series[i + 1] ?? 0));
      }
      series.length = 0;
      series.push(...merged);
    }
  }
}

/**
 * Unserved periods: one opens when the number of clients whose last attempt failed goes
 * from 0 to 1, at the start of that failed attempt; it closes when that number is back
 * to 0, when the last of them has been served.
 */
class UnservedTracker {
  #failing: Uint8Array;
  /** The period in which each client last failed, or -1. */
  #periodOf: Int32Array;
  #failingCount = 0;
  #periods: UnservedPeriod[] = [];

  constructor(clients: number) {
    this.#failing = new Uint8Array(clients);
    this.#periodOf = new Int32Array(clients).fill(-1);
  }

  /** A client's attempt, started at `atMs`, failed. */
  failed(client: number, atMs: number): void {
    if (!this.#failing[client]) {
      this.#failing[client] = 1;
      if (this.#failingCount++ === 0) this.#open(atMs);
    }
    const index = this.#periods.length - 1;
    if (this.#periodOf[client] !== index) {
      this.#periodOf[client] = index;
      this.#periods[index]!.clients++;
    }
  }

  /** A client's attempt succeeded; it ended at `atMs`. */
  served(client: number, atMs: number): void {
    if (!this.#failing[client]) return;
    this.#failing[client] = 0;
    if (--this.#failingCount === 0) this.#periods[this.#periods.length - 1]!.endMs = atMs;
  }

  toJSON(): UnservedPeriod[] {
    return this.#periods.map((p) => ({ ...p }));
  }

  #open(atMs: number): void {
    const last = this.#periods.at(-1);
    if (last && this.#periods.length >= MAX_UNSERVED_PERIODS) {
      last.endMs = null;
      return;
    }
    // An attempt that started before the last period ended may fail after it ended.
    const startMs = last?.endMs != null ? Math.max(atMs, last.endMs) : atMs;
    this.#periods.push({ startMs, endMs: null, clients: 0 });
  }
}
