// What an agent holds for each workload it runs.

import type { WorkloadControl } from "./protocol.ts";
import type { WorkloadResult } from "../measure/results.ts";

/** A workload running inside an agent. */
export interface RunningWorkload<R extends WorkloadResult = WorkloadResult> {
  /** The local address it bound, `ip:port`. */
  address: string;
  /** Resolves with the result when it finishes or is stopped; rejects on failure. */
  done: Promise<R>;
  /** What it has measured so far. */
  snapshot(): R | Promise<R>;
  /** Stops it; resolves like `done`, once every socket is closed and released. */
  stop(): Promise<R>;
  /** Restarts or signals it (programs under test only). */
  control?(control: WorkloadControl): Promise<void>;
}

/** What {@linkcode runningWorkload} makes a running workload of. */
export interface WorkloadParts<R extends WorkloadResult> {
  /** The local address it bound, `ip:port`. */
  address: string;
  /** Runs the workload to its end (called once, at once). */
  run(): Promise<unknown>;
  /** Runs after `run` ends, however it ends: closes and releases its sockets. */
  release(): Promise<unknown> | void;
  /** What it has measured so far. */
  result(): R;
  /** Asks it to end early; `run` then ends soon. */
  halt(): void;
}

/**
 * A running workload from its parts: `done` resolves with the result once `run` has ended
 * and `release` has released what it held (and rejects with what `run` threw); `stop()`
 * halts it and resolves like `done`.
 */
export function runningWorkload<R extends WorkloadResult>(
  parts: WorkloadParts<R>,
): RunningWorkload<R> {
  const done = (async () => {
    try {
      await parts.run();
    } finally {
      await parts.release();
    }
    return parts.result();
  })();
  return {
    address: parts.address,
    done,
    snapshot: parts.result,
    stop() {
      parts.halt();
      return done;
    },
  };
}
