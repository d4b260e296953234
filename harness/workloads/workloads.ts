/**
 * Workloads are plain data: these functions return serialisable specs, and the agent on
 * a host has the code that runs them. Specs are validated together with the rest of
 * the scenario, before anything is created, so every problem is reported at once.
 *
 * @module
 */

import { type Duration, formatDuration, tryParseDuration } from "../core/duration.ts";
import type { Problem } from "../core/errors.ts";
import { resolve } from "node:path";
import { HEADER_BYTES } from "../native/probe_packet.ts";
import { isPort, parseTarget } from "../core/addresses.ts";
import type { ReadySpec } from "../agent/protocol.ts";

/**
 * Options of {@linkcode udpEcho}.
 *
 * @example
 * ```ts
 * import { udpEcho, type UdpEchoOptions } from "./workloads.ts";
 * const options: UdpEchoOptions = { port: 7000 };
 * console.assert(udpEcho(options).port === 7000);
 * ```
 */
export interface UdpEchoOptions {
  /** UDP port to listen on, 1-65535. */
  port: number;
}

/**
 * A UDP echo server: sends every datagram back to where it came from.
 *
 * @example
 * ```ts
 * import { udpEcho, type UdpEchoSpec } from "./workloads.ts";
 * const spec: UdpEchoSpec = udpEcho({ port: 7000 });
 * console.assert(JSON.stringify(spec) === '{"kind":"udpEcho","port":7000}');
 * ```
 */
export interface UdpEchoSpec {
  /** Always `"udpEcho"`. */
  kind: "udpEcho";
  /** UDP port to listen on. */
  port: number;
}

/**
 * Options of {@linkcode udpProbe}.
 *
 * @example
 * ```ts
 * import { udpProbe, type UdpProbeOptions } from "./workloads.ts";
 * // Lowest latency: one datagram in flight, at most 10000/s, for 5 seconds.
 * const options: UdpProbeOptions = {
 *   target: "server:7000",
 *   duration: "5s",
 *   rate: 10_000,
 *   pingPong: true,
 * };
 * console.assert(udpProbe(options).count === null);
 * ```
 */
export interface UdpProbeOptions {
  /** Where to send: `"host:port"` with a host name of the scenario, or `"ip:port"`. */
  target: string;
  /** How many datagrams to send. Give this or `duration`. */
  count?: number;
  /** How long to send. Give this or `count`. */
  duration?: Duration;
  /**
   * Datagrams per second.
   * @default {100}
   */
  rate?: number;
  /**
   * Datagram payload size in bytes, 20-65507 (a probe header is 20 bytes).
   * @default {64}
   */
  size?: number;
  /**
   * A reply later than this after its datagram was sent counts as late, not delivered.
   * @default {"1s"}
   */
  timeout?: Duration;
  /**
   * Ping-pong: keep one datagram in flight, and send the next as soon as it is answered
   * (or has timed out); `rate` is then an upper bound. For latency at its lowest, like
   * sockperf ping-pong; the default sends at a fixed rate whatever comes back.
   * @default {false}
   */
  pingPong?: boolean;
}

/**
 * A UDP probe: sequence-numbered, timestamped datagrams sent at a fixed rate.
 *
 * @example
 * ```ts
 * import { udpProbe, type UdpProbeSpec } from "./workloads.ts";
 * const spec: UdpProbeSpec = udpProbe({ target: "server:7000", count: 100 });
 * console.assert(spec.rate === 100 && spec.size === 64 && spec.timeout === "1s");
 * ```
 */
export interface UdpProbeSpec {
  /** Always `"udpProbe"`. */
  kind: "udpProbe";
  /** Where to send: `"host:port"` or `"ip:port"`. */
  target: string;
  /** How many datagrams to send, or null when `duration` is given. */
  count: number | null;
  /** The raw duration given, or null when `count` is given. */
  duration: Duration | null;
  /** Datagrams per second. */
  rate: number;
  /** Datagram payload size in bytes. */
  size: number;
  /** The raw timeout given. */
  timeout: Duration;
  /** One datagram in flight at a time. */
  pingPong: boolean;
}

/**
 * Options of {@linkcode tcpEcho}.
 *
 * @example
 * ```ts
 * import { tcpEcho, type TcpEchoOptions } from "./workloads.ts";
 * const options: TcpEchoOptions = { port: 7100 };
 * console.assert(tcpEcho(options).port === 7100);
 * ```
 */
export interface TcpEchoOptions {
  /** TCP port to listen on, 1-65535. */
  port: number;
}

/**
 * A TCP echo server: writes back every byte it reads, on every connection.
 *
 * @example
 * ```ts
 * import { tcpEcho, type TcpEchoSpec } from "./workloads.ts";
 * const spec: TcpEchoSpec = tcpEcho({ port: 7100 });
 * console.assert(JSON.stringify(spec) === '{"kind":"tcpEcho","port":7100}');
 * ```
 */
