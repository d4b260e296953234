/**
 * Waiting for a promise with a bound: until a timeout, or until the run is aborted.
 *
 * @module
 */

import { formatDuration } from "../core/duration.ts";
import { SquallError } from "../core/errors.ts";
import { ExitCode } from "../core/exit_codes.ts";

/** `promise`, or a rejection after `ms` saying it timed out waiting for `what`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SquallError(
            `Timed out after ${formatDuration(ms)} waiting for ${what}`,
            ExitCode.Failed,
          ),
        ),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
