// Programs under test run by the runner itself (see exec.ts for why not by agents),
// behind the same start/stop/snapshot/call surface as an agent connection.

import type { AgentWorkload, ExecSettings, WorkloadControl } from "../agent/protocol.ts";
import type { RunningWorkload } from "../agent/running.ts";
import { startProgram } from "./program.ts";
import type { CgroupProcess } from "./program_cgroup.ts";
import type { ExecResult, WorkloadResult } from "../measure/results.ts";

/** What the runner needs of whoever runs a workload: an agent, or the runner itself. */
export interface WorkloadHost {
  /** Starts a workload; `started` resolves with its address, `done` with its result. */
  start(
    id: number,
    name: string,
    workload: AgentWorkload,
  ): { started: Promise<string>; done: Promise<WorkloadResult> };
  /** Asks a workload to stop; its `done` resolves once it has. */
  stop(id: number): void;
  /**
   * What a workload measured so far, or undefined when it has finished; `light` may
   * leave out long logs (for progress output).
   */
  snapshot(id: number, light?: boolean): Promise<WorkloadResult> | undefined;
  /** A method call; `"workload.control"` restarts or signals a program. */
  call(method: string, params: unknown): Promise<unknown>;
}

/** The programs under test of one run. */
export class LocalPrograms implements WorkloadHost {
  #running = new Map<number, Promise<RunningWorkload<ExecResult>>>();
  #finished = new Set<number>();
  #onSpawn: (pid: number, name: string) => void;
  #cgroup: (id: number) => string | null;
  #onLeftovers: (name: string, ended: CgroupProcess[]) => void;
  #stops = new Map<number, AbortController>();

  /**
   * `onSpawn` hears of every process started (restarts too), for the run record;
   * `cgroup` gives the cgroup a program joins (see _program_cgroup.ts), or null for none;
   * `onLeftovers` hears of what a program left in it when squall ended it (and ended).
   */
  constructor(
    onSpawn: (pid: number, name: string) => void = () => {},
    cgroup: (id: number) => string | null = () => null,
    onLeftovers: (name: string, ended: CgroupProcess[]) => void = () => {},
  ) {
    this.#onSpawn = onSpawn;
    this.#cgroup = cgroup;
    this.#onLeftovers = onLeftovers;
  }

  start(id: number, name: string, workload: AgentWorkload) {
    if (workload.kind !== "exec") {
      throw new TypeError(`Only programs under test run in the runner, not "${workload.kind}"`);
    }
    const { kind: _, ...rest } = workload;
    const settings: ExecSettings = { ...rest, cgroup: this.#cgroup(id) };
    const stop = new AbortController();
    this.#stops.set(id, stop);
    const starting = startProgram(settings, (pid) => this.#onSpawn(pid, name), {
      signal: stop.signal,
      onLeftovers: (ended) => this.#onLeftovers(name, ended),
    });
    starting.catch(() => {});
    this.#running.set(id, starting);
    const done = starting.then((w) => w.done).finally(() => this.#finished.add(id));
    return { started: starting.then((w) => w.address), done: done as Promise<WorkloadResult> };
  }

  stop(id: number): void {
    // Reaches a program still starting too: its start then fails, as stopped.
    this.#stops.get(id)?.abort();
    this.#running.get(id)?.then((w) => w.stop()).catch(() => {});
  }

  snapshot(id: number): Promise<WorkloadResult> | undefined {
    if (this.#finished.has(id)) return undefined;
    return this.#running.get(id)?.then((w) => w.snapshot());
  }

  async call(method: string, params: unknown): Promise<unknown> {
    const { id, control } = params as { id: number; control: WorkloadControl };
    const workload = method === "workload.control" ? await this.#running.get(id) : undefined;
    if (!workload?.control) throw new TypeError(`Cannot ${method} workload ${id}`);
    await workload.control(control);
    return null;
  }
}
