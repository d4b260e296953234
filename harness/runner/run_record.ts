/**
 * The run record: a file per run that names every process the run started, so that
 * `squall clean` can end exactly those, and nothing else, after a runner crashed.
 *
 * squall's runs create almost nothing named (namespaces are anonymous and held by their
 * agents, links live inside them, bpf_links die with their process), so a process is
 * what can outlive a crashed runner. A process is recorded by pid and
 * start time (field 22 of /proc/<pid>/stat, clock ticks since boot): a pid alone could
 * have been reused by an unrelated process since.
 *
 * The other thing is the run's cgroup for programs under test (see _program_cgroup.ts),
 * recorded by path before it is made.
 *
 * The file is NDJSON, appended to as the run goes (a crash mid-write loses at most the
 * last line): a header, then one line per process or cgroup.
 *
 * ```
 * {"squallRunLedger":1,"runId":"1a2b3c","bootId":"…","runner":{"pid":4242,"startTime":123456},"startedAt":"2025-…"}
 * {"pid":4250,"startTime":123470,"role":"agent server"}
 * {"cgroup":"/sys/fs/cgroup/squall-1a2b3c-4242"}
 * ```
 *
 * It lives in `/run/squall/` (a tmpfs: gone after a reboot, like the processes), or in
 * `${TMPDIR:-/tmp}/squall-runs/` when /run cannot be written; `SQUALL_RUN_DIR` overrides
 * both (tests use it). `squall clean` kills what a record names, so a record is trusted
 * only where nobody else could have written it: the directory and the file must be owned
 * by the user who runs squall (root) and writable by nobody else, and the directory is
 * made with mode 0700 (its parent is never made: a missing `$TMPDIR` is an error).
 * {@linkcode untrustedBecause} says why a path fails that test.
 *
 * @module
 */

import { join } from "node:path";

/** The version written in the header line of a run record. */
export const RUN_RECORD_VERSION = 1;

/** Where run records are written first. */
export const RUN_DIR = "/run/squall";

/** A process as the run record records it. */
export interface RecordedProcess {
  /** Its pid. */
  pid: number;
  /** Field 22 of /proc/<pid>/stat when it was recorded: clock ticks after boot. */
  startTime: number;
  /** What it was to the run: `agent server`, `program server/web`. */
  role: string;
}

/** A run record as read back from its file. */
export interface RunRecordContents {
  /** The file. */
  path: string;
  /** The run's id. */
  runId: string;
  /** /proc/sys/kernel/random/boot_id when the run started, or null if it was unknown. */
  bootId: string | null;
  /** The process that ran it. */
  runner: { pid: number; startTime: number };
  /** Wall-clock start, ISO 8601. */
  startedAt: string;
  /** The processes it started, in the order they were recorded. */
  processes: RecordedProcess[];
  /** The cgroups it made (or was about to make), by path. */
  cgroups: string[];
}

/** Options of {@linkcode RunRecord.open}. */
export interface RunRecordOptions {
  /**
   * The directory to write the run record in (made if missing).
   * @default {`$SQUALL_RUN_DIR`, else `/run/squall`, else `${TMPDIR:-/tmp}/squall-runs`}
   */
  dir?: string;
}

/**
 * The directories run records may be in, in the order they are tried: `$SQUALL_RUN_DIR`
 * alone when it is set, else /run/squall and `${TMPDIR:-/tmp}/squall-runs`.
 *
 * @example
 * ```ts
 * import { runRecordDirs } from "./run_record.ts";
 * console.assert(runRecordDirs().length >= 1);
 * ```
 */
export function runRecordDirs(): string[] {
  const override = env("SQUALL_RUN_DIR");
  if (override) return [override];
  return [RUN_DIR, join(env("TMPDIR") || "/tmp", "squall-runs")];
}

/**
 * The run record of one run, open for writing. Open it when the run starts, record every
 * process the run starts, close it when the run has ended and torn down: closing
 * removes the file.
 *
 * @example
 * ```ts
 * import { RunRecord } from "./run_record.ts";
 * const dir = Deno.makeTempDirSync();
 * {
 *   using runRecord = RunRecord.open("1a2b3c", { dir });
 *   runRecord.recordProcess(Deno.pid, "example");
 * } // closed: the file is gone
 * Deno.removeSync(dir);
 * ```
 */