export interface TcpEchoSpec {
  /** Always `"tcpEcho"`. */
  kind: "tcpEcho";
  /** TCP port to listen on. */
  port: number;
}

/**
 * Options of {@linkcode tcpProbe}.
 *
 * @example
 * ```ts
 * import { tcpProbe, type TcpProbeOptions } from "./workloads.ts";
 * // A new connection for every request, so every request measures a connect.
 * const options: TcpProbeOptions = {
 *   target: "server:7100",
 *   duration: "10s",
 *   connection: "per-request",
 *   connectTimeout: "250ms",
 * };
 * console.assert(tcpProbe(options).connection === "per-request");
 * ```
 */
export interface TcpProbeOptions {
  /** Where to connect: `"host:port"` with a host name of the scenario, or `"ip:port"`. */
  target: string;
  /** How many requests to send. Give this or `duration`. */
  count?: number;
  /** How long to send. Give this or `count`. */
  duration?: Duration;
  /**
   * Requests per second (each waits for its response, so this is an upper bound).
   * @default {100}
   */
  rate?: number;
  /**
   * Request size in bytes, 1-65536; the echo sends as many back.
   * @default {64}
   */
  size?: number;
  /**
   * A connection attempt that has not succeeded after this long fails as timed out.
   * @default {"1s"}
   */
  connectTimeout?: Duration;
  /**
   * A response not complete after this long fails as timed out (the connection is then
   * closed and a new one made).
   * @default {"1s"}
   */
  timeout?: Duration;
  /**
   * `"keep"`: one connection, made again after an error. `"per-request"`: a new
   * connection for every request (connect time measured every time).
   * @default {"keep"}
   */
  connection?: "keep" | "per-request";
}

/**
 * A TCP probe: requests echoed back, with connect time and round-trip time measured.
 *
 * @example
 * ```ts
 * import { tcpProbe, type TcpProbeSpec } from "./workloads.ts";
 * const spec: TcpProbeSpec = tcpProbe({ target: "server:7100", count: 100 });
 * console.assert(spec.rate === 100 && spec.connectTimeout === "1s" && spec.timeout === "1s");
 * ```
 */
export interface TcpProbeSpec {
  /** Always `"tcpProbe"`. */
  kind: "tcpProbe";
  /** Where to connect. */
  target: string;
  /** Requests to send, or null when `duration` is given. */
  count: number | null;
  /** The raw duration given, or null when `count` is given. */
  duration: Duration | null;
  /** Requests per second, at most. */
  rate: number;
  /** Request size in bytes. */
  size: number;
  /** The raw connect timeout given. */
  connectTimeout: Duration;
  /** The raw response timeout given. */
  timeout: Duration;
  /** One connection, or one per request. */
  connection: "keep" | "per-request";
}

/**
 * How a client waits before connecting again.
 *
 * @example
 * ```ts
 * import { type BackoffOptions, reconnectStorm } from "./workloads.ts";
 * const backoff: BackoffOptions = { type: "fixed", initial: "100ms" };
 * const storm = reconnectStorm({ target: "server:7500", clients: 50, cycles: 10, backoff });
 * console.assert(storm.backoff.initial === "100ms" && storm.backoff.jitter === 0.1);
 * ```
 */
export interface BackoffOptions {
  /**
   * `"fixed"`: always `initial`. `"exponential"`: `initial`, then times `factor` after
   * every failure in a row, at most `max`; back to `initial` after a success.
   * @default {"exponential"}
   */
  type?: "fixed" | "exponential";
  /**
   * The first wait, and the wait after a success.
   * @default {"10ms"}
   */
  initial?: Duration;
  /**
   * The longest wait.
   * @default {"1s"}
   */
  max?: Duration;
  /**
   * Growth per failure in a row (exponential only), above 1.
   * @default {2}
   */
  factor?: number;
  /**
   * Random spread of every wait, 0-1: a wait of w becomes uniform in w x (1 +- jitter).
   * @default {0.1}
   */
  jitter?: number;
}

/**
 * A backoff with every default filled in.
 *
 * @example
 * ```ts
 * import { type Backoff, reconnectStorm } from "./workloads.ts";
 * const backoff: Backoff =
 *   reconnectStorm({ target: "server:7500", clients: 10, cycles: 5 }).backoff;
 * console.assert(
 *   JSON.stringify(backoff) ===
 *     '{"type":"exponential","initial":"10ms","max":"1s","factor":2,"jitter":0.1}',
 * );
 * ```
 */
export interface Backoff {
  /** Fixed or exponential. */
  type: "fixed" | "exponential";
  /** The raw first wait. */
  initial: Duration;
  /** The raw longest wait. */
  max: Duration;
  /** Growth per failure in a row. */
  factor: number;
  /** Random spread, 0-1. */
  jitter: number;
}

