/**
 * What workloads report: plain data, sent from agents to the runner as JSON and kept
 * as it is in the report.
 *
 * @module
 */

import type { HistogramData, LatencySummary } from "./histogram.ts";
import type { Outage } from "./outages.ts";

/**
 * Loss over time: counts per interval, by the time a datagram was sent.
 *
 * @example
 * ```ts
 * import type { Timeline } from "./results.ts";
 * const timeline: Timeline = {
 *   intervalMs: 100,
 *   sent: [50, 50, 50],
 *   delivered: [50, 0, 49],
 *   late: [0, 0, 1],
 * };
 * const lost = timeline.sent.map((s, i) => s - timeline.delivered[i]! - timeline.late[i]!);
 * console.assert(lost.join() === "0,50,0");
 * ```
 */
export interface Timeline {
  /** Length of one interval in milliseconds. */
  intervalMs: number;
  /** Datagrams sent in each interval. */
  sent: number[];
  /** Of those, how many came back in time. */
  delivered: number[];
  /** Of those, how many came back after the timeout. */
  late: number[];
}

/**
 * The result of a UDP probe flow.
 *
 * @example
 * ```ts
 * import type { UdpProbeResult } from "./results.ts";
 * function describe(r: UdpProbeResult): string {
 *   const split = r.lostOutbound === null ? "" : ` (${r.lostOutbound} out, ${r.lostReturn} back)`;
 *   return `${r.lost} of ${r.sent} lost${split}, p99 ${r.rttSummary.p99 / 1e6}ms`;
 * }
 * ```
 */
export interface UdpProbeResult {
  /** Always `"udpProbe"`. */
  kind: "udpProbe";
  /** Resolved address the probe sent to, `ip:port`. */
  address: string;
  /** The flow id carried in every datagram. */
  flowId: number;
  /** Wall-clock time the first datagram was sent (ms since the epoch). */
  startedAt: number;
  /** From the first send until the probe stopped listening, in milliseconds. */
  durationMs: number;
  /** Datagrams sent per second, over the time spent sending (below `rate` if it fell behind). */
  achievedRate: number;
  /** Datagrams sent. */
  sent: number;
  /** Datagrams whose first reply came back within the timeout. */
  delivered: number;
  /** Datagrams with no reply at all: `sent - delivered - late`. */
  lost: number;
  /** Datagrams whose first reply came after the timeout. */
  late: number;
  /** Replies seen more than once. */
  duplicated: number;
  /** Replies that came after a reply with a higher sequence number. */
  reordered: number;
  /** Datagrams received that were not replies of this flow. */
  foreign: number;
  /** Datagrams of this flow the echo received, or null when the echo is not squall's. */
  echoReceived: number | null;
  /** Lost on the way to the echo (`sent - echoReceived`), or null when unknown. */
  lostOutbound: number | null;
  /** Lost on the way back (`lost - lostOutbound`), or null when unknown. */
  lostReturn: number | null;
  /** `lost / sent`, 0 when nothing was sent. */
  loss: number;
  /** Round-trip times of delivered datagrams. */
  rtt: HistogramData;
  /** Percentiles of `rtt`, in nanoseconds. */
  rttSummary: LatencySummary;
  /** Loss over time. */
  timeline: Timeline;
  /** Send errors by error name (e.g. `ConnectionRefused`). */
  sendErrors: Record<string, number>;
  /** Whether the probe sent fewer than its count (or rate x duration): stopped, or out of time. */
  stoppedEarly: boolean;
  /** Where every lost datagram went; null on loopback, where nothing can be attributed. */
  ledger: LossLedger | null;
  /** When service stopped and came back: runs of intervals with nothing answered. */
  outages: Outage[];
  /**
   * Runs of consecutive datagrams lost on the way to the echo, as the echo saw the gaps
   * in sequence numbers; null when the echo is not squall's.
   */
  outboundLossRuns: { runs: number; packets: number } | null;
}

/**
 * Lost datagrams of one direction (or of both), by cause.
 *
 * @example
 * ```ts
 * import type { LedgerEntry } from "./results.ts";
 * const outbound: LedgerEntry = {
 *   lost: 1000,
 *   droppedByFault: [{ fault: 1, description: "loss 10% on client → server", packets: 990 }],
 *   receiveBufferOverflow: 10,
 *   noSocket: 0,
 *   unexplained: 0,
 * };
 * const dropped = outbound.droppedByFault.reduce((n, f) => n + f.packets, 0);
 * console.assert(
 *   dropped + outbound.receiveBufferOverflow + outbound.noSocket + outbound.unexplained ===
 *     outbound.lost,
 * );
 * ```
 */
