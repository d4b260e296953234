/**
 * Programs under test: a real program (a server written in any language) started
 * inside a host's namespace, watched until it is ready, restarted or signalled on
 * request, and ended on stop.
 *
 * The runner starts them, not the agents: starting "only this program" with a
 * parent-death signal needs a wrapper (setpriv, nsenter) that would run any program
 * it is given, so an agent allowed to run it could run anything. Agents get no
 * `--allow-run` for programs under test at all.
 *
 * How a program is started:
 * - as `setpriv --pdeathsig KILL -- /bin/sh -c '<join the cgroup>' -- nsenter -t <agent
 *   pid> -n -- <program> <args>`: setpriv sets the parent-death signal, the shell
 *   writes its pid into the run's cgroup (settings.cgroup, see _program_cgroup.ts),
 *   nsenter enters the host's network namespace, and each execs the next in place (same
 *   pid), so the program gets SIGKILL when the runner dies, even when the runner is
 *   SIGKILLed. Its own children do not inherit the parent-death signal, but they are in
 *   the cgroup, whose watchdog ends them all when the runner dies.
 * - in a session and process group of its own (`detached`), so only squall's signals
 *   reach it: not the Ctrl-C of a terminal, which would end it outside of squall's
 *   record.
 * - with a fixed minimal environment (`PATH`, `HOME`, `LANG` below) plus
 *   `settings.env`, whatever the agent's own environment is: the same program sees
 *   the same environment in every run, and a `#!/usr/bin/env python3` script does not
 *   pick up a user's shims.
 * - with stdin from /dev/null; the last lines of its stdout and stderr are kept.
 *
 * Only what squall started is ever signalled: the program's process group, until squall
 * has seen the program exit (its group id is its pid, which the kernel does not give to
 * another process while the group has a member), and what is in its cgroup. Never by
 * name.
 *
 * The runs themselves are in _process_run.ts, the tails of their output in
 * _output_tail.ts.
 *
 * @module
 */

import type { ExecSettings, WorkloadControl } from "../agent/protocol.ts";
import type { RunningWorkload } from "../agent/running.ts";
import { type CgroupProcess, cgroupProcesses, cgroupTree, emptyCgroup } from "./program_cgroup.ts";
import { socketsOf } from "./proc_holders.ts";
import { type BorrowedSockets, borrowUdpSockets } from "./_borrowed_sockets.ts";
import { sleep } from "../core/sleep.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import {
  describeCommand,
  describeExit,
  NON_ENDING_SIGNALS,
  portHolders,
  ProcessRun,
  type ReadyOutcome,
  readyPattern,
} from "./_process_run.ts";

/**
 * Starts a program under test; resolves once it is ready.
 *
 * Ready means: `{ tcp: port }`, a socket listens on that TCP port in this namespace;
 * `{ udp: port }`, a UDP socket is bound to that port; `{ stdout }`, a line of its
 * stdout matches the pattern; no condition, as soon as it has started. Ports are
 * checked by polling `ss` every 20 ms, neither by connecting (the program would see an
 * extra client) nor by binding (its own bind could then fail). When the port is
 * already bound before the program starts, only a socket of the program itself counts.
 *
 * Rejects with a {@linkcode CommandError} that quotes the end of its stderr when the
 * program exits before it is ready, or is not ready within `readyTimeoutMs` (it is then
 * ended as by `stop()` first).
 *
 * Signals go to the program's process group (it leads one of its own), as a terminal's
 * Ctrl-C does: a server behind a wrapper script gets them too. When squall ends a run
 * (restart, stop, a start that failed) and the program has a cgroup of its own
 * (`settings.cgroup`), whatever is left in it is then killed, so a restarted server
 * never finds its port held by a child of the last run.
 *
 * The workload's `done` resolves with the result when the program exits by itself,
 * whatever its exit code or signal (the runner decides what a failure is), or when
 * `stop()` has ended it. `control()` restarts it (a new run, ready again before the
 * call resolves) or sends it a signal; when a signal from squall ends it, `done` stays
 * pending so that a restart can bring it back.
 *
 * @example
 * ```ts
 * import { startProgram } from "./program.ts";
 * const program = await startProgram({
 *   command: ["/usr/bin/sleep", "60"],
 *   ready: null,
 *   readyTimeoutMs: 1000,
 *   env: {},
 *   cwd: null,
 *   stopTimeoutMs: 1000,
 *   setprivPath: "/usr/bin/setpriv",
 *   ssPath: "/usr/bin/ss",
 *   namespace: null,
 *   cgroup: null,
 * });
 * const result = await program.stop();
 * console.assert(result.runs[0]!.signal === "SIGTERM");
 * ```
 */
