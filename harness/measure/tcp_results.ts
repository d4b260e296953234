/**
 * What TCP workloads report: the TCP echo and probe, and the reconnect storm. Plain data,
 * sent from agents to the runner as JSON and kept as it is in the report.
 *
 * @module
 */

import type { GroupSpread } from "./results.ts";
import type { HistogramData, LatencySummary } from "./histogram.ts";

/**
 * Why a connection attempt or an exchange failed: refused (RST to a SYN), timedOut,
 * reset, addressInUse (EADDRINUSE), addressNotAvailable (EADDRNOTAVAIL: out of
 * ephemeral ports), brokenPipe, unreachable, or other.
 *
 * @example
 * ```ts
 * import type { ConnectErrorKind } from "./tcp_results.ts";
 * const serverSide: ConnectErrorKind[] = ["refused", "reset"];
 * console.assert(serverSide.includes("refused"));
 * ```
 */
export type ConnectErrorKind =
  | "refused"
  | "timedOut"
  | "reset"
  | "addressInUse"
  | "addressNotAvailable"
  | "brokenPipe"
  | "unreachable"
  | "other";

/**
 * Failures counted by kind; every kind is present, most are 0.
 *
 * @example
 * ```ts
 * import type { ErrorCounts } from "./tcp_results.ts";
 * const errors: ErrorCounts = {
 *   refused: 3,
 *   timedOut: 12,
 *   reset: 0,
 *   addressInUse: 0,
 *   addressNotAvailable: 0,
 *   brokenPipe: 0,
 *   unreachable: 0,
 *   other: 0,
 * };
 * console.assert(Object.values(errors).reduce((a, b) => a + b, 0) === 15);
 * ```
 */
export type ErrorCounts = Record<ConnectErrorKind, number>;

/**
 * The result of a TCP echo server.
 *
 * @example
 * ```ts
 * import type { TcpEchoResult } from "./tcp_results.ts";
 * const echo: TcpEchoResult = {
 *   kind: "tcpEcho",
 *   address: "0.0.0.0:7100",
 *   connections: 200,
 *   maxConcurrent: 40,
 *   bytes: 12_800,
 *   errors: {},
 * };
 * console.assert(echo.bytes / echo.connections === 64);
 * ```
 */
export interface TcpEchoResult {
  /** Always `"tcpEcho"`. */
  kind: "tcpEcho";
  /** Address it listened on, `ip:port`. */
  address: string;
  /** Connections accepted. */
  connections: number;
  /** Most connections open at once. */
  maxConcurrent: number;
  /** Bytes read (and written back). */
  bytes: number;
  /** Connections that ended in an error, by error name. */
  errors: Record<string, number>;
  /** Its SO_REUSEPORT group, member by member; absent for one plain listener. */
  group?: { members: TcpGroupMember[]; spread: GroupSpread };
}

/**
 * One listener of a TCP echo's SO_REUSEPORT group, and its share of the connections.
 *
 * @example
 * ```ts
 * import type { TcpGroupMember } from "./tcp_results.ts";
 * const member: TcpGroupMember = { member: 0, state: "open", connections: 30, bytes: 1920, share: 0.3 };
 * console.assert(member.bytes / member.connections === 64);
 * ```
 */
export interface TcpGroupMember {
  /** Its index in the group, from 0. */
  member: number;
  /** `"open"`, or `"stopped"` by `stopMember()` (with its connections) before the echo stopped. */
  state: "open" | "stopped";
  /** Connections it accepted. */
  connections: number;
  /** Bytes it echoed. */
  bytes: number;
  /** Its `connections` over the group's, 0-1. */
  share: number;
}

/**
 * The result of a TCP probe.
 *
 * @example
 * ```ts
 * import type { TcpProbeResult } from "./tcp_results.ts";
 * function describe(r: TcpProbeResult): string {
 *   return `${r.failed} of ${r.requests} failed (${r.errors.refused} refused), ` +
 *     `connect p99 ${r.connectSummary.p99 / 1e6}ms`;
 * }
 * ```
 */
