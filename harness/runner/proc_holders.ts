// Who holds a port, read straight from /proc in the runner: the sockets of a network
// namespace from /proc/<pid>/net/{tcp,udp}{,6} (any process in the namespace will do),
// and their owners from the fds of the processes in that namespace. The same answer as
// `nsenter -t <pid> -n ss -H -n -a -p sport = :<port>` (see holders.ts), in about a
// millisecond instead of the 5-15 ms that spawning nsenter and ss takes: the sooner the
// runner looks after a failed bind, the likelier it still sees the socket that held the
// port. Needs to read other processes' /proc entries (root, as the runner is).

import { namespaceInode } from "../kernel/bind_watch.ts";
import type { PortHolder } from "../measure/bind_results.ts";
import { processesInNamespace } from "./_stragglers.ts";

/** A socket as /proc/net lists it. */
export interface ProcSocket {
  /** Local address, `ip:port` as ss prints it (`[v6]:port` for IPv6). */
  local: string;
  /** Local port. */
  port: number;
  /** Peer address, or `*` when there is none. */
  peer: string;
  /** State, named as ss names it. */
  state: string;
  /** Socket inode, 0 for one no process owns (TIME-WAIT). */
  inode: number;
  /** The socket's owner (the uid that made it). */
  uid: number;
}

/** The `st` column of /proc/net/{tcp,udp} (the kernel's TCP states), as ss names them. */
const STATES: Record<number, string> = {
  1: "ESTAB",
  2: "SYN-SENT",
  3: "SYN-RECV",
  4: "FIN-WAIT-1",
  5: "FIN-WAIT-2",
  6: "TIME-WAIT",
  7: "UNCONN",
  8: "CLOSE-WAIT",
  9: "LAST-ACK",
  10: "LISTEN",
  11: "CLOSING",
};

/**
 * Parses /proc/net/{tcp,udp,tcp6,udp6}.
 *
 * @example
 * ```ts
 * import { parseProcNet } from "./proc_holders.ts";
 * const text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
 *   "  12: 0100007F:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0 0\n";
 * const [s] = parseProcNet(text);
 * console.assert(s?.local === "127.0.0.1:7000" && s.peer === "*" && s.state === "UNCONN");
 * ```
 */
export function parseProcNet(text: string): ProcSocket[] {
  const sockets: ProcSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = address(fields[1]!);
    const peer = address(fields[2]!);
    sockets.push({
      local: local.text,
      port: local.port,
      peer: peer.port === 0 ? "*" : peer.text,
      state: STATES[parseInt(fields[3]!, 16)] ?? `STATE-${fields[3]}`,
      inode: Number(fields[9]),
      uid: Number(fields[7]),
    });
  }
  return sockets;
}

/** `0100007F:1B58` or 32 hex digits and a port: each 32-bit word in host (little-endian) order. */
function address(field: string): { text: string; port: number } {
  const [hex, portHex] = field.split(":") as [string, string];
  const port = parseInt(portHex, 16);
  const bytes: number[] = [];
  for (let i = 0; i < hex.length; i += 8) {
    const word = parseInt(hex.slice(i, i + 8), 16);
    bytes.push(word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24);
  }
  if (bytes.length === 4) return { text: `${bytes.join(".")}:${port}`, port };
  return { text: `[${ipv6(bytes)}]:${port}`, port };
}

/** RFC 5952 text of 16 bytes: the longest run of two or more zero groups becomes `::`. */
function ipv6(bytes: number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i]! << 8 | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join(".")}`;
  }
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j > i ? j : i + 1;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.length).join(":")}`;
}

/**
 * Who holds `port` (`protocol`, IPv4 and IPv6) in the network namespace of process
 * `nsPid`: one holder per socket and owning process, a holder with a null pid for a
 * socket no process owns, as {@linkcode parseSs} gives. Owners are looked for among the
 * processes in that namespace.
 *
 * @example
 * ```ts
 * import { procHolders } from "./proc_holders.ts";
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const port = (socket.addr as Deno.NetAddr).port;
 * console.assert(procHolders(Deno.pid, "udp", port).some((h) => h.pid === Deno.pid));
 * socket.close();
 * ```
 */