export async function startProgram(
  settings: ExecSettings,
  onSpawn?: (pid: number) => void,
  options: StartProgramOptions = {},
): Promise<RunningWorkload<ExecResult>> {
  validate(settings);
  const program = new Program(settings, onSpawn, options.onLeftovers);
  // A stop before it is ready: the start then rejects ("was stopped before it was ready").
  const onAbort = () => void program.workload().stop();
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await program.start();
  } catch (error) {
    // It ran, even if it never got ready: what its runs were goes with the error.
    if (typeof error === "object" && error !== null) {
      failedStarts.set(error, await program.workload().snapshot());
    }
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return program.workload();
}

const failedStarts = new WeakMap<object, ExecResult>();

/** How long after a kill squall waits for the program to exit before it reads its queues. */
const QUEUE_WAIT_MS = 2_000;

/**
 * What a program that failed to start did (its runs: pids, exit, stderr tail), given
 * the error its start rejected with; undefined for any other error.
 */
export function failedStartResult(error: unknown): ExecResult | undefined {
  return typeof error === "object" && error !== null ? failedStarts.get(error) : undefined;
}

/** Options of {@linkcode startProgram}. */
export interface StartProgramOptions {
  /** Ends the program (as `stop()` does) even before it is ready. */
  signal?: AbortSignal;
  /**
   * Hears of the processes a run of the program left in its cgroup (`settings.cgroup`)
   * once squall had ended it (a restart, a stop, a start that failed): squall ends them.
   */
  onLeftovers?: (ended: CgroupProcess[]) => void;
}

function validate(settings: ExecSettings): void {
  const { command, setprivPath, ssPath, ready } = settings;
  if (
    !Array.isArray(command) || command.length === 0 ||
    !command.every((c) => typeof c === "string") || !command[0]!.startsWith("/")
  ) {
    throw new TypeError(
      `Cannot start program ${JSON.stringify(command)}: expected an absolute path first`,
    );
  }
  for (const [name, path] of [["setprivPath", setprivPath], ["ssPath", ssPath]]) {
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new TypeError(`Cannot start program: ${name} must be an absolute path, got ${path}`);
    }
  }
  for (
    const [name, ms] of [
      ["readyTimeoutMs", settings.readyTimeoutMs],
      ["stopTimeoutMs", settings.stopTimeoutMs],
    ] as const
  ) {
    if (!(ms > 0)) throw new RangeError(`Cannot start program: ${name} must be above 0, got ${ms}`);
  }
  if (ready && "stdout" in ready) readyPattern(ready.stdout); // throws SyntaxError if invalid
}

/** A program under test across its runs. */
class Program {
  readonly #settings: ExecSettings;
  readonly #result: ExecResult;
  readonly #done = Promise.withResolvers<ExecResult>();
  #doneSettled = false;
  #current: ProcessRun | undefined;
  #address = "";
  /** Restarts and kills, one after the other. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Counting what a kill left queued in the program's group sockets: the result waits for it. */
  #counting: Promise<void> = Promise.resolve();
  #stopping: Promise<ExecResult> | undefined;
  readonly #abort = new AbortController();

  readonly #onSpawn: ((pid: number) => void) | undefined;
  readonly #onLeftovers: ((ended: CgroupProcess[]) => void) | undefined;
  readonly #endings = new WeakMap<ProcessRun, Promise<void>>();

