/**
 * Runs a command and throws a {@linkcode CommandError} with the tail of its stderr when
 * it fails or times out.
 *
 * @module
 */

import { CommandError } from "./errors.ts";

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Text written to the command's stdin. */
  stdin?: string;
  /**
   * The command is killed after this long.
   * @default {10000}
   */
  timeoutMs?: number;
}

const STDERR_TAIL_LINES = 12;

/**
 * Runs `command` with `args`; resolves with its stdout, throws on a non-zero exit.
 *
 * @example
 * ```ts
 * import { runCommand } from "./command.ts";
 * const out = await runCommand("echo", ["hello"]);
 * console.assert(out.trim() === "hello");
 * ```
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<string> {
  const argv = [command, ...args];
  const child = new Deno.Command(command, {
    args: [...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  let output: Deno.CommandOutput;
  try {
    output = await child.output();
  } catch (error) {
    throw new CommandError(
      `Cannot run "${argv.join(" ")}": ${(error as Error).message}`,
      argv,
      null,
      "",
      {
        cause: error,
      },
    );
  }
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const tail = tailLines(new TextDecoder().decode(output.stderr), STDERR_TAIL_LINES);
    const how = output.signal
      ? `was killed by ${output.signal}`
      : `exited with code ${output.code}`;
    throw new CommandError(`Command "${argv.join(" ")}" ${how}`, argv, output.code, tail);
  }
  return stdout;
}

/** The last `count` non-empty lines of a text. */
export function tailLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}
