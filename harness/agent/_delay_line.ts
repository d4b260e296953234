// The delay lines an agent holds, one worker thread per NFQUEUE queue in the agent's
// namespace (see native/delay_line_worker.ts): started, reconfigured, read and stopped
// through the runner's calls `delay.start`, `delay.set`, `delay.read`, `delay.stop`.
// The runner adds and removes the iptables rules that feed each queue; the agent runs
// no programs. A line's counters live in shared memory, so they outlive its worker.

import {
  createShared,
  type FlowDrops,
  type LineCounters,
  type LineShared,
  readCounters,
  readFlowDrops,
  STOP_DRAIN,
  STOP_DROP,
  writeConfig,
} from "../native/delay_line_control.ts";
import type { LineConfig } from "../native/delay_schedule.ts";
import type { DelayLineMessage, DelayLineStart } from "../native/delay_line_worker.ts";

/**
 * Set (to 1) once a delay line runs in this agent, for the rest of its life. The kernel
 * stamps a packet as it enters the namespace, before netfilter, so the line's hold is not
 * in a socket's receive timestamp: the native probe and echo on this host read their
 * receive times in user space instead, after the line let the packet go. Shared with
 * their workers.
 */
export const DELAY_LINE_HERE: Int32Array<SharedArrayBuffer> = new Int32Array(
  new SharedArrayBuffer(4),
);

/**
 * SCHED_FIFO priority of a line's thread: the lowest real-time one, enough that a busy
 * machine does not hold releases back; the kernel's RT throttling keeps 5% for others.
 */
export const LINE_PRIORITY = 1;

/** What `delay.read` and `delay.stop` answer. */
export interface LineState {
  queue: number;
  /** "running", "stopped", or "failed" (the worker died; `error` says why). */
  state: "running" | "stopped" | "failed";
  counters: LineCounters;
  /** What it dropped of each probe flow (tail drops, drops when it stopped). */
  flows: FlowDrops[];
  error?: string;
}

interface Line {
  queue: number;
  worker: Worker;
  shared: LineShared;
  stopped: Promise<void>;
  state: LineState["state"];
  error?: string;
}

/** The delay lines of one agent. */
export class DelayLines {
  #libcPath: string | undefined;
  #lines = new Map<number, Line>();

  constructor(libcPath: string | undefined) {
    this.#libcPath = libcPath;
  }

  /** Handles one runner call; throws TypeError for a method that is not a delay call. */
  async call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const queue = Number(params.queue);
    if (!Number.isInteger(queue) || queue < 0 || queue > 65535) {
      throw new RangeError(`Cannot use NFQUEUE queue "${params.queue}": not 0-65535`);
    }
    switch (method) {
      case "delay.start":
        await this.start(queue, params.config as LineConfig, {
          maxLength: typeof params.maxLength === "number" ? params.maxLength : undefined,
        });
        return null;
      case "delay.set":
        writeConfig(
          this.#get(queue).shared,
          params.config as LineConfig,
          Number(params.effectiveAtMs ?? 0),
        );
        return null;
      case "delay.read":
        return this.read(queue);
      case "delay.stop":
        return await this.stop(
          queue,
          params.mode === "drop" ? "drop" : "drain",
          Number(params.timeoutMs ?? 5000),
        );
      default:
        throw new TypeError(`Unknown method "${method}"`);
    }
  }

  /** Starts a line on `queue`; resolves once the queue is bound. */
  async start(
    queue: number,
    config: LineConfig,
    options: { maxLength?: number | undefined } = {},
  ): Promise<void> {
    if (!this.#libcPath) {
      throw new Deno.errors.NotCapable(
        `Cannot start a delay line on NFQUEUE queue ${queue}: this agent was started without --libc`,
      );
    }
    if (this.#lines.has(queue)) {
      throw new Deno.errors.AlreadyExists(
        `Cannot start a delay line on NFQUEUE queue ${queue}: one is running`,
      );
    }
    const shared = createShared(config);
    Atomics.store(DELAY_LINE_HERE, 0, 1);
    const worker = new Worker(new URL("../native/delay_line_worker.ts", import.meta.url), {
      type: "module",
    });
    const started = Promise.withResolvers<void>();
    const stopped = Promise.withResolvers<void>();
    const line: Line = { queue, worker, shared, stopped: stopped.promise, state: "running" };
    worker.onmessage = (event: MessageEvent<DelayLineMessage>) => {
      const m = event.data;
      if (m.type === "started") started.resolve();
      else {
        if (m.type === "failed") {
          line.state = "failed";
          line.error = m.message;
          started.reject(new Error(m.message));
        } else if (line.state === "running") line.state = "stopped";
        stopped.resolve();
        worker.terminate();
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      line.state = "failed";
      line.error = `The delay line's worker failed: ${event.message}`;
      started.reject(new Error(line.error));
      stopped.resolve();
      worker.terminate();
    };
    this.#lines.set(queue, line);
    worker.postMessage(
      {
        queue,
        libcPath: this.#libcPath,
        shared,
        priority: LINE_PRIORITY,
        ...(options.maxLength ? { maxLength: options.maxLength } : {}),
      } satisfies DelayLineStart,
    );
    try {
      await started.promise;
    } catch (error) {
      this.#lines.delete(queue);
      throw error;
    }
  }

  /** The state and counters of the line on `queue`. */
  read(queue: number): LineState {
    const line = this.#get(queue);
    return {
      queue,
      state: line.state,
      counters: readCounters(line.shared),
      flows: readFlowDrops(line.shared),
      ...(line.error ? { error: line.error } : {}),
    };
  }

  /**
   * Stops the line on `queue`: "drain" releases what it holds at the due times (up to
   * `timeoutMs`, then drops the rest), "drop" drops it at once. Returns the final state.
   */
  async stop(queue: number, mode: "drain" | "drop", timeoutMs = 5000): Promise<LineState> {
    const line = this.#get(queue);
    if (line.state === "running") {
      Atomics.store(line.shared.control, 0, mode === "drain" ? STOP_DRAIN : STOP_DROP);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), timeoutMs);
      });
      if (await Promise.race([line.stopped, late]) === "late") {
        Atomics.store(line.shared.control, 0, STOP_DROP);
        await line.stopped;
      }
      clearTimeout(timer);
    }
    const state = this.read(queue);
    this.#lines.delete(queue);
    return state;
  }

  /** Stops every line, dropping what they hold. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#lines.keys()].map((q) => this.stop(q, "drop")));
  }

  #get(queue: number): Line {
    const line = this.#lines.get(queue);
    if (!line) throw new Deno.errors.NotFound(`No delay line on NFQUEUE queue ${queue}`);
    return line;
  }
}
