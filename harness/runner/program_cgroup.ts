// The run's cgroup (v2) for programs under test: everything a program starts, its
// children and theirs, ends with the run, even when the runner is SIGKILLed.
//
// A parent-death signal (setpriv --pdeathsig) reaches only the program itself; a server
// started by a shell script, or one that forks workers or daemonizes, would outlive a
// crashed runner and keep the host's namespace and links alive. A cgroup holds every
// descendant whatever it does (setsid, double fork, a new process group), and
// `cgroup.kill` (Linux 5.14) ends them all at once, atomically against forks.
//
// - The cgroup is `<cgroup2 mount>/squall-<run id>-<runner pid>`, made on the first
//   program start and recorded in the run record before it exists.
// - Each program joins a cgroup of its own under it (`program-<id>`) before it runs:
//   `/bin/sh -c 'echo $$ > cgroup.procs && exec "$@"'` sits between setpriv and
//   nsenter, and every step execs the next in place, so the program keeps the pid squall
//   spawned (its signals, exit code and the run record's record are those of the program).
//   Until it has joined, the parent-death signal covers it. Ending a program (restart,
//   stop) empties its own cgroup: what it started goes with it, and nothing of the others.
// - A watchdog, `/bin/sh` in a session of its own reading a pipe from the runner, kills
//   what is in the cgroup and removes it as soon as that pipe closes: at the end of the
//   run, or when the runner dies, however it dies. If the watchdog is killed too,
//   `squall clean` does the same from the run record.
//
// Without a writable cgroup2 mount (a container with a read-only /sys/fs/cgroup),
// programs run as before, and `squall doctor` says what that costs.

import { describeProcesses, type Straggler } from "./_stragglers.ts";

/** The shell every step here runs in: POSIX, on every Linux system. */
const SH = "/bin/sh";

/** Joins the cgroup whose cgroup.procs is $0, then execs the rest of the command. */
const JOIN_SCRIPT = 'echo $$ > "$0" && exec "$@"';

/**
 * Waits for its stdin to close, then kills everything in the cgroup $1 and the cgroups
 * under it, and removes them, deepest first. Without cgroup.kill (before Linux 5.14) it
 * kills what the top cgroup's cgroup.procs lists, by pid. Gives up after about 10 s (a
 * process in uninterruptible sleep).
 */
const WATCHDOG_SCRIPT = `
cg=$1
read -r _ || :
i=0
while [ -d "$cg" ]; do
  if [ -e "$cg/cgroup.kill" ]; then
    echo 1 > "$cg/cgroup.kill" 2>/dev/null
  else
    for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  fi
  find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  [ -d "$cg" ] || exit 0
  i=$((i + 1))
  [ "$i" -ge 200 ] && exit 1
  sleep 0.05
done
`;

/**
 * The cgroup v2 id of the cgroup at `path` (its directory's inode number): what the
 * kernel's `bpf_get_current_cgroup_id()` says of a process in it.
 *
 * @example
 * ```ts ignore
 * import { cgroupId } from "./program_cgroup.ts";
 * console.log(cgroupId("/sys/fs/cgroup/unified")); // 1, the root
 * ```
 */
export function cgroupId(path: string): number {
  const ino = Deno.statSync(path).ino;
  if (ino === null) throw new Error(`Cannot read the id of cgroup "${path}": no inode number`);
  return ino;
}

/** How long {@linkcode ProgramCgroup.close} waits for the cgroup to empty. */
const EMPTY_WAIT_MS = 5_000;

/** A process found in a cgroup: its pid and name (comm, or "?" when it was gone). */
export type CgroupProcess = Straggler;

/**
 * The mount points of cgroup v2 hierarchies in a /proc/<pid>/mountinfo text, in order.
 *
 * @example
 * ```ts
 * import { cgroup2Mounts } from "./program_cgroup.ts";
 * const line = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
 * console.assert(cgroup2Mounts(line)[0] === "/sys/fs/cgroup/unified");
 * ```
 */
