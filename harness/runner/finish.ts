/**
 * Finishing what a run measured: a probe's result completed with what the echoes saw
 * and the loss ledger, a storm's with its TIME_WAIT sockets and recovery time, a
 * waited-for program's exit judged, and the run's status and exit code.
 *
 * @module
 */

import { runCommand } from "../core/command.ts";
import { ExitCode } from "../core/exit_codes.ts";
import type { AgentWorkload } from "../agent/protocol.ts";
import { buildLedger, type FaultDrops, type KernelDrops } from "../measure/loss_ledger.ts";
import type { UdpEchoResult, UdpProbeResult } from "../measure/results.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import type { ReconnectStormResult } from "../measure/tcp_results.ts";
import type { WorkloadHandle } from "../scenario/scenario.ts";
import type { Plan } from "../scenario/topology.ts";
import type { BindWatchMonitor } from "./_bind_monitor.ts";
import type { ProbePath, WorkloadRecord } from "./_workload_record.ts";
import { ownerOf } from "./context.ts";
import type { CheckOutcome, FaultReport, ScenarioReport, ScenarioStatus } from "./report.ts";

/**
 * What {@linkcode finishProbe} reads besides the probe's result.
 *
 * @example
 * ```ts
 * import type { FinishProbeOptions } from "./finish.ts";
 * const options: FinishProbeOptions = {
 *   echoes: [],
 *   kernelDrops: () => Promise.resolve({ receiveBufferOverflow: 0, noSocket: 0 }),
 *   dropsFor: () => Promise.resolve([]),
 *   shared: () => false,
 * };
 * ```
 */
export interface FinishProbeOptions {
  /** The run's UDP echoes, whose snapshots say what reached them of the probe's flow. */
  echoes: readonly WorkloadHandle[];
  /**
   * The run's programs under test, whose results say what was queued, unread, in their
   * SO_REUSEPORT sockets when they were killed.
   * @default {[]}
   */
  programs?: readonly WorkloadHandle[];
  /** UDP drop counters of a host's namespace now. */
  kernelDrops: (host: string) => Promise<KernelDrops>;
  /** What the droppers on interface `ifname` dropped of flow `flowId`. */
  dropsFor: (flowId: number, ifname: string) => Promise<FaultDrops[]>;
  /** Whether another running probe crosses either of the path's hosts (asked last). */
  shared: (path: ProbePath) => boolean;
}

/**
 * Completes a probe's result: what squall's echoes saw of its flow (loss on the way
 * there and back), and the loss ledger from the droppers and the kernel's counters.
 *
 * @example
 * ```ts ignore
 * import { finishProbe } from "./finish.ts";
 * const finished = await finishProbe(result, path, options);
 * console.log(finished.lostOutbound, finished.ledger);
 * ```
 */
export async function finishProbe(
  result: UdpProbeResult,
  path: ProbePath | undefined,
  options: FinishProbeOptions,
): Promise<UdpProbeResult> {
  const seen: (UdpEchoResult | undefined)[] = [];
  for (const echo of options.echoes) {
    seen.push(await echo.snapshot().catch(() => undefined) as UdpEchoResult | undefined);
  }
  const finished = withEchoCounts(result, seen);
  if (!path) return finished;
  const [before, sourceNow, targetNow, outboundDrops, returnDrops] = await Promise.all([
    path.before,
    options.kernelDrops(path.source.host),
    options.kernelDrops(path.target.host),
    options.dropsFor(result.flowId, path.target.ifname),
    options.dropsFor(result.flowId, path.source.ifname),
  ]);
  finished.ledger = buildLedger({
    result: finished,
    outboundDrops,
    returnDrops,
    outboundKernel: difference(targetNow, before.target),
    returnKernel: difference(sourceNow, before.source),
    shared: options.shared(path),
    closedSocket: discardedOf(result.flowId, seen) +
      await queuedAtKillOf(result.flowId, options.programs ?? []),
  });
  return finished;
}

/** Datagrams of flow `flowId` queued in programs' SO_REUSEPORT sockets when they were killed. */
async function queuedAtKillOf(
  flowId: number,
  programs: readonly WorkloadHandle[],
): Promise<number> {
  let n = 0;
  for (const program of programs) {
    const result = await program.snapshot().catch(() => undefined) as ExecResult | undefined;
    for (const queued of result?.queuedAtKill ?? []) {
      n += queued.flows.find((f) => f.flowId === flowId)?.datagrams ?? 0;
    }
  }
  return n;
}

/** Datagrams of flow `flowId` the echoes lost queued in a stopped group member's socket. */
function discardedOf(flowId: number, echoes: readonly (UdpEchoResult | undefined)[]): number {
  let n = 0;
  for (const seen of echoes) n += seen?.flows.find((f) => f.flowId === flowId)?.discarded ?? 0;
  return n;
}

