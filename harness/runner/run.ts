/**
 * The runner: the only privileged process. It validates a scenario, builds its
 * network, starts one agent per host, runs the workloads and the scenario function,
 * collects results, evaluates thresholds, and tears everything down in reverse order.
 *
 * @module
 */

import { FaultManager } from "./fault_manager.ts";
import { LIBBPF_CANDIDATES } from "../kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";
import type { AgentWorkload, WorkloadControl } from "../agent/protocol.ts";
import { AgentConnection } from "./agent_connection.ts";
import {
  type AgentLaunch,
  type DropperFiles,
  type HostBackend,
  loopbackBackend,
  namespaceBackend,
} from "./backend.ts";
import { runCommand } from "../core/command.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { checkEnvironment } from "./environment.ts";
import { AgentError, EnvironmentError, ScenarioError, SquallError } from "../core/errors.ts";
import type { Fault } from "../scenario/faults.ts";
import { buildLedger, type KernelDrops } from "../measure/loss_ledger.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { wireLinks } from "./netns.ts";
import {
  type CheckOutcome,
  type HostReport,
  REPORT_SCHEMA_VERSION,
  type ScenarioReport,
  type ScenarioStatus,
  type WorkloadReport,
} from "./report.ts";
import type {
  ExecResult,
  ReconnectStormResult,
  Timeline,
  UdpEchoResult,
  UdpProbeResult,
  WorkloadResult,
} from "../measure/results.ts";
import {
  type HandleOf,
  type LinkHandle,
  type ProgramHandle,
  type Scenario,
  type ScenarioContext,
  validatePlacement,
  validateScenario,
  type ValidScenario,
  type WorkloadHandle,
  type WorkloadPlacement,
} from "../scenario/scenario.ts";
import { evaluateThreshold } from "../scenario/threshold.ts";
import {
  allowedAddresses,
  linkFaults,
  newRunId,
  type Plan,
  planTopology,
  resolveTarget,
} from "../scenario/topology.ts";
import { XDP_DROP_OBJECT } from "../kernel/xdp_dropper.ts";
import {
  describeWorkload,
  findProgram,
  resolveWorkload,
  runsUntilStopped,
  type WorkloadSpec,
} from "../workloads/kinds.ts";
import type { Target } from "../core/addresses.ts";
import { BindWatchMonitor } from "./_bind_monitor.ts";
import { RunRecord } from "./run_record.ts";
import { describeProcesses, endStragglers, processesInNamespace } from "./_stragglers.ts";
import { namespaceInode } from "../kernel/bind_watch.ts";
import { LocalPrograms, type WorkloadHost } from "./_local_programs.ts";
import { ProgramCgroup } from "./program_cgroup.ts";

/**
 * Something that happened during a run, for progress output.
 *
 * @example
 * ```ts
 * import type { RunEvent } from "./run.ts";
 * function describe(event: RunEvent): string | undefined {
 *   switch (event.type) {
 *     case "setup":
 *       return `${event.scenario}: run ${event.runId}, ${event.plan.hosts.length} hosts`;
 *     case "fault-applied":
 *       return `fault #${event.id} ${event.description}`;
 *     case "log":
 *       return event.message;
 *     default:
 *       return undefined;
 *   }
 * }
 * console.assert(describe({ type: "log", message: "hello" }) === "hello");
 * ```
 */
export type RunEvent =
  | { type: "setup"; scenario: string; runId: string; plan: Plan; backend: string }
  | { type: "ready"; scenario: string; hosts: HostReport[]; setupMs: number }
  | { type: "workload-started"; name: string; host: string; description: string }
  | { type: "workload-ended"; name: string; host: string; status: WorkloadReport["status"] }
  | { type: "log"; message: string }
  | { type: "fault-applied"; id: number; description: string }
  | { type: "fault-removed"; id: number; description: string; dropped: number }
  | { type: "progress"; scenario: string; elapsedMs: number; flows: FlowProgress[] }
  | { type: "teardown"; scenario: string };

/**
 * How a running probe, storm or churn is doing, for progress output. The figures mean,
 * by kind: UDP probe, datagrams sent / answered in time / loss / round-trip p99; TCP
 * probe, requests / responses / failed fraction / request-response p99; reconnect
 * storm, connect attempts / successes / failed fraction / connect time p99; bind churn,
 * bind attempts / successes / failed fraction / time-to-rebind p99.
 *
 * @example
 * ```ts
 * import type { FlowProgress } from "./run.ts";
 * const flow: FlowProgress = {
 *   name: "probe",
 *   host: "client",
 *   kind: "udpProbe",
 *   sent: 1000,
 *   delivered: 990,
 *   loss: 0.01,
 *   p99Ns: 2_500_000,
 * };
 * console.assert(`${flow.name}: p99 ${flow.p99Ns / 1e6}ms` === "probe: p99 2.5ms");
 * ```
 */
export interface FlowProgress {
  /** Workload name. */
  name: string;
  /** Host it runs on. */
  host: string;
  /** The kind of workload. */
  kind: "udpProbe" | "tcpProbe" | "reconnectStorm" | "bindChurn";
  /** Datagrams sent, requests, connect attempts or bind attempts so far. */
  sent: number;
  /** Of those, the ones that succeeded (a datagram answered in time, a response...). */
  delivered: number;
  /**
   * Loss (UDP: among the datagrams whose replies are due, see {@linkcode settledLoss};
   * those still in flight do not count) or the failed fraction so far, 0-1.
   */
  loss: number;
  /** 99th percentile so far, in nanoseconds (round trip, connect time or time to rebind). */
  p99Ns: number;
}

/**
 * The kinds of workload progress reports on, and the figures it takes from each.
 * `timeoutMs` is a UDP probe's reply timeout.
 */