export function cgroup2Mounts(mountinfo: string): string[] {
  const found: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (after?.split(" ")[0] !== "cgroup2") continue;
    const mountPoint = before?.split(" ")[4];
    // Spaces and other odd bytes are written as octal escapes (\040).
    if (mountPoint) {
      found.push(
        mountPoint.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))),
      );
    }
  }
  return found;
}

/** The cgroup2 mount points of this system (none when /proc cannot be read). */
export function systemCgroup2Mounts(): string[] {
  try {
    return cgroup2Mounts(Deno.readTextFileSync("/proc/self/mountinfo"));
  } catch {
    return [];
  }
}

/**
 * The command prefix that makes a process join the cgroup at `path` and exec the rest
 * of its command in place (same pid): for between `setpriv --pdeathsig KILL --` and the
 * program.
 *
 * @example
 * ```ts
 * import { joinCgroupPrefix } from "./program_cgroup.ts";
 * console.assert(joinCgroupPrefix("/sys/fs/cgroup/squall-1a2b3c-42")[0] === "/bin/sh");
 * ```
 */
export function joinCgroupPrefix(path: string): string[] {
  return [SH, "-c", JOIN_SCRIPT, `${path}/cgroup.procs`];
}

/** The name of a run's cgroup: `squall-<run id>-<runner pid>`. */
export function cgroupName(runId: string, runnerPid: number): string {
  return `squall-${runId}-${runnerPid}`;
}

/**
 * Whether `path` is a cgroup squall would have made for run `runId`: a directory named
 * `squall-<runId>-<pid>` right under a cgroup2 mount point. `squall clean` touches
 * nothing else, whatever a run record says.
 *
 * @example
 * ```ts
 * import { isRunCgroupPath } from "./program_cgroup.ts";
 * const mounts = ["/sys/fs/cgroup"];
 * console.assert(isRunCgroupPath("/sys/fs/cgroup/squall-1a2b3c-42", "1a2b3c", mounts));
 * console.assert(!isRunCgroupPath("/sys/fs/cgroup/system.slice", "1a2b3c", mounts));
 * ```
 */
export function isRunCgroupPath(path: string, runId: string, mounts: readonly string[]): boolean {
  const slash = path.lastIndexOf("/");
  const parent = path.slice(0, slash);
  const name = path.slice(slash + 1);
  return /^[A-Za-z0-9_]+$/.test(runId) && mounts.includes(parent) &&
    new RegExp(`^squall-${runId}-[0-9]+$`).test(name);
}

/** The processes in a cgroup now; none when it is gone. */
export function cgroupProcesses(path: string): CgroupProcess[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${path}/cgroup.procs`);
  } catch {
    return [];
  }
  return text.split("\n").filter((l) => /^\d+$/.test(l)).map((l) => {
    const pid = Number(l);
    let program = "?";
    try {
      program = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
    } catch {
      // Gone meanwhile.
    }
    return { pid, program };
  });
}

/**
 * Kills every process in a cgroup and in the cgroups under it (cgroup.kill, or SIGKILL
 * by pid from cgroup.procs where there is no cgroup.kill) and waits until they are gone.
 * Returns the processes that were in it; throws when they are not gone in `waitMs`.
 */
export async function emptyCgroup(
  path: string,
  waitMs = EMPTY_WAIT_MS,
): Promise<CgroupProcess[]> {
  const found = cgroupTree(path).flatMap(cgroupProcesses);
  const deadline = performance.now() + waitMs;
  for (let left = found; left.length > 0; left = cgroupTree(path).flatMap(cgroupProcesses)) {
    if (performance.now() > deadline) {
      throw new Error(`Cannot empty cgroup "${path}": still holds ${describeProcesses(left)}`);
    }
    try {
      Deno.writeTextFileSync(`${path}/cgroup.kill`, "1");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // No cgroup.kill (Linux < 5.14), or the cgroup went meanwhile: by pid, if it is there.
      for (const p of left) {
        try {
          Deno.kill(p.pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return found;
}

/**
 * Empties a cgroup as {@linkcode emptyCgroup} does, then removes it and every cgroup
 * under it (a program may make its own), deepest first. Returns the processes that were
 * in them; throws when they cannot be emptied or removed in `waitMs`.
 */
export async function killAndRemoveCgroup(
  path: string,
  waitMs = EMPTY_WAIT_MS,
): Promise<CgroupProcess[]> {
  const deadline = performance.now() + waitMs;
  const found = await emptyCgroup(path, waitMs);
  for (;;) {
    try {
      for (const dir of cgroupTree(path).reverse()) Deno.removeSync(dir);
      return found;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && cgroupTree(path).length === 0) return found;
      // A process exits from its cgroup a moment after it is gone from cgroup.procs.
      if (performance.now() > deadline) {
        throw new Error(`Cannot remove cgroup "${path}": ${(error as Error).message}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A cgroup and every cgroup under it, parents first; none when it does not exist. */
export function cgroupTree(path: string): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(path)];
  } catch {
    return [];
  }
  return [
    path,
    ...entries.filter((e) => e.isDirectory).flatMap((e) => cgroupTree(`${path}/${e.name}`)),
  ];
}

