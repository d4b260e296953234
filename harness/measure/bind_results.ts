/**
 * What bind churns and programs under test report, and the bind failures the bind watch
 * sees: who held a port, each failed bind, each run of a program. Plain data, sent from
 * agents to the runner as JSON and kept as it is in the report.
 *
 * @module
 */

import type { HistogramData, LatencySummary } from "./histogram.ts";

/**
 * A socket that held a port, as `ss` showed it.
 *
 * @example
 * ```ts
 * import type { PortHolder } from "./bind_results.ts";
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
  /** The socket's owner (the uid that made it), where the lookup could tell. */
  uid?: number;
  /**
   * Whether the socket set SO_REUSEPORT, where squall could look (its holder's fd,
   * borrowed with pidfd_getfd as root); absent when unknown. Neither /proc/net nor `ss`
   * show it.
   */
  reusePort?: boolean;
}

/**
 * A bind() that failed.
 *
 * @example
 * ```ts
 * import type { BindFailure } from "./bind_results.ts";
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
  /**
   * Why a port shared on purpose (SO_REUSEPORT) refused this bind, when the holders say:
   * a socket without the option next to a group, or a member of another owner. Absent
   * otherwise.
   */
  reason?: string;
}

/**
 * The result of a bind churn.
 *
 * @example
 * ```ts
 * import type { BindChurnResult } from "./bind_results.ts";
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
 * import type { ProgramRun } from "./bind_results.ts";
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
 * A process that outlived its program: it was left running by a restart or stop that
 * kept the program's children, and ended with the run.
 *
 * @example
 * ```ts
 * import type { Orphan } from "./bind_results.ts";
 * const orphan: Orphan = { pid: 4250, program: "python3", ports: ["tcp 0.0.0.0:7000 LISTEN"], atMs: 0, run: 0 };
 * console.assert(orphan.ports.length === 1);
 * ```
 */
export interface Orphan {
  /** Its pid. */
  pid: number;
  /** Its name (comm). */
  program: string;
  /** The sockets it held when its program ended: `tcp 0.0.0.0:7000 LISTEN`. */
  ports: string[];
  /** When its program ended and it was found still running, ms since the epoch. */
  atMs: number;
  /** The index of the run it outlived, in `runs`. */
  run: number;
}

/**
 * The result of a program under test.
 *
 * @example
 * ```ts
 * import type { ExecResult } from "./bind_results.ts";
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
   * Processes that outlived their program: left running by a restart or stop with
   * `keepChildren`. Absent from results of older squall versions.
   */
  orphans?: Orphan[];
  /**
   * Failed binds of its processes, seen by the bind watch (bpf/bind_watch.c); set by
   * the runner, absent when the bind watch could not run.
   */
  bindFailures?: ObservedBindFailure[];
  /**
   * What was queued, unread, in its UDP sockets of a SO_REUSEPORT group when `kill()`
   * ended it: lost with the sockets, counted per probe flow (squall holds a duplicate
   * of each such socket across the kill, then takes it out of the group, reads what is
   * queued and closes it). Absent when there was none.
   */
  queuedAtKill?: QueuedAtKill[];
}

/**
 * Datagrams queued in a program's SO_REUSEPORT UDP sockets when it was killed.
 *
 * @example
 * ```ts
 * import type { QueuedAtKill } from "./bind_results.ts";
 * const queued: QueuedAtKill = { atMs: 1_700_000_000_000, run: 0, datagrams: 42, flows: [{ flowId: 7, datagrams: 40 }] };
 * console.assert(queued.flows[0]!.datagrams <= queued.datagrams);
 * ```
 */
export interface QueuedAtKill {
  /** When the program was signalled, ms since the epoch. */
  atMs: number;
  /** Which run (index in `runs`). */
  run: number;
  /** Datagrams queued in all its group sockets. */
  datagrams: number;
  /** Of those, probe datagrams per flow id. */
  flows: { flowId: number; datagrams: number }[];
}

/**
 * A failed bind() of any process in the run's namespaces, seen by the bind watch.
 *
 * @example
 * ```ts
 * import type { ObservedBindFailure } from "./bind_results.ts";
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
  /** Why a SO_REUSEPORT group refused the bind, when the holders say; absent otherwise. */
  reason?: string;
  /**
   * By how long after the failure squall had looked, ms: when the lookup returned.
   * Holders that left sooner are not seen. null: not looked up.
   */
  holderLookupDelayMs: number | null;
}
