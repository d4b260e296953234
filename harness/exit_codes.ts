/**
 * The exit codes of the squall CLI, in one place.
 *
 * @module
 */

/** Exit codes of `squall`, by name. */
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

/** One of the values of {@linkcode ExitCode}. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];
