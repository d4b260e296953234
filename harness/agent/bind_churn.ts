/**
 * The bind churn workload, as run inside an agent: bind a port, close it and bind it
 * again at once, over and over, recording every bind that fails, how long the port took
 * to come back, and who held it at that moment (from `ss`, see {@linkcode ./holders.ts}).
 *
 * It reproduces a Deno 2.9 trap: closing a socket with a `receive()` (or a listener with
 * an `accept()`) pending does not free the port until the event loop has delivered the
 * pending call's rejection, so an immediate rebind fails with EADDRINUSE; awaiting the
 * pending call after close() avoids it.
 *
 * The loop is kept close to a plain bind/close loop: the options objects and the receive
 * buffer are made once, a cycle takes one timestamp, and it awaits only what its
 * settings ask for (the pending call), a retry, or a yield to the event loop every few
 * milliseconds (so that stop() and snapshots get through).
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { ChurnSettings } from "./protocol.ts";
import { type RunningWorkload } from "./running.ts";
import { countName } from "../native/counts.ts";
import { Histogram } from "../measure/histogram.ts";
import { lookupHoldersSync, type ReusePortOf } from "./holders.ts";
import { SocketOptionReader } from "./socket_options.ts";
import { reuseConflict } from "../measure/reuse_conflict.ts";
import {
  AF_INET,
  errnoName,
  errnoOf as libcErrno,
  openSocketLibrary,
  setIntOption,
  SO_REUSEPORT,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN_BYTES,
  type SocketLibrary,
  SOL_SOCKET,
  writeSockaddrIn,
} from "../native/libc_socket.ts";
import type { BindChurnResult, BindFailure, PortHolder } from "../measure/bind_results.ts";

/** Failures logged one by one (with their holders) at most; later ones are only counted. */
export const FAILURE_LOG_LIMIT = 100;

/**
 * A loop that never has to wait yields to the event loop this often (a yield takes about
 * 100 us inside a churn: every 20 ms costs under 1% of the rate; stop and snapshot wait
 * at most this long).
 */
const YIELD_EVERY_MS = 20;
/**
 * Retries of one bind that only yield to the event loop (setImmediate, ~10 us) before
 * trying again; the retries after them wait for a timer tick (~1-2 ms). The port of a
 * socket closed with a receive pending comes back after one turn of the event loop
 * (rarely two), so the first retries measure the rebind time closely; a port held
 * for longer (by another process) is then polled without spinning a core.
 */
const IMMEDIATE_RETRIES = 16;

type Socket = Deno.DatagramConn | Deno.Listener | LibcSocket;

const SO_REUSEADDR = 2;

/** A UDP socket bound through libc: Deno's UDP sockets cannot set SO_REUSEPORT. */
class LibcSocket {
  readonly #lib: SocketLibrary;
  readonly #fd: number;

  constructor(lib: SocketLibrary, fd: number) {
    this.#lib = lib;
    this.#fd = fd;
  }

  /** Binds a new UDP socket with SO_REUSEPORT; throws Deno's error class for the errno. */
  static bind(lib: SocketLibrary, address: Uint8Array, reuseAddress: boolean): LibcSocket {
    const c = lib.symbols;
    const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (
      fd >= 0 && (!reuseAddress || setIntOption(c, fd, SOL_SOCKET, SO_REUSEADDR, 1)) &&
      setIntOption(c, fd, SOL_SOCKET, SO_REUSEPORT, 1) &&
      c.bind(fd, address, SOCKADDR_IN_BYTES) === 0
    ) {
      return new LibcSocket(lib, fd);
    }
    const name = errnoName(libcErrno(c));
    if (fd >= 0) c.close(fd);
    const Class = name === "EADDRINUSE"
      ? Deno.errors.AddrInUse
      : name === "EADDRNOTAVAIL"
      ? Deno.errors.AddrNotAvailable
      : name === "EACCES"
      ? Deno.errors.PermissionDenied
      : Error;
    throw new Class(`bind: ${name}`);
  }

