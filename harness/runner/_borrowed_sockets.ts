// A program's UDP sockets, held across its end (a kill, a restart, a stop): before the
// signal, squall borrows a duplicate of each (pidfd_getfd); once the program is gone,
// the socket is still open through the duplicate, so what was queued in it, which the
// program never read, can be counted (per probe flow) before it is closed: a ledger
// cause of its own, not "unexplained". Datagrams that reach it between the exit and the
// count are counted too: they die with it.

import { SocketOptionReader } from "../agent/socket_options.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";

/** Sockets borrowed from a program about to be killed. */
export interface BorrowedSockets {
  /**
   * With `exited`: takes each out of its group, counts and closes it; returns the counts,
   * or null when it held none. Without (the program still runs): only lets them go.
   */
  finish(
    exited: boolean,
  ): { datagrams: number; flows: { flowId: number; datagrams: number }[] } | null;
}

/**
 * Borrows the UDP sockets that processes `pids` hold; null when they hold none, or libc
 * cannot be loaded.
 */
export function borrowUdpSockets(pids: readonly number[]): BorrowedSockets | null {
  const libc = findLibrary(LIBC_CANDIDATES);
  if (!libc) return null;
  let reader: SocketOptionReader;
  try {
    reader = SocketOptionReader.open(libc);
  } catch {
    return null;
  }
  const held = new Map<number, { fd: number; owners: Set<number> }>();
  for (const pid of pids) {
    for (const { fd, inode } of socketFds(pid)) {
      const seen = held.get(inode);
      if (seen) {
        seen.owners.add(pid);
        continue;
      }
      const copy = reader.borrow(pid, fd);
      if (copy === null) continue;
      if (reader.isUdp(copy)) held.set(inode, { fd: copy, owners: new Set([pid]) });
      else reader.release(copy);
    }
  }
  if (held.size === 0) {
    reader[Symbol.dispose]();
    return null;
  }
  return {
    finish(exited) {
      const flows = new Map<number, number>();
      let datagrams = 0;
      let drainedAny = false;
      try {
        for (const [inode, { fd, owners }] of held) {
          // A process that still has the socket (it survived the signal) keeps it whole.
          const stillHeld = [...owners].some((pid) =>
            socketFds(pid).some((s) => s.inode === inode)
          );
          if (!exited || stillHeld) {
            reader.release(fd);
            continue;
          }
          const drained = reader.drainAndClose(fd);
          drainedAny = true;
          datagrams += drained.datagrams;
          for (const [flowId, n] of drained.flows) flows.set(flowId, (flows.get(flowId) ?? 0) + n);
        }
      } finally {
        reader[Symbol.dispose]();
      }
      if (!drainedAny) return null;
      return {
        datagrams,
        flows: [...flows].map(([flowId, n]) => ({ flowId, datagrams: n })),
      };
    },
  };
}

/** The socket file descriptors of process `pid`, with their inodes; [] once it is gone. */
function socketFds(pid: number): { fd: number; inode: number }[] {
  const found: { fd: number; inode: number }[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`/proc/${pid}/fd`)];
  } catch {
    return found;
  }
  for (const entry of entries) {
    try {
      const inode = Number(
        /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`))?.[1],
      );
      if (inode > 0) found.push({ fd: Number(entry.name), inode });
    } catch {
      // Closed meanwhile.
    }
  }
  return found;
}