function progressOf(
  r: WorkloadResult,
  timeoutMs: number,
): Omit<FlowProgress, "name" | "host"> | undefined {
  const failed = (failures: number, of: number) => of > 0 ? failures / of : 0;
  switch (r.kind) {
    case "udpProbe":
      return {
        kind: r.kind,
        sent: r.sent,
        delivered: r.delivered,
        loss: settledLoss(r.timeline, r.durationMs - timeoutMs),
        p99Ns: r.rttSummary.p99,
      };
    case "tcpProbe":
      return {
        kind: r.kind,
        sent: r.requests,
        delivered: r.responses,
        loss: failed(r.failed, r.requests),
        p99Ns: r.rttSummary.p99,
      };
    case "reconnectStorm":
      return {
        kind: r.kind,
        sent: r.attempts,
        delivered: r.successes,
        loss: failed(r.failures, r.attempts),
        p99Ns: r.connectSummary.p99,
      };
    case "bindChurn":
      return {
        kind: r.kind,
        sent: r.attempts,
        delivered: r.attempts - r.failures,
        loss: failed(r.failures, r.attempts),
        p99Ns: r.rebindSummary.p99,
      };
    default:
      return undefined;
  }
}

/**
 * Options of {@linkcode runScenario}.
 *
 * @example
 * ```ts
 * import type { RunScenarioOptions } from "./run.ts";
 * const controller = new AbortController(); // abort() stops the run; the report is kept
 * const options: RunScenarioOptions = {
 *   signal: controller.signal,
 *   file: "scenarios/udp_echo.ts",
 *   progressIntervalMs: 1000,
 *   onEvent: (event) => {
 *     if (event.type === "progress") {
 *       for (const f of event.flows) console.log(`${f.name}: ${f.sent} sent`);
 *     }
 *   },
 * };
 * ```
 */
export interface RunScenarioOptions {
  /** Aborting it interrupts the run: workloads are stopped and what was measured is reported. */
  signal?: AbortSignal;
  /**
   * The module the scenario came from, for the report and error messages.
   * @default {null}
   */
  file?: string | null;
  /** Called for every {@linkcode RunEvent}. */
  onEvent?: (event: RunEvent) => void;
  /**
   * Emit a `progress` event this often while probes run; 0 for never.
   * @default {0}
   */
  progressIntervalMs?: number;
}

const AGENT_READY_TIMEOUT_MS = 30_000;
/**
 * Loss among the datagrams sent before `beforeMs` (since the probe started), whose
 * replies are due: the timeline counts each reply in the interval its datagram was sent
 * in, so datagrams still in flight do not count as lost. 0 before any is due.
 *
 * @example
 * ```ts
 * import { settledLoss } from "./run.ts";
 * const timeline = { intervalMs: 100, sent: [50, 50, 50], delivered: [50, 45, 0], late: [0, 0, 0] };
 * // 250 ms in, with a 1 s timeout nothing is due yet; 1.2 s in, the first two intervals are.
 * console.assert(settledLoss(timeline, 250 - 1000) === 0);
 * console.assert(settledLoss(timeline, 1200 - 1000) === 0.05);
 * ```
 */
export function settledLoss(timeline: Timeline, beforeMs: number): number {
  let sent = 0;
  let lost = 0;
  for (let i = 0; (i + 1) * timeline.intervalMs <= beforeMs && i < timeline.sent.length; i++) {
    const s = timeline.sent[i]!;
    sent += s;
    lost += s - (timeline.delivered[i] ?? 0) - (timeline.late[i] ?? 0);
  }
  return sent > 0 ? lost / sent : 0;
}

/** The workloads progress output reports on (those {@linkcode progressOf} reads). */
const PROGRESS_KINDS: ReadonlySet<string> = new Set<FlowProgress["kind"]>([
  "udpProbe",
  "tcpProbe",
  "reconnectStorm",
  "bindChurn",
]);
const RESULT_GRACE_MS = 5_000;

/**
 * Runs one scenario and resolves with its report. Throws a {@linkcode ScenarioError}
 * (nothing was created) when the scenario is invalid, and an `EnvironmentError` when
 * this machine cannot run it. Failed checks and thresholds do not throw: they are in
 * the report.
 *
 * @example
 * ```ts ignore
 * import { runScenario } from "./run.ts";
 * import scenario from "../../scenarios/loopback.ts";
 * const report = await runScenario(scenario);
 * console.log(report.status);
 * ```
 */
export async function runScenario(
  s: Scenario,
  options: RunScenarioOptions = {},
): Promise<ScenarioReport> {
  const where = options.file ?? (typeof s?.name === "string" ? `scenario "${s.name}"` : "scenario");
  const checked = validateScenario(s, where);
  if (!checked.ok) throw new ScenarioError(checked.problems);
  checkEnvironment(checked.value.network);
  const run = new Run(checked.value, options, dropperFiles(checked.value));
  return await run.execute();
}

/**
 * The files agents need to hold droppers, when the scenario may apply faults: it has
 * faults on links, or a function that may apply them. Throws an EnvironmentError when
 * it has faults on links and this machine cannot load the dropper.
 */
