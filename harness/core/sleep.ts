/**
 * The one way squall waits: {@linkcode sleep} ends early when its signal aborts, and a
 * {@linkcode Sleeper} holds the sleeps of one workload so that stopping it wakes them
 * all at once. Both hold any duration: past what one timer can (2^31-1 ms, about 24.8
 * days), they chain timers instead of firing at once as `setTimeout` would.
 *
 * @module
 */

/** The longest delay one `setTimeout` honours; a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms` (chaining timers past {@linkcode MAX_TIMER_MS}); returns a
 * function that cancels it.
 *
 * @example
 * ```ts
 * import { setLongTimeout } from "./sleep.ts";
 * const cancel = setLongTimeout(() => console.log("never"), 10_000);
 * cancel();
 * ```
 */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  let id: ReturnType<typeof setTimeout>;
  const due = performance.now() + Math.max(0, ms);
  // A timer may fire a fraction of a millisecond before its time (Deno rounds it):
  // until `due` has passed on the clock, it is armed again for what is left.
  const arm = () => {
    const left = due - performance.now();
    if (left <= 0) fn();
    else id = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  id = setTimeout(arm, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  return () => clearTimeout(id);
}

/**
 * Waits `ms` milliseconds; rejects with the signal's reason as soon as it aborts.
 *
 * @example
 * ```ts
 * import { sleep } from "./sleep.ts";
 * await sleep(1);
 * const stop = new AbortController();
 * stop.abort(new Error("stopped"));
 * await sleep(10_000, stop.signal).catch((e) => console.assert(e.message === "stopped"));
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const cancel = setLongTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      cancel();
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The sleeps of one workload: each resolves after its time or when woken, whichever
 * comes first. A workload wakes them all when it is asked to stop, then sees it is
 * stopping; no listener is added per sleep, so a loop of millions of sleeps costs no
 * more than one.
 *
 * @example
 * ```ts
 * import { Sleeper } from "./sleep.ts";
 * const sleeper = new Sleeper();
 * const waiting = sleeper.sleep(10_000);
 * sleeper.wakeAll();
 * await waiting; // at once
 * ```
 */
export class Sleeper {
  #waiting = new Set<() => void>();

  /** Resolves after `ms`, or at once when {@linkcode Sleeper.wakeAll} is called. */
  sleep(ms: number): Promise<void> {
    return this.sleepUnlessWoken(ms).promise;
  }

  /**
   * Like {@linkcode Sleeper.sleep}, and also returns the function that wakes this one
   * sleep alone (a probe wakes its timeout sleep when the awaited reply comes).
   */
  sleepUnlessWoken(ms: number): { promise: Promise<void>; wake: () => void } {
    let wake!: () => void;
    const promise = new Promise<void>((resolve) => {
      let cancel = () => {};
      wake = () => {
        cancel();
        this.#waiting.delete(wake);
        resolve();
      };
      this.#waiting.add(wake);
      cancel = setLongTimeout(wake, ms);
    });
    return { promise, wake };
  }

  /** Wakes every sleep now waiting. */
  wakeAll(): void {
    for (const wake of [...this.#waiting]) wake();
  }
}