export function procHolders(
  nsPid: number,
  protocol: "tcp" | "udp",
  port: number,
  reusePortOf?: (pid: number, fd: number) => boolean | null,
): PortHolder[] {
  const sockets = [protocol, `${protocol}6`].flatMap((file) => {
    try {
      return parseProcNet(Deno.readTextFileSync(`/proc/${nsPid}/net/${file}`));
    } catch {
      return []; // No IPv6 in this kernel, or the process is gone.
    }
  }).filter((s) => s.port === port);
  const owners = socketOwners(nsPid, new Set(sockets.map((s) => s.inode).filter((i) => i > 0)));
  return sockets.flatMap(({ state, local, peer, inode, uid }): PortHolder[] => {
    const users = owners.get(inode) ?? [];
    if (users.length === 0) return [{ pid: null, program: null, state, local, peer, uid }];
    return users.map(({ pid, program, fd }) => {
      const holder: PortHolder = { pid, program, state, local, peer, uid };
      const reusePort = reusePortOf?.(pid, fd);
      if (typeof reusePort === "boolean") holder.reusePort = reusePort;
      return holder;
    });
  });
}

/**
 * The sockets process `pid` holds, as `tcp 0.0.0.0:7000 LISTEN` (protocol, local
 * address, state), read from its fds and its namespace's /proc/net tables; none when it
 * is gone.
 *
 * @example
 * ```ts
 * import { socketsOf } from "./proc_holders.ts";
 * const socket = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (socket.addr as Deno.NetAddr).port;
 * console.assert(socketsOf(Deno.pid).includes(`tcp 127.0.0.1:${port} LISTEN`));
 * socket.close();
 * ```
 */
export function socketsOf(pid: number): string[] {
  const inodes = new Set<number>();
  try {
    for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
        const inode = Number(/^socket:\[(\d+)\]$/.exec(target)?.[1]);
        if (inode > 0) inodes.add(inode);
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    return []; // Gone.
  }
  const held: string[] = [];
  for (const protocol of ["tcp", "udp"] as const) {
    for (const file of [protocol, `${protocol}6`]) {
      let text: string;
      try {
        text = Deno.readTextFileSync(`/proc/${pid}/net/${file}`);
      } catch {
        continue;
      }
      for (const s of parseProcNet(text)) {
        if (inodes.has(s.inode)) held.push(`${protocol} ${s.local} ${s.state}`);
      }
    }
  }
  return held;
}

/** The processes in `nsPid`'s namespace that have each of `inodes` open. */
function socketOwners(
  nsPid: number,
  inodes: ReadonlySet<number>,
): Map<number, { pid: number; program: string; fd: number }[]> {
  const owners = new Map<number, { pid: number; program: string; fd: number }[]>();
  if (inodes.size === 0) return owners;
  let namespace: number;
  try {
    namespace = namespaceInode(nsPid);
  } catch {
    return owners;
  }
  for (const process of processesInNamespace(namespace, new Set())) {
    let fds: Deno.DirEntry[];
    try {
      fds = [...Deno.readDirSync(`/proc/${process.pid}/fd`)];
    } catch {
      continue; // Gone meanwhile.
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = Deno.readLinkSync(`/proc/${process.pid}/fd/${fd.name}`);
      } catch {
        continue; // Closed meanwhile.
      }
      const inode = Number(/^socket:\[(\d+)\]$/.exec(target)?.[1]);
      if (!inodes.has(inode)) continue;
      const users = owners.get(inode) ?? [];
      // One holder per process, however many of its fds share the socket.
      if (!users.some((u) => u.pid === process.pid)) {
        users.push({ ...process, fd: Number(fd.name) });
      }
      owners.set(inode, users);
    }
  }
  return owners;
}
