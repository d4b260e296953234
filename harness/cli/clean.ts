/**
 * `squall clean`: removes exactly what crashed runs recorded in their run records (see
 * run_record.ts), and nothing else. For each run record whose runner is gone (no such
 * pid, or the pid now belongs to a process with another start time), every recorded
 * process still running with its recorded start time is sent SIGKILL, by pid; a
 * recorded cgroup that still exists (and is named as squall names the run's cgroups,
 * right under a cgroup2 mount) has everything in it killed and is removed; then the
 * run record file is removed. Run records of runs still going are left alone. Nothing is ever
 * looked up or ended by name.
 *
 * @module
 */

import {
  type CgroupProcess,
  cgroupProcesses,
  isRunCgroupPath,
  killAndRemoveCgroup,
  systemCgroup2Mounts,
} from "../runner/program_cgroup.ts";
import {
  bootId,
  isSameProcess,
  listRunRecords,
  processInfo,
  readRunRecord,
  type RecordedProcess,
  runRecordDirs,
  untrustedBecause,
} from "../runner/run_record.ts";

/** Options of {@linkcode cleanRuns}. */
export interface CleanOptions {
  /**
   * The directories to look for run records in.
   * @default {runRecordDirs()}
   */
  dirs?: string[];
  /**
   * Only say what would be done.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * How long to wait for a killed process to be gone, in ms.
   * @default {2000}
   */
  waitMs?: number;
}

/** What clean did (or would do) with one run record. */
export interface CleanedRun {
  /** The run record file. */
  path: string;
  /** The run's id, or null when the run record could not be read. */
  runId: string | null;
  /**
   * `live`: its runner is still running, left alone. `removed`: cleaned, file removed.
   * `would-remove`: what a dry run found to clean. `unreadable`: left alone. `failed`:
   * something recorded could not be removed (`error` says what); the file is kept.
   * `refused`: the record, or its directory, could have been written by another user
   * (`error` says why); it is not read, and nothing it names is touched.
   */
  outcome: "live" | "removed" | "would-remove" | "unreadable" | "failed" | "refused";
  /** The runner's pid, when known. */
  runnerPid: number | null;
  /** Recorded processes that were still running and were (or would be) killed. */
  killed: RecordedProcess[];
  /** Of those, any still there after the wait (a process in uninterruptible sleep). */
  survived: RecordedProcess[];
  /** Recorded pids now used by another process (different start time): not touched. */
  reused: RecordedProcess[];
  /** Recorded processes already gone. */
  gone: RecordedProcess[];
  /**
   * Recorded cgroups that were still there, removed (or to be removed), with the
   * processes that were in them and were (or would be) killed.
   */
  cgroups: { path: string; processes: CgroupProcess[] }[];
  /** Recorded cgroup paths that squall would not have made: not touched. */
  foreignCgroups: string[];
  /** Why it could not be read or removed. */
  error: string | null;
}

/**
 * Cleans up after crashed runs; see the module documentation.
 *
 * @example
 * ```ts ignore
 * import { cleanRuns, formatClean } from "./clean.ts";
 * console.log(formatClean(await cleanRuns({ dryRun: true }), { dryRun: true }));
 * ```
 */
