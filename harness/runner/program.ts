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
 * @module
 */

import type { ExecSettings, WorkloadControl } from "../agent/protocol.ts";
import type { RunningWorkload } from "../agent/running.ts";
import { formatDuration } from "../core/duration.ts";
import { type CgroupProcess, emptyCgroup, joinCgroupPrefix } from "./program_cgroup.ts";
import { CommandError } from "../core/errors.ts";
import type { ExecResult, ProgramRun } from "../measure/results.ts";

/** `PATH` of a program under test, unless `settings.env` sets one. */
const PROGRAM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** `HOME` of a program under test, unless `settings.env` sets one (agents run as root). */
const PROGRAM_HOME = "/root";
/** `LANG` of a program under test, unless `settings.env` sets one. */
const PROGRAM_LANG = "C.UTF-8";
/** Lines kept of a program's stdout and of its stderr. */
const TAIL_LINES = 50;
/** Longest line kept; a longer one is cut there and ends in "…". */
const MAX_LINE_CHARS = 1000;

/** How often `ss` is asked whether a ready port is bound. */
const READY_POLL_MS = 20;
/** Lines of stderr quoted in an error message. */
const ERROR_TAIL_LINES = 20;
/** After a program exits, how long its output may take to arrive (a child may hold the pipes). */
const DRAIN_MS = 250;
/** Signals that do not end a process by default. */
const NON_ENDING_SIGNALS = new Set<Deno.Signal>([
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGCONT",
  "SIGCHLD",
  "SIGURG",
  "SIGWINCH",
]);
const STOPPING_SIGNALS = new Set<Deno.Signal>(["SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU"]);

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
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return program.workload();
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