/**
 * Options of {@linkcode reconnectStorm}.
 *
 * @example
 * ```ts
 * import { reconnectStorm, type ReconnectStormOptions } from "./workloads.ts";
 * // UDP: a "connection" is one datagram and its echo; at most 20 attempts at once.
 * const options: ReconnectStormOptions = {
 *   target: "server:7000",
 *   clients: 100,
 *   duration: "5s",
 *   concurrency: 20,
 *   protocol: "udp",
 * };
 * console.assert(reconnectStorm(options).concurrency === 20);
 * ```
 */
export interface ReconnectStormOptions {
  /** Where the clients connect: `"host:port"` or `"ip:port"`. */
  target: string;
  /** Number of clients, 1-10000. */
  clients: number;
  /** Connect-exchange-close cycles per client. Give this or `duration`. */
  cycles?: number;
  /** How long the clients keep cycling. Give this or `cycles`. */
  duration?: Duration;
  /**
   * Most connection attempts in flight at once (1-clients).
   * @default {clients}
   */
  concurrency?: number;
  /** How clients wait between cycles and after failures. */
  backoff?: BackoffOptions;
  /**
   * `"tcp"`: connect, send `size` bytes, read them back, close. `"udp"`: send a datagram
   * and wait for the echo (a "connection" is one exchange).
   * @default {"tcp"}
   */
  protocol?: "tcp" | "udp";
  /**
   * An attempt (connect and exchange) not done after this long fails as timed out.
   * @default {"1s"}
   */
  connectTimeout?: Duration;
  /**
   * Bytes exchanged per cycle, 1-65507.
   * @default {64}
   */
  size?: number;
}

/**
 * A reconnect storm: many clients connecting, exchanging, closing and reconnecting.
 *
 * @example
 * ```ts
 * import { reconnectStorm, type ReconnectStormSpec } from "./workloads.ts";
 * const spec: ReconnectStormSpec = reconnectStorm({
 *   target: "server:7500",
 *   clients: 200,
 *   cycles: 3,
 * });
 * console.assert(spec.concurrency === 200 && spec.protocol === "tcp" && spec.size === 64);
 * ```
 */
export interface ReconnectStormSpec {
  /** Always `"reconnectStorm"`. */
  kind: "reconnectStorm";
  /** Where the clients connect. */
  target: string;
  /** Number of clients. */
  clients: number;
  /** Cycles per client, or null when `duration` is given. */
  cycles: number | null;
  /** The raw duration, or null when `cycles` is given. */
  duration: Duration | null;
  /** Most attempts in flight at once. */
  concurrency: number;
  /** The backoff, defaults filled in. */
  backoff: Backoff;
  /** TCP or UDP. */
  protocol: "tcp" | "udp";
  /** The raw attempt timeout. */
  connectTimeout: Duration;
  /** Bytes exchanged per cycle. */
  size: number;
}

/**
 * Options of {@linkcode bindChurn}.
 *
 * @example
 * ```ts
 * import { bindChurn, type BindChurnOptions } from "./workloads.ts";
 * // The fix for Deno 2.9: await the pending receive before binding again.
 * const options: BindChurnOptions = {
 *   port: 7300,
 *   cycles: 1000,
 *   pendingReceive: true,
 *   awaitPending: true,
 * };
 * console.assert(bindChurn(options).awaitPending);
 * ```
 */
export interface BindChurnOptions {
  /** The port to bind, close and bind again, 1-65535. */
  port: number;
  /**
   * The socket to bind: a UDP socket or a TCP listener.
   * @default {"udp"}
   */
  protocol?: "udp" | "tcp";
  /** Bind-close cycles, 1-10000000. */
  cycles: number;
  /**
   * Leave a `receive()` (UDP) or `accept()` (TCP) pending when the socket is closed: in
   * Deno 2.9 the port is then not free until the pending call has been rejected.
   * @default {false}
   */
  pendingReceive?: boolean;
  /**
   * After closing, await the pending call before binding again (the fix for the above).
   * @default {false}
   */
  awaitPending?: boolean;
  /**
   * TCP only: clients connected to the listener and kept open across rebinds.
   * @default {0}
   */
  liveConnections?: number;
  /**
   * Set SO_REUSEADDR (UDP only: Deno's TCP listeners always set it).
   * @default {false for udp, true for tcp}
   */
  reuseAddress?: boolean;
  /**
   * A failed bind is tried again until it succeeds or this long has passed.
   * @default {"1s"}
   */
  rebindTimeout?: Duration;
  /**
   * Stop after this long even if cycles remain.
   * @default {"30s"}
   */
  maxDuration?: Duration;
}

/**
 * Bind churn: bind, close and bind the same port again, over and over.
 *
 * @example
 * ```ts
 * import { bindChurn, type BindChurnSpec } from "./workloads.ts";
 * const udp: BindChurnSpec = bindChurn({ port: 7300, cycles: 10 });
 * const tcp: BindChurnSpec = bindChurn({ port: 7301, cycles: 10, protocol: "tcp" });
 * // SO_REUSEADDR is off for UDP by default; Deno's TCP listeners always set it.
 * console.assert(!udp.reuseAddress && tcp.reuseAddress);
 * ```
 */