export interface LedgerEntry {
  /** Datagrams lost. */
  lost: number;
  /**
   * Dropped by faults, by fault id (see the report's `faults`); a delay line's drops
   * carry their cause: a rate limit's tail drop, or held when the line stopped.
   */
  droppedByFault: {
    fault: number;
    description: string;
    packets: number;
    cause?: "tailDrop" | "heldAtStop";
  }[];
  /** Dropped because the receiving socket's buffer was full (nstat UdpRcvbufErrors). */
  receiveBufferOverflow: number;
  /** Dropped because no socket was bound to the port (nstat UdpNoPorts). */
  noSocket: number;
  /** Lost for no known reason: lost minus every cause above. 0 in a controlled run. */
  unexplained: number;
}

/**
 * The loss ledger of a probe flow: `sent = delivered + late + lost`, and per direction
 * `lost = dropped by faults + receive buffer overflow + no socket + unexplained`.
 *
 * @example
 * ```ts
 * import type { LossLedger } from "./results.ts";
 * function where(ledger: LossLedger): string {
 *   if (ledger.outbound === null || ledger.return === null) {
 *     return `${ledger.total.lost} lost, direction unknown`;
 *   }
 *   return `${ledger.outbound.lost} lost on the way out, ${ledger.return.lost} on the way back`;
 * }
 * ```
 */
export interface LossLedger {
  /** Client to echo; null when the echo is not squall's (no split by direction). */
  outbound: LedgerEntry | null;
  /** Echo to client; null when the echo is not squall's. */
  return: LedgerEntry | null;
  /** Both directions together. */
  total: LedgerEntry;
  /** Answered after the timeout (not lost, not delivered). */
  late: number;
  /**
   * Whether another probe used the same namespaces meanwhile: kernel counters are per
   * namespace, so overflow and no-socket counts are then shared between flows.
   */
  kernelCountersShared: boolean;
}

/**
 * What a UDP echo saw of one probe flow.
 *
 * @example
 * ```ts
 * import type { EchoFlow } from "./results.ts";
 * const flow: EchoFlow = {
 *   flowId: 7,
 *   from: "198.18.0.1:40112",
 *   received: 1980,
 *   duplicated: 0,
 *   lossRuns: 5,
 *   lossRunPackets: 20,
 *   highestSeq: 1999,
 * };
 * console.assert(flow.lossRunPackets / flow.lossRuns === 4); // mean burst on the way out
 * ```
 */
export interface EchoFlow {
  /** The probe's flow id. */
  flowId: number;
  /** Where the flow came from, `ip:port`. */
  from: string;
  /** Distinct datagrams received. */
  received: number;
  /** Datagrams received more than once. */
  duplicated: number;
  /** Gaps in the sequence numbers received: runs of datagrams that never arrived. */
  lossRuns: number;
  /** Datagrams in those gaps. */
  lossRunPackets: number;
  /** Highest sequence number received (datagrams lost after it are in no gap yet). */
  highestSeq: number;
}

/**
 * The result of a UDP echo server.
 *
 * @example
 * ```ts
 * import type { UdpEchoResult } from "./results.ts";
 * const echo: UdpEchoResult = {
 *   kind: "udpEcho",
 *   address: "0.0.0.0:7000",
 *   received: 2000,
 *   replied: 2000,
 *   sendErrors: {},
 *   flows: [],
 * };
 * console.assert(echo.received === echo.replied);
 * ```
 */
export interface UdpEchoResult {
  /** Always `"udpEcho"`. */
  kind: "udpEcho";
  /** Address it listened on, `ip:port`. */
  address: string;
  /** Datagrams received. */
  received: number;
  /** Datagrams sent back. */
  replied: number;
  /** Send errors by error name. */
  sendErrors: Record<string, number>;
  /** Probe flows seen. */
  flows: EchoFlow[];
}