/** `nsenter -t <pid> -n --` when the program runs in another process's network namespace. */
function enterNamespace(settings: ExecSettings): string[] {
  const ns = settings.namespace;
  return ns ? [ns.nsenterPath, "-t", String(ns.pid), "-n", "--"] : [];
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

/** The pattern of a stdout condition; `g` and `y` dropped, they make `test()` stateful. */
function readyPattern(spec: { source: string; flags: string }): RegExp {
  return new RegExp(spec.source, spec.flags.replace(/[gy]/g, ""));
}

/** A program under test across its runs. */
class Program {
  readonly #settings: ExecSettings;
  readonly #result: ExecResult;
  readonly #done = Promise.withResolvers<ExecResult>();
  #doneSettled = false;
  #current: Run | undefined;
  #address = "";
  /** Restarts and kills, one after the other. */
  #queue: Promise<unknown> = Promise.resolve();
  #stopping: Promise<ExecResult> | undefined;
  readonly #abort = new AbortController();

  readonly #onSpawn: ((pid: number) => void) | undefined;
  readonly #onLeftovers: ((ended: CgroupProcess[]) => void) | undefined;
  readonly #endings = new WeakMap<Run, Promise<void>>();

  constructor(
    settings: ExecSettings,
    onSpawn?: (pid: number) => void,
    onLeftovers?: (ended: CgroupProcess[]) => void,
  ) {
    this.#onSpawn = onSpawn;
    this.#onLeftovers = onLeftovers;
    this.#settings = settings;
    this.#result = { kind: "exec", command: [...settings.command], runs: [] };
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
      runs: this.#result.runs.map((r) => ({
        ...r,
        stdoutTail: [...r.stdoutTail],
        stderrTail: [...r.stderrTail],
      })),
    };
  }

  #stop(): Promise<ExecResult> {
    if (this.#doneSettled) return this.#done.promise;
    this.#stopping ??= (async () => {
      this.#abort.abort();
      await this.#queue.catch(() => {});
      if (this.#current) await this.#endRun(this.#current);
      this.#settle();
      return await this.#done.promise;
    })();
    return this.#stopping;
  }

  #control(control: WorkloadControl): Promise<void> {
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
          return this.#restart();
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

  async #restart(): Promise<void> {
    if (this.#current) await this.#endRun(this.#current);
    await this.#startRun();
  }

  /**
   * Ends a run as squall does, then what it left in the program's cgroup; once per run (a
   * stop while the start ends a run that never got ready asks twice).
   */
  #endRun(run: Run): Promise<void> {
    let ending = this.#endings.get(run);
    if (ending === undefined) {
      ending = (async () => {
        await run.end(this.#settings.stopTimeoutMs);
        const cgroup = this.#settings.cgroup;
        if (cgroup === null) return;
        const ended = await emptyCgroup(cgroup);
        if (ended.length > 0) this.#onLeftovers?.(ended);
      })();
      this.#endings.set(run, ending);
    }
    return ending;
  }

  async #kill(signal: Deno.Signal): Promise<void> {
    const run = this.#current;
    if (run?.running) return run.signal(signal);
    await run?.exited;
    const how = run ? ` (it ${describeExit(run.record)})` : "";
    throw new Error(`Cannot send ${signal} to program ${this.#name()}: it is not running${how}`);
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
      throw new Error(`Program ${this.#name()} was stopped before it could start again`);
    }
    const run = Run.spawn(settings, this.#result.runs.length);
    this.#onSpawn?.(run.record.pid);
    this.#current = run;
    this.#result.runs.push(run.record);
    // A run that was ready and exits by itself ends the workload. One that never got
    // ready fails its start instead; one that squall ended waits for a restart or stop.
    run.exited.then(() => {
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

type ReadyOutcome =
  | { ready: true; address?: string }
  | { ready: false; why: string };

/** One run of the program: from spawn to exit. */
class Run {
  /** What is reported of it; filled in as it goes. */
  readonly record: ProgramRun;
  /** Resolves once it has exited, its output is read and `record` is complete. */
  readonly exited: Promise<void>;
  readonly #settings: ExecSettings;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: OutputTail;
  readonly #stderr: OutputTail;
  readonly #startedMs: number;
  readonly #matched = Promise.withResolvers<void>();
  #isMatched = false;
  #exitSeen = false;
  #ended = false;
  #squallEnding = false;
  #signalled = new Set<Deno.Signal>();
  #lastEndingSignalMs: number | undefined;
  #frozen = false;
  #ending: Promise<void> | undefined;

  private constructor(settings: ExecSettings, child: Deno.ChildProcess, startedAt: number) {
    this.#settings = settings;
    this.#child = child;
    this.#startedMs = performance.now();
    const ready = settings.ready;
    const pattern = ready && "stdout" in ready ? readyPattern(ready.stdout) : undefined;
    this.#stdout = new OutputTail(
      child.stdout,
      pattern &&
        ((line) => {
          if (this.#isMatched || !pattern.test(line)) return;
          this.#isMatched = true;
          this.#matched.resolve();
        }),
    );
    this.#stderr = new OutputTail(child.stderr);
    this.record = {
      pid: child.pid,
      startedAt,
      readyMs: null,
      endedAt: null,
      exitCode: null,
      signal: null,
      endedBySquall: false,
      stdoutTail: this.#stdout.lines,
      stderrTail: this.#stderr.lines,
    };
    this.exited = this.#watch();
  }

  /** Spawns the program; throws a {@linkcode CommandError} if it cannot be started. */
  static spawn(settings: ExecSettings, index: number): Run {
    const env: Record<string, string> = {
      PATH: PROGRAM_PATH,
      HOME: PROGRAM_HOME,
      LANG: PROGRAM_LANG,
      ...settings.env,
    };
    const options: Deno.CommandOptions = {
      args: [
        "--pdeathsig",
        "KILL",
        "--",
        ...(settings.cgroup === null ? [] : joinCgroupPrefix(settings.cgroup)),
        ...enterNamespace(settings),
        ...settings.command,
      ],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    };
    if (settings.cwd !== null) options.cwd = settings.cwd;
    const startedAt = Date.now();
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(settings.setprivPath, options).spawn();
    } catch (error) {
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new CommandError(
        `Cannot start program "${describeCommand(settings.command)}"${
          index > 0 ? ` again (run ${index + 1})` : ""
        }: ${detail}`,
        settings.command,
        null,
        "",
        { cause: error },
      );
    }
    return new Run(settings, child, startedAt);
  }

  /** Whether it still runs (it has not exited, as far as squall knows). */
  get running(): boolean {
    return !this.#exitSeen;
  }

  /** Sends a signal to it, for `control({ action: "kill" })`. */
  signal(signal: Deno.Signal): void {
    this.#send(signal);
  }

  /**
   * Ends it as `stop()` does: SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves once
   * it has exited. Does nothing more if it already has.
   */
  end(stopTimeoutMs: number): Promise<void> {
    if (this.#exitSeen) return this.exited;
    this.#ending ??= (async () => {
      this.#squallEnding = true;
      this.#send("SIGTERM");
      // A program squall froze gets the TERM only once it runs again.
      if (this.#frozen) this.#send("SIGCONT");
      if (!await settlesWithin(this.exited, stopTimeoutMs)) this.#send("SIGKILL");
      await this.exited;
    })();
    return this.#ending;
  }

  /** Waits until its ready condition holds, it exits, the timeout passes or `abort` fires. */
  async waitReady(heldBefore: string | undefined, abort: AbortSignal): Promise<ReadyOutcome> {
    const wake = Promise.withResolvers<void>();
    const onAbort = () => wake.resolve();
    abort.addEventListener("abort", onAbort, { once: true });
    try {
      return await this.#pollReady(heldBefore, abort, wake.promise);
    } finally {
      abort.removeEventListener("abort", onAbort);
    }
  }

  async #pollReady(
    heldBefore: string | undefined,
    abort: AbortSignal,
    aborted: Promise<void>,
  ): Promise<ReadyOutcome> {
    const settings = this.#settings;
    const ready = settings.ready;
    const deadline = this.#startedMs + settings.readyTimeoutMs;
    const timeout = formatDuration(settings.readyTimeoutMs);
    for (;;) {
      if (ready === null) return this.#ready();
      if ("stdout" in ready) {
        if (this.#isMatched) return this.#ready();
      } else {
        const holders = await portHolders(settings, ready, heldBefore !== undefined);
        const own = heldBefore === undefined
          ? holders[0]
          : holders.find((h) => h.pids.includes(this.record.pid));
        if (own) return this.#ready(own.local);
      }
      // Stopped first: the stop's own SIGTERM may have ended it by now.
      if (abort.aborted) return { ready: false, why: "was stopped before it was ready" };
      if (this.#ended) {
        return { ready: false, why: `${describeExit(this.record)} before it was ready` };
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        return {
          ready: false,
          why: `was not ready after ${timeout}: ${notReadyDetail(ready, heldBefore)}`,
        };
      }
      const pause = "stdout" in ready ? left : Math.min(READY_POLL_MS, left);
      await settlesWithin(Promise.race([this.exited, aborted, this.#matched.promise]), pause);
    }
  }

  /** The error of a run that never became ready. */
  failure(why: string): CommandError {
    const tail = this.record.stderrTail.slice(-ERROR_TAIL_LINES);
    while (tail.length > 0 && tail[tail.length - 1]!.trim() === "") tail.pop();
    return new CommandError(
      `Program "${describeCommand(this.#settings.command)}" ${why}; ${
        tail.length > 0 ? "its stderr ended with:" : "it wrote nothing to stderr"
      }`,
      this.#settings.command,
      this.record.exitCode,
      tail.join("\n"),
    );
  }

  #ready(address?: string): ReadyOutcome {
    this.record.readyMs = Math.round((performance.now() - this.#startedMs) * 1000) / 1000;
    return address === undefined ? { ready: true } : { ready: true, address };
  }

  #send(signal: Deno.Signal): void {
    if (this.#exitSeen) return;
    try {
      // To its process group (detached: it leads its own, pgid = its pid, which stays
      // taken while the group has a member): a wrapper script's children get it too.
      Deno.kill(-this.record.pid, signal);
    } catch (error) {
      // The whole group is gone: the exit watcher records the exit.
      if (error instanceof Deno.errors.NotFound) return;
      // Deno.kill() needs --allow-run for everything; with a scoped --allow-run, only
      // the program itself can be signalled, through its handle.
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
      try {
        this.#child.kill(signal);
      } catch (error) {
        // Exited (and reaped) since: the exit watcher records it.
        if (!(error instanceof TypeError && /already terminated/.test(error.message))) throw error;
        return;
      }
    }
    this.#signalled.add(signal);
    if (!NON_ENDING_SIGNALS.has(signal)) this.#lastEndingSignalMs = performance.now();
    if (STOPPING_SIGNALS.has(signal)) this.#frozen = true;
    if (signal === "SIGCONT") this.#frozen = false;
  }

  async #watch(): Promise<void> {
    const status = await this.#child.status;
    this.#exitSeen = true;
    const endedMs = performance.now();
    const endedAt = Date.now();
    // Its output up to the exit; a child it left behind may hold the pipes open.
    const reading = Promise.all([this.#stdout.done, this.#stderr.done]);
    if (!await settlesWithin(reading, DRAIN_MS)) {
      await Promise.all([this.#stdout.cancel(), this.#stderr.cancel()]);
    }
    await reading;
    const r = this.record;
    r.endedAt = endedAt;
    r.signal = status.signal;
    r.exitCode = status.signal === null ? status.code : null;
    r.endedBySquall = this.#squallEnding ||
      (status.signal !== null && this.#signalled.has(status.signal)) ||
      (this.#lastEndingSignalMs !== undefined &&
        endedMs - this.#lastEndingSignalMs <= this.#settings.stopTimeoutMs);
    this.#ended = true;
  }
}

/**
 * Reads a program's stdout or stderr to its end and keeps its last
 * {@linkcode TAIL_LINES} lines, each at most {@linkcode MAX_LINE_CHARS} long: memory
 * stays bounded whatever the program writes.
 */
class OutputTail {
  /** The lines kept, oldest first (the same array all along). */
  readonly lines: string[] = [];
  /** Resolves once the stream has ended or been cancelled. */
  readonly done: Promise<void>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #onLine: ((line: string) => void) | undefined;
  readonly #decoder = new TextDecoder();
  #partial = "";
  #cut = false;

  constructor(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void) {
    this.#reader = stream.getReader();
    this.#onLine = onLine;
    this.done = this.#read();
  }

  /** Stops reading (a child the program left behind holds the pipe). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#add(this.#decoder.decode(value, { stream: true }));
      }
    } catch {
      // The pipe failed or was cancelled: keep what came.
    }
    this.#add(this.#decoder.decode());
    // A last line without a newline counts too.
    if (this.#partial !== "" || this.#cut) this.#emit();
  }

  #add(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      this.#append(text.slice(start, newline < 0 ? text.length : newline));
      if (newline < 0) return;
      this.#emit();
      start = newline + 1;
    }
  }

  #append(piece: string): void {
    if (this.#cut || piece === "") return;
    this.#partial += piece;
    if (this.#partial.length > MAX_LINE_CHARS) {
      this.#partial = this.#partial.slice(0, MAX_LINE_CHARS);
      this.#cut = true;
    }
  }

  #emit(): void {
    let line = this.#partial.endsWith("\r") ? this.#partial.slice(0, -1) : this.#partial;
    if (this.#cut) line += "…";
    this.#partial = "";
    this.#cut = false;
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    this.#onLine?.(line);
  }
}

/** A socket on a ready port, as `ss` shows it. */
interface Holder {
  /** Its local address, `ip:port`. */
  local: string;
  /** The processes that hold it (only when asked for). */
  pids: number[];
  /** The processes as `pid 42 "python3"`, or `an unknown process`. */
  owner: string;
}

/** Sockets bound to the port of a ready condition in this namespace, from `ss`. */
async function portHolders(
  settings: ExecSettings,
  ready: { tcp: number } | { udp: number },
  withProcesses: boolean,
): Promise<Holder[]> {
  const [protocol, port] = "tcp" in ready ? ["tcp", ready.tcp] : ["udp", ready.udp];
  // TCP: listening sockets. UDP: every socket bound to the port, connected or not.
  const args = ["-H", "-n", protocol === "tcp" ? "-l" : "-a", protocol === "tcp" ? "-t" : "-u"];
  if (withProcesses) args.push("-p");
  args.push("sport", "=", `:${port}`);
  const [program, ...rest] = [...enterNamespace(settings), settings.ssPath, ...args];
  const output = await new Deno.Command(program!, {
    args: rest,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    const command = [...enterNamespace(settings), settings.ssPath, ...args];
    throw new CommandError(
      `Cannot see whether ${protocol} port ${port} is bound: "${
        command.join(" ")
      }" exited with code ${output.code}`,
      command,
      output.code,
      decoder.decode(output.stderr).trim(),
    );
  }
  return decoder.decode(output.stdout).split("\n").filter((l) => l.trim() !== "").map((line) => {
    const fields = line.trim().split(/\s+/);
    const owners = [...line.matchAll(/\("([^"]*)",pid=(\d+)/g)];
    return {
      local: fields[3] ?? "",
      pids: owners.map((m) => Number(m[2])),
      owner: owners.length > 0
        ? owners.map((m) => `pid ${m[2]} "${m[1]}"`).join(", ")
        : "an unknown process",
    };
  });
}

function notReadyDetail(
  ready: { tcp: number } | { udp: number } | { stdout: { source: string; flags: string } },
  heldBefore: string | undefined,
): string {
  if ("stdout" in ready) {
    return `no line of its stdout matched /${ready.stdout.source}/${ready.stdout.flags}`;
  }
  const [what, never] = "tcp" in ready
    ? [`tcp port ${ready.tcp}`, "never listened"]
    : [`udp port ${ready.udp}`, "was never bound"];
  return heldBefore === undefined
    ? `${what} ${never}`
    : `${what} was already held by ${heldBefore} before it started, and it never held it itself`;
}

/** How a run ended: `exited with code 3`, `was killed by SIGSEGV`. */
function describeExit(run: ProgramRun): string {
  if (run.signal !== null) return `was killed by ${run.signal}`;
  if (run.exitCode !== null) return `exited with code ${run.exitCode}`;
  return "is still running";
}

function describeControl(control: WorkloadControl): string {
  return control.action === "kill" ? `send ${control.signal} to` : control.action;
}

/** The command as one line, arguments with spaces quoted, cut at 200 characters. */
function describeCommand(command: readonly string[]): string {
  const line = command.map((c) => /^[\w./:=@%+,-]+$/.test(c) ? c : JSON.stringify(c)).join(" ");
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** Whether `promise` settles within `ms`; never rejects. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
