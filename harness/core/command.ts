/**
 * The one way squall runs a command for its result: {@linkcode runCommand} throws a
 * {@linkcode CommandError} with the tail of its stderr when it fails, times out or cannot
 * be started, can be cancelled with a signal, and on request (`noThrow`) returns a
 * non-zero exit instead of throwing it.
 *
 * Long-lived children (agents, programs under test, the cgroup watchdog) are spawned with
 * `Deno.Command(...).spawn()` where they are kept, not here.
 *
 * @module
 */

import { CommandError } from "./errors.ts";

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Text written to the command's stdin; without it, stdin is /dev/null. */
  stdin?: string;
  /**
   * The command is killed (SIGTERM) after this long, and the call throws.
   * @default {10000}
   */
  timeoutMs?: number;
  /**
   * Cancels the command: it is killed (SIGTERM) and the call rejects with the signal's
   * reason.
   */
  signal?: AbortSignal;
  /**
   * Resolve with a {@linkcode CommandOutput} whatever the exit code or signal, instead of
   * throwing on a non-zero exit. A timeout, a cancel or a command that cannot be started
   * still throws.
   * @default {false}
   */
  noThrow?: boolean;
}

/** What a command run with `noThrow` ended with. */
export interface CommandOutput {
  /** Its exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null when it exited. */
  signal: Deno.Signal | null;
  /** All of its stdout, decoded as UTF-8. */
  stdout: string;
  /** All of its stderr, decoded as UTF-8. */
  stderr: string;
}

/** Lines of stderr quoted in a {@linkcode CommandError}. */
const STDERR_TAIL_LINES = 12;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Runs `command` with `args`; resolves with its stdout, throws a
 * {@linkcode CommandError} on a non-zero exit (or, with `noThrow`, resolves with its
 * {@linkcode CommandOutput}).
 *
 * @example
 * ```ts
 * import { runCommand } from "./command.ts";
 * const out = await runCommand("echo", ["hello"]);
 * console.assert(out.trim() === "hello");
 * const failed = await runCommand("sh", ["-c", "exit 3"], { noThrow: true });
 * console.assert(failed.code === 3 && failed.signal === null);
 * ```
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options?: RunCommandOptions & { noThrow?: false },
): Promise<string>;
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions & { noThrow: true },
): Promise<CommandOutput>;
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<string | CommandOutput> {
  const argv = [command, ...args];
  const line = argv.join(" ");
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) {
    throw new RangeError(`Cannot run "${line}": timeoutMs must be above 0, got ${timeoutMs}`);
  }
  options.signal?.throwIfAborted();
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let output: Deno.CommandOutput;
  try {
    const child = new Deno.Command(command, {
      args: [...args],
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    if (options.stdin !== undefined) {
      // A command that exits without reading its stdin closes the pipe: not an error here.
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    output = await child.output();
  } catch (error) {
    throw new CommandError(
      `Cannot run "${line}": ${(error as Error).message}`,
      argv,
      null,
      "",
      { cause: error },
    );
  }
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  const stderr = decoder.decode(output.stderr);
  const tail = tailLines(stderr, STDERR_TAIL_LINES);
  const code = output.signal === null ? output.code : null;
  if (options.signal?.aborted) throw options.signal.reason;
  if (timeout.aborted) {
    throw new CommandError(`Command "${line}" timed out after ${timeoutMs} ms`, argv, code, tail);
  }
  if (options.noThrow) return { code, signal: output.signal, stdout, stderr };
  if (!output.success) {
    const how = output.signal ? `was killed by ${output.signal}` : `exited with code ${code}`;
    throw new CommandError(`Command "${line}" ${how}`, argv, code, tail);
  }
  return stdout;
}

/**
 * The last `count` lines of a text, trailing blank lines dropped.
 *
 * @example
 * ```ts
 * import { tailLines } from "./command.ts";
 * console.assert(tailLines("a\nb\nc\n", 2) === "b\nc");
 * ```
 */
export function tailLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}