export interface BindChurnSpec {
  /** Always `"bindChurn"`. */
  kind: "bindChurn";
  /** The port. */
  port: number;
  /** UDP or TCP. */
  protocol: "udp" | "tcp";
  /** Cycles. */
  cycles: number;
  /** A receive or accept pending at close. */
  pendingReceive: boolean;
  /** Await the pending call before rebinding. */
  awaitPending: boolean;
  /** TCP clients kept connected. */
  liveConnections: number;
  /** SO_REUSEADDR. */
  reuseAddress: boolean;
  /** The raw rebind timeout. */
  rebindTimeout: Duration;
  /** The raw time limit. */
  maxDuration: Duration;
}

/**
 * When a program under test is ready: listening on a port, or a line on its stdout.
 *
 * @example
 * ```ts
 * import { exec, type ReadyCondition } from "./workloads.ts";
 * const conditions: ReadyCondition[] = [{ tcp: 8000 }, { udp: 5353 }, { stdout: /listening/ }];
 * const servers = conditions.map((ready) => exec(["./server"], { ready }));
 * console.assert(servers.every((s) => s.ready !== null));
 * ```
 */
export type ReadyCondition = { tcp: number } | { udp: number } | { stdout: RegExp };

/**
 * Options of {@linkcode exec}.
 *
 * @example
 * ```ts
 * import { exec, type ExecOptions } from "./workloads.ts";
 * const options: ExecOptions = {
 *   ready: { stdout: /listening on/ },
 *   readyTimeout: "5s",
 *   env: { LOG_LEVEL: "debug" },
 * };
 * console.assert(exec(["./server", "--port", "9000"], options).readyTimeout === "5s");
 * ```
 */
export interface ExecOptions {
  /** When it is ready; without one, it is ready once started. */
  ready?: ReadyCondition;
  /**
   * How long to wait for `ready`.
   * @default {"10s"}
   */
  readyTimeout?: Duration;
  /** Environment variables, added to a minimal environment (PATH, HOME, LANG). */
  env?: Record<string, string>;
  /** Working directory; relative paths are from where squall runs. */
  cwd?: string;
  /**
   * Wait for it to exit on its own (a client), instead of running until stopped (a
   * server). A non-zero exit then fails the workload.
   * @default {false}
   */
  waitForExit?: boolean;
  /**
   * On stop: SIGTERM, then SIGKILL if it is still running after this long.
   * @default {"2s"}
   */
  stopTimeout?: Duration;
}

/**
 * A program under test, started with Deno.Command inside a host's namespace.
 *
 * @example
 * ```ts
 * import { exec, type ExecSpec } from "./workloads.ts";
 * // A client that ends by itself: a non-zero exit fails the workload.
 * const client: ExecSpec = exec(["curl", "-sf", "http://198.18.0.2:8000/"], {
 *   waitForExit: true,
 * });
 * console.assert(client.waitForExit && client.stopTimeout === "2s" && client.cwd === null);
 * ```
 */
export interface ExecSpec {
  /** Always `"exec"`. */
  kind: "exec";
  /** The program and its arguments. */
  command: string[];
  /** When it is ready, or null. */
  ready: ReadySpec | null;
  /** The raw ready timeout. */
  readyTimeout: Duration;
  /** Extra environment variables. */
  env: Record<string, string>;
  /** Working directory, or null for squall's own. */
  cwd: string | null;
  /** Wait for it to exit on its own. */
  waitForExit: boolean;
  /** The raw stop timeout. */
  stopTimeout: Duration;
}

/**
 * Any workload spec.
 *
 * @example
 * ```ts
 * import { tcpEcho, udpEcho, type WorkloadSpec } from "./workloads.ts";
 * function portOf(spec: WorkloadSpec): number | undefined {
 *   return spec.kind === "udpEcho" || spec.kind === "tcpEcho" ? spec.port : undefined;
 * }
 * console.assert(portOf(tcpEcho({ port: 7100 })) === 7100);
 * console.assert(portOf(udpEcho({ port: 7000 })) === 7000);
 * ```
 */
export type WorkloadSpec =
  | UdpEchoSpec
  | UdpProbeSpec
  | TcpEchoSpec
  | TcpProbeSpec
  | ReconnectStormSpec
  | BindChurnSpec
  | ExecSpec;

/**
 * The kinds of workload squall knows.
 *
 * @example
 * ```ts
 * import { udpProbe, type WorkloadKind } from "./workloads.ts";
 * const kind: WorkloadKind = udpProbe({ target: "server:7000", count: 10 }).kind;
 * console.assert(kind === "udpProbe");
 * ```
 */
export type WorkloadKind = WorkloadSpec["kind"];

