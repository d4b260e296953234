/**
 * The run's cgroup for programs under test (see program_cgroup.ts), made when the first
 * program starts, and what closing it ended.
 *
 * @module
 */

import { describeProcesses } from "./_stragglers.ts";
import { cgroupId, ProgramCgroup } from "./program_cgroup.ts";
import type { RunRecord } from "./run_record.ts";

/** Says why programs under test may outlive a run on this machine. */
const NO_CGROUP = "No writable cgroup v2 mount (see squall doctor): what programs under test " +
  "start is ended with their process group (and by pid in a host's namespace), but a " +
  "process in a session of its own on loopback, or anything after a SIGKILL of " +
  "squall, can outlive the run";

/** The run's cgroup for programs under test, made on first use. */
export class RunCgroup {
  readonly #runId: string;
  readonly #runRecord: () => RunRecord | undefined;
  readonly #note: (message: string) => void;
  /** null: none could be made; undefined: not yet. */
  #cgroup: ProgramCgroup | null | undefined;
  /** The workload id of each program cgroup, by cgroup v2 id (its directory's inode). */
  #programs = new Map<number, number>();

  /** `runRecord` records what the cgroup makes; `note` says what the run's log should. */
  constructor(
    runId: string,
    runRecord: () => RunRecord | undefined,
    note: (message: string) => void,
  ) {
    this.#runId = runId;
    this.#runRecord = runRecord;
    this.#note = note;
  }

  /**
   * The cgroup of program `id`, under the run's cgroup, made when the first program
   * starts; null when this machine has no writable cgroup2 mount.
   */
  programCgroup(id: number): string | null {
    if (this.#cgroup === undefined) {
      this.#cgroup = ProgramCgroup.create(
        this.#runId,
        (path) => this.#runRecord()?.recordCgroup(path),
      );
      if (this.#cgroup) {
        this.#runRecord()?.recordProcess(this.#cgroup.watchdogPid, "cgroup watchdog");
      } else this.#note(NO_CGROUP);
    }
    const path = this.#cgroup?.programCgroup(id) ?? null;
    if (path !== null) this.#programs.set(cgroupId(path), id);
    return path;
  }

  /**
   * The workload id of the program whose cgroup is one of `cgroupIds` (a process's own
   * cgroup and its ancestors', as the bind watch read them in the kernel), or undefined.
   */
  programOf(cgroupIds: readonly number[]): number | undefined {
    for (const id of cgroupIds) {
      const program = this.#programs.get(id);
      if (program !== undefined) return program;
    }
    return undefined;
  }

  /**
   * Ends what programs under test left running, and removes the run's cgroup, if it was
   * made. Throws when it cannot be removed.
   */
  async close(): Promise<void> {
    if (!this.#cgroup) return;
    const left = await this.#cgroup.close();
    if (left.length === 0) return;
    this.#note(
      `Processes that programs under test started were still running after they stopped; squall ended them: ${
        describeProcesses(left)
      }`,
    );
  }
}
