/**
 * A run's outcome: a program's exit judged (waited for, or a server that exited by
 * itself), the failed binds the bind watch saw given to their workloads, and the run's
 * status and exit code.
 *
 * @module
 */

import { ExitCode } from "../core/exit_codes.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import type { BindWatchMonitor } from "./_bind_monitor.ts";
import type { WorkloadRecord } from "./_workload_record.ts";
import { ownerOf } from "./context.ts";
import type { CheckOutcome, ScenarioReport, ScenarioStatus } from "./report.ts";

/**
 * Why a program that was waited for failed: a non-zero exit or a signal; undefined if
 * it did not.
 *
 * @example
 * ```ts ignore
 * import { exitFailure } from "./outcome.ts";
 * const problem = exitFailure(execResult);
 * if (problem) console.log(problem);
 * ```
 */
export function exitFailure(result: ExecResult): string | undefined {
  const last = result.runs.at(-1);
  if (!last || last.endedAt === null) return undefined;
  if (last.signal !== null) {
    return `Program "${result.command.join(" ")}" was ended by ${last.signal}`;
  }
  if (last.exitCode !== 0) {
    const tail = last.stderrTail.slice(-5).map((l) => `\n  ${l}`).join("");
    return `Program "${result.command.join(" ")}" exited with code ${last.exitCode}${
      tail ? `; its stderr ended with:${tail}` : ""
    }`;
  }
  return undefined;
}

/**
 * Why a server program (one not waited for) failed by exiting on its own while the
 * scenario ran, or undefined when it did not, or was allowed to: `expectExit` is true
 * (any exit), or the exit code it gave.
 *
 * @example
 * ```ts
 * import { unexpectedExit } from "./outcome.ts";
 * const run = {
 *   pid: 42, startedAt: 0, readyMs: 5, endedAt: 2100, exitCode: 98, signal: null,
 *   endedBySquall: false, stdoutTail: [], stderrTail: ["Address already in use"],
 * };
 * const result = { kind: "exec" as const, command: ["/srv"], runs: [run] };
 * console.assert(unexpectedExit(result, false)!.includes("exited by itself with code 98"));
 * console.assert(unexpectedExit(result, 98) === undefined);
 * ```
 */
export function unexpectedExit(
  result: ExecResult,
  expectExit: boolean | number,
): string | undefined {
  const last = result.runs.at(-1);
  if (!last || last.endedAt === null || last.endedBySquall || expectExit === true) {
    return undefined;
  }
  if (last.signal === null && last.exitCode === expectExit) return undefined;
  const how = last.signal !== null ? `on ${last.signal}` : `with code ${last.exitCode}`;
  const tail = last.stderrTail.slice(-5).map((l) => `\n  ${l}`).join("");
  return `Program "${
    result.command.join(" ")
  }" (pid ${last.pid}) exited by itself ${how} while the scenario ran${
    tail ? `; its stderr ended with:${tail}` : ""
  } (give it expectExit if it may)`;
}

/**
 * What decides a run's status and exit code.
 *
 * @example
 * ```ts
 * import type { RunOutcome } from "./outcome.ts";
 * const outcome: RunOutcome = {
 *   checks: [],
 *   thresholds: [],
 *   workloads: [],
 *   errors: [],
 *   badInput: false,
 *   environment: false,
 *   interrupted: false,
 * };
 * ```
 */
export interface RunOutcome {
  /** The scenario function's checks. */
  checks: readonly CheckOutcome[];
  /** The thresholds, evaluated. */
  thresholds: readonly { ok: boolean }[];
  /** The workloads' reports. */
  workloads: readonly { status: string }[];
  /** Errors that ended the run. */
  errors: readonly string[];
  /** Whether an error was the scenario's (bad input). */
  badInput: boolean;
  /** Whether an error was this machine's. */
  environment: boolean;
  /** Whether the user interrupted the run. */
  interrupted: boolean;
}

/**
 * A run's status and exit code: interrupted above all, then an error (bad input, the
 * machine's, or another), then failed checks, thresholds or workloads.
 *
 * @example
 * ```ts
 * import { runStatus } from "./outcome.ts";
 * const { status, exitCode } = runStatus({
 *   checks: [{ name: "served", ok: false }],
 *   thresholds: [],
 *   workloads: [],
 *   errors: [],
 *   badInput: false,
 *   environment: false,
 *   interrupted: false,
 * });
 * console.assert(status === "failed" && exitCode === 1);
 * ```
 */