export async function cleanRuns(options: CleanOptions = {}): Promise<CleanedRun[]> {
  const dirs = options.dirs ?? runRecordDirs();
  const dryRun = options.dryRun ?? false;
  const thisBoot = bootId();
  const results: CleanedRun[] = [];
  const blank = (path: string): CleanedRun => ({
    path,
    runId: null,
    outcome: "unreadable",
    runnerPid: null,
    killed: [],
    survived: [],
    reused: [],
    gone: [],
    cgroups: [],
    foreignCgroups: [],
    error: null,
  });
  const paths: string[] = [];
  for (const dir of dirs) {
    const files = listRunRecords(dir);
    if (files.length === 0) continue;
    // A record names processes to kill: read it only where nobody else could write.
    const why = untrustedBecause(dir, "directory");
    if (why !== null) {
      results.push({ ...blank(dir), outcome: "refused", error: why });
      continue;
    }
    for (const path of files) {
      const why = untrustedBecause(path, "file");
      if (why === null) paths.push(path);
      else results.push({ ...blank(path), outcome: "refused", error: why });
    }
  }
  for (const path of paths) {
    const result = blank(path);
    results.push(result);
    let runRecord;
    try {
      runRecord = readRunRecord(path);
    } catch (error) {
      result.error = error instanceof Error ? error.message : String(error);
      continue;
    }
    result.runId = runRecord.runId;
    result.runnerPid = runRecord.runner.pid;
    // After a reboot every recorded process is gone, and pids and start times mean
    // other processes: touch none of them.
    const sameBoot = runRecord.bootId === null || thisBoot === null ||
      runRecord.bootId === thisBoot;
    if (sameBoot && isSameProcess(runRecord.runner.pid, runRecord.runner.startTime)) {
      result.outcome = "live";
      continue;
    }
    for (const p of runRecord.processes) {
      const info = processInfo(p.pid);
      const running = info !== undefined && info.state !== "Z" && info.state !== "X";
      if (!sameBoot || !running) result.gone.push(p);
      else if (info.startTime !== p.startTime || p.pid === Deno.pid) result.reused.push(p);
      else result.killed.push(p);
    }
    const mounts = systemCgroup2Mounts();
    const cgroups: string[] = [];
    for (const cgroup of runRecord.cgroups) {
      if (!isRunCgroupPath(cgroup, runRecord.runId, mounts)) result.foreignCgroups.push(cgroup);
      else if (sameBoot && exists(cgroup)) cgroups.push(cgroup);
    }
    if (dryRun) {
      result.cgroups = cgroups.map((path) => ({ path, processes: cgroupProcesses(path) }));
      result.outcome = "would-remove";
      continue;
    }
    for (const p of result.killed) {
      // Checked once more right before the signal, to keep the window for reuse small.
      if (!isSameProcess(p.pid, p.startTime)) continue;
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    result.survived = await waitGone(result.killed, options.waitMs ?? 2000);
    const errors: string[] = [];
    for (const path of cgroups) {
      try {
        result.cgroups.push({ path, processes: await killAndRemoveCgroup(path, options.waitMs) });
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (errors.length > 0) {
      // The run record stays: it is what a later clean needs to try again.
      result.error = `${errors.join("; ")}; run record file kept, to try again`;
      result.outcome = "failed";
      continue;
    }
    try {
      Deno.removeSync(path);
      result.outcome = "removed";
    } catch (error) {
      result.error = `cannot remove the run record file: ${
        error instanceof Error ? error.message : error
      }`;
    }
  }
  return results;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(processes: RecordedProcess[], ms: number): Promise<RecordedProcess[]> {
  const deadline = performance.now() + ms;
  let left = processes.filter((p) => isSameProcess(p.pid, p.startTime));
  while (left.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = left.filter((p) => isSameProcess(p.pid, p.startTime));
  }
  return left;
}

/** Options of {@linkcode formatClean}. */
export interface FormatCleanOptions {
  /**
   * Whether it was a dry run.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * The directories that were searched, for the line saying there was nothing.
   * @default {runRecordDirs()}
   */
  dirs?: string[];
}

/**
 * Lines for people: one per run record, and a last line.
 * `removed run 1a2b3c: 0 processes still running, run record file`.
 *
 * @example
 * ```ts
 * import { formatClean } from "./clean.ts";
 * console.assert(formatClean([], { dirs: ["/run/squall"] }).includes("nothing to clean"));
 * ```
 */
export function formatClean(results: CleanedRun[], options: FormatCleanOptions = {}): string {
  const dirs = options.dirs ?? runRecordDirs();
  if (results.length === 0) {
    return `No run records in ${dirs.join(", ")}: nothing to clean.`;
  }
  const lines: string[] = [];
  const describe = (p: RecordedProcess) => `pid ${p.pid} ${p.role}`;
  for (const r of results) {
    const run = r.runId !== null ? `run ${r.runId}` : r.path;
    switch (r.outcome) {
      case "live":
        lines.push(
          `left run ${r.runId} alone: its runner (pid ${r.runnerPid}) is still running (${r.path})`,
        );
        break;
      case "unreadable":
        lines.push(`left ${r.path} alone: ${r.error}`);
        break;
      case "refused":
        lines.push(
          `refused ${r.path}: ${r.error}; another user could have written it, so it was not read`,
        );
        break;
      case "removed":
      case "would-remove":
      case "failed": {
        const dry = r.outcome === "would-remove";
        const n = r.killed.length;
        const killed = n > 0
          ? ` (${dry ? "would kill" : "killed"} ${r.killed.map(describe).join(", ")})`
          : "";
        const cgroups = r.cgroups.map(({ path, processes }) =>
          `, cgroup ${path}${
            processes.length > 0
              ? ` (${dry ? "would kill" : "killed"} ${
                processes.map((p) => `pid ${p.pid} ${p.program}`).join(", ")
              })`
              : ""
          }`
        ).join("");
        const file = r.error === null ? ", run record file" : `; ${r.error}`;
        const verb = dry ? "would remove" : r.outcome === "failed" ? "could not clean" : "removed";
        lines.push(
          `${verb} ${run}: ${n} process${
            n === 1 ? "" : "es"
          } still running${killed}${cgroups}${file}`,
        );
        for (const path of r.foreignCgroups) {
          lines.push(`  cgroup ${path}: not one squall makes for this run, left alone`);
        }
        for (const p of r.reused) {
          lines.push(
            `  ${describe(p)}: that pid is now another process (other start time), left alone`,
          );
        }
        for (const p of r.survived) {
          lines.push(`  ${describe(p)}: still there after SIGKILL (uninterruptible sleep?)`);
        }
        break;
      }
    }
  }
  return lines.join("\n");
}
