/**
 * The runner: the only privileged process. It validates a scenario, builds its
 * network, starts one agent per host, runs the workloads and the scenario function,
 * collects results, evaluates thresholds, and tears everything down in reverse order:
 * each release is registered on the run's teardown stack where its resource is made.
 *
 * @module
 */

import { formatDuration } from "../core/duration.ts";
import { AgentError, CommandError, EnvironmentError, ScenarioError } from "../core/errors.ts";
import { isLineFault } from "../scenario/faults.ts";
import type { WorkloadResult } from "../measure/results.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";
import {
  type Scenario,
  type ScenarioContext,
  validateScenario,
  type ValidScenario,
} from "../scenario/scenario.ts";
import { evaluateThreshold } from "../scenario/threshold.ts";
import { linkFaults, newRunId, type Plan, planTopology } from "../scenario/topology.ts";
import { runsUntilStopped } from "../workloads/kinds.ts";
import { BindWatchMonitor } from "./_bind_monitor.ts";
import { LocalPrograms } from "./_local_programs.ts";
import { agentLaunch, dropperFiles, openRunRecord, programPath } from "./_machine.ts";
import { untilAborted, withTimeout } from "./_promises.ts";
import { describeThrown, guardScenarioCode } from "./scenario_guard.ts";
import { WorkloadStarter } from "./_workload_start.ts";
import { RunCgroup } from "./_run_cgroup.ts";
import { describeProcesses, endHostStragglers } from "./_stragglers.ts";
import { flowProgress, type WorkloadRecord } from "./_workload_record.ts";
import { AgentConnection } from "./agent_connection.ts";
import {
  type DropperFiles,
  type HostBackend,
  loopbackBackend,
  namespaceBackend,
} from "./backend.ts";
import { scenarioContext } from "./context.ts";
import { checkEnvironment, needsOf } from "./environment.ts";
import type { RunEvent } from "./events.ts";
import { FaultManager } from "./fault_manager.ts";
import { attributeBindFailures, bindWatchStatus, runStatus } from "./outcome.ts";
import { wireLinks } from "./netns.ts";
import {
  type CheckOutcome,
  type HostReport,
  REPORT_SCHEMA_VERSION,
  type ScenarioReport,
} from "./report.ts";
import type { RunRecord } from "./run_record.ts";

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
   * Aborting it (after `signal`, a second Ctrl-C) stops waiting: workloads get no more
   * time to stop, faults are not waited for and agents are ended at once (their
   * namespaces, links and programs with them); the report still has what was measured,
   * and the run record is removed.
   */
  hurry?: AbortSignal;
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
  checkEnvironment(needsOf(checked.value));
  const run = new Run(checked.value, options, dropperFiles(checked.value));
  return await run.execute();
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
  /** What ends the run, last made first undone: each release is deferred where it is made. */
  readonly #teardown = new AsyncDisposableStack();
  readonly #dropper: DropperFiles | undefined;
  /** libc.so.6 for native echoes; only in namespaces, never on the host's own loopback. */
  readonly #libc: string | undefined;
  readonly #faults: FaultManager;
  readonly #starter: WorkloadStarter;
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
    (id) => this.#cgroup.programCgroup(id),
    (name, ended) =>
      this.#note(
        `Program ${name} left processes running when squall ended it; squall ended them: ${
          describeProcesses(ended)
        }`,
      ),
  );
  /** The cgroup programs under test join, made when the first starts. */
  readonly #cgroup: RunCgroup;
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
    this.#cgroup = new RunCgroup(this.#plan.runId, () => this.#runRecord, (m) => this.#note(m));
    this.#faults = new FaultManager(
      this.#plan,
      (host) => this.#agents.get(host)!,
      () => performance.now() - this.#startMs,
      (event) => this.#emit(event),
      () => this.#startMs,
      {
        iptables: programPath("iptables"),
        nsenter: this.#nsenterPath,
        agentPid: (host) => this.#agents.get(host)!.pid,
      },
    );
    this.#starter = new WorkloadStarter({
      plan: this.#plan,
      hosts: v.hosts,
      workloads: this.#workloads,
      agents: this.#agents,
      programs: this.#programs,
      faults: this.#faults,
      allowRun: this.#allowRun,
      tools: { setpriv: this.#setprivPath, ss: this.#ssPath, nsenter: this.#nsenterPath },
      watchBinds: () => this.#watchBinds(),
      elapsedMs: () => performance.now() - this.#startMs,
      startEpochMs: () => this.#startEpochMs,
      emit: (event) => this.#emit(event),
      note: (message) => this.#note(message),
      badInput: () => {
        this.#badInput = true;
      },
    });
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
    // In a hurry: end every agent now (SIGKILL by pid), and with it what runs on its host.
    const onHurry = () => {
      onUserAbort();
      for (const agent of this.#agents.values()) agent.close(0).catch(() => {});
    };
    this.#options.hurry?.addEventListener("abort", onHurry, { once: true });
    const timedOut = () => {
      if (this.#abort.signal.aborted) return;
      this.#errors.push(`Scenario timed out after ${formatDuration(this.#v.timeoutMs)}`);
      this.#abort.abort(new DOMException("Timed out", "TimeoutError"));
    };
    const timer = setTimeout(timedOut, this.#v.timeoutMs);
    // A function that blocks the event loop keeps the timer from firing: look at the clock.
    const pastTimeout = () => {
      if (performance.now() - this.#startMs > this.#v.timeoutMs) timedOut();
    };
    using _guard = guardScenarioCode((message) => {
      this.#errors.push(message);
      if (!this.#abort.signal.aborted) this.#abort.abort(new Error(message));
    });
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
      const runRecord = this.#runRecord = openRunRecord(this.#plan.runId);
      this.#teardown.defer(() => {
        // A run record whose cgroup is still there stays, for squall clean to try again.
        if (this.#cgroupLeft) {
          this.#note(`The run record is kept for squall clean: ${runRecord.path}`);
        } else runRecord.close();
      });
      await this.#setup();
      this.#teardown.defer(() => this.#stopWorkloads());
      await this.#startDeclared();
      const fn = this.#v.scenario.fn;
      if (fn) await this.#untilAborted(Promise.resolve(fn(this.#context())));
      pastTimeout();
      await this.#untilAborted(this.#finiteWorkloadsDone());
    } catch (error) {
      this.#recordError(error);
    } finally {
      pastTimeout();
      clearTimeout(timer);
      clearInterval(progress);
      this.#options.signal?.removeEventListener("abort", onUserAbort);
      this.#emit({ type: "teardown", scenario: name });
      try {
        await this.#teardown.disposeAsync();
      } finally {
        this.#options.hurry?.removeEventListener("abort", onHurry);
      }
    }
    return this.#report(startedAt);
  }

  // --- setup and teardown ---

  async #setup(): Promise<void> {
    const launches = this.#plan.hosts.map((host) =>
      agentLaunch(this.#v, this.#plan, {
        host,
        dropper: this.#dropper,
        libc: this.#libc,
        ssPath: this.#ssPath,
      })
    );
    for (const launch of launches) this.#allowRun.set(launch.host.name, new Set(launch.allowRun));
    // The agents close together, after what was left in their namespaces is ended.
    this.#teardown.defer(async () => {
      // In a hurry, agents are ended at once (SIGKILL), and their namespaces with them.
      const graceMs = this.#options.hurry?.aborted ? 0 : undefined;
      await Promise.all([...this.#agents.values()].map((a) => a.close(graceMs)));
    });
    this.#teardown.defer(() => this.#endStragglers());
    for (const launch of launches) {
      const child = this.#backend.spawnAgent(launch);
      this.#runRecord?.recordProcess(child.pid, `agent ${launch.host.name}`);
      const agent = new AgentConnection(launch.host.name, child);
      this.#agents.set(launch.host.name, agent);
      // An agent that dies holds its host's namespace and links down with it: whatever runs
      // there (even programs under test only), the run cannot go on as declared.
      agent.died.then((error) => {
        if (this.#abort.signal.aborted) return;
        this.#errors.push(error.message);
        this.#abort.abort(error);
      });
    }
    // From here on programs under test and bind churns may start: the cgroup and the bind
    // watch they make when the first starts are released after the workloads and faults.
    this.#teardown.defer(() => this.#closeCgroup());
    this.#teardown.defer(async () => {
      await this.#bindWatchStarting?.catch(() => {});
      await this.#bindWatch?.stop();
    });
    const ready = Promise.all([...this.#agents.values()].map((a) => a.ready));
    await this.#untilAborted(withTimeout(ready, AGENT_READY_TIMEOUT_MS, "agents to start"));
    if (this.#plan.network === "namespaces") {
      const pids = new Map([...this.#agents].map(([host, agent]) => [host, agent.pid]));
      await this.#untilAborted(wireLinks(this.#plan, pids));
    }
    // Wherever faults can come, the droppers are attached now (their programs have been
    // loading since the agents started, while the links were wired): a fault later is
    // map writes, and takes effect when the scenario says.
    if (this.#dropper && this.#plan.network === "namespaces") {
      // After the faults are removed (deferred below, so undone first).
      this.#teardown.defer(() => this.#faults.close());
      try {
        await this.#untilAborted(this.#faults.attachDroppers(this.#dropper));
      } catch (error) {
        // The kernel or libbpf refused the dropper: the machine, not the scenario.
        if (!(error instanceof AgentError)) throw error;
        throw new EnvironmentError(
          `Cannot attach the XDP dropper: ${error.message}`,
          "check that this kernel supports XDP on veth (squall needs root, BPF and XDP)",
          { cause: error },
        );
      }
    }
    this.#setupMs = performance.now() - this.#startMs;
    this.#emit({
      type: "ready",
      scenario: this.#v.scenario.name,
      hosts: this.#hostReports(),
      setupMs: this.#setupMs,
    });
    // Faults, declared or applied by the scenario function, are removed before the bind
    // watch stops.
    this.#teardown.defer(() =>
      this.#unlessHurried(
        withTimeout(this.#faults.removeAll(), RESULT_GRACE_MS, "faults to be removed"),
      ).catch(() => {})
    );
    for (const [i, link] of this.#v.links.entries()) {
      for (const [j, fault] of linkFaults(link).entries()) {
        try {
          await this.#untilAborted(this.#faults.apply(i, fault, `links[${i}].faults[${j}]`));
        } catch (error) {
          // The kernel or libbpf refused the dropper or the delay line: the machine, not
          // the scenario.
          if (!(error instanceof AgentError || error instanceof CommandError)) throw error;
          throw new EnvironmentError(
            `Cannot apply fault ${j + 1} of link ${i + 1}: ${error.message}`,
            isLineFault(fault)
              ? "check that this kernel has NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE) and that iptables works (squall doctor)"
              : "check that this kernel supports XDP on veth (squall needs root, BPF and XDP)",
            { cause: error },
          );
        }
      }
    }
  }

  /** Stops the workloads still running, and waits a grace period for their results. */
  async #stopWorkloads(): Promise<void> {
    const running = [...this.#workloads.values()].filter((w) => w.report.status === "running");
    for (const w of running) {
      w.stopRequested = true;
      w.agent.stop(w.id);
    }
    await Promise.all(
      running.map((w) =>
        this.#unlessHurried(withTimeout(w.done, RESULT_GRACE_MS, `"${w.report.name}" to stop`))
          .catch(() => {})
      ),
    );
  }

  /** `promise`, or nothing more to wait for once the caller is in a hurry. */
  #unlessHurried<T>(promise: Promise<T>): Promise<T | undefined> {
    const hurry = this.#options.hurry;
    if (!hurry) return promise;
    if (hurry.aborted) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const onHurry = () => resolve(undefined);
      hurry.addEventListener("abort", onHurry, { once: true });
      promise.then(resolve, reject).finally(() => hurry.removeEventListener("abort", onHurry));
    });
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

  /** Ends what programs under test left running, and removes the run's cgroup. */
  async #closeCgroup(): Promise<void> {
    try {
      await this.#cgroup.close();
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
    const pids = new Map([...this.#agents].map(([host, agent]) => [host, agent.pid]));
    for (const message of endHostStragglers(pids)) this.#note(message);
  }

  /** A line in the report's log, shown as the run goes. */
  #note(message: string): void {
    this.#log.push({ atMs: performance.now() - this.#startMs, message });
    this.#emit({ type: "log", message });
  }

  // --- workloads ---

  async #startDeclared(): Promise<void> {
    for (const { name, placement } of this.#v.workloads) {
      await this.#untilAborted(this.#starter.start(name, placement));
    }
  }

  /**
   * Waits until every finite workload (those the scenario function started meanwhile too)
   * has settled; each is waited for once, so a workload whose status never left
   * "running" cannot make this a loop that never yields.
   */
  async #finiteWorkloadsDone(): Promise<void> {
    const waited = new Set<unknown>();
    for (;;) {
      const pending = [...this.#workloads.values()].filter((w) =>
        !waited.has(w) && w.report.status === "running" && !runsUntilStopped(w.report.spec)
      );
      if (pending.length === 0) return;
      await Promise.allSettled(pending.map((w) => w.done));
      for (const w of pending) waited.add(w);
    }
  }

  async #progress(): Promise<void> {
    const flows = await flowProgress(this.#workloads.values());
    if (!flows) return;
    this.#emit({
      type: "progress",
      scenario: this.#v.scenario.name,
      elapsedMs: performance.now() - this.#startMs,
      flows,
    });
  }

  /** The scenario function's `t`. */
  #context(): ScenarioContext {
    return scenarioContext({
      name: this.#v.scenario.name,
      plan: this.#plan,
      signal: this.#abort.signal,
      workloads: this.#workloads,
      faults: this.#faults,
      canDrop: this.#dropper !== undefined,
      checks: this.#checks,
      start: (name, placement) => this.#starter.start(name, placement),
      note: (message) => this.#note(message),
      badInput: () => {
        this.#badInput = true;
      },
    });
  }

  // --- helpers ---

  #untilAborted<T>(promise: Promise<T>): Promise<T> {
    return untilAborted(promise, this.#abort.signal);
  }

  #recordError(error: unknown): void {
    if (this.#abort.signal.aborted && error === this.#abort.signal.reason) return;
    if (
      error instanceof DOMException && error.name === "AbortError" && this.#abort.signal.aborted
    ) return;
    if (error instanceof ScenarioError) this.#badInput = true;
    if (error instanceof EnvironmentError) this.#environment = true;
    this.#errors.push(describeThrown(error));
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
    const bindFailures = attributeBindFailures(this.#bindWatch, this.#workloads, {
      agentPid: (host) => this.#agents.get(host)?.pid,
      programOf: (cgroupIds) => this.#cgroup.programOf(cgroupIds),
    });
    const results = new Map<string, WorkloadResult>();
    for (const [name, w] of this.#workloads) if (w.final) results.set(name, w.final);
    const thresholds = this.#v.thresholds.map((t) => evaluateThreshold(t, results));
    const workloads = [...this.#workloads.values()].map((w) => w.report);
    const { status, exitCode } = runStatus({
      checks: this.#checks,
      thresholds,
      workloads,
      errors: this.#errors,
      badInput: this.#badInput,
      environment: this.#environment,
      interrupted: this.#interrupted,
    });
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
      bindWatch: bindWatchStatus(this.#bindWatch),
    };
  }
}
