// Processes left in a host's namespace after its workloads stopped: children a program
// under test forked and did not take down with it. They would keep the namespace (and
// its links) alive after the run, so the runner ends them, by pid, and says so.

import { namespaceInode } from "../kernel/bind_watch.ts";

/** A process found in a namespace. */
export interface Straggler {
  /** Its pid. */
  pid: number;
  /** Its name (comm). */
  program: string;
}

/**
 * The processes whose network namespace is `inode`, except `keep` (the agent that holds
 * it). Reads /proc: the runner may (it runs with -A).
 */
export function processesInNamespace(inode: number, keep: ReadonlySet<number>): Straggler[] {
  const found: Straggler[] = [];
  const target = `net:[${inode}]`;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (keep.has(pid)) continue;
    try {
      if (Deno.readLinkSync(`/proc/${pid}/ns/net`) !== target) continue;
      const program = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
      found.push({ pid, program });
    } catch {
      // Gone meanwhile, or a kernel thread.
    }
  }
  return found;
}

/** `pid 123 (sleep), pid 124 (python3)`, for the run's log and error messages. */
export function describeProcesses(processes: readonly Straggler[]): string {
  return processes.map((p) => `pid ${p.pid} (${p.program})`).join(", ");
}

/** Ends stragglers with SIGKILL, by pid; returns those it signalled. */
export function endStragglers(stragglers: readonly Straggler[]): Straggler[] {
  const ended: Straggler[] = [];
  for (const s of stragglers) {
    try {
      Deno.kill(s.pid, "SIGKILL");
      ended.push(s);
    } catch {
      // Already gone.
    }
  }
  return ended;
}

/**
 * Ends the processes left in each host's namespace besides its agent (`agents`: host to
 * agent pid); says, for the run's log, what was ended where.
 */
export function endHostStragglers(agents: ReadonlyMap<string, number>): string[] {
  const said: string[] = [];
  for (const [host, pid] of agents) {
    let inode: number;
    try {
      inode = namespaceInode(pid);
    } catch {
      continue; // The agent is gone, and its namespace with it unless others hold it.
    }
    const ended = endStragglers(processesInNamespace(inode, new Set([pid])));
    if (ended.length === 0) continue;
    said.push(
      `Processes were left running in host "${host}" after its workloads stopped; squall ended them: ${
        describeProcesses(ended)
      }`,
    );
  }
  return said;
}
