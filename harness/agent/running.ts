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