  close(): void {
    this.#lib.symbols.close(this.#fd);
  }
}

/**
 * Starts a bind churn on `settings.hostname:settings.port`; resolves once its first bind
 * succeeded (after retries for up to `rebindTimeoutMs`), and rejects with the bind error
 * (`Deno.errors.AddrInUse`, ...) if it never did.
 *
 * @example
 * ```ts
 * import { startBindChurn } from "./bind_churn.ts";
 * // A port that was free a moment ago.
 * const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const port = (probe.addr as Deno.NetAddr).port;
 * probe.close();
 * const churn = await startBindChurn({
 *   hostname: "127.0.0.1",
 *   port,
 *   protocol: "udp",
 *   cycles: 100,
 *   pendingReceive: false,
 *   awaitPending: false,
 *   liveConnections: 0,
 *   reuseAddress: false,
 *   rebindTimeoutMs: 1000,
 *   maxDurationMs: 10_000,
 *   ssPath: null,
 * });
 * const result = await churn.done;
 * console.assert(result.cycles === 100 && result.failures === 0);
 * ```
 */
export async function startBindChurn(
  settings: ChurnSettings,
  libcPath?: string,
): Promise<RunningWorkload<BindChurnResult>> {
  validate(settings);
  const libc = libcPath &&
      Deno.permissions.querySync({ name: "ffi", path: libcPath }).state === "granted"
    ? libcPath
    : undefined;
  if (settings.reusePort && settings.protocol === "udp" && !libc) {
    throw new Deno.errors.NotCapable(
      `Cannot churn UDP "${settings.hostname}:${settings.port}" with SO_REUSEPORT: it binds through libc, which this agent may not load`,
    );
  }
  const churn = new BindChurn(settings, libc);
  try {
    await churn.start();
  } catch (error) {
    churn.dispose();
    throw error;
  }
  const done = churn.run().finally(() => churn.dispose());
  return {
    address: churn.address,
    done,
    snapshot: () => churn.result(),
    stop() {
      churn.stop();
      return done;
    },
  };
}

function validate(s: ChurnSettings): void {
  if (s.protocol !== "udp" && s.protocol !== "tcp") {
    throw new TypeError(
      `Cannot start bind churn: protocol must be "udp" or "tcp", got ${JSON.stringify(s.protocol)}`,
    );
  }
  if (typeof s.hostname !== "string") {
    throw new TypeError(`Cannot start bind churn: hostname must be a string`);
  }
  const whole = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(
        `Cannot start bind churn: ${name} must be a whole number ${min}-${max}, got ${
          JSON.stringify(value)
        }`,
      );
    }
  };
  whole("port", s.port, 1, 65_535);
  whole("cycles", s.cycles, 1, Number.MAX_SAFE_INTEGER);
  whole("liveConnections", s.liveConnections, 0, s.protocol === "tcp" ? 65_535 : 0);
  for (
    const [name, value] of [["rebindTimeoutMs", s.rebindTimeoutMs], [
      "maxDurationMs",
      s.maxDurationMs,
    ]] as const
  ) {
    if (!(value > 0)) {
      throw new RangeError(
        `Cannot start bind churn: ${name} must be above 0, got ${JSON.stringify(value)}`,
      );
    }
  }
}

/** The errno name of a failed bind: `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, or the error name. */
function errnoOf(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) return "EADDRINUSE";
  if (error instanceof Deno.errors.AddrNotAvailable) return "EADDRNOTAVAIL";
  if (error instanceof Deno.errors.PermissionDenied) return "EACCES";
  return error instanceof Error ? error.name : "Error";
}

/** Errors that no retry can cure (a missing --allow-net grant, bad options): thrown at once. */
function isFatal(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof TypeError ||
    !(error instanceof Error);
}

