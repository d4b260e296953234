// A bind event as squall reports it, from the record the bind watch's BPF program writes:
// errno and socket type names, addresses as text, times on the wall clock.

import {
  BW_AF_INET,
  BW_AF_INET6,
  BW_KIND_FAILURE,
  BW_KIND_SUCCESS,
  BW_SOCK_DGRAM,
  BW_SOCK_STREAM,
  BW_SOCK_UNKNOWN,
  type RawBindEvent,
} from "./bind_watch_layout.ts";

/** One failed bind(), or the first successful one on the same port after failures. */
export interface BindEvent {
  /** A failed bind(), or the first bind() that succeeded on its (netns, port, socket type) after a failure. */
  kind: "failure" | "success";
  /** When bind() was called: wall clock, ms since the epoch (sub-ms precision). */
  atMs: number;
  /** Process id (in the initial pid namespace). */
  pid: number;
  /** Thread id. */
  tid: number;
  /** Name of the calling thread (`/proc/<pid>/task/<tid>/comm`, at most 15 characters). */
  comm: string;
  /** Network namespace inode of the caller, as `namespaceInode` (bind_watch.ts) gives it. */
  netns: number;
  /** Address family of the sockaddr passed. */
  family: "ipv4" | "ipv6";
  /** Address asked for: `"0.0.0.0"`, `"198.18.0.2"`, `"::"`. */
  address: string;
  /** Port asked for (0: any). */
  port: number;
  /** errno of the failure; 0 for a success. */
  errno: number;
  /** Name of the errno (`"EADDRINUSE"`), `"errno <n>"` for a rare one; `""` for a success. */
  error: string;
  /** Kind of socket: stream (`"tcp"`), datagram (`"udp"`), another type, or null when unknown. */
  socketType: "tcp" | "udp" | "other" | null;
  /**
   * Cgroup v2 id of the caller, read in the kernel during the call (the inode number of
   * its cgroup's directory, as `Deno.statSync(dir).ino` gives it).
   */
  cgroupId: number;
  /**
   * Ids of the caller's cgroup's ancestors at levels 1, 2, ... 8 (level 0 is the root),
   * 0 past its own level: a process in a cgroup its program made under the program's own
   * still shows the program's cgroup here.
   */
  cgroupAncestors: number[];
}

/**
 * A bind event for people, from the record in the ring; `clockOffsetMs` is the wall clock
 * minus the kernel's monotonic clock.
 */
export function toBindEvent(raw: RawBindEvent, clockOffsetMs: number): BindEvent {
  return {
    kind: raw.kind === BW_KIND_SUCCESS ? "success" : "failure",
    atMs: Number(raw.ktimeNs / 1000n) / 1000 + clockOffsetMs,
    pid: raw.pid,
    tid: raw.tid,
    comm: raw.comm,
    netns: raw.netns,
    family: raw.family === BW_AF_INET ? "ipv4" : "ipv6", // the program records no other
    address: raw.family === BW_AF_INET6 ? formatIpv6(raw.address) : raw.address.join("."),
    port: raw.port,
    errno: raw.kind === BW_KIND_FAILURE ? raw.errno : 0,
    error: raw.kind === BW_KIND_FAILURE ? errnoName(raw.errno) : "",
    socketType: socketTypeName(raw.sockType),
    cgroupId: Number(raw.cgroupId),
    cgroupAncestors: raw.cgroupAncestors.map(Number),
  };
}

/** Names of the errno values bind() returns, and a few more (Linux, x86_64 and arm64). */
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  19: "ENODEV",
  22: "EINVAL",
  88: "ENOTSOCK",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  105: "ENOBUFS",
};

/**
 * The name of an errno value: `"EADDRINUSE"` for 98, `"errno 200"` for one not in the table.
 *
 * @example
 * ```ts
 * import { errnoName } from "./bind_event.ts";
 * console.assert(errnoName(98) === "EADDRINUSE");
 * ```
 */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

function socketTypeName(type: number): BindEvent["socketType"] {
  switch (type) {
    case BW_SOCK_UNKNOWN:
      return null;
    case BW_SOCK_STREAM:
      return "tcp";
    case BW_SOCK_DGRAM:
      return "udp";
    default:
      return "other";
  }
}

/**
 * An IPv6 address in its canonical text form (RFC 5952): lowercase, no leading zeros,
 * the longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`.
 *
 * @example
 * ```ts
 * import { formatIpv6 } from "./bind_event.ts";
 * console.assert(formatIpv6(new Uint8Array(16)) === "::");
 * ```
 */
export function formatIpv6(bytes: Uint8Array): string {
  if (bytes.byteLength !== 16) {
    throw new RangeError(`Cannot format IPv6 address: expected 16 bytes, got ${bytes.byteLength}`);
  }
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${[...bytes.subarray(12)].join(".")}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero group stays "0"
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}