export class RunRecord implements Disposable {
  /** The file. */
  readonly path: string;
  /** The run's id. */
  readonly runId: string;
  #closed = false;

  private constructor(path: string, runId: string) {
    this.path = path;
    this.runId = runId;
  }

  /**
   * Creates the run record of run `runId` and writes its header: the run id, and this
   * process (the runner) with its start time.
   *
   * @throws {TypeError} when `runId` is not a string of letters, digits, `-` and `_`.
   * @throws {Error} when no run record directory can be written.
   */
  static open(runId: string, options: RunRecordOptions = {}): RunRecord {
    if (typeof runId !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(runId)) {
      throw new TypeError(
        `Cannot open run record: run id must be 1-64 letters, digits, "-" or "_", got ${
          JSON.stringify(runId)
        }`,
      );
    }
    const runner = processInfo(Deno.pid);
    const header = {
      squallRunLedger: RUN_RECORD_VERSION,
      runId,
      bootId: bootId(),
      runner: { pid: Deno.pid, startTime: runner?.startTime ?? 0 },
      startedAt: new Date().toISOString(),
    };
    const dirs = options.dir !== undefined ? [options.dir] : runRecordDirs();
    const failures: string[] = [];
    for (const dir of dirs) {
      const path = join(dir, `${runId}-${Deno.pid}.jsonl`);
      try {
        ensurePrivateDir(dir);
        Deno.writeTextFileSync(path, JSON.stringify(header) + "\n", {
          createNew: true,
          mode: 0o600,
        });
        return new RunRecord(path, runId);
      } catch (error) {
        failures.push(`"${path}": ${error instanceof Error ? error.message : error}`);
      }
    }
    throw new Error(`Cannot open run record of run "${runId}": ${failures.join("; ")}`);
  }

  /**
   * Records a process the run started, with its start time. Returns false, and records
   * nothing, when the process is already gone or the run record is closed.
   *
   * @throws {RangeError} when `pid` is not an integer above 1.
   */
  recordProcess(pid: number, role: string): boolean {
    if (!Number.isInteger(pid) || pid <= 1) {
      throw new RangeError(`Cannot record process: pid must be an integer above 1, got ${pid}`);
    }
    if (this.#closed) return false;
    const info = processInfo(pid);
    if (info === undefined) return false;
    const line: RecordedProcess = { pid, startTime: info.startTime, role: String(role) };
    Deno.writeTextFileSync(this.path, JSON.stringify(line) + "\n", { append: true });
    return true;
  }

  /**
   * Records a cgroup the run is about to make, by path: before it is made, so that a
   * crash right after leaves it recorded. Returns false when the run record is closed.
   */
  recordCgroup(path: string): boolean {
    if (this.#closed) return false;
    Deno.writeTextFileSync(this.path, JSON.stringify({ cgroup: String(path) }) + "\n", {
      append: true,
    });
    return true;
  }

  /** Removes the file: the run ended and everything it started is gone. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      Deno.removeSync(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  /** Same as {@linkcode RunRecord.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Reads a run record file. Lines that do not parse are skipped (a crash can cut the last
 * one short).
 *
 * @throws {SyntaxError} when the header is missing or malformed.
 *
 * @example
 * ```ts
 * import { readRunRecord, RunRecord } from "./run_record.ts";
 * const dir = Deno.makeTempDirSync();
 * using runRecord = RunRecord.open("1a2b3c", { dir });
 * console.assert(readRunRecord(runRecord.path).runner.pid === Deno.pid);
 * runRecord.close();
 * Deno.removeSync(dir);
 * ```
 */
export function readRunRecord(path: string): RunRecordContents {
  const lines = Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "");
  const header = parse(lines[0]);
  const runner = header?.runner as Record<string, unknown> | undefined;
  if (
    header?.squallRunLedger !== RUN_RECORD_VERSION || typeof header.runId !== "string" ||
    !isPid(runner?.pid) || typeof runner?.startTime !== "number"
  ) {
    throw new SyntaxError(`Cannot read run record "${path}": no valid header line`);
  }
  const processes: RecordedProcess[] = [];
  const cgroups: string[] = [];
  for (const line of lines.slice(1)) {
    const p = parse(line);
    if (p && isPid(p.pid) && typeof p.startTime === "number" && typeof p.role === "string") {
      processes.push({ pid: p.pid, startTime: p.startTime, role: p.role });
    } else if (p && typeof p.cgroup === "string" && p.cgroup.startsWith("/")) {
      cgroups.push(p.cgroup);
    }
  }
  return {
    path,
    runId: header.runId,
    bootId: typeof header.bootId === "string" ? header.bootId : null,
    runner: { pid: runner.pid, startTime: runner.startTime },
    startedAt: typeof header.startedAt === "string" ? header.startedAt : "",
    processes,
    cgroups,
  };
}

/**
 * The run record files in `dir` (`*.jsonl`), sorted; none when it does not exist.
 *
 * @example
 * ```ts
 * import { listRunRecords } from "./run_record.ts";
 * console.assert(listRunRecords("/no/such/dir").length === 0);
 * ```
 */
export function listRunRecords(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)]
      .filter((e) => e.isFile && e.name.endsWith(".jsonl"))
      .map((e) => join(dir, e.name))
      .sort();
  } catch {
    return [];
  }
}