/** Size of the probe header: magic, flow id, sequence number, send time. */
export const PROBE_HEADER_BYTES = HEADER_BYTES;
/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;
/** Largest rate a probe accepts, in datagrams per second. */
export const MAX_PROBE_RATE = 1_000_000;

/**
 * A UDP echo server on `port`.
 *
 * @example
 * ```ts
 * import { udpEcho } from "./workloads.ts";
 * const echo = udpEcho({ port: 7000 });
 * console.assert(echo.kind === "udpEcho");
 * ```
 */
export function udpEcho(options: UdpEchoOptions): UdpEchoSpec {
  return { kind: "udpEcho", port: options?.port };
}

/**
 * A UDP probe towards `target`, for `count` datagrams or for `duration`.
 *
 * @example
 * ```ts
 * import { udpProbe } from "./workloads.ts";
 * const probe = udpProbe({ target: "server:7000", count: 1000, rate: 500 });
 * console.assert(probe.timeout === "1s");
 * ```
 */
export function udpProbe(options: UdpProbeOptions): UdpProbeSpec {
  return {
    kind: "udpProbe",
    target: options?.target,
    count: options?.count ?? null,
    duration: options?.duration ?? null,
    rate: options?.rate ?? 100,
    size: options?.size ?? 64,
    timeout: options?.timeout ?? "1s",
    pingPong: options?.pingPong ?? false,
  };
}

/**
 * A TCP echo server on `port`.
 *
 * @example
 * ```ts
 * import { tcpEcho } from "./workloads.ts";
 * const echo = tcpEcho({ port: 7100 });
 * console.assert(echo.kind === "tcpEcho");
 * ```
 */
export function tcpEcho(options: TcpEchoOptions): TcpEchoSpec {
  return { kind: "tcpEcho", port: options?.port };
}

/**
 * A TCP probe towards `target`, for `count` requests or for `duration`.
 *
 * @example
 * ```ts
 * import { tcpProbe } from "./workloads.ts";
 * const probe = tcpProbe({ target: "server:7100", count: 500, rate: 200 });
 * console.assert(probe.connection === "keep");
 * ```
 */
export function tcpProbe(options: TcpProbeOptions): TcpProbeSpec {
  return {
    kind: "tcpProbe",
    target: options?.target,
    count: options?.count ?? null,
    duration: options?.duration ?? null,
    rate: options?.rate ?? 100,
    size: options?.size ?? 64,
    connectTimeout: options?.connectTimeout ?? "1s",
    timeout: options?.timeout ?? "1s",
    connection: options?.connection ?? "keep",
  };
}

/**
 * A reconnect storm: `clients` clients that each connect to `target`, exchange a
 * message, close and connect again, for `cycles` cycles or for `duration`, waiting
 * between attempts as `backoff` says.
 *
 * @example
 * ```ts
 * import { reconnectStorm } from "./workloads.ts";
 * const storm = reconnectStorm({
 *   target: "server:7100",
 *   clients: 200,
 *   duration: "6s",
 *   backoff: { type: "exponential", initial: "20ms", max: "500ms" },
 * });
 * console.assert(storm.concurrency === 200);
 * ```
 */
export function reconnectStorm(options: ReconnectStormOptions): ReconnectStormSpec {
  const b = options?.backoff;
  return {
    kind: "reconnectStorm",
    target: options?.target,
    clients: options?.clients,
    cycles: options?.cycles ?? null,
    duration: options?.duration ?? null,
    concurrency: options?.concurrency ?? options?.clients,
    backoff: {
      type: b?.type ?? "exponential",
      initial: b?.initial ?? "10ms",
      max: b?.max ?? "1s",
      factor: b?.factor ?? 2,
      jitter: b?.jitter ?? 0.1,
    },
    protocol: options?.protocol ?? "tcp",
    connectTimeout: options?.connectTimeout ?? "1s",
    size: options?.size ?? 64,
  };
}

/**
 * Bind churn on `port`: bind, close, bind again, `cycles` times, recording every failed
 * bind with the socket that held the port at that moment.
 *
 * @example
 * ```ts
 * import { bindChurn } from "./workloads.ts";
 * // The Deno 2.9 pattern that fails: close with a receive() pending, rebind at once.
 * const churn = bindChurn({ port: 7200, cycles: 100, pendingReceive: true });
 * console.assert(churn.protocol === "udp");
 * ```
 */
export function bindChurn(options: BindChurnOptions): BindChurnSpec {
  const protocol = options?.protocol ?? "udp";
  return {
    kind: "bindChurn",
    port: options?.port,
    protocol,
    cycles: options?.cycles,
    pendingReceive: options?.pendingReceive ?? false,
    awaitPending: options?.awaitPending ?? false,
    liveConnections: options?.liveConnections ?? 0,
    reuseAddress: options?.reuseAddress ?? protocol === "tcp",
    rebindTimeout: options?.rebindTimeout ?? "1s",
    maxDuration: options?.maxDuration ?? "30s",
  };
}