function dropperFiles(v: ValidScenario): DropperFiles | undefined {
  if (v.network !== "namespaces") return undefined;
  const declared = v.links.some((l) => linkFaults(l).length > 0);
  if (!declared && !v.scenario.fn) return undefined;
  const libbpfPath = findLibrary(LIBBPF_CANDIDATES);
  const libcPath = findLibrary(LIBC_CANDIDATES);
  const objectPath = findLibrary([XDP_DROP_OBJECT]);
  // This file exists exactly when the kernel has the bpf() system call.
  const kernelBpf = findLibrary([BPF_SYSCALL_MARKER]) !== undefined;
  if (libbpfPath && libcPath && objectPath && kernelBpf) {
    return { libbpfPath, libcPath, objectPath };
  }
  if (!declared) return undefined;
  const [missing, hint] = !kernelBpf
    ? ["BPF in this kernel (CONFIG_BPF_SYSCALL)", "run on a kernel built with BPF and XDP"]
    : !libbpfPath
    ? ["libbpf.so.1", "apt-get install libbpf1"]
    : !libcPath
    ? ["libc.so.6", "install the C library"]
    : [XDP_DROP_OBJECT, "rebuild it with deno task bpf"];
  throw new EnvironmentError(
    `Cannot load the XDP dropper for this scenario's faults: no ${missing}`,
    hint,
  );
}

const BPF_SYSCALL_MARKER = "/proc/sys/kernel/unprivileged_bpf_disabled";

/** Where a probe's datagrams go: the link, and the interface at each end. */
interface ProbePath {
  /** The probe's host and the interface its replies arrive on. */
  source: { host: string; ifname: string };
  /** The target's host and the interface the datagrams arrive on. */
  target: { host: string; ifname: string };
  /** Kernel counters of both namespaces when the probe started. */
  before: Promise<{ source: KernelDrops; target: KernelDrops }>;
}

interface WorkloadRecord {
  id: number;
  path?: ProbePath;
  report: WorkloadReport;
  agent: WorkloadHost;
  handle: WorkloadHandle;
  done: Promise<WorkloadResult>;
  final?: WorkloadResult;
  stopRequested: boolean;
}