function immediate(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function timerTick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

class BindChurn {
  readonly address: string;
  readonly #s: ChurnSettings;
  readonly #bind: () => Socket;
  readonly #pend: (socket: Socket) => Promise<void>;

  #socket: Socket | null = null;
  #live: Deno.Conn[] = [];
  #stopping = false;
  #inFlight = 0;
  #drained: (() => void) | null = null;

  #startedAt = 0;
  #endedAt: number | null = null;
  #deadline = 0;
  #cycles = 0;
  #attempts = 0;
  #failures = 0;
  #errors: Record<string, number> = {};
  #rebind = new Histogram();
  #log: BindFailure[] = [];
  #logTruncated = false;
  #stoppedEarly = false;
  /** Set once `ss` failed: holders are then not looked up again. */
  #lookupBroken = false;

  /** libc for UDP binds with SO_REUSEPORT; null otherwise. */
  #lib: SocketLibrary | null = null;
  /** Reads holders' SO_REUSEPORT, where libc may be loaded. */
  #reader: SocketOptionReader | null = null;
  #reusePortOf: ReusePortOf | undefined;

  constructor(settings: ChurnSettings, libcPath: string | undefined) {
    this.#s = settings;
    this.address = `${settings.hostname}:${settings.port}`;
    const { hostname, port } = settings;
    if (libcPath) {
      this.#reader = SocketOptionReader.open(libcPath);
      const reader = this.#reader;
      this.#reusePortOf = (pid, fd) => reader.reusePort(pid, fd);
    }
    // Made once: a cycle allocates nothing of its own but what Deno does for a socket.
    if (settings.protocol === "udp" && settings.reusePort) {
      const lib = openSocketLibrary(libcPath!);
      this.#lib = lib;
      const address = new Uint8Array(SOCKADDR_IN_BYTES);
      writeSockaddrIn(new DataView(address.buffer), 0, hostname, port);
      this.#bind = () => LibcSocket.bind(lib, address, settings.reuseAddress);
      this.#pend = () => Promise.resolve();
    } else if (settings.protocol === "udp") {
      const options = {
        transport: "udp" as const,
        hostname,
        port,
        reuseAddress: settings.reuseAddress,
      };
      const buffer = new Uint8Array(1);
      this.#bind = () => Deno.listenDatagram(options);
      this.#pend = (socket) => {
        this.#inFlight++;
        return (socket as Deno.DatagramConn).receive(buffer).then(this.#settle, this.#settle);
      };
    } else {
      const options = {
        transport: "tcp" as const,
        hostname,
        port,
        reusePort: settings.reusePort ?? false,
      };
      this.#bind = () => Deno.listen(options);
      this.#pend = (socket) => {
        this.#inFlight++;
        return (socket as Deno.Listener).accept().then(this.#closeAccepted, this.#settle);
      };
    }
  }

  /** Binds for the first time (retrying like any rebind) and opens the live connections. */
  async start(): Promise<void> {
    this.#startedAt = performance.now();
    this.#deadline = this.#startedAt + this.#s.maxDurationMs;
    this.#attempts++;
    try {
      this.#socket = this.#bind();
    } catch (error) {
      if (isFatal(error)) throw error;
      const last = await this.#retry(error, null);
      if (last !== undefined) throw this.#firstBindError(last);
    }
    if (this.#s.liveConnections > 0) {
      try {
        await this.#connectLive(this.#socket as Deno.Listener);
      } catch (error) {
        this.#socket?.close();
        this.#socket = null;
        this.#closeLive();
        throw new Error(
          `Cannot open ${this.#s.liveConnections} live connections to "${this.address}": ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
    }
  }

  /** Cycles until done, stopped or out of time; the socket is bound on entry. */
  async run(): Promise<BindChurnResult> {
    const s = this.#s;
    const total = s.cycles;
    const pendingReceive = s.pendingReceive;
    const awaitPending = s.awaitPending;
    let now = performance.now();
    let nextYieldAt = now + YIELD_EVERY_MS;
    try {
      for (;;) {
        // Bound here. Yield now and then while bound, not between close and rebind,
        // where a turn of the event loop would hide the very failures measured.
        if (now >= nextYieldAt) {
          await immediate();
          nextYieldAt = performance.now() + YIELD_EVERY_MS;
        }
        const socket = this.#socket!;
        if (this.#stopping) {
          // Bound, and closed in #release(): a cycle like any other.
          this.#cycles++;
          this.#stoppedEarly = true;
          break;
        }
        const pending = pendingReceive ? this.#pend(socket) : null;
        socket.close();
        this.#socket = null;
        now = performance.now();
        const closedAt = now;
        this.#cycles++;
        if (awaitPending && pending !== null) await pending;
        if (this.#cycles >= total) break;
        if (now >= this.#deadline) {
          this.#stoppedEarly = true;
          break;
        }
        // Bind again at once.
        this.#attempts++;
        try {
          this.#socket = this.#bind();
          continue;
        } catch (error) {
          if (isFatal(error)) throw error;
          if (await this.#retry(error, closedAt) !== undefined) {
            this.#stoppedEarly = true;
            break;
          }
          now = performance.now();
        }
      }
    } finally {
      this.#endedAt = performance.now();
      await this.#release();
    }
    return this.result();
  }

  stop(): void {
    this.#stopping = true;
  }

  /** Releases libc (once the socket is closed). */
  dispose(): void {
    this.#reader?.[Symbol.dispose]();
    this.#reader = null;
    this.#lib?.close();
    this.#lib = null;
  }

  result(): BindChurnResult {
    const end = this.#endedAt ?? performance.now();
    const durationMs = end - this.#startedAt;
    return {
      kind: "bindChurn",
      address: this.address,
      protocol: this.#s.protocol,
      cycles: this.#cycles,
      attempts: this.#attempts,
      failures: this.#failures,
      errors: { ...this.#errors },
      rate: durationMs > 0 ? this.#cycles / (durationMs / 1000) : 0,
      durationMs,
      rebind: this.#rebind.toJSON(),
      rebindSummary: this.#rebind.summary(),
      failureLog: this.#log.map((f) => ({ ...f })),
      failureLogTruncated: this.#logTruncated,
      stoppedEarly: this.#stoppedEarly,
    };
  }

  /**
   * Records a failed bind and tries again until a bind succeeds (returns undefined), or
   * until `rebindTimeoutMs` after the first failure, the time limit, or a stop (returns
   * the last error). `closedAt` is when the previous socket was closed (null for the
   * first bind): the time from it to the successful bind goes into the histogram.
   *
   * Looking up holders runs `ss` synchronously (several ms): it is taken out of the
   * times measured here (rebind times, and the rebind timeout), so that they show how
   * long the port was unavailable, not how long `ss` took. That is exact for the case
   * this workload is about (our own closed socket, which only the event loop can
   * release, and the event loop does not run during the lookup); a port held by another
   * process may come free during a lookup, and its rebind time is then understated by
   * up to that lookup's duration.
   */
  async #retry(first: unknown, closedAt: number | null): Promise<unknown> {
    let error = first;
    let failedAt = performance.now();
    let lookupMs = 0;
    const giveUpAt = failedAt + this.#s.rebindTimeoutMs;
    // Log entries of this bind's failures: [index in the log, failedAt, lookupMs before it].
    const logged: [number, number, number][] = [];
    for (let retries = 0;; retries++) {
      const before = lookupMs;
      const index = this.#log.length;
      lookupMs += this.#recordFailure(error, failedAt);
      if (this.#log.length > index) logged.push([index, failedAt, before]);
      const now = performance.now();
      if (this.#stopping || now >= this.#deadline || now >= giveUpAt + lookupMs) {
        return error;
      }
      await (retries < IMMEDIATE_RETRIES ? immediate() : timerTick());
      this.#attempts++;
      try {
        this.#socket = this.#bind();
      } catch (next) {
        if (isFatal(next)) throw next;
        error = next;
        failedAt = performance.now();
        continue;
      }
      const boundAt = performance.now();
      for (const [i, at, lookupBefore] of logged) {
        this.#log[i]!.rebindMs = boundAt - at - (lookupMs - lookupBefore);
      }
      if (closedAt !== null) this.#rebind.record((boundAt - closedAt - lookupMs) * 1e6);
      return undefined;
    }
  }

  /** Counts a failure, logs it with its holders if the log has room; returns the ms `ss` took. */
  #recordFailure(error: unknown, failedAt: number): number {
    const name = errnoOf(error);
    this.#failures++;
    countName(this.#errors, name);
    if (this.#log.length >= FAILURE_LOG_LIMIT) {
      this.#logTruncated = true;
      return 0;
    }
    const lookupStart = performance.now();
    const holders = this.#holders();
    const lookupMs = performance.now() - lookupStart;
    const failure: BindFailure = {
      atMs: performance.timeOrigin + failedAt,
      error: name,
      rebindMs: null,
      holders,
    };
    const reason = this.#reason(holders);
    if (reason) failure.reason = reason;
    this.#log.push(failure);
    return lookupMs;
  }

  /** Why a SO_REUSEPORT group on the port refused the bind, if the holders say. */
  #reason(holders: PortHolder[] | null): string | undefined {
    return reuseConflict({
      reusePort: this.#s.reusePort ?? false,
      uid: this.#reader?.uid() ?? null,
    }, holders);
  }

  /**
   * Who holds the port, right now: synchronously, so that the event loop cannot release
   * a socket closed with a call pending (ours) before `ss` has seen it. Null without
   * `ssPath`, or once `ss` has failed.
   */
  #holders(): PortHolder[] | null {
    const ssPath = this.#s.ssPath;
    if (ssPath === null || this.#lookupBroken) return null;
    try {
      return lookupHoldersSync(ssPath, this.#s.protocol, this.#s.port, [], {
        extended: true,
        ...(this.#reusePortOf ? { reusePortOf: this.#reusePortOf } : {}),
      });
    } catch {
      this.#lookupBroken = true;
      return null;
    }
  }

  #firstBindError(error: unknown): Error {
    const what = this.#s.protocol === "udp" ? "UDP socket" : "TCP listener";
    const detail = error instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : error instanceof Deno.errors.AddrNotAvailable
      ? "address not available"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error
      ? error.message
      : String(error);
    const holders = this.#holders();
    const held = holders === null || holders.length === 0
      ? ""
      : ` (held by ${
        holders.map((h) =>
          h.pid === null
            ? `no process, state ${h.state}`
            : `pid ${h.pid} "${h.program}", state ${h.state}`
        ).join("; ")
      })`;
    const reason = this.#reason(holders);
    const message = `Cannot bind ${what} to "${this.address}": ${detail}${held}${
      reason ? `: ${reason}` : ""
    }, still after ${Math.round(this.#s.rebindTimeoutMs)} ms of retrying`;
    const Class = error instanceof Error
      ? error.constructor as new (message: string, options: ErrorOptions) => Error
      : Error;
    return new Class(message, { cause: error });
  }

  async #connectLive(listener: Deno.Listener): Promise<void> {
    const target = { hostname: this.#s.hostname, port: this.#s.port };
    for (let i = 0; i < this.#s.liveConnections; i++) {
      const [client, server] = await Promise.allSettled([
        Deno.connect(target),
        listener.accept(),
      ]);
      if (client.status === "fulfilled") this.#live.push(client.value);
      if (server.status === "fulfilled") this.#live.push(server.value);
      if (client.status === "rejected") throw client.reason;
      if (server.status === "rejected") throw server.reason;
    }
  }

  #closeLive(): void {
    for (const conn of this.#live) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#live = [];
  }

  /** Closes everything and waits until every pending call has settled (ports released). */
  async #release(): Promise<void> {
    this.#socket?.close();
    this.#socket = null;
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
    this.#closeLive();
  }

  // Shared settle handlers: a pending call allocates its promise and nothing more.
  readonly #settle = (): void => {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#drained !== null) {
      this.#drained();
      this.#drained = null;
    }
  };

  readonly #closeAccepted = (conn: Deno.Conn): void => {
    // Someone connected while the accept was pending: not ours to keep.
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    this.#settle();
  };
}