/**
 * A program under test: `command` started inside the host's namespace. Its agent may
 * run exactly this program (`--allow-run` for its path), nothing else.
 *
 * @example
 * ```ts
 * import { exec } from "./workloads.ts";
 * const server = exec(["python3", "-m", "http.server", "8000"], { ready: { tcp: 8000 } });
 * console.assert(server.kind === "exec");
 * ```
 */
export function exec(command: string[], options: ExecOptions = {}): ExecSpec {
  const ready = options?.ready;
  return {
    kind: "exec",
    command,
    ready: ready && "stdout" in ready && ready.stdout instanceof RegExp
      ? { stdout: { source: ready.stdout.source, flags: ready.stdout.flags } }
      : (ready as ReadySpec | undefined) ?? null,
    readyTimeout: options?.readyTimeout ?? "10s",
    env: options?.env ?? {},
    cwd: options?.cwd ?? null,
    waitForExit: options?.waitForExit ?? false,
    stopTimeout: options?.stopTimeout ?? "2s",
  };
}

/** Most clients a reconnect storm may have. */
export const MAX_STORM_CLIENTS = 10_000;
/** Most cycles of a bind churn. */
export const MAX_CHURN_CYCLES = 10_000_000;
/** Most live connections a TCP bind churn may keep. */
export const MAX_LIVE_CONNECTIONS = 1_000;

