/**
 * What a run keeps of each workload it started, shared by the run's lifecycle, the
 * finishing of results and the scenario function's view; starting a workload into its
 * record, and what the run says of its running workloads.
 *
 * @module
 */

import type { AgentWorkload, WorkloadControl } from "../agent/protocol.ts";
import { parseDuration } from "../core/duration.ts";
import type { KernelDrops } from "../measure/loss_ledger.ts";
import type { WorkloadResult } from "../measure/results.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import type {
  EchoHandle,
  ProgramHandle,
  WorkloadHandle,
  WorkloadPlacement,
} from "../scenario/scenario.ts";
import { describeWorkload } from "../workloads/kinds.ts";
import type { WorkloadHost } from "./_local_programs.ts";
import { type FlowProgress, PROGRESS_KINDS, progressOf, type RunEvent } from "./events.ts";
import { exitFailure, unexpectedExit } from "./outcome.ts";
import { failedStartResult } from "./program.ts";
import type { WorkloadReport } from "./report.ts";

/** Where a probe's datagrams go: the link, and the interface at each end. */
export interface ProbePath {
  /** The probe's host and the interface its replies arrive on. */
  source: { host: string; ifname: string };
  /** The target's host and the interface the datagrams arrive on. */
  target: { host: string; ifname: string };
  /** Kernel counters of both namespaces when the probe started. */
  before: Promise<{ source: KernelDrops; target: KernelDrops }>;
}

/** One workload of a run: its report as it goes, where it runs, and its result. */
export interface WorkloadRecord {
  id: number;
  path?: ProbePath;
  report: WorkloadReport;
  agent: WorkloadHost;
  handle: WorkloadHandle;
  done: Promise<WorkloadResult>;
  final?: WorkloadResult;
  stopRequested: boolean;
}

/** What {@linkcode startRecord} needs to start a workload and keep its record. */
export interface StartRecordOptions {
  /** The workload's id in its host's agent (or among the programs under test). */
  id: number;
  /** The workload's name. */
  name: string;
  /** Where it runs and what it does, as the scenario declared it. */
  placement: WorkloadPlacement;
  /** What its agent runs. */
  workload: AgentWorkload;
  /** The agent that runs it, or the runner's programs under test. */
  agent: WorkloadHost;
  /** Where a probe's datagrams cross, when they cross a link. */
  path: ProbePath | undefined;
  /** The workload is sent to its agent once this settles well. */
  ready: Promise<unknown>;
  /** When it started, in ms since the run started. */
  startedAtMs: number;
  /** Completes its result (a probe's ledger, a storm's recovery). */
  finish: (result: WorkloadResult, record: WorkloadRecord) => Promise<WorkloadResult>;
  /** Where `workload-ended` goes. */
  emit: (event: RunEvent) => void;
}

/**
 * Sends a workload to its agent once `ready` settles, and returns its record (the
 * report kept up to date as it ends, and the handle the scenario function gets) and
 * when it started.
 */
