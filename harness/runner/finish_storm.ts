/**
 * Finishing a reconnect storm's result: the TIME_WAIT sockets it left in its namespace,
 * and how long after the last fault on its host's links every client was served again.
 *
 * @module
 */

import type { ReconnectStormResult } from "../measure/tcp_results.ts";
import type { Plan } from "../scenario/topology.ts";
import { parseProcNet } from "./proc_holders.ts";
import type { FaultReport } from "./report.ts";

/**
 * What {@linkcode finishStorm} reads besides the storm's result.
 *
 * @example
 * ```ts
 * import type { FinishStormOptions } from "./finish_storm.ts";
 * const options: FinishStormOptions = {
 *   host: "client",
 *   links: [],
 *   timeWait: null,
 *   faults: () => [],
 *   startEpochMs: Date.now(),
 *   slackMs: 1000,
 * };
 * ```
 */
export interface FinishStormOptions {
  /** The storm's host. */
  host: string;
  /** The run's links. */
  links: Plan["links"];
  /**
   * Where to count the TIME_WAIT sockets the storm left: the namespace of the process
   * `agentPid` (its host's agent); null when they cannot be told from others' (loopback).
   */
  timeWait: { agentPid: number } | null;
  /** The run's faults, read once the sockets are counted. */
  faults: () => readonly FaultReport[];
  /** Date.now() when the run started: fault times count from it. */
  startEpochMs: number;
  /** How long after a fault ends an attempt made before may still fail (its timeout). */
  slackMs: number;
}

/**
 * Completes a storm's result: TIME_WAIT sockets it left in its namespace, and how
 * long after the last fault on its host's links ended every client was served again.
 *
 * @example
 * ```ts ignore
 * import { finishStorm } from "./finish_storm.ts";
 * const finished = await finishStorm(result, options);
 * console.log(finished.timeWait, finished.recoveryMs);
 * ```
 */
export async function finishStorm(
  result: ReconnectStormResult,
  options: FinishStormOptions,
): Promise<ReconnectStormResult> {
  const timeWait = options.timeWait
    ? await countTimeWait(options.timeWait.agentPid, result.address)
    : null;
  const lastEnd = lastFaultEnd(result, options.faults(), options);
  return { ...result, timeWait, recoveryMs: recoveryAfter(result, lastEnd, options.slackMs) };
}

/**
 * Options of {@linkcode lastFaultEnd}.
 *
 * @example
 * ```ts
 * import type { LastFaultEndOptions } from "./finish_storm.ts";
 * const options: LastFaultEndOptions = { host: "client", links: [], startEpochMs: Date.now() };
 * ```
 */
export interface LastFaultEndOptions {
  /** The storm's host: faults on its links count. */
  host: string;
  /** The run's links. */
  links: Plan["links"];
  /** Date.now() when the run started: fault times count from it. */
  startEpochMs: number;
}

/**
 * When (ms since the epoch) the last fault on a link of the storm's host that ended
 * while the storm ran ended; -Infinity if none did.
 *
 * @example
 * ```ts ignore
 * import { lastFaultEnd, recoveryAfter } from "./finish_storm.ts";
 * const at = lastFaultEnd(storm, faults, { host: "client", links: plan.links, startEpochMs });
 * console.log(recoveryAfter(storm, at, 1000));
 * ```
 */
export function lastFaultEnd(
  result: ReconnectStormResult,
  faults: readonly FaultReport[],
  options: LastFaultEndOptions,
): number {
  const endMs = result.startedAt + result.durationMs;
  const names = new Set(
    options.links.flatMap((l, i) =>
      l.hosts.includes(options.host) ? [l.hosts.join("-"), String(i)] : []
    ),
  );
  const removals = faults
    .filter((f) => f.removedAtMs !== null && names.has(f.link.join("-")))
    .map((f) => options.startEpochMs + f.removedAtMs!)
    .filter((at) => at >= result.startedAt && at <= endMs);
  return Math.max(...removals);
}

/**
 * How long after `at` (a fault's end, ms since the epoch) every client of a storm was
 * served again: the end of the last unserved period that began before `at + slackMs`
 * (attempts made before `at` may fail up to a timeout later) and ended after `at`; 0 if
 * there is none; null if some client was never served again, or nothing ended.
 *
 * @example
 * ```ts ignore
 * import { recoveryAfter } from "./finish_storm.ts";
 * console.log(recoveryAfter(stormResult, faultEndedAt, 1000));
 * ```
 */
export function recoveryAfter(
  result: ReconnectStormResult,
  at: number,
  slackMs: number,
): number | null {
  if (!Number.isFinite(at)) return null;
  const periods = result.unservedPeriods.filter((p) =>
    p.startMs <= at + slackMs && (p.endMs === null || p.endMs >= at)
  );
  if (periods.length === 0) return 0;
  if (periods.some((p) => p.endMs === null)) return null;
  return Math.max(...periods.map((p) => p.endMs!)) - at;
}

/**
 * The TIME_WAIT sockets towards `address` ("198.18.0.2:7000", or "::1:7000") in the
 * network namespace of process `pid`, from its /proc/<pid>/net/tcp and tcp6; null when
 * they cannot be read (the process is gone).
 */
async function countTimeWait(pid: number, address: string): Promise<number | null> {
  const at = address.lastIndexOf(":");
  const peers = new Set([address, `[${address.slice(0, at)}]${address.slice(at)}`]);
  let count = 0;
  for (const file of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(`/proc/${pid}/net/${file}`);
    } catch {
      return null;
    }
    count += parseProcNet(text).filter((s) => s.state === "TIME-WAIT" && peers.has(s.peer)).length;
  }
  return count;
}