class Run {
  readonly #v: ValidScenario;
  readonly #options: RunScenarioOptions;
  readonly #plan: Plan;
  readonly #backend: HostBackend;
  readonly #agents = new Map<string, AgentConnection>();
  readonly #workloads = new Map<string, WorkloadRecord>();
  readonly #checks: CheckOutcome[] = [];
  readonly #errors: string[] = [];
  readonly #log: { atMs: number; message: string }[] = [];
  readonly #abort = new AbortController();
  readonly #dropper: DropperFiles | undefined;
  /** libc.so.6 for native echoes; only in namespaces, never on the host's own loopback. */
  readonly #libc: string | undefined;
  readonly #faults: FaultManager;
  /** `ss`, for who holds a port and whether a program listens; undefined if missing. */
  readonly #ssPath: string | undefined;
  /** `setpriv`, which makes a program under test die with the runner. */
  readonly #setprivPath: string | undefined;
  /** Programs each host's agent may run. */
  readonly #allowRun = new Map<string, Set<string>>();
  #bindWatch: BindWatchMonitor | undefined;
  #bindWatchStarting: Promise<void> | undefined;
  readonly #programs = new LocalPrograms(
    (pid, name) => this.#runRecord?.recordProcess(pid, `program ${name}`),
    (id) => this.#programCgroup(id),
    (name, ended) =>
      this.#note(
        `Program ${name} left processes running when squall ended it; squall ended them: ${
          describeProcesses(ended)
        }`,
      ),
  );
  /** The cgroup programs under test join; null: none could be made; undefined: not yet. */
  #cgroup: ProgramCgroup | null | undefined;
  /** Whether the run's cgroup could not be removed at the end. */
  #cgroupLeft = false;
  /** What this run started, for `squall clean` after a crash; removed when it ends. */
  #runRecord: RunRecord | undefined;
  /** `nsenter`, to start programs under test in a host's namespace. */
  readonly #nsenterPath: string | undefined;
  #nextId = 1;
  /** Date.now() at the moment performance.now() was #startMs. */
  #startEpochMs = 0;
  #startMs = 0;
  #setupMs: number | null = null;
  #interrupted = false;
  #badInput = false;
  #environment = false;

  constructor(v: ValidScenario, options: RunScenarioOptions, dropper: DropperFiles | undefined) {
    this.#v = v;
    this.#options = options;
    this.#plan = planTopology(v.network, v.hosts, v.links, newRunId());
    this.#backend = v.network === "namespaces" ? namespaceBackend : loopbackBackend;
    this.#dropper = dropper;
    this.#libc = v.network === "namespaces" ? findLibrary(LIBC_CANDIDATES) : undefined;
    this.#ssPath = programPath("ss");
    this.#setprivPath = programPath("setpriv");
    this.#nsenterPath = programPath("nsenter");
    this.#faults = new FaultManager(
      this.#plan,
      (host) => this.#agents.get(host)!,
      () => performance.now() - this.#startMs,
      (event) => this.#emit(event),
    );
  }

  async execute(): Promise<ScenarioReport> {
    this.#startMs = performance.now();
    this.#startEpochMs = Date.now();
    const startedAt = new Date(this.#startEpochMs).toISOString();
    const name = this.#v.scenario.name;
    const onUserAbort = () => {
      this.#interrupted = true;
      this.#abort.abort(new DOMException("Interrupted", "AbortError"));
    };
    if (this.#options.signal?.aborted) onUserAbort();
    this.#options.signal?.addEventListener("abort", onUserAbort, { once: true });
    const timer = setTimeout(() => {
      this.#errors.push(`Scenario timed out after ${formatDuration(this.#v.timeoutMs)}`);
      this.#abort.abort(new DOMException("Timed out", "TimeoutError"));
    }, this.#v.timeoutMs);
    this.#emit({
      type: "setup",
      scenario: name,
      runId: this.#plan.runId,
      plan: this.#plan,
      backend: this.#backend.name,
    });
    const progressMs = this.#options.progressIntervalMs ?? 0;
    const progress = progressMs > 0 ? setInterval(() => this.#progress(), progressMs) : undefined;
    try {
      this.#runRecord = openRunRecord(this.#plan.runId);
      await this.#setup();
      await this.#startDeclared();
      const fn = this.#v.scenario.fn;
      if (fn) await this.#untilAborted(Promise.resolve(fn(this.#context())));
      await this.#untilAborted(this.#finiteWorkloadsDone());
    } catch (error) {
      this.#recordError(error);
    } finally {
      clearTimeout(timer);
      clearInterval(progress);
      this.#options.signal?.removeEventListener("abort", onUserAbort);
      this.#emit({ type: "teardown", scenario: name });
      await this.#teardown();
      // A ledger whose cgroup is still there stays, for squall clean to try again.
      if (this.#cgroupLeft) {
        this.#note(`The run's ledger is kept for squall clean: ${this.#runRecord?.path}`);
      } else this.#runRecord?.close();
    }
    return this.#report(startedAt);
  }

  // --- setup and teardown ---

  async #setup(): Promise<void> {
    const launches = this.#plan.hosts.map((host): AgentLaunch => {
      const launch: AgentLaunch = { host, allowNet: allowedAddresses(this.#plan, host.name) };
      // Only hosts at the end of a link may hold a dropper, and only when faults can come.
      if (this.#dropper && host.interfaces.length > 0) launch.dropper = this.#dropper;
      // The native echo needs libc: only for hosts that run an echo, or may (a function).
      const echoes = this.#v.workloads.some((w) =>
        w.placement.on === host.name && w.placement.run.kind === "udpEcho"
      );
      if (this.#libc && (echoes || this.#v.scenario.fn)) launch.nativeEcho = this.#libc;
      const allowRun = this.#programsFor(host.name);
      this.#allowRun.set(host.name, allowRun);
      if (allowRun.size > 0) launch.allowRun = [...allowRun];
      return launch;
    });
    for (const launch of launches) {
      const child = this.#backend.spawnAgent(launch);
      this.#runRecord?.recordProcess(child.pid, `agent ${launch.host.name}`);
      this.#agents.set(launch.host.name, new AgentConnection(launch.host.name, child));
    }
    const ready = Promise.all([...this.#agents.values()].map((a) => a.ready));
    await this.#untilAborted(withTimeout(ready, AGENT_READY_TIMEOUT_MS, "agents to start"));
    if (this.#plan.network === "namespaces") {
      const pids = new Map([...this.#agents].map(([host, agent]) => [host, agent.pid]));
      await this.#untilAborted(wireLinks(this.#plan, pids));
    }
    this.#setupMs = performance.now() - this.#startMs;
    this.#emit({
      type: "ready",
      scenario: this.#v.scenario.name,
      hosts: this.#hostReports(),
      setupMs: this.#setupMs,
    });
    for (const [i, link] of this.#v.links.entries()) {
      for (const [j, fault] of linkFaults(link).entries()) {
        try {
          await this.#untilAborted(this.#faults.apply(i, fault, `links[${i}].faults[${j}]`));
        } catch (error) {
          // The kernel or libbpf refused the dropper: the machine, not the scenario.
          if (!(error instanceof AgentError)) throw error;
          throw new EnvironmentError(
            `Cannot apply fault ${j + 1} of link ${i + 1}: ${error.message}`,
            "check that this kernel supports XDP on veth (squall needs root, BPF and XDP)",
            { cause: error },
          );
        }
      }
    }
  }

  async #teardown(): Promise<void> {
    const running = [...this.#workloads.values()].filter((w) => w.report.status === "running");
    for (const w of running) {
      w.stopRequested = true;
      w.agent.stop(w.id);
    }
    await Promise.all(
      running.map((w) =>
        withTimeout(w.done, RESULT_GRACE_MS, `"${w.report.name}" to stop`).catch(() => {})
      ),
    );
    await withTimeout(this.#faults.removeAll(), RESULT_GRACE_MS, "faults to be removed")
      .catch(() => {});
    await this.#bindWatchStarting?.catch(() => {});
    this.#bindWatch?.stop();
    await this.#closeCgroup();
    this.#endStragglers();
    await Promise.all([...this.#agents.values()].map((a) => a.close()));
  }

  /**
   * What a host's agent may run: only `ss` (to see who holds a port when a bind fails),
   * where a bind churn runs or may run (the scenario has a function).
   */
  #programsFor(host: string): Set<string> {
    const churns = this.#v.workloads.some((w) =>
      w.placement.on === host && w.placement.run.kind === "bindChurn"
    );
    const allowed = new Set<string>();
    if (this.#ssPath && (churns || this.#v.scenario.fn)) allowed.add(this.#ssPath);
    return allowed;
  }

  /**
   * Starts the bind watch, once, when the first program under test or bind churn starts
   * (it costs about 40 ms to load and 150 ms to unload, so runs without them skip it).
   */
  #watchBinds(): Promise<void> {
    this.#bindWatchStarting ??= BindWatchMonitor.start(this.#plan, this.#agents).then((monitor) => {
      this.#bindWatch = monitor;
    });
    return this.#bindWatchStarting;
  }

  /**
   * The cgroup of program `id`, under the run's cgroup for programs under test (see
   * _program_cgroup.ts), made when the first program starts; null when this machine has
   * no writable cgroup2 mount.
   */
  #programCgroup(id: number): string | null {
    if (this.#cgroup === undefined) {
      this.#cgroup = ProgramCgroup.create(
        this.#plan.runId,
        (path) => this.#runRecord?.recordCgroup(path),
      );
      if (this.#cgroup) {
        this.#runRecord?.recordProcess(this.#cgroup.watchdogPid, "cgroup watchdog");
      } else {
        this.#note(
          "No writable cgroup v2 mount (see squall doctor): what programs under test start " +
            "is ended with their process group (and by pid in a host's namespace), but a " +
            "process in a session of its own on loopback, or anything after a SIGKILL of " +
            "squall, can outlive the run",
        );
      }
    }
    return this.#cgroup?.programCgroup(id) ?? null;
  }

  /** Ends what programs under test left running, and removes the run's cgroup. */
  async #closeCgroup(): Promise<void> {
    if (!this.#cgroup) return;
    try {
      const left = await this.#cgroup.close();
      if (left.length === 0) return;
      this.#note(
        `Processes that programs under test started were still running after they stopped; squall ended them: ${
          describeProcesses(left)
        }`,
      );
    } catch (error) {
      this.#cgroupLeft = true;
      this.#recordError(error);
    }
  }

  /**
   * Ends processes still in a host's namespace once its workloads have stopped (children
   * a program under test forked and left behind): they would keep the namespace alive.
   */
  #endStragglers(): void {
    if (this.#plan.network !== "namespaces") return;
    for (const [host, agent] of this.#agents) {
      let inode: number;
      try {
        inode = namespaceInode(agent.pid);
      } catch {
        continue; // The agent is gone, and its namespace with it unless others hold it.
      }
      const ended = endStragglers(processesInNamespace(inode, new Set([agent.pid])));
      if (ended.length === 0) continue;
      this.#note(
        `Processes were left running in host "${host}" after its workloads stopped; squall ended them: ${
          describeProcesses(ended)
        }`,
      );
    }
  }

  /** A line in the report's log, shown as the run goes. */
  #note(message: string): void {
    this.#log.push({ atMs: performance.now() - this.#startMs, message });
    this.#emit({ type: "log", message });
  }

  // --- workloads ---

  async #startDeclared(): Promise<void> {
    for (const { name, placement } of this.#v.workloads) {
      await this.#untilAborted(this.#start(name, placement));
    }
  }

  #start(name: string, placement: WorkloadPlacement): Promise<WorkloadHandle> {
    const problems = validatePlacement(name, placement, `workload "${name}"`, this.#v.hosts);
    if (this.#workloads.has(name)) {
      problems.push({
        where: `workload "${name}"`,
        message: "a workload with this name already ran",
      });
    }
    let agentWorkload: AgentWorkload | undefined;
    if (problems.length === 0) {
      let resolved: AgentWorkload | { error: string };
      try {
        resolved = this.#resolve(placement);
      } catch (error) {
        return Promise.reject(error);
      }
      if ("error" in resolved) {
        // A program that is not there is the command's fault; the rest, the target's.
        const field = placement.run.kind === "exec" ? "command[0]" : "target";
        problems.push({ where: `workload "${name}".run.${field}`, message: resolved.error });
      } else agentWorkload = resolved;
    }
    if (problems.length > 0 || !agentWorkload) {
      this.#badInput = true;
      return Promise.reject(new ScenarioError(problems));
    }
    // Programs under test are started by the runner into the host's namespace.
    const agent: WorkloadHost = placement.run.kind === "exec"
      ? this.#programs
      : this.#agents.get(placement.on)!;
    const watched = placement.run.kind === "exec" || placement.run.kind === "bindChurn"
      ? this.#watchBinds()
      : Promise.resolve();
    this.#warnOfSharedChurn(name, placement);
    const id = this.#nextId++;
    const description = describeWorkload(placement.run);
    const report: WorkloadReport = {
      name,
      host: placement.on,
      spec: placement.run,
      description,
      status: "running",
      startedAtMs: performance.now() - this.#startMs,
    };
    const path = this.#probePath(placement.on, agentWorkload);
    // A probe starts once the kernel counters it is measured against have been read.
    const sent = Promise.all([path?.before, watched]).then(() => {
      const handles = agent.start(id, name, agentWorkload);
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
      const enriched = result.kind === "udpProbe"
        ? await this.#finishProbe(result, record.path)
        : result.kind === "reconnectStorm"
        ? await this.#finishStorm(result, name, placement.on)
        : result;
      record.final = enriched;
      report.result = enriched;
      report.status = record.stopRequested ? "stopped" : "finished";
      const exitProblem = placement.run.kind === "exec" && placement.run.waitForExit
        ? exitFailure(enriched as ExecResult)
        : undefined;
      if (exitProblem && !record.stopRequested) {
        report.status = "failed";
        report.error = exitProblem;
      }
      this.#emit({ type: "workload-ended", name, host: placement.on, status: report.status });
      return enriched;
    }, (error: unknown) => {
      report.status = "failed";
      report.error = error instanceof Error ? error.message : String(error);
      this.#emit({ type: "workload-ended", name, host: placement.on, status: "failed" });
      throw error;
    });
    record.done.catch(() => {});
    record.handle = {
      name,
      host: placement.on,
      result: () => record.done,
      stop: () => {
        if (report.status === "running") {
          record.stopRequested = true;
          agent.stop(id);
        }
        return record.done;
      },
      snapshot: () =>
        record.final ? Promise.resolve(record.final) : (agent.snapshot(id) ?? record.done),
    };
    if (placement.run.kind === "exec") {
      const control = (c: WorkloadControl) =>
        started.then(() => agent.call("workload.control", { id, control: c })).then(() => {});
      (record.handle as ProgramHandle).restart = () => control({ action: "restart" });
      (record.handle as ProgramHandle).kill = (signal = "SIGKILL") =>
        control({ action: "kill", signal });
    }
    this.#workloads.set(name, record);
    return started.then(() => {
      this.#emit({ type: "workload-started", name, host: placement.on, description });
      return record.handle;
    });
  }

  /**
   * A bind churn keeps its agent's event loop busy (it yields every few ms): whatever
   * else runs in that agent is measured slow. Says so when the two meet on a host.
   */
  #warnOfSharedChurn(name: string, placement: WorkloadPlacement): void {
    const kind = placement.run.kind;
    if (kind === "exec") return; // Programs run outside the agent.
    const others = [...this.#workloads.values()].filter((w) =>
      w.report.host === placement.on && w.report.status === "running" &&
      w.report.spec.kind !== "exec" &&
      (kind === "bindChurn") !== (w.report.spec.kind === "bindChurn")
    ).map((w) => w.report.name);
    if (others.length === 0) return;
    const [churn, rest] = kind === "bindChurn" ? [[name], others] : [others, [name]];
    this.#note(
      `Bind churn ${churn.join(", ")} shares host "${placement.on}" with ${
        rest.join(", ")
      }: a churn keeps its host's agent busy, so their timings come out slow; ` +
        "give the churn a host of its own",
    );
  }

  #resolve(placement: WorkloadPlacement): AgentWorkload | { error: string } {
    return resolveWorkload(placement.run, {
      network: this.#plan.network,
      host: placement.on,
      hostname: this.#plan.network === "loopback" ? "127.0.0.1" : "0.0.0.0",
      resolveTarget: (target) => this.#resolveTarget(placement.on, target),
      tools: { setpriv: this.#setprivPath, ss: this.#ssPath, nsenter: this.#nsenterPath },
      mayRun: this.#allowRun.get(placement.on) ?? new Set(),
      agentPid: this.#agents.get(placement.on)?.pid ?? null,
    });
  }

  #resolveTarget(
    host: string,
    target: Target,
  ): { address: string; port: number } | { error: string } {
    return resolveTarget(this.#plan, host, target);
  }

  /**
   * Completes a probe's result: what squall's echoes saw of its flow (loss on the way
   * there and back), and the loss ledger from the droppers and the kernel's counters.
   */
  async #finishProbe(result: UdpProbeResult, path: ProbePath | undefined): Promise<UdpProbeResult> {
    const echoes = [...this.#workloads.values()].filter((w) => w.report.spec.kind === "udpEcho");
    let received: number | null = null;
    let runs = null as UdpProbeResult["outboundLossRuns"];
    for (const echo of echoes) {
      const seen = await echo.handle.snapshot().catch(() => undefined) as UdpEchoResult | undefined;
      const flow = seen?.flows.find((f) => f.flowId === result.flowId);
      if (!flow) continue;
      received = (received ?? 0) + flow.received;
      // Datagrams lost after the last one the echo saw end in no gap: the last run.
      const trailing = result.sent - 1 - flow.highestSeq;
      runs = {
        runs: (runs?.runs ?? 0) + flow.lossRuns + (trailing > 0 ? 1 : 0),
        packets: (runs?.packets ?? 0) + flow.lossRunPackets + Math.max(0, trailing),
      };
    }
    let finished: UdpProbeResult = result;
    if (received !== null) {
      const lostOutbound = result.sent - received;
      finished = {
        ...result,
        echoReceived: received,
        lostOutbound,
        lostReturn: result.lost - lostOutbound,
        outboundLossRuns: runs,
      };
    }
    if (!path) return finished;
    const [before, sourceNow, targetNow, outboundDrops, returnDrops] = await Promise.all([
      path.before,
      this.#kernelDrops(path.source.host),
      this.#kernelDrops(path.target.host),
      this.#faults.dropsFor(result.flowId, path.target.ifname),
      this.#faults.dropsFor(result.flowId, path.source.ifname),
    ]);
    const others = [...this.#workloads.values()].filter((w) =>
      w.path && w.path !== path && w.report.status === "running" &&
      [w.path.source.host, w.path.target.host].some((h) =>
        h === path.source.host || h === path.target.host
      )
    );
    finished.ledger = buildLedger({
      result: finished,
      outboundDrops,
      returnDrops,
      outboundKernel: difference(targetNow, before.target),
      returnKernel: difference(sourceNow, before.source),
      shared: others.length > 0,
    });
    return finished;
  }

  /**
   * Completes a storm's result: TIME_WAIT sockets it left in its namespace, and how
   * long after the last fault on its host's links ended every client was served again.
   */
  async #finishStorm(
    result: ReconnectStormResult,
    name: string,
    host: string,
  ): Promise<ReconnectStormResult> {
    let timeWait: number | null = null;
    if (this.#plan.network === "namespaces" && this.#ssPath) {
      const pid = this.#agents.get(host)!.pid;
      const out = await runCommand("nsenter", [
        "-t",
        String(pid),
        "-n",
        this.#ssPath,
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
    const endMs = result.startedAt + result.durationMs;
    const links = new Set(
      this.#plan.links.flatMap((l, i) =>
        l.hosts.includes(host) ? [l.hosts.join("-"), String(i)] : []
      ),
    );
    const removals = this.#faults.reports()
      .filter((f) => f.removedAtMs !== null && links.has(f.link.join("-")))
      .map((f) => this.#startEpochMs + f.removedAtMs!)
      .filter((at) => at >= result.startedAt && at <= endMs);
    // An attempt made just before the fault ended may fail up to a timeout later.
    const spec = this.#workloads.get(name)?.report.spec;
    const slackMs = spec?.kind === "reconnectStorm" ? parseDuration(spec.connectTimeout) : 0;
    return {
      ...result,
      timeWait,
      recoveryMs: recoveryAfter(result, Math.max(...removals), slackMs),
    };
  }

  /** Where a probe's datagrams cross: undefined on loopback or off the links. */
  #probePath(host: string, workload: AgentWorkload): ProbePath | undefined {
    if (workload.kind !== "udpProbe" || this.#plan.network !== "namespaces") return undefined;
    const source = this.#plan.hosts.find((h) => h.name === host)!;
    const hop = source.interfaces.find((i) => i.peerAddress === workload.targetAddress);
    if (!hop) return undefined;
    const target = this.#plan.hosts.find((h) => h.name === hop.peerHost)!;
    const targetIf = target.interfaces.find((i) => i.link === hop.link)!;
    const before = Promise.all([this.#kernelDrops(host), this.#kernelDrops(target.name)])
      .then(([s, t]) => ({ source: s, target: t }));
    before.catch(() => {});
    return {
      source: { host, ifname: hop.name },
      target: { host: target.name, ifname: targetIf.name },
      before,
    };
  }

  /** UDP drop counters of a host's namespace, from /proc/net/snmp as seen inside it. */
  async #kernelDrops(host: string): Promise<KernelDrops> {
    const pid = this.#agents.get(host)!.pid;
    const snmp = await runCommand("nsenter", ["-t", String(pid), "-n", "cat", "/proc/net/snmp"]);
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

  async #finiteWorkloadsDone(): Promise<void> {
    const finite = () =>
      [...this.#workloads.values()].filter((w) =>
        w.report.status === "running" && !runsUntilStopped(w.report.spec)
      );
    for (let pending = finite(); pending.length > 0; pending = finite()) {
      await Promise.allSettled(pending.map((w) => w.done));
    }
  }

  async #progress(): Promise<void> {
    const running = [...this.#workloads.values()].filter((w) =>
      w.report.status === "running" && PROGRESS_KINDS.has(w.report.spec.kind)
    );
    if (running.length === 0) return;
    const flows: FlowProgress[] = [];
    for (const w of running) {
      // Without the logs of attempts and failures: they can be long, and are not shown.
      const r = await w.agent.snapshot(w.id, true)?.catch(() => undefined);
      const spec = w.report.spec;
      const figures = r &&
        progressOf(r, spec.kind === "udpProbe" ? parseDuration(spec.timeout) : 0);
      if (figures) flows.push({ name: w.report.name, host: w.report.host, ...figures });
    }
    this.#emit({
      type: "progress",
      scenario: this.#v.scenario.name,
      elapsedMs: performance.now() - this.#startMs,
      flows,
    });
  }

  // --- the scenario function's view ---

  #context(): ScenarioContext {
    return {
      name: this.#v.scenario.name,
      signal: this.#abort.signal,
      hosts: this.#plan.hosts.map((h) => ({
        name: h.name,
        address: h.address,
        interfaces: h.interfaces,
      })),
      address: (host) => {
        const planned = this.#plan.hosts.find((h) => h.name === host);
        if (!planned) {
          const hosts = this.#plan.hosts.map((h) => h.name).join(", ");
          throw new RangeError(`Cannot find host "${host}": hosts are ${hosts}`);
        }
        return planned.address;
      },
      link: (a, b) => this.#link(a, b),
      start: <S extends WorkloadSpec>(name: string, placement: WorkloadPlacement<S>) =>
        this.#start(name, placement) as Promise<HandleOf<S>>,
      workload: (name) => {
        const record = this.#workloads.get(name);
        if (!record) {
          const names = [...this.#workloads.keys()].join(", ") || "none";
          throw new RangeError(`Cannot find workload "${name}": workloads are ${names}`);
        }
        return record.handle;
      },
      program: (name) => {
        const record = this.#workloads.get(name);
        if (record?.report.spec.kind !== "exec") {
          const programs = [...this.#workloads.values()]
            .filter((w) => w.report.spec.kind === "exec").map((w) => w.report.name);
          throw new RangeError(
            `Cannot find program "${name}": programs under test are ${
              programs.join(", ") || "none"
            }`,
          );
        }
        return record.handle as ProgramHandle;
      },
      sleep: (duration) =>
        abortableSleep(parseDuration(duration, "sleep duration"), this.#abort.signal),
      check: (name, ok, detail) => {
        this.#checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
        return ok;
      },
      log: (message) => this.#note(message),
    };
  }

  #link(a: string, b: string): LinkHandle {
    const index = this.#plan.links.findIndex(({ hosts: [x, y] }) =>
      (x === a && y === b) || (x === b && y === a)
    );
    if (index < 0) {
      const links = this.#plan.links.map((l) => l.hosts.join("-")).join(", ") || "none";
      this.#badInput = true;
      throw new ScenarioError([{
        where: `t.link(${JSON.stringify(a)}, ${JSON.stringify(b)})`,
        message: `no link between "${a}" and "${b}" (links: ${links})`,
      }]);
    }
    const reversed = this.#plan.links[index]!.hosts[0] !== a;
    const apply = async (fault: Fault) => {
      if (!this.#dropper) {
        throw new EnvironmentError(
          `Cannot apply "${fault?.kind}" to the link between "${a}" and "${b}": the XDP dropper cannot be loaded here`,
          this.#plan.network === "loopback"
            ? 'faults need network: "namespaces"'
            : "install libbpf1, and rebuild bpf/xdp_drop.o with deno task bpf if it is missing",
        );
      }
      const oriented = reversed && fault?.direction !== "both"
        ? { ...fault, direction: fault.direction === "forward" ? "reverse" : "forward" } as Fault
        : fault;
      try {
        return await this.#faults.apply(index, oriented, `t.link("${a}", "${b}").apply()`);
      } catch (error) {
        if (error instanceof ScenarioError) this.#badInput = true;
        throw error;
      }
    };
    return {
      hosts: [a, b],
      apply,
      during: async (fault, duration) => {
        const ms = parseDuration(duration, "fault duration");
        const applied = await apply(fault);
        try {
          await abortableSleep(ms, this.#abort.signal);
        } finally {
          await applied.remove();
        }
      },
    };
  }

  /**
   * The workload a process belongs to, given its pid and its parents' pids: a program
   * under test by the pid of one of its runs, or the agent's own bind churn on that port
   * by the agent's pid; null if neither.
   */
  #ownerOf(host: string, port: number, pids: number[]): string | null {
    const here = [...this.#workloads.values()].filter((w) => w.report.host === host);
    const program = here.find((w) =>
      w.final?.kind === "exec" && w.final.runs.some((r) => pids.includes(r.pid))
    );
    if (program) return program.report.name;
    if (this.#agents.get(host)?.pid !== pids[0]) return null;
    const churns = here.filter((w) =>
      w.report.spec.kind === "bindChurn" && w.report.spec.port === port
    );
    return churns.length === 1 ? churns[0]!.report.name : null;
  }

  // --- helpers ---

  #untilAborted<T>(promise: Promise<T>): Promise<T> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  #recordError(error: unknown): void {
    if (this.#abort.signal.aborted && error === this.#abort.signal.reason) return;
    if (
      error instanceof DOMException && error.name === "AbortError" && this.#abort.signal.aborted
    ) return;
    if (error instanceof ScenarioError) this.#badInput = true;
    if (error instanceof EnvironmentError) this.#environment = true;
    this.#errors.push(error instanceof Error ? error.message : String(error));
  }

  #emit(event: RunEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // Progress output must never break a run.
    }
  }

  #hostReports(): HostReport[] {
    return this.#plan.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      agentPid: this.#agents.get(h.name)?.pid ?? null,
      interfaces: h.interfaces,
    }));
  }

  #report(startedAt: string): ScenarioReport {
    // Programs under test get the failed binds the bind watch saw of their processes.
    const watch = this.#bindWatch?.status();
    const watching = watch?.active ?? false;
    const bindFailures = watching ? this.#bindWatch!.failures() : null;
    // Counts the watch may have missed some of decide no threshold: not measured.
    const complete = watch !== undefined && watch.lost + watch.untracked === 0;
    for (const f of bindFailures ?? []) {
      f.workload ??= this.#ownerOf(f.host, f.port, [f.pid, ...this.#bindWatch!.ancestorsOf(f)]);
    }
    for (const [name, w] of this.#workloads) {
      if (w.final?.kind === "exec" && bindFailures && complete) {
        w.final.bindFailures = bindFailures.filter((f) => f.workload === name);
      }
    }
    const results = new Map<string, WorkloadResult>();
    for (const [name, w] of this.#workloads) if (w.final) results.set(name, w.final);
    const thresholds = this.#v.thresholds.map((t) => evaluateThreshold(t, results));
    const workloads = [...this.#workloads.values()].map((w) => w.report);
    const failed = this.#checks.some((c) => !c.ok) || thresholds.some((t) => !t.ok) ||
      workloads.some((w) => w.status === "failed");
    let status: ScenarioStatus = failed ? "failed" : "passed";
    let exitCode: ScenarioReport["exitCode"] = failed ? ExitCode.Failed : ExitCode.Pass;
    if (this.#errors.length > 0) {
      status = "error";
      exitCode = this.#badInput
        ? ExitCode.BadInput
        : this.#environment
        ? ExitCode.Environment
        : ExitCode.Failed;
    }
    if (this.#interrupted) {
      status = "interrupted";
      exitCode = ExitCode.Interrupted;
    }
    return {
      schemaVersion: REPORT_SCHEMA_VERSION,
      name: this.#v.scenario.name,
      file: this.#options.file ?? null,
      runId: this.#plan.runId,
      network: this.#plan.network,
      status,
      exitCode,
      startedAt,
      durationMs: performance.now() - this.#startMs,
      setupMs: this.#setupMs,
      hosts: this.#hostReports(),
      links: this.#plan.links,
      workloads,
      faults: this.#faults.reports(),
      checks: this.#checks,
      thresholds,
      errors: this.#errors,
      log: this.#log,
      bindFailures,
      bindWatch: this.#bindWatch?.status() ??
        {
          active: false,
          reason: "no program under test or bind churn ran",
          lost: 0,
          untracked: 0,
        },
    };
  }
}