export function runStatus(
  outcome: RunOutcome,
): { status: ScenarioStatus; exitCode: ScenarioReport["exitCode"] } {
  const failed = outcome.checks.some((c) => !c.ok) || outcome.thresholds.some((t) => !t.ok) ||
    outcome.workloads.some((w) => w.status === "failed");
  let status: ScenarioStatus = failed ? "failed" : "passed";
  let exitCode: ScenarioReport["exitCode"] = failed ? ExitCode.Failed : ExitCode.Pass;
  if (outcome.errors.length > 0) {
    status = "error";
    exitCode = outcome.badInput
      ? ExitCode.BadInput
      : outcome.environment
      ? ExitCode.Environment
      : ExitCode.Failed;
  }
  if (outcome.interrupted) {
    status = "interrupted";
    exitCode = ExitCode.Interrupted;
  }
  return { status, exitCode };
}

/**
 * Options of {@linkcode attributeBindFailures}.
 *
 * @example
 * ```ts
 * import type { AttributeBindFailuresOptions } from "./outcome.ts";
 * const options: AttributeBindFailuresOptions = { agentPid: () => undefined };
 * ```
 */
export interface AttributeBindFailuresOptions {
  /** The pid of a host's agent; undefined if it has none. */
  agentPid: (host: string) => number | undefined;
  /**
   * The workload id of the program under test whose cgroup is one of these (a failing
   * process's cgroups, read in the kernel during its bind()), or undefined.
   * @default {() => undefined} (by pids only)
   */
  programOf?: (cgroupIds: readonly number[]) => number | undefined;
}

/**
 * The failed binds the bind watch saw, each given the workload its process belongs to;
 * programs under test get theirs in their results, when the watch missed none. Null
 * when the watch did not run.
 *
 * @example
 * ```ts ignore
 * import { attributeBindFailures } from "./outcome.ts";
 * const failures = attributeBindFailures(monitor, workloads, { agentPid });
 * ```
 */
export function attributeBindFailures(
  monitor: BindWatchMonitor | undefined,
  workloads: ReadonlyMap<string, WorkloadRecord>,
  options: AttributeBindFailuresOptions,
): ReturnType<BindWatchMonitor["failures"]> | null {
  // Programs under test get the failed binds the bind watch saw of their processes.
  const watch = monitor?.status();
  const watching = watch?.active ?? false;
  const bindFailures = watching ? monitor!.failures() : null;
  // Counts the watch may have missed some of decide no threshold: not measured.
  const complete = watch !== undefined && watch.lost + watch.untracked === 0;
  for (const f of bindFailures ?? []) {
    // First by the cgroup the kernel saw the process in, whatever it did next; then by
    // its pid and the parents /proc showed when the failure was read.
    const program = options.programOf?.(monitor!.cgroupsOf(f));
    if (program !== undefined) {
      f.workload ??= [...workloads.values()].find((w) => w.id === program)?.report.name ??
        null;
    }
    f.workload ??= ownerOf(workloads.values(), [f.pid, ...monitor!.ancestorsOf(f)], {
      host: f.host,
      port: f.port,
      agentPid: options.agentPid(f.host),
    });
  }
  for (const [name, w] of workloads) {
    if (w.final?.kind === "exec" && bindFailures && complete) {
      w.final.bindFailures = bindFailures.filter((f) => f.workload === name);
    }
  }
  return bindFailures;
}

/**
 * The bind watch's status for the report; inactive when it did not run.
 *
 * @example
 * ```ts
 * import { bindWatchStatus } from "./outcome.ts";
 * console.assert(bindWatchStatus(undefined).active === false);
 * ```
 */
export function bindWatchStatus(
  monitor: BindWatchMonitor | undefined,
): ScenarioReport["bindWatch"] {
  return monitor?.status() ?? {
    active: false,
    reason: "no program under test or bind churn ran",
    lost: 0,
    untracked: 0,
  };
}