/**
 * Why a run record directory or file cannot be trusted, or null when it can: it must be
 * a real directory (or file), not a link, owned by this process's user and writable by
 * nobody else. `squall clean` acts only on records that pass.
 *
 * @example
 * ```ts
 * import { untrustedBecause } from "./run_record.ts";
 * const dir = Deno.makeTempDirSync();
 * console.assert(untrustedBecause(dir, "directory") === null);
 * Deno.chmodSync(dir, 0o777);
 * console.assert(untrustedBecause(dir, "directory") === "writable by others (mode 777)");
 * Deno.removeSync(dir);
 * ```
 */
export function untrustedBecause(path: string, kind: "directory" | "file"): string | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (info.isSymlink) return "a symbolic link";
  if (kind === "directory" ? !info.isDirectory : !info.isFile) return `not a ${kind}`;
  const uid = Deno.uid();
  if (info.uid !== uid) {
    return `owned by uid ${info.uid}, not by ${uid === 0 ? "root" : `uid ${uid}`}`;
  }
  const mode = (info.mode ?? 0) & 0o777;
  if ((mode & 0o022) !== 0) return `writable by others (mode ${mode.toString(8)})`;
  return null;
}

/**
 * Makes `dir` with mode 0700 if it is missing (not its parents), and checks it can be
 * trusted; throws saying why not.
 */
function ensurePrivateDir(dir: string): void {
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
    Deno.chmodSync(dir, 0o700); // whatever the umask
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const why = untrustedBecause(dir, "directory");
  if (why !== null) throw new Error(`directory "${dir}" cannot be trusted: ${why}`);
}

/** A process as /proc shows it now. */
export interface ProcessInfo {
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  startTime: number;
  /** Field 3: R, S, D, Z (zombie), ... */
  state: string;
}

/**
 * Start time and state of a process from /proc/<pid>/stat, or undefined when there is
 * no such process.
 *
 * @example
 * ```ts
 * import { processInfo } from "./run_record.ts";
 * console.assert((processInfo(Deno.pid)?.startTime ?? 0) > 0);
 * ```
 */
export function processInfo(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold ")" or spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const startTime = Number(fields[19]);
  if (!Number.isInteger(startTime)) return undefined;
  return { startTime, state: fields[0] ?? "?" };
}

/**
 * Whether the process `pid` is running now and is the one that was recorded: its start
 * time is `startTime` (a zombie has ended, whatever its start time).
 *
 * @example
 * ```ts
 * import { isSameProcess, processInfo } from "./run_record.ts";
 * console.assert(isSameProcess(Deno.pid, processInfo(Deno.pid)!.startTime));
 * ```
 */
export function isSameProcess(pid: number, startTime: number): boolean {
  const info = processInfo(pid);
  return info !== undefined && info.startTime === startTime && info.state !== "Z" &&
    info.state !== "X";
}

/**
 * This boot's id (/proc/sys/kernel/random/boot_id), or null when unreadable.
 *
 * @example
 * ```ts
 * import { bootId } from "./run_record.ts";
 * console.assert(bootId() === null || bootId()!.length > 0);
 * ```
 */
export function bootId(): string | null {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return null;
  }
}

function parse(line: string | undefined): Record<string, unknown> | undefined {
  if (line === undefined) return undefined;
  try {
    const value = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isPid(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 1;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // No --allow-env: the defaults.
  }
}
