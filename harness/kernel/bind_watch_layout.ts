// The TypeScript mirror of bpf/bind_watch.h: its constants under the same names, the
// byte layout of its structs (C field names; an array field gives the offset of its first
// element), a decoder for the events, and the reading of the event ring.
// harness/kernel/bind_watch_layout_test.ts parses the header and checks that this file agrees.
//
// Host-order fields are little-endian (squall runs on x86_64); addresses are stored in
// network byte order, as the program read them from the caller's sockaddr.

import type { StructLayout } from "./xdp_layout.ts";

/** Entries of the `events` ring (a power of two). */
export const BW_RING_SIZE = 4096;
/** Entries of the `netns` filter. */
export const BW_MAX_NAMESPACES = 1024;
/** Bytes of a thread name in an event (the kernel's TASK_COMM_LEN). */
export const BW_COMM_LEN = 16;

/** Cgroup levels (1 to this) whose ancestor ids an event records. */
export const BW_CGROUP_LEVELS = 8;
/** Bytes of the `doorbell` ring buffer, which wakes the reader once per event. */
export const BW_DOORBELL_BYTES = 4096;

/** Event kind: a bind() that returned an error. */
export const BW_KIND_FAILURE = 1;
/** Event kind: the first bind() to succeed on a (netns, port, socket type) after a failure. */
export const BW_KIND_SUCCESS = 2;

/** `AF_INET`. */
export const BW_AF_INET = 2;
/** `AF_INET6`. */
export const BW_AF_INET6 = 10;

/** Socket type not known (the fd was not a socket). */
export const BW_SOCK_UNKNOWN = 0;
/** `SOCK_STREAM`. */
export const BW_SOCK_STREAM = 1;
/** `SOCK_DGRAM`. */
export const BW_SOCK_DGRAM = 2;

/** Layout of `struct bw_head`, the one value of the `head` map. */
export const BW_HEAD: StructLayout<"claimed" | "untracked"> = {
  size: 16,
  fields: { claimed: 0, untracked: 8 },
};

/** Layout of `struct bw_event`, a value of the `events` ring. */
export const BW_EVENT: StructLayout<
  | "seq"
  | "ktime_ns"
  | "kind"
  | "pid"
  | "tid"
  | "netns"
  | "family"
  | "port"
  | "addr"
  | "err"
  | "sock_type"
  | "comm"
  | "cgroup_id"
  | "cgroup_ancestors"
> = {
  size: 152,
  fields: {
    seq: 0,
    ktime_ns: 8,
    kind: 16,
    pid: 20,
    tid: 24,
    netns: 28,
    family: 32,
    port: 36,
    addr: 40,
    err: 56,
    sock_type: 60,
    comm: 64,
    cgroup_id: 80,
    cgroup_ancestors: 88,
  },
};

/** A `struct bw_event` as its fields read, before any interpretation. */
export interface RawBindEvent {
  /** Ring index + 1 of the event. */
  seq: number;
  /** `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) when bind() was called. */
  ktimeNs: bigint;
  /** `BW_KIND_*`. */
  kind: number;
  /** Process id. */
  pid: number;
  /** Thread id. */
  tid: number;
  /** Network namespace inode. */
  netns: number;
  /** `BW_AF_INET` or `BW_AF_INET6`. */
  family: number;
  /** Requested port. */
  port: number;
  /** Requested address, network byte order: 4 bytes for IPv4, 16 for IPv6. */
  address: Uint8Array;
  /** errno of a failure; 0 for a success. */
  errno: number;
  /** `SOCK_*` number of the socket; 0 when not known. */
  sockType: number;
  /** Name of the calling thread. */
  comm: string;
  /** Cgroup v2 id of the calling task (the inode number of its cgroup's directory). */
  cgroupId: bigint;
  /** Ids of its cgroup's ancestors at levels 1 to {@linkcode BW_CGROUP_LEVELS}; 0 past its own. */
  cgroupAncestors: bigint[];
}

const decoder = new TextDecoder();

/**
 * Decodes one value of the `events` map (`struct bw_event`).
 *
 * @throws {RangeError} when the bytes are not one `struct bw_event`.
 * @example
 * ```ts
 * import { BW_EVENT, BW_KIND_FAILURE, decodeEvent } from "./bind_watch_layout.ts";
 * const bytes = new Uint8Array(BW_EVENT.size);
 * const view = new DataView(bytes.buffer);
 * view.setUint32(BW_EVENT.fields.kind, BW_KIND_FAILURE, true);
 * view.setUint32(BW_EVENT.fields.port, 7000, true);
 * console.assert(decodeEvent(bytes).port === 7000);
 * ```
 */