export interface TcpProbeResult {
  /** Always `"tcpProbe"`. */
  kind: "tcpProbe";
  /** Address it connected to, `ip:port`. */
  address: string;
  /** Wall-clock time of the first connection attempt (ms since the epoch). */
  startedAt: number;
  /** From the first attempt until it stopped, in milliseconds. */
  durationMs: number;
  /** Requests sent (or tried: a request whose connection failed counts). */
  requests: number;
  /** Requests answered in full within the timeout. */
  responses: number;
  /** Requests that got no full answer: `requests - responses`. */
  failed: number;
  /** `failed / requests`, 0 when nothing was sent. */
  failureRate: number;
  /** Connection attempts. */
  connects: number;
  /** Connection attempts that failed. */
  connectFailures: number;
  /** Connect times of successful attempts. */
  connectTime: HistogramData;
  /** Percentiles of `connectTime`, in nanoseconds. */
  connectSummary: LatencySummary;
  /** Request-to-response times. */
  rtt: HistogramData;
  /** Percentiles of `rtt`, in nanoseconds. */
  rttSummary: LatencySummary;
  /** Failures by kind, of connects and exchanges together. */
  errors: ErrorCounts;
  /** Whether it sent fewer requests than asked: stopped, or out of time. */
  stoppedEarly: boolean;
}

/**
 * One connection attempt of a reconnect storm.
 *
 * @example
 * ```ts
 * import type { StormAttempt } from "./tcp_results.ts";
 * const attempts: StormAttempt[] = [
 *   { client: 0, atMs: 1_700_000_000_000, connectMs: 0.21, outcome: "ok" },
 *   { client: 1, atMs: 1_700_000_000_000.5, connectMs: null, outcome: "timedOut" },
 * ];
 * console.assert(attempts.filter((a) => a.outcome !== "ok").length === 1);
 * ```
 */
export interface StormAttempt {
  /** Which client, 0-based. */
  client: number;
  /** When connect() was called, ms since the epoch (sub-millisecond). */
  atMs: number;
  /** How long the connect took, or null if it failed. */
  connectMs: number | null;
  /** `"ok"` when the whole cycle succeeded, else why it failed. */
  outcome: "ok" | ConnectErrorKind;
}

/**
 * A time when at least one client of a storm could not get served.
 *
 * @example
 * ```ts
 * import type { UnservedPeriod } from "./tcp_results.ts";
 * const period: UnservedPeriod = {
 *   startMs: 1_700_000_001_000,
 *   endMs: 1_700_000_003_400,
 *   clients: 200,
 * };
 * console.assert(period.endMs !== null && period.endMs - period.startMs === 2400);
 * ```
 */
export interface UnservedPeriod {
  /** When the first client's attempt failed, ms since the epoch. */
  startMs: number;
  /** When every client had been served again, or null if some never were. */
  endMs: number | null;
  /** Clients that failed at least once in it. */
  clients: number;
}

/**
 * The result of a reconnect storm.
 *
 * @example
 * ```ts
 * import type { ReconnectStormResult } from "./tcp_results.ts";
 * function describe(r: ReconnectStormResult): string {
 *   const recovery = r.recoveryMs === null ? "no fault removed" : `recovered in ${r.recoveryMs}ms`;
 *   return `${r.clients} clients, ${r.failures}/${r.attempts} attempts failed, ${recovery}`;
 * }
 * ```
 */
export interface ReconnectStormResult {
  /** Always `"reconnectStorm"`. */
  kind: "reconnectStorm";
  /** Address the clients connected to, `ip:port`. */
  address: string;
  /** TCP or UDP. */
  protocol: "tcp" | "udp";
  /** Number of clients. */
  clients: number;
  /** Wall-clock time of the first attempt (ms since the epoch). */
  startedAt: number;
  /** From the first attempt until the last client stopped, in milliseconds. */
  durationMs: number;
  /** Connection attempts. */
  attempts: number;
  /** Attempts whose whole cycle (connect, exchange, close) succeeded. */
  successes: number;
  /** Attempts that failed. */
  failures: number;
  /** Failures by kind. */
  errors: ErrorCounts;
  /** Connect times of successful connects. */
  connectTime: HistogramData;
  /** Percentiles of `connectTime`, in nanoseconds. */
  connectSummary: LatencySummary;
  /** Attempts, successes and failures per interval, by when the attempt started. */
  timeline: { intervalMs: number; attempts: number[]; successes: number[]; failures: number[] };
  /** Most attempts in flight at the same moment. */
  maxConcurrentAttempts: number;
  /** Times when some client could not get served, in order. */
  unservedPeriods: UnservedPeriod[];
  /** The attempts one by one, oldest first, up to a limit (see `attemptLogTruncated`). */
  attemptLog: StormAttempt[];
  /** Whether `attemptLog` stopped at its limit. */
  attemptLogTruncated: boolean;
  /**
   * After the last fault on its path was removed, how long until every client was
   * served again, in ms; null when no fault was removed while it ran (filled in by the
   * runner).
   */
  recoveryMs: number | null;
  /** TIME_WAIT sockets to the target left in the client's namespace when it ended, or null on loopback. */
  timeWait: number | null;
  /** Whether it ended before its cycles or duration were done. */
  stoppedEarly: boolean;
}