/**
 * Whether another running probe crosses either host of `path`: it then shares the
 * kernel counters the probe's ledger reads.
 *
 * @example
 * ```ts ignore
 * import { sharesHosts } from "./finish.ts";
 * const shared = sharesHosts(workloads.values(), record.path!);
 * ```
 */
export function sharesHosts(workloads: Iterable<WorkloadRecord>, path: ProbePath): boolean {
  return [...workloads].some((w) =>
    w.path && w.path !== path && w.report.status === "running" &&
    [w.path.source.host, w.path.target.host].some((h) =>
      h === path.source.host || h === path.target.host
    )
  );
}

/**
 * A probe's result with what the echoes saw of its flow: how many datagrams reached
 * them, so the loss splits into the way there and the way back, and the runs of
 * consecutive datagrams lost on the way there. The result itself when no echo saw the
 * flow (a copy otherwise).
 *
 * @example
 * ```ts ignore
 * import { withEchoCounts } from "./finish.ts";
 * const split = withEchoCounts(probeResult, [echoSnapshot]);
 * console.log(split.lostOutbound, split.lostReturn);
 * ```
 */
export function withEchoCounts(
  result: UdpProbeResult,
  echoes: readonly (UdpEchoResult | undefined)[],
): UdpProbeResult {
  let received: number | null = null;
  let duplicated = 0;
  let runs = null as UdpProbeResult["outboundLossRuns"];
  for (const seen of echoes) {
    const flow = seen?.flows.find((f) => f.flowId === result.flowId);
    if (!flow) continue;
    received = (received ?? 0) + flow.received;
    duplicated += flow.duplicated;
    // Datagrams lost after the last one the echo saw end in no gap: the last run.
    const trailing = result.sent - 1 - flow.highestSeq;
    runs = {
      runs: (runs?.runs ?? 0) + flow.lossRuns + (trailing > 0 ? 1 : 0),
      packets: (runs?.packets ?? 0) + flow.lossRunPackets + Math.max(0, trailing),
    };
  }
  if (received === null) return result;
  const lostOutbound = result.sent - received;
  // The echo answers every copy it gets: the probe's duplicates are the echo's (made on
  // the way out) plus those made on the way back.
  const oneWay = result.oneWay && {
    ...result.oneWay,
    forward: { ...result.oneWay.forward, duplicated },
    return: { ...result.oneWay.return, duplicated: Math.max(0, result.duplicated - duplicated) },
  };
  return {
    ...result,
    echoReceived: received,
    lostOutbound,
    lostReturn: result.lost - lostOutbound,
    outboundLossRuns: runs,
    oneWay,
  };
}

/**
 * What {@linkcode finishStorm} reads besides the storm's result.
 *
 * @example
 * ```ts
 * import type { FinishStormOptions } from "./finish.ts";
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
  /** How to count the TIME_WAIT sockets the storm left; null when they cannot be counted. */
  timeWait: { agentPid: number; ssPath: string } | null;
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
 * import { finishStorm } from "./finish.ts";
 * const finished = await finishStorm(result, options);
 * console.log(finished.timeWait, finished.recoveryMs);
 * ```
 */
export async function finishStorm(
  result: ReconnectStormResult,
  options: FinishStormOptions,
): Promise<ReconnectStormResult> {
  let timeWait: number | null = null;
  if (options.timeWait) {
    const { agentPid, ssPath } = options.timeWait;
    const out = await runCommand("nsenter", [
      "-t",
      String(agentPid),
      "-n",
      ssPath,
      "-H",
      "-t",
      "-n",
      "state",
      "time-wait",
      "dst",
      result.address,
    ]).catch(() => undefined);
    if (out !== undefined) timeWait = out.split("\n").filter((l) => l.trim() !== "").length;
  }
  const lastEnd = lastFaultEnd(result, options.faults(), options);
  return { ...result, timeWait, recoveryMs: recoveryAfter(result, lastEnd, options.slackMs) };
}

/**
 * Options of {@linkcode lastFaultEnd}.
 *
 * @example
 * ```ts
 * import type { LastFaultEndOptions } from "./finish.ts";
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
 * import { lastFaultEnd, recoveryAfter } from "./finish.ts";
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
 * Options of {@linkcode probePath}.
 *
 * @example
 * ```ts ignore
 * import type { ProbePathOptions } from "./finish.ts";
 * const options: ProbePathOptions = { host: "client", workload, kernelDrops: readDrops };
 * ```
 */
export interface ProbePathOptions {
  /** The probe's host. */
  host: string;
  /** The probe, as its agent runs it. */
  workload: AgentWorkload;
  /** UDP drop counters of a host's namespace now. */
  kernelDrops: (host: string) => Promise<KernelDrops>;
}

