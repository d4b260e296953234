/**
 * Error classes of squall. Misuse of the API throws `TypeError` or `RangeError`; the
 * classes here are for conditions a caller is expected to catch, and each carries the
 * exit code the CLI uses for it.
 *
 * @module
 */

import { ExitCode } from "./exit_codes.ts";

/** The base class of squall's own errors: it carries the CLI exit code. */
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

/** One problem found while validating a scenario: where it is and what is wrong. */
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

/** The machine cannot run the scenario: not root, no namespaces, a missing tool. */
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

/** squall lacks the privileges it needs (root or CAP_NET_ADMIN + CAP_SYS_ADMIN). */
export class PrivilegeError extends EnvironmentError {
  /** Creates the error with a one-line hint on how to fix it. */
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, hint, options);
    this.name = "PrivilegeError";
  }
}

/** A command squall ran exited with an error; carries the tail of its stderr. */
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

/** An agent could not be started, or died, or broke the protocol. */
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

/** A workload failed inside its agent (bind failed, target unreachable, ...). */
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