/** Checks a workload spec; returns every problem, each at `where` plus a field. */
export function validateWorkload(spec: unknown, where: string): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) =>
    problems.push({ where: field ? `${where}.${field}` : where, message });
  if (typeof spec !== "object" || spec === null || !("kind" in spec)) {
    add("", "expected a workload such as udpEcho({ port }) or udpProbe({ target, count })");
    return problems;
  }
  const s = spec as WorkloadSpec;
  const whole = (field: string, value: unknown, min: number, max: number, what: string) => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      add(field, `${field} must be a whole number ${what}, got ${JSON.stringify(value)}`);
    }
  };
  const positiveDuration = (field: string, value: unknown) => {
    const d = tryParseDuration(value);
    if (typeof d !== "number") add(field, d.error);
    else if (d <= 0) add(field, `${field} must be above 0`);
  };
  const oneOf = (field: string, value: unknown, allowed: readonly string[]) => {
    if (!allowed.includes(value as string)) {
      add(
        field,
        `${field} must be ${allowed.map((a) => `"${a}"`).join(" or ")}, got ${
          JSON.stringify(value)
        }`,
      );
    }
  };
  const boolean = (field: string, value: unknown) => {
    if (typeof value !== "boolean") {
      add(field, `${field} must be true or false, got ${JSON.stringify(value)}`);
    }
  };
  const target = (value: unknown) => {
    const t = parseTarget(value);
    if ("error" in t) add("target", t.error);
  };
  const amount = (count: unknown, countName: string, duration: unknown, max: number) => {
    if (count === null && duration === null) add("", `give either ${countName} or duration`);
    if (count !== null && duration !== null) add("", `give ${countName} or duration, not both`);
    if (count !== null) {
      whole(countName, count, 1, max, max === Number.MAX_SAFE_INTEGER ? "above 0" : `1-${max}`);
    }
    if (duration !== null) positiveDuration("duration", duration);
  };
  const rate = (value: unknown) => {
    if (typeof value !== "number" || !(value > 0) || value > MAX_PROBE_RATE) {
      add(
        "rate",
        `rate must be above 0 and at most ${MAX_PROBE_RATE} per second, got ${value}`,
      );
    }
  };
  switch (s.kind) {
    case "udpEcho":
    case "tcpEcho":
      if (!isPort(s.port)) add("port", `port must be a whole number 1-65535, got ${s.port}`);
      break;
    case "udpProbe":
      target(s.target);
      amount(s.count, "count", s.duration, Number.MAX_SAFE_INTEGER);
      rate(s.rate);
      whole(
        "size",
        s.size,
        PROBE_HEADER_BYTES,
        MAX_UDP_PAYLOAD,
        `of bytes ${PROBE_HEADER_BYTES}-${MAX_UDP_PAYLOAD}`,
      );
      boolean("pingPong", s.pingPong);
      positiveDuration("timeout", s.timeout);
      break;
    case "tcpProbe":
      target(s.target);
      amount(s.count, "count", s.duration, Number.MAX_SAFE_INTEGER);
      rate(s.rate);
      whole("size", s.size, 1, 65_536, "of bytes 1-65536");
      positiveDuration("connectTimeout", s.connectTimeout);
      positiveDuration("timeout", s.timeout);
      oneOf("connection", s.connection, ["keep", "per-request"]);
      break;
    case "reconnectStorm": {
      target(s.target);
      whole("clients", s.clients, 1, MAX_STORM_CLIENTS, `1-${MAX_STORM_CLIENTS}`);
      amount(s.cycles, "cycles", s.duration, Number.MAX_SAFE_INTEGER);
      // A concurrency left at its default follows clients: only one problem then.
      if (Number.isInteger(s.clients) && s.clients > 0) {
        const n = Math.min(s.clients, MAX_STORM_CLIENTS);
        whole("concurrency", s.concurrency, 1, n, `1-${n} (the number of clients)`);
      }
      oneOf("protocol", s.protocol, ["tcp", "udp"]);
      positiveDuration("connectTimeout", s.connectTimeout);
      whole("size", s.size, 1, MAX_UDP_PAYLOAD, `of bytes 1-${MAX_UDP_PAYLOAD}`);
      const b = s.backoff;
      oneOf("backoff.type", b?.type, ["fixed", "exponential"]);
      const initial = tryParseDuration(b?.initial);
      const max = tryParseDuration(b?.max);
      if (typeof initial !== "number") add("backoff.initial", initial.error);
      else if (initial < 0) add("backoff.initial", "backoff.initial must be 0 or more");
      if (typeof max !== "number") add("backoff.max", max.error);
      else if (typeof initial === "number" && max < initial) {
        add(
          "backoff.max",
          `backoff.max (${b.max}) must be at least backoff.initial (${b.initial})`,
        );
      }
      if (typeof b?.factor !== "number" || !(b.factor >= 1) || b.factor > 100) {
        add("backoff.factor", `backoff.factor must be 1-100, got ${JSON.stringify(b?.factor)}`);
      }
      if (typeof b?.jitter !== "number" || !(b.jitter >= 0 && b.jitter <= 1)) {
        add("backoff.jitter", `backoff.jitter must be 0-1, got ${JSON.stringify(b?.jitter)}`);
      }
      break;
    }
    case "bindChurn":
      if (!isPort(s.port)) add("port", `port must be a whole number 1-65535, got ${s.port}`);
      oneOf("protocol", s.protocol, ["udp", "tcp"]);
      whole("cycles", s.cycles, 1, MAX_CHURN_CYCLES, `1-${MAX_CHURN_CYCLES}`);
      boolean("pendingReceive", s.pendingReceive);
      boolean("awaitPending", s.awaitPending);
      boolean("reuseAddress", s.reuseAddress);
      whole(
        "liveConnections",
        s.liveConnections,
        0,
        MAX_LIVE_CONNECTIONS,
        `0-${MAX_LIVE_CONNECTIONS}`,
      );
      if (s.protocol === "udp" && s.liveConnections > 0) {
        add("liveConnections", 'liveConnections needs protocol "tcp"');
      }
      if (s.protocol === "tcp" && s.reuseAddress === false) {
        add(
          "reuseAddress",
          "Deno's TCP listeners always set SO_REUSEADDR: use an exec() program to test without it",
        );
      }
      positiveDuration("rebindTimeout", s.rebindTimeout);
      positiveDuration("maxDuration", s.maxDuration);
      break;
    case "exec": {
      if (
        !Array.isArray(s.command) || s.command.length === 0 ||
        !s.command.every((c) => typeof c === "string")
      ) {
        add(
          "command",
          `expected the program and its arguments as strings, got ${JSON.stringify(s.command)}`,
        );
      } else {
        const found = findProgram(s.command[0]!, s.cwd);
        if (typeof found !== "string") add("command", found.error);
      }
      const r = s.ready as Record<string, unknown> | null;
      if (r !== null) {
        const keys = typeof r === "object" ? Object.keys(r) : [];
        if (keys.length !== 1 || !["tcp", "udp", "stdout"].includes(keys[0]!)) {
          add(
            "ready",
            `ready must be { tcp: port }, { udp: port } or { stdout: /pattern/ }, got ${
              JSON.stringify(r)
            }`,
          );
        } else if (keys[0] === "stdout") {
          const p = r.stdout as { source?: unknown };
          if (typeof p?.source !== "string") add("ready.stdout", "ready.stdout must be a RegExp");
        } else if (!isPort(r[keys[0]!])) {
          add(
            `ready.${keys[0]}`,
            `port must be a whole number 1-65535, got ${JSON.stringify(r[keys[0]!])}`,
          );
        }
      }
      positiveDuration("readyTimeout", s.readyTimeout);
      positiveDuration("stopTimeout", s.stopTimeout);
      boolean("waitForExit", s.waitForExit);
      if (
        typeof s.env !== "object" || s.env === null ||
        !Object.values(s.env).every((v) => typeof v === "string")
      ) {
        add("env", "env must be an object of strings");
      }
      if (s.cwd !== null) {
        try {
          if (typeof s.cwd !== "string" || !Deno.statSync(s.cwd).isDirectory) throw new Error();
        } catch {
          add("cwd", `cwd must be a directory that exists, got ${JSON.stringify(s.cwd)}`);
        }
      }
      break;
    }
    default:
      add("kind", `unknown workload kind ${JSON.stringify((s as { kind: unknown }).kind)}`);
  }
  return problems;
}