/** Opens the run's ledger; a machine where none can be written cannot run squall safely. */
function openRunRecord(runId: string): RunRecord {
  try {
    return RunRecord.open(runId);
  } catch (error) {
    throw new EnvironmentError(
      error instanceof Error ? error.message : String(error),
      "squall records what each run starts in /run/squall (or $TMPDIR/squall-runs) for squall clean: make one of them writable",
      { cause: error },
    );
  }
}

/** The absolute path of a program in PATH, or undefined. */
function programPath(name: string): string | undefined {
  const found = findProgram(name, null);
  return typeof found === "string" ? found : undefined;
}

/** Why a program that was waited for failed: a non-zero exit or a signal; undefined if it did not. */
function exitFailure(result: ExecResult): string | undefined {
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
 * How long after `at` (a fault's end, ms since the epoch) every client of a storm was
 * served again: the end of the last unserved period that began before `at + slackMs`
 * (attempts made before `at` may fail up to a timeout later) and ended after `at`; 0 if
 * there is none; null if some client was never served again, or nothing ended.
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

function difference(now: KernelDrops, before: KernelDrops): KernelDrops {
  return {
    receiveBufferOverflow: now.receiveBufferOverflow - before.receiveBufferOverflow,
    noSocket: now.noSocket - before.noSocket,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SquallError(
            `Timed out after ${formatDuration(ms)} waiting for ${what}`,
            ExitCode.Failed,
          ),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
