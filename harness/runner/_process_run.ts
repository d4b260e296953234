/**
 * One run of a program under test, from spawn to exit: started as the module comment of
 * program.ts describes, watched until its ready condition holds, signalled, ended, its
 * exit and the tails of its output recorded.
 *
 * @module
 */

import type { ExecSettings } from "../agent/protocol.ts";
import { lookupHolders } from "../agent/holders.ts";
import { formatDuration } from "../core/duration.ts";
import { CommandError } from "../core/errors.ts";
import type { PortHolder, ProgramRun } from "../measure/bind_results.ts";
import { OutputTail } from "./_output_tail.ts";
import { joinCgroupPrefix } from "./program_cgroup.ts";

/** `PATH` of a program under test, unless `settings.env` sets one. */
const PROGRAM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** `HOME` of a program under test, unless `settings.env` sets one (agents run as root). */
const PROGRAM_HOME = "/root";
/** `LANG` of a program under test, unless `settings.env` sets one. */
const PROGRAM_LANG = "C.UTF-8";

/** How often `ss` is asked whether a ready port is bound. */
const READY_POLL_MS = 20;
/** Lines of stderr quoted in an error message. */
const ERROR_TAIL_LINES = 20;
/** After a program exits, how long its output may take to arrive (a child may hold the pipes). */
const DRAIN_MS = 250;
/** Signals that do not end a process by default. */
export const NON_ENDING_SIGNALS = new Set<Deno.Signal>([
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

/** `nsenter -t <pid> -n --` when the program runs in another process's network namespace. */
function enterNamespace(settings: ExecSettings): string[] {
  const ns = settings.namespace;
  return ns ? [ns.nsenterPath, "-t", String(ns.pid), "-n", "--"] : [];
}

/** The pattern of a stdout condition; `g` and `y` dropped, they make `test()` stateful. */
export function readyPattern(spec: { source: string; flags: string }): RegExp {
  return new RegExp(spec.source, spec.flags.replace(/[gy]/g, ""));
}

/** Whether a run got ready, and if not why. */
export type ReadyOutcome =
  | { ready: true; address?: string }
  | { ready: false; why: string };

/** One run of the program: from spawn to exit. */
export class ProcessRun {
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
  static spawn(settings: ExecSettings, index: number): ProcessRun {
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
    return new ProcessRun(settings, child, startedAt);
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

/** A socket on a ready port, as `ss` shows it. */
export interface Holder {
  /** Its local address, `ip:port`. */
  local: string;
  /** The processes that hold it (only when asked for). */
  pids: number[];
  /** The processes as `pid 42 "python3"`, or `an unknown process`. */
  owner: string;
}

/** Sockets bound to the port of a ready condition in this namespace, from `ss`. */
export async function portHolders(
  settings: ExecSettings,
  ready: { tcp: number } | { udp: number },
  withProcesses: boolean,
): Promise<Holder[]> {
  const [protocol, port] = "tcp" in ready
    ? ["tcp" as const, ready.tcp]
    : ["udp" as const, ready.udp];
  // TCP: listening sockets. UDP: every socket bound to the port, connected or not.
  const found = await lookupHolders(settings.ssPath, protocol, port, enterNamespace(settings), {
    listening: protocol === "tcp",
    processes: withProcesses,
  });
  // One holder per socket and process: the holders of one socket come one after the other.
  const sockets: { local: string; holders: PortHolder[] }[] = [];
  let last: PortHolder | undefined;
  for (const holder of found) {
    const same = last !== undefined && last.local === holder.local &&
      last.peer === holder.peer && last.state === holder.state;
    if (!same) sockets.push({ local: holder.local, holders: [] });
    sockets[sockets.length - 1]!.holders.push(holder);
    last = holder;
  }
  return sockets.map(({ local, holders }) => {
    const owned = holders.filter((h) => h.pid !== null);
    return {
      local,
      pids: owned.map((h) => h.pid!),
      owner: owned.length > 0
        ? owned.map((h) => `pid ${h.pid} "${h.program}"`).join(", ")
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
export function describeExit(run: ProgramRun): string {
  if (run.signal !== null) return `was killed by ${run.signal}`;
  if (run.exitCode !== null) return `exited with code ${run.exitCode}`;
  return "is still running";
}

/** The command as one line, arguments with spaces quoted, cut at 200 characters. */
export function describeCommand(command: readonly string[]): string {
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