/**
 * Where a probe's datagrams cross: undefined on loopback or off the links. Starts
 * reading both namespaces' kernel counters, which the probe is measured against.
 *
 * @example
 * ```ts ignore
 * import { kernelDrops, probePath } from "./finish.ts";
 * const path = probePath(plan, {
 *   host: "client",
 *   workload,
 *   kernelDrops: (host) => kernelDrops(pids.get(host)!),
 * });
 * await path?.before;
 * ```
 */
export function probePath(plan: Plan, options: ProbePathOptions): ProbePath | undefined {
  const { host, workload, kernelDrops: drops } = options;
  if (workload.kind !== "udpProbe" || plan.network !== "namespaces") return undefined;
  const source = plan.hosts.find((h) => h.name === host)!;
  const hop = source.interfaces.find((i) => i.peerAddress === workload.targetAddress);
  if (!hop) return undefined;
  const target = plan.hosts.find((h) => h.name === hop.peerHost)!;
  const targetIf = target.interfaces.find((i) => i.link === hop.link)!;
  const before = Promise.all([drops(host), drops(target.name)])
    .then(([s, t]) => ({ source: s, target: t }));
  before.catch(() => {});
  return {
    source: { host, ifname: hop.name },
    target: { host: target.name, ifname: targetIf.name },
    before,
  };
}

/**
 * UDP drop counters of the namespace of process `pid`: /proc/<pid>/net/snmp is that
 * namespace's /proc/net/snmp (no process needs to be started in it).
 *
 * @example
 * ```ts ignore
 * import { kernelDrops } from "./finish.ts";
 * console.log((await kernelDrops(agentPid)).receiveBufferOverflow);
 * ```
 */
export async function kernelDrops(pid: number): Promise<KernelDrops> {
  return udpDrops(await Deno.readTextFile(`/proc/${pid}/net/snmp`));
}

/**
 * The UDP drop counters in the text of /proc/net/snmp; 0 for those missing.
 *
 * @example
 * ```ts
 * import { udpDrops } from "./finish.ts";
 * const snmp = "Udp: InDatagrams NoPorts RcvbufErrors\nUdp: 10 2 3\n";
 * console.assert(udpDrops(snmp).noSocket === 2 && udpDrops(snmp).receiveBufferOverflow === 3);
 * ```
 */
export function udpDrops(snmp: string): KernelDrops {
  const [names, values] = snmp.split("\n").filter((l) => l.startsWith("Udp:"));
  const fields = new Map<string, number>();
  const keys = names?.split(/\s+/).slice(1) ?? [];
  const numbers = values?.split(/\s+/).slice(1) ?? [];
  keys.forEach((k, i) => fields.set(k, Number(numbers[i])));
  return {
    receiveBufferOverflow: fields.get("RcvbufErrors") ?? 0,
    noSocket: fields.get("NoPorts") ?? 0,
  };
}

/**
 * How much each kernel counter grew from `before` to `now`.
 *
 * @example
 * ```ts
 * import { difference } from "./finish.ts";
 * const grown = difference({ receiveBufferOverflow: 5, noSocket: 2 }, {
 *   receiveBufferOverflow: 1,
 *   noSocket: 2,
 * });
 * console.assert(grown.receiveBufferOverflow === 4 && grown.noSocket === 0);
 * ```
 */
export function difference(now: KernelDrops, before: KernelDrops): KernelDrops {
  return {
    receiveBufferOverflow: now.receiveBufferOverflow - before.receiveBufferOverflow,
    noSocket: now.noSocket - before.noSocket,
  };
}

/**
 * Why a program that was waited for failed: a non-zero exit or a signal; undefined if
 * it did not.
 *
 * @example
 * ```ts ignore
 * import { exitFailure } from "./finish.ts";
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
 * import { unexpectedExit } from "./finish.ts";
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
 * How long after `at` (a fault's end, ms since the epoch) every client of a storm was
 * served again: the end of the last unserved period that began before `at + slackMs`
 * (attempts made before `at` may fail up to a timeout later) and ended after `at`; 0 if
 * there is none; null if some client was never served again, or nothing ended.
 *
 * @example
 * ```ts ignore
 * import { recoveryAfter } from "./finish.ts";
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
 * What decides a run's status and exit code.
 *
 * @example
 * ```ts
 * import type { RunOutcome } from "./finish.ts";
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
 * import { runStatus } from "./finish.ts";
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
 * import type { AttributeBindFailuresOptions } from "./finish.ts";
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
 * import { attributeBindFailures } from "./finish.ts";
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
 * import { bindWatchStatus } from "./finish.ts";
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