/**
 * Why a connection attempt or an exchange failed: refused (RST to a SYN), timedOut,
 * reset, addressInUse (EADDRINUSE), addressNotAvailable (EADDRNOTAVAIL: out of
 * ephemeral ports), brokenPipe, unreachable, or other.
 *
 * @example
 * ```ts
 * import type { ConnectErrorKind } from "./results.ts";
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
 * import type { ErrorCounts } from "./results.ts";
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
 * import type { TcpEchoResult } from "./results.ts";
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
}

/**
 * The result of a TCP probe.
 *
 * @example
 * ```ts
 * import type { TcpProbeResult } from "./results.ts";
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
 * import type { StormAttempt } from "./results.ts";
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
 * import type { UnservedPeriod } from "./results.ts";
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
 * import type { ReconnectStormResult } from "./results.ts";
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

/**
 * A socket that held a port, as `ss` showed it.
 *
 * @example
 * ```ts
 * import type { PortHolder } from "./results.ts";
 * // A connection the server closed first, waiting in TIME_WAIT: no process owns it.
 * const holder: PortHolder = {
 *   pid: null,
 *   program: null,
 *   state: "TIME-WAIT",
 *   local: "198.18.0.2:7400",
 *   peer: "198.18.0.1:40112",
 * };
 * console.assert(holder.pid === null);
 * ```
 */
export interface PortHolder {
  /** Process id, or null when no process owns the socket (TIME_WAIT, or already closed). */
  pid: number | null;
  /** Program name, or null. */
  program: string | null;
  /** Socket state: LISTEN, ESTAB, TIME-WAIT, UNCONN, ... */
  state: string;
  /** Local address, `ip:port`. */
  local: string;
  /** Peer address, `ip:port` (`*` when none). */
  peer: string;
}

/**
 * A bind() that failed.
 *
 * @example
 * ```ts
 * import type { BindFailure } from "./results.ts";
 * const failure: BindFailure = {
 *   atMs: 1_700_000_000_000,
 *   error: "EADDRINUSE",
 *   rebindMs: 3.54,
 *   holders: [{ pid: 4356, program: "deno", state: "UNCONN", local: "0.0.0.0:7300", peer: "*" }],
 * };
 * console.assert(failure.holders?.[0]?.pid === 4356);
 * ```
 */
export interface BindFailure {
  /** When, ms since the epoch. */
  atMs: number;
  /** The error: `EADDRINUSE`, `EACCES`, ... */
  error: string;
  /**
   * Time from this failure until a bind of the port succeeded, ms, not counting the
   * time spent asking `ss` who held it (the loop waits for `ss`; if another process let
   * go of the port meanwhile, this understates the wait); null if no bind succeeded.
   */
  rebindMs: number | null;
  /**
   * What held the port when it failed, from `ss` in that namespace, asked at once; null
   * if not looked up (after the first 100 failures, or when `ss` could not run).
   */
  holders: PortHolder[] | null;
}

/**
 * The result of a bind churn.
 *
 * @example
 * ```ts
 * import type { BindChurnResult } from "./results.ts";
 * function describe(r: BindChurnResult): string {
 *   const inUse = r.errors["EADDRINUSE"] ?? 0;
 *   return `${r.cycles} cycles, ${r.failures} failed binds (${inUse} EADDRINUSE)`;
 * }
 * ```
 */
export interface BindChurnResult {
  /** Always `"bindChurn"`. */
  kind: "bindChurn";
  /** Address bound, `ip:port`. */
  address: string;
  /** UDP or TCP. */
  protocol: "udp" | "tcp";
  /** Cycles completed (bound, and closed). */
  cycles: number;
  /** bind() calls made: `cycles + failures`. */
  attempts: number;
  /** bind() calls that failed. */
  failures: number;
  /** Failures by error name (`EADDRINUSE`, ...). */
  errors: Record<string, number>;
  /** Cycles per second. */
  rate: number;
  /** How long it ran, ms. */
  durationMs: number;
  /**
   * Time from a close to the next successful bind, for cycles that needed a retry (not
   * counting time spent asking `ss` who held the port).
   */
  rebind: HistogramData;
  /** Percentiles of `rebind`, in nanoseconds. */
  rebindSummary: LatencySummary;
  /** The failures one by one, with who held the port, up to a limit. */
  failureLog: BindFailure[];
  /** Whether `failureLog` stopped at its limit. */
  failureLogTruncated: boolean;
  /** Whether it ended before its cycles were done (stopped, time limit, or a rebind that never succeeded). */
  stoppedEarly: boolean;
}

