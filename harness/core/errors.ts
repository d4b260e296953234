/**
 * Error classes of squall. Misuse of the API throws `TypeError` or `RangeError`; the
 * classes here are for conditions a caller is expected to catch, and each carries the
 * exit code the CLI uses for it.
 *
 * @module
 */

import { ExitCode } from "./exit_codes.ts";

/**
 * The base class of squall's own errors: it carries the CLI exit code.
 *
 * @example
 * ```ts
 * import { SquallError } from "./errors.ts";
 * import { runScenario } from "../runner/run.ts";
 * import { scenario } from "../scenario/scenario.ts";
 *
 * // A threshold on a workload that does not exist: rejected before anything is created.
 * const typo = scenario("typo", {
 *   network: "loopback",
 *   hosts: ["local"],
 *   thresholds: { "probe.loss": "< 1%" },
 * });
 * let exitCode = 0;
 * try {
 *   await runScenario(typo);
 * } catch (error) {
 *   if (!(error instanceof SquallError)) throw error;
 *   exitCode = error.exitCode;
 * }
 * console.assert(exitCode === 2);
 * ```
 */
export class SquallError extends Error {
  /** The exit code the CLI uses when this error ends a run. */
  readonly exitCode: ExitCode;

  /** Creates an error with a message, an exit code and an optional cause. */
  constructor(message: string, exitCode: ExitCode, options?: ErrorOptions) {
    super(message, options);
    this.name = "SquallError";
    this.exitCode = exitCode;
  }
}

/**
 * One problem found while validating a scenario: where it is and what is wrong.
 *
 * @example
 * ```ts
 * import { type Problem, ScenarioError } from "./errors.ts";
 * const problem: Problem = {
 *   where: "scenarios/x.ts: options.workloads.probe.on",
 *   message: 'unknown host "sever" (hosts: client, server)',
 * };
 * console.assert(new ScenarioError([problem]).message.includes(problem.message));
 * ```
 */
export interface Problem {
  /** Where the problem is, e.g. `scenarios/x.ts: links[0]`. */
  where: string;
  /** What is wrong, e.g. `unknown host "sever" (hosts: client, server)`. */
  message: string;
}

/**
 * A scenario or its options are invalid. Lists every problem at once; nothing was
 * created when it is thrown.
 *
 * @example
 * ```ts
 * import { ScenarioError } from "./errors.ts";
 * const error = new ScenarioError([{ where: "links[0]", message: "unknown host \"sever\"" }]);
 * console.assert(error.exitCode === 2);
 * ```
 */
export class ScenarioError extends SquallError {
  /** Every problem found. */
  readonly problems: readonly Problem[];

  /** Creates the error from a non-empty list of problems. */
  constructor(problems: readonly Problem[], options?: ErrorOptions) {
    super(formatProblems(problems), ExitCode.BadInput, options);
    this.name = "ScenarioError";
    this.problems = problems;
  }
}

/**
 * The machine cannot run the scenario: not root, no namespaces, a missing tool.
 *
 * @example
 * ```ts
 * import { EnvironmentError } from "./errors.ts";
 * function explain(error: unknown): string {
 *   if (error instanceof EnvironmentError) return `${error.message}\nhint: ${error.hint}`;
 *   return String(error);
 * }
 * const error = new EnvironmentError("Cannot load libbpf.so.1", "apt-get install libbpf1");
 * console.assert(explain(error).endsWith("hint: apt-get install libbpf1"));
 * console.assert(error.exitCode === 3);
 * ```
 */
export class EnvironmentError extends SquallError {
  /** One line that says how to fix it. */
  readonly hint: string;

  /** Creates the error with a one-line hint on how to fix it. */
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, ExitCode.Environment, options);
    this.name = "EnvironmentError";
    this.hint = hint;
  }
}

/**
 * squall lacks the privileges it needs (root or CAP_NET_ADMIN + CAP_SYS_ADMIN).
 *
 * @example
 * ```ts
 * import { EnvironmentError, PrivilegeError } from "./errors.ts";
 * const error = new PrivilegeError("Cannot create network namespaces: not root", "run as root");
 * console.assert(error instanceof EnvironmentError && error.exitCode === 3);
 * ```
 */
export class PrivilegeError extends EnvironmentError {
  /** Creates the error with a one-line hint on how to fix it. */
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, hint, options);
    this.name = "PrivilegeError";
  }
}

/**
 * A command squall ran exited with an error; carries the tail of its stderr.
 *
 * @example
 * ```ts
 * import { CommandError } from "./errors.ts";
 * const error = new CommandError(
 *   "Cannot add veth pair",
 *   ["ip", "link", "add", "sq-585e7a-0a", "type", "veth"],
 *   2,
 *   "RTNETLINK answers: File exists",
 * );
 * console.assert(error.message === "Cannot add veth pair\n  | RTNETLINK answers: File exists");
 * console.assert(error.code === 2 && error.exitCode === 3);
 * ```
 */
export class CommandError extends SquallError {
  /** The command line, as an array. */
  readonly command: readonly string[];
  /** The exit code, or null when a signal ended it. */
  readonly code: number | null;
  /** The last lines of its stderr. */
  readonly stderrTail: string;

  /** Creates the error for a command that failed. */
  constructor(
    message: string,
    command: readonly string[],
    code: number | null,
    stderrTail: string,
    options?: ErrorOptions,
  ) {
    super(
      stderrTail ? `${message}\n${indent(stderrTail)}` : message,
      ExitCode.Environment,
      options,
    );
    this.name = "CommandError";
    this.command = command;
    this.code = code;
    this.stderrTail = stderrTail;
  }
}

/**
 * An agent could not be started, or died, or broke the protocol.
 *
 * @example
 * ```ts
 * import { AgentError } from "./errors.ts";
 * const error = new AgentError("Agent of host \"server\" exited with signal SIGKILL", "server");
 * console.assert(error.host === "server" && error.exitCode === 1);
 * ```
 */
export class AgentError extends SquallError {
  /** The host the agent serves. */
  readonly host: string;

  /** Creates the error for the agent of a host. */
  constructor(message: string, host: string, options?: ErrorOptions) {
    super(message, ExitCode.Failed, options);
    this.name = "AgentError";
    this.host = host;
  }
}

/**
 * A workload failed inside its agent (bind failed, target unreachable, ...).
 *
 * @example
 * ```ts
 * import { WorkloadError } from "./errors.ts";
 * const error = new WorkloadError('Cannot bind UDP socket to "0.0.0.0:7000"', "echo");
 * console.assert(error.workload === "echo" && error.exitCode === 1);
 * ```
 */
export class WorkloadError extends SquallError {
  /** The name of the workload. */
  readonly workload: string;

  /** Creates the error for a named workload. */
  constructor(message: string, workload: string, options?: ErrorOptions) {
    super(message, ExitCode.Failed, options);
    this.name = "WorkloadError";
    this.workload = workload;
  }
}

/** Formats problems one per line, each as `where: message`. */
export function formatProblems(problems: readonly Problem[]): string {
  const noun = problems.length === 1 ? "problem" : "problems";
  const lines = problems.map((p) => `  ${p.where}: ${p.message}`);
  return `Invalid scenario: ${problems.length} ${noun}\n${lines.join("\n")}`;
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  | ${line}`).join("\n");
}