/**
 * Finds the executable a command names: a path (relative to `cwd`, or to where squall
 * runs) or a name looked up in PATH. Returns its absolute path, with symbolic links left
 * as they are (a venv's `bin/python` must run as itself to use its venv, and a
 * multi-call binary like busybox picks what to do from the name it is run by), or why
 * it cannot run: it must exist and be, once links are followed, an executable file.
 */
export function findProgram(name: string, cwd: string | null): string | { error: string } {
  const base = cwd === null ? Deno.cwd() : resolve(Deno.cwd(), cwd);
  const candidates = name.includes("/")
    ? [resolve(base, name)]
    : (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":").filter((d) => d)
      .map((dir) => resolve(dir, name));
  let notExecutable: string | undefined;
  for (const path of candidates) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      continue;
    }
    if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    notExecutable ??= path;
  }
  if (notExecutable) return { error: `"${notExecutable}" is not an executable file` };
  return {
    error: name.includes("/")
      ? `program "${name}" does not exist (looked for ${candidates[0]})`
      : `program "${name}" is not in PATH`,
  };
}

/** Describes a (valid) workload spec in one line, for the run header. */
export function describeWorkload(spec: WorkloadSpec): string {
  const ms = (d: Duration) => formatDuration(tryParseDuration(d) as number);
  switch (spec.kind) {
    case "udpEcho":
      return `udp echo on port ${spec.port}`;
    case "udpProbe": {
      const amount = spec.count !== null ? `${spec.count} datagrams` : `for ${ms(spec.duration!)}`;
      const pace = spec.pingPong ? `ping-pong, at most ${spec.rate}/s` : `at ${spec.rate}/s`;
      return `udp probe to ${spec.target}, ${amount} ${pace}, ${spec.size} B, timeout ${
        ms(spec.timeout)
      }`;
    }
    case "tcpEcho":
      return `tcp echo on port ${spec.port}`;
    case "tcpProbe": {
      const amount = spec.count !== null ? `${spec.count} requests` : `for ${ms(spec.duration!)}`;
      return `tcp probe to ${spec.target}, ${amount} at most ${spec.rate}/s, ${spec.size} B, ${
        spec.connection === "keep" ? "one connection" : "a connection per request"
      }, timeouts ${ms(spec.connectTimeout)} connect / ${ms(spec.timeout)} response`;
    }
    case "reconnectStorm": {
      const amount = spec.cycles !== null
        ? `${spec.cycles} cycles each`
        : `for ${ms(spec.duration!)}`;
      const b = spec.backoff;
      const backoff = b.type === "fixed"
        ? `fixed backoff ${ms(b.initial)}`
        : `exponential backoff ${ms(b.initial)}..${ms(b.max)} x${b.factor}`;
      return `${spec.protocol} reconnect storm to ${spec.target}: ${spec.clients} clients ${amount}, ${
        spec.concurrency < spec.clients ? `at most ${spec.concurrency} at once, ` : ""
      }${backoff} ±${Math.round(b.jitter * 100)}%, timeout ${ms(spec.connectTimeout)}`;
    }
    case "bindChurn": {
      const pending = spec.pendingReceive
        ? spec.awaitPending
          ? `, closing with a ${
            spec.protocol === "udp" ? "receive" : "accept"
          } pending and awaiting it`
          : `, closing with a ${spec.protocol === "udp" ? "receive" : "accept"} pending`
        : "";
      const live = spec.liveConnections > 0 ? `, ${spec.liveConnections} live connections` : "";
      return `${spec.protocol} bind churn on port ${spec.port}: ${spec.cycles} cycles${pending}${live}${
        spec.protocol === "udp" && spec.reuseAddress ? ", SO_REUSEADDR" : ""
      }`;
    }
    case "exec": {
      const r = spec.ready;
      const ready = r === null
        ? ""
        : "stdout" in r
        ? `, ready on stdout /${r.stdout.source}/`
        : "tcp" in r
        ? `, ready when tcp ${r.tcp} listens`
        : `, ready when udp ${r.udp} is bound`;
      return `program ${
        spec.command.map((c) => /^[\w./:=@%+-]+$/.test(c) ? c : JSON.stringify(c)).join(" ")
      }${ready}`;
    }
  }
}

/** Whether a workload runs until stopped (servers) rather than finishing by itself. */
export function runsUntilStopped(spec: WorkloadSpec): boolean {
  return spec.kind === "udpEcho" || spec.kind === "tcpEcho" ||
    (spec.kind === "exec" && !spec.waitForExit);
}

/** The `target` of a workload that sends somewhere, or undefined. */
export function targetOf(spec: WorkloadSpec): string | undefined {
  return "target" in spec ? spec.target : undefined;
}
