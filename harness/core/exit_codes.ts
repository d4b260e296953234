/**
 * The exit codes of the squall CLI, in one place.
 *
 * @module
 */

/**
 * Exit codes of `squall`, by name.
 *
 * @example
 * ```ts
 * import { ExitCode } from "./exit_codes.ts";
 * console.assert(ExitCode.BadInput === 2 && ExitCode.Interrupted === 130);
 * ```
 */
export const ExitCode = {
  /** Every scenario ran and every check and threshold held. */
  Pass: 0,
  /** A check or threshold failed, or a workload failed while the scenario ran. */
  Failed: 1,
  /** Bad input: a scenario or an option is invalid. Nothing was created. */
  BadInput: 2,
  /** The environment cannot run the scenario: not root, no namespaces, no BPF. */
  Environment: 3,
  /** Interrupted by SIGINT or SIGTERM; what was measured was still reported. */
  Interrupted: 130,
} as const;

/**
 * One of the values of {@linkcode ExitCode}.
 *
 * @example
 * ```ts
 * import { ExitCode } from "./exit_codes.ts";
 * function meaning(code: ExitCode): string {
 *   switch (code) {
 *     case ExitCode.Pass:
 *       return "passed";
 *     case ExitCode.Failed:
 *       return "a check, threshold or workload failed";
 *     case ExitCode.BadInput:
 *       return "bad input";
 *     case ExitCode.Environment:
 *       return "this machine cannot run it";
 *     case ExitCode.Interrupted:
 *       return "interrupted";
 *   }
 * }
 * console.assert(meaning(3) === "this machine cannot run it");
 * ```
 */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];