/** The run's cgroup for programs under test, with its watchdog. */
export class ProgramCgroup {
  /** The cgroup's directory. */
  readonly path: string;
  /** The watchdog's pid. */
  readonly watchdogPid: number;
  #watchdog: Deno.ChildProcess;
  #closing: Promise<CgroupProcess[]> | undefined;

  private constructor(path: string, watchdog: Deno.ChildProcess) {
    this.path = path;
    this.#watchdog = watchdog;
    this.watchdogPid = watchdog.pid;
  }

  /**
   * Makes the cgroup of run `runId` under the first writable cgroup2 mount and starts its
   * watchdog; `record` is called with its path before it is made (for the run record).
   * Returns null, having made nothing, when there is no writable cgroup2 mount.
   */
  static create(
    runId: string,
    record: (path: string) => void,
    mounts: readonly string[] = systemCgroup2Mounts(),
  ): ProgramCgroup | null {
    for (const mount of mounts) {
      const path = `${mount}/${cgroupName(runId, Deno.pid)}`;
      record(path);
      try {
        Deno.mkdirSync(path);
      } catch {
        continue; // Read-only, or not ours to write: the next mount, or none.
      }
      let watchdog: Deno.ChildProcess;
      try {
        watchdog = new Deno.Command(SH, {
          args: ["-c", WATCHDOG_SCRIPT, "squall-cgroup-watchdog", path],
          stdin: "piped",
          stdout: "null",
          stderr: "null",
          // Its own session: a terminal's Ctrl-C, meant for the runner, does not end it.
          detached: true,
        }).spawn();
      } catch (error) {
        Deno.removeSync(path);
        throw error;
      }
      return new ProgramCgroup(path, watchdog);
    }
    return null;
  }

  /**
   * The cgroup of one program under test (the run's workload `id`), under the run's: made
   * on first use. Ending a program then ends what it started, and nothing of the others.
   */
  programCgroup(id: number): string {
    if (!Number.isInteger(id) || id < 0) {
      throw new RangeError(`Cannot make a program cgroup: id must be an integer >= 0, got ${id}`);
    }
    const path = `${this.path}/program-${id}`;
    Deno.mkdirSync(path, { recursive: true });
    return path;
  }

  /**
   * Ends everything still in the cgroup, removes it and ends the watchdog. Returns what
   * was still running (processes programs under test left behind). Safe to call twice.
   */
  close(): Promise<CgroupProcess[]> {
    this.#closing ??= (async () => {
      try {
        return await killAndRemoveCgroup(this.path);
      } finally {
        // Closing its stdin is what it waits for; it finds the cgroup gone and exits.
        await this.#watchdog.stdin.close().catch(() => {});
        await this.#watchdog.status;
      }
    })();
    return this.#closing;
  }
}