  constructor(
    settings: ExecSettings,
    onSpawn?: (pid: number) => void,
    onLeftovers?: (ended: CgroupProcess[]) => void,
  ) {
    this.#onSpawn = onSpawn;
    this.#onLeftovers = onLeftovers;
    this.#settings = settings;
    this.#result = { kind: "exec", command: [...settings.command], runs: [], orphans: [] };
    this.#done.promise.catch(() => {});
  }

  /** Starts the first run. */
  async start(): Promise<void> {
    await this.#startRun();
  }

  workload(): RunningWorkload<ExecResult> {
    return {
      address: this.#address,
      done: this.#done.promise,
      snapshot: () => this.#snapshot(),
      stop: () => this.#stop(),
      control: (control) => this.#control(control),
    };
  }

  #snapshot(): ExecResult {
    return {
      kind: "exec",
      command: [...this.#result.command],
      orphans: (this.#result.orphans ?? []).map((o) => ({ ...o, ports: [...o.ports] })),
      runs: this.#result.runs.map((r) => ({
        ...r,
        stdoutTail: [...r.stdoutTail],
        stderrTail: [...r.stderrTail],
      })),
      ...(this.#result.queuedAtKill
        ? {
          queuedAtKill: this.#result.queuedAtKill.map((q) => ({
            ...q,
            flows: q.flows.map((f) => ({ ...f })),
          })),
        }
        : {}),
    };
  }

  #stop(keepChildren = false): Promise<ExecResult> {
    if (this.#doneSettled) return this.#done.promise;
    this.#stopping ??= (async () => {
      this.#abort.abort();
      await this.#queue.catch(() => {});
      if (this.#current) await this.#endRun(this.#current, keepChildren);
      this.#settle();
      return await this.#done.promise;
    })();
    return this.#stopping;
  }

  #control(control: WorkloadControl): Promise<void> {
    // A stop waits for the queue itself: it does not queue behind it.
    if (control.action === "stop") return this.#stop(control.keepChildren).then(() => {});
    const next = this.#queue.catch(() => {}).then(() => {
      if (this.#stopping || this.#doneSettled) {
        throw new Error(
          `Cannot ${describeControl(control)} program ${this.#name()}: it has ${
            this.#stopping ? "been stopped" : "exited"
          }`,
        );
      }
      switch (control.action) {
        case "restart":
          return this.#restart(control.keepChildren ?? false);
        case "kill":
          return this.#kill(control.signal);
        default:
          throw new TypeError(
            `Unknown control of program ${this.#name()}: ${JSON.stringify(control)}`,
          );
      }
    });
    this.#queue = next;
    return next;
  }

  async #restart(keepChildren: boolean): Promise<void> {
    if (this.#current) await this.#endRun(this.#current, keepChildren);
    await this.#startRun();
  }

  /**
   * Ends a run as squall does, then what it left in the program's cgroup; once per run (a
   * stop while the start ends a run that never got ready asks twice).
   */
  #endRun(run: ProcessRun, keepChildren = false): Promise<void> {
    let ending = this.#endings.get(run);
    if (ending === undefined) {
      ending = (async () => {
        // What its UDP sockets hold when it ends is counted, not lost unexplained.
        const held = run.running && !keepChildren ? borrowUdpSockets(this.#pids(run)) : null;
        const atMs = Date.now();
        await run.end(this.#settings.stopTimeoutMs);
        if (held) await this.#countQueuedAtKill(run, held, atMs);
        const cgroup = this.#settings.cgroup;
        if (cgroup === null) return;
        if (keepChildren) {
          // KillMode=process: what outlived the program's process group stays, with its
          // sockets, until the run ends (the run's cgroup is emptied then).
          const atMs = Date.now();
          const index = this.#result.runs.indexOf(run.record);
          for (const p of cgroupTree(cgroup).flatMap(cgroupProcesses)) {
            this.#result.orphans!.push({ ...p, ports: socketsOf(p.pid), atMs, run: index });
          }
          return;
        }
        const ended = await emptyCgroup(cgroup);
        if (ended.length > 0) this.#onLeftovers?.(ended);
      })();
      this.#endings.set(run, ending);
    }
    return ending;
  }

  async #kill(signal: Deno.Signal): Promise<void> {
    const run = this.#current;
    if (run?.running) {
      const held = NON_ENDING_SIGNALS.has(signal) ? null : borrowUdpSockets(this.#pids(run));
      const atMs = Date.now();
      run.signal(signal);
      if (held) {
        this.#counting = this.#countQueuedAtKill(run, held, atMs);
        await this.#counting;
      }
      return;
    }
    await run?.exited;
    const how = run ? ` (it ${describeExit(run.record)})` : "";
    throw new Error(`Cannot send ${signal} to program ${this.#name()}: it is not running${how}`);
  }

  /** The processes of a run: its cgroup's, or the program's own when it has none. */
  #pids(run: ProcessRun): number[] {
    const cgroup = this.#settings.cgroup;
    const inGroup = cgroup === null
      ? []
      : cgroupTree(cgroup).flatMap(cgroupProcesses).map((p) => p.pid);
    return inGroup.length > 0 ? inGroup : [run.record.pid];
  }

  /**
   * Once the ended run has exited (at most {@linkcode QUEUE_WAIT_MS}), reads what was
   * queued in its UDP sockets, held across the kill, restart or stop, into the result.
   */
  async #countQueuedAtKill(run: ProcessRun, held: BorrowedSockets, atMs: number): Promise<void> {
    const waiting = new AbortController();
    const exited = await Promise.race([
      run.exited.then(() => true),
      sleep(QUEUE_WAIT_MS, waiting.signal).then(() => false, () => false),
    ]);
    waiting.abort();
    const queued = held.finish(exited);
    if (queued === null) return;
    (this.#result.queuedAtKill ??= []).push({
      atMs,
      run: this.#result.runs.indexOf(run.record),
      ...queued,
    });
  }

  /** Starts a run and waits until it is ready; ends it and throws if it never is. */
  async #startRun(): Promise<void> {
    const settings = this.#settings;
    const ready = settings.ready;
    // Someone else on the port before the program starts: only the program's own
    // socket counts (an orphaned child of the last run, another workload).
    let heldBefore: string | undefined;
    if (ready && !("stdout" in ready)) {
      const held = await portHolders(settings, ready, true);
      if (held.length > 0) heldBefore = held.map((h) => h.owner).join(", ");
    }
    if (this.#abort.signal.aborted) {
      const again = this.#result.runs.length > 0 ? " again" : "";
      throw new Error(`Program ${this.#name()} was stopped before it could start${again}`);
    }
    const run = ProcessRun.spawn(settings, this.#result.runs.length);
    this.#onSpawn?.(run.record.pid);
    this.#current = run;
    this.#result.runs.push(run.record);
    // A run that was ready and exits by itself ends the workload. One that never got
    // ready fails its start instead; one that squall ended waits for a restart or stop.
    run.exited.then(() => this.#counting).then(() => {
      if (this.#current === run && run.record.readyMs !== null && !run.record.endedBySquall) {
        this.#settle();
      }
    });
    let outcome: ReadyOutcome;
    try {
      outcome = await run.waitReady(heldBefore, this.#abort.signal);
    } catch (error) {
      await this.#endRun(run);
      throw error;
    }
    if (outcome.ready) {
      if (outcome.address !== undefined && this.#address === "") this.#address = outcome.address;
      return;
    }
    await this.#endRun(run);
    throw run.failure(outcome.why);
  }

  #settle(): void {
    if (this.#doneSettled) return;
    this.#doneSettled = true;
    this.#done.resolve(this.#snapshot());
  }

  #name(): string {
    return `"${describeCommand(this.#settings.command)}"`;
  }
}

function describeControl(control: WorkloadControl): string {
  return control.action === "kill" ? `send ${control.signal} to` : control.action;
}