export function startRecord(
  options: StartRecordOptions,
): { record: WorkloadRecord; started: Promise<unknown> } {
  const { id, name, placement, agent, path } = options;
  const report: WorkloadReport = {
    name,
    host: placement.on,
    spec: placement.run,
    description: describeWorkload(placement.run),
    status: "running",
    startedAtMs: options.startedAtMs,
  };
  const sent = options.ready.then(() => {
    const handles = agent.start(id, name, options.workload);
    if (record.stopRequested) agent.stop(id);
    return handles;
  });
  const started = sent.then((h) => h.started);
  const raw = sent.then((h) => h.done);
  const record: WorkloadRecord = {
    id,
    ...(path ? { path } : {}),
    report,
    agent,
    stopRequested: false,
    done: undefined as unknown as Promise<WorkloadResult>,
    handle: undefined as unknown as WorkloadHandle,
  };
  record.done = raw.then(async (result) => {
    // Finishing reads counters of other hosts (an echo's, the kernel's): when one of them
    // is gone (its agent died), the workload keeps what it measured, and fails saying
    // what is missing, instead of staying "running" for ever.
    let enriched = result;
    let unfinished: string | undefined;
    try {
      enriched = await options.finish(result, record);
    } catch (error) {
      unfinished = `What ${name} measured is reported without the counters of other hosts: ${
        error instanceof Error ? error.message : String(error)
      }`;
    }
    record.final = enriched;
    report.result = enriched;
    report.status = record.stopRequested ? "stopped" : "finished";
    if (unfinished) {
      report.status = "failed";
      report.error = unfinished;
    }
    const spec = placement.run;
    const exitProblem = spec.kind !== "exec"
      ? undefined
      : spec.waitForExit
      ? exitFailure(enriched as ExecResult)
      : unexpectedExit(enriched as ExecResult, spec.expectExit ?? false);
    if (exitProblem && !record.stopRequested) {
      report.status = "failed";
      report.error = exitProblem;
    }
    options.emit({ type: "workload-ended", name, host: placement.on, status: report.status });
    return enriched;
  }, async (error: unknown) => {
    // A program that failed to start still ran: its runs go in the report, and
    // thresholds on it are evaluated.
    const ran = failedStartResult(error);
    if (ran) {
      const enriched = await options.finish(ran, record).catch(() => ran);
      record.final = enriched;
      report.result = enriched;
    }
    report.status = "failed";
    report.error = error instanceof Error ? error.message : String(error);
    options.emit({ type: "workload-ended", name, host: placement.on, status: "failed" });
    throw error;
  });
  record.done.catch(() => {});
  /**
   * Stops it (by `how`, or as any workload) unless it ended; resolves with its result once
   * `how` has been done (a control the agent answers) and the workload has ended.
   */
  const stop = async (how: () => unknown = () => agent.stop(id)) => {
    if (report.status === "running") {
      record.stopRequested = true;
      await how();
    }
    return await record.done;
  };
  record.handle = {
    name,
    host: placement.on,
    result: () => record.done,
    stop: () => stop(),
    snapshot: () =>
      record.final ? Promise.resolve(record.final) : (agent.snapshot(id) ?? record.done),
  };
  const control = (c: WorkloadControl) =>
    started.then(() => agent.call("workload.control", { id, control: c })).then(() => {});
  const run = placement.run;
  if (run.kind === "udpEcho" || run.kind === "tcpEcho") {
    (record.handle as EchoHandle).stopMember = (member, options = {}) => {
      if (run.group === undefined) {
        return Promise.reject(
          new TypeError(
            `Cannot stop member ${member} of workload "${name}": it is not a SO_REUSEPORT group (give it group)`,
          ),
        );
      }
      if (!Number.isInteger(member) || member < 0 || member >= run.group) {
        return Promise.reject(
          new RangeError(
            `Cannot stop member ${JSON.stringify(member)} of workload "${name}": members are 0-${
              run.group - 1
            }`,
          ),
        );
      }
      const hangMs = parseDuration(options.hang ?? 0, "hang");
      return control({ action: "stopMember", member, hangMs });
    };
  }
  if (placement.run.kind === "exec") {
    const program = record.handle as ProgramHandle;
    program.restart = (options = {}) =>
      control({ action: "restart", keepChildren: options.keepChildren ?? false });
    // Its children kept: the agent stops the program alone, and answers once it has.
    program.stop = (options = {}) =>
      (options.keepChildren
        ? stop(() => control({ action: "stop", keepChildren: true }))
        : stop()) as Promise<ExecResult>;
    (record.handle as ProgramHandle).kill = (signal = "SIGKILL") =>
      control({ action: "kill", signal });
  }
  return { record, started };
}

/**
 * How the running probes, storms and churns are doing, from snapshots of their results
 * (without the logs of attempts and failures: they can be long, and are not shown);
 * undefined when none is running.
 */
export async function flowProgress(
  workloads: Iterable<WorkloadRecord>,
): Promise<FlowProgress[] | undefined> {
  const running = [...workloads].filter((w) =>
    w.report.status === "running" && PROGRESS_KINDS.has(w.report.spec.kind)
  );
  if (running.length === 0) return undefined;
  const flows: FlowProgress[] = [];
  for (const w of running) {
    const r = await w.agent.snapshot(w.id, true)?.catch(() => undefined);
    const spec = w.report.spec;
    const figures = r &&
      progressOf(r, spec.kind === "udpProbe" ? parseDuration(spec.timeout) : 0);
    if (figures) flows.push({ name: w.report.name, host: w.report.host, ...figures });
  }
  return flows;
}