/**
 * One run of a program under test, from start to exit.
 *
 * @example
 * ```ts
 * import type { ProgramRun } from "./results.ts";
 * const run: ProgramRun = {
 *   pid: 4242,
 *   startedAt: 1_700_000_000_000,
 *   readyMs: 85,
 *   endedAt: 1_700_000_005_000,
 *   exitCode: null,
 *   signal: "SIGTERM",
 *   endedBySquall: true,
 *   stdoutTail: ["listening on 7400"],
 *   stderrTail: [],
 * };
 * console.assert(run.endedBySquall && run.exitCode === null);
 * ```
 */
export interface ProgramRun {
  /** Its process id. */
  pid: number;
  /** When it was started, ms since the epoch. */
  startedAt: number;
  /** From start until its ready condition held, ms; null if it never did (or none was given). */
  readyMs: number | null;
  /** When it exited, ms since the epoch; null if it was still running. */
  endedAt: number | null;
  /** Its exit code, or null if a signal ended it (or it still ran). */
  exitCode: number | null;
  /** The signal that ended it, or null. */
  signal: string | null;
  /** Whether squall ended it (stop, restart or kill), rather than it exiting by itself. */
  endedBySquall: boolean;
  /** The last lines it wrote to stdout. */
  stdoutTail: string[];
  /** The last lines it wrote to stderr. */
  stderrTail: string[];
}

/**
 * The result of a program under test.
 *
 * @example
 * ```ts
 * import type { ExecResult } from "./results.ts";
 * // Runs that ended by themselves, with an error.
 * function crashes(r: ExecResult): number {
 *   return r.runs.filter((run) => !run.endedBySquall && run.exitCode !== 0).length;
 * }
 * ```
 */
export interface ExecResult {
  /** Always `"exec"`. */
  kind: "exec";
  /** The command, its program resolved to an absolute path. */
  command: string[];
  /** Every run, in order (restarts add runs). */
  runs: ProgramRun[];
  /**
   * Failed binds of its processes, seen by the bind watch (bpf/bind_watch.c); set by
   * the runner, absent when the bind watch could not run.
   */
  bindFailures?: ObservedBindFailure[];
}

/**
 * A failed bind() of any process in the run's namespaces, seen by the bind watch.
 *
 * @example
 * ```ts
 * import type { ObservedBindFailure } from "./results.ts";
 * function describe(f: ObservedBindFailure): string {
 *   return `${f.host} ${f.program} pid ${f.pid}: bind ${f.protocol ?? "?"} ` +
 *     `${f.address}:${f.port} ${f.error}`;
 * }
 * ```
 */
export interface ObservedBindFailure {
  /** When, ms since the epoch. */
  atMs: number;
  /** The host whose namespace it happened in. */
  host: string;
  /** The workload the process belongs to (a program under test, or an agent's own workload), or null. */
  workload: string | null;
  /** Process id (thread group). */
  pid: number;
  /** Thread id. */
  tid: number;
  /** The kernel's name of the thread (comm, at most 15 characters). */
  program: string;
  /** Address it tried to bind. */
  address: string;
  /** Port it tried to bind. */
  port: number;
  /** The socket's protocol, when the kernel told. */
  protocol: "tcp" | "udp" | "other" | null;
  /** The error: `EADDRINUSE`, `EACCES`, ... */
  error: string;
  /** Its number. */
  errno: number;
  /**
   * Time until a bind of that port and protocol in that namespace succeeded, ms; null if
   * none did.
   */
  rebindMs: number | null;
  /**
   * What held the port, from that namespace's sockets soon after (what `ss -p` shows);
   * null if not looked up.
   */
  holders: PortHolder[] | null;
  /**
   * By how long after the failure squall had looked, ms: when the lookup returned.
   * Holders that left sooner are not seen. null: not looked up.
   */
  holderLookupDelayMs: number | null;
}

/**
 * Any workload result.
 *
 * @example
 * ```ts
 * import type { WorkloadResult } from "./results.ts";
 * function headline(r: WorkloadResult): string {
 *   switch (r.kind) {
 *     case "udpProbe":
 *       return `loss ${(r.loss * 100).toFixed(2)}%`;
 *     case "tcpProbe":
 *     case "reconnectStorm":
 *       return `${r.errors.timedOut} timed out`;
 *     default:
 *       return r.kind;
 *   }
 * }
 * ```
 */
export type WorkloadResult =
  | UdpProbeResult
  | UdpEchoResult
  | TcpEchoResult
  | TcpProbeResult
  | ReconnectStormResult
  | BindChurnResult
  | ExecResult;