export function decodeEvent(bytes: Uint8Array): RawBindEvent {
  if (bytes.byteLength !== BW_EVENT.size) {
    throw new RangeError(
      `Cannot decode bind event: expected ${BW_EVENT.size} bytes, got ${bytes.byteLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = BW_EVENT.fields;
  const family = view.getUint32(at.family, true);
  return {
    seq: Number(view.getBigUint64(at.seq, true)),
    ktimeNs: view.getBigUint64(at.ktime_ns, true),
    kind: view.getUint32(at.kind, true),
    pid: view.getUint32(at.pid, true),
    tid: view.getUint32(at.tid, true),
    netns: view.getUint32(at.netns, true),
    family,
    port: view.getUint32(at.port, true),
    address: bytes.slice(at.addr, at.addr + (family === BW_AF_INET ? 4 : 16)),
    errno: view.getUint32(at.err, true),
    sockType: view.getUint32(at.sock_type, true),
    comm: decodeComm(bytes.subarray(at.comm, at.comm + BW_COMM_LEN)),
    cgroupId: view.getBigUint64(at.cgroup_id, true),
    cgroupAncestors: Array.from(
      { length: BW_CGROUP_LEVELS },
      (_, level) => view.getBigUint64(at.cgroup_ancestors + 8 * level, true),
    ),
  };
}

/** A NUL-terminated name; ASCII by hand, as TextDecoder costs microseconds a call. */
function decodeComm(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    if (byte === 0) break;
    if (byte >= 0x80) {
      const end = bytes.indexOf(0);
      return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
    }
    text += String.fromCharCode(byte);
  }
  return text;
}

/** The `seq` field of an encoded event. */
function seqOf(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Number(view.getBigUint64(BW_EVENT.fields.seq, true));
}

/** How {@linkcode drainRing} reads the ring. */
export interface RingSource {
  /** `bw_head.claimed`: how many events the program has claimed so far. */
  claimed(): number;
  /** The value in ring slot `slot` (a fresh copy, `BW_EVENT.size` bytes). */
  slot(slot: number): Uint8Array;
}

/** What one {@linkcode drainRing} found. */
export interface RingDrain {
  /** The complete events from `next` on, oldest first, as encoded. */
  events: Uint8Array[];
  /** Where the next drain starts. */
  next: number;
  /** Events that were overwritten before they could be read. */
  lost: number;
  /** The index the drain stopped at because its event was still being written, if any. */
  incomplete: number | undefined;
}

/**
 * Reads the ring from index `next` up to what the program has claimed. An event counts
 * when its `seq` is its index + 1; a smaller `seq` means a program is still writing it
 * (the drain stops there, unless it is `skipIncomplete`, which then counts as lost), a
 * larger one that a later lap overwrote it (lost). Events more than `BW_RING_SIZE` behind
 * the counter read after the copies may have been overwritten while they were copied:
 * they count as lost too, never as events.
 *
 * @example
 * ```ts
 * import { BW_EVENT, BW_RING_SIZE, drainRing } from "./bind_watch_layout.ts";
 * const ring = Array.from({ length: BW_RING_SIZE }, () => new Uint8Array(BW_EVENT.size));
 * new DataView(ring[0]!.buffer).setBigUint64(0, 1n, true); // event 0 complete
 * const drain = drainRing(0, { claimed: () => 1, slot: (i) => ring[i]!.slice() });
 * console.assert(drain.events.length === 1 && drain.next === 1 && drain.lost === 0);
 * ```
 */
export function drainRing(
  next: number,
  source: RingSource,
  skipIncomplete?: number,
): RingDrain {
  const claimed = source.claimed();
  let lost = 0;
  if (claimed - next > BW_RING_SIZE) {
    lost += claimed - BW_RING_SIZE - next;
    next = claimed - BW_RING_SIZE;
  }
  const found: { index: number; bytes: Uint8Array }[] = [];
  let index = next;
  let incomplete: number | undefined;
  for (; index < claimed; index++) {
    const bytes = source.slot(index % BW_RING_SIZE);
    const seq = seqOf(bytes);
    if (seq === index + 1) {
      found.push({ index, bytes });
    } else if (seq > index + 1 || index === skipIncomplete) {
      lost++;
    } else {
      incomplete = index;
      break;
    }
  }
  // A slot is rewritten only after its next lap is claimed: what is within one ring of
  // the counter now was not touched while it was copied.
  const safe = source.claimed() - BW_RING_SIZE;
  const events = found.filter((f) => f.index >= safe).map((f) => f.bytes);
  lost += found.length - events.length;
  return { events, next: index, lost, incomplete };
}
