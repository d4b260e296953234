// What the native UDP workers (echo and probe) share: the libc symbols they call, the
// struct layouts they fill (sockaddr_in, iovec, msghdr, mmsghdr, cmsghdr, timespec,
// sock_extended_err, rusage) and the pure parsers of what the kernel writes back
// (receive and transmit timestamps). Only x86-64 and aarch64 (LP64 Linux) layouts.
//
// Agents get --allow-ffi for libc's path only, so Deno.UnsafePointer is out of reach;
// a struct that points at a buffer gets its address from memcpy(buf, buf, 0), declared
// to return a number (`addressOf`). Every buffer a struct points at is carved out of one
// ArrayBuffer that lives as long as the worker (its backing store never moves).

import { readErrno } from "./libc.ts";

/** The libc symbols of the native UDP workers. */
export const SOCKET_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "buffer"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  ppoll: { parameters: ["buffer", "u64", "buffer", "buffer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  clock_nanosleep: { parameters: ["i32", "i32", "buffer", "buffer"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  addressOf: { name: "memcpy", parameters: ["buffer", "buffer", "usize"], result: "usize" },
} as const;

/** libc opened with {@linkcode SOCKET_SYMBOLS}. */
export type SocketLibrary = Deno.DynamicLibrary<typeof SOCKET_SYMBOLS>;
/** Its symbols. */
export type SocketSymbols = SocketLibrary["symbols"];

/** Opens libc with the symbols of the native UDP workers. */
export function openSocketLibrary(libcPath: string): SocketLibrary {
  return Deno.dlopen(libcPath, SOCKET_SYMBOLS);
}

/** Constants of the Linux socket API the workers use. */
export const AF_INET = 2;
/** Datagram socket type. */
export const SOCK_DGRAM = 2;
/** With the type: the descriptor is closed in children (`ss`, ...), never inherited. */
export const SOCK_CLOEXEC = 0o2000000;
/** Socket-level options. */
export const SOL_SOCKET = 1;
/** IP-level options (and IP_RECVERR messages). */
export const SOL_IP = 0;
/** Receive timeout (struct timeval). */
export const SO_RCVTIMEO = 20;
/** Receive buffer size. */
export const SO_RCVBUF = 8;
/** SO_REUSEPORT: sockets that all set it (same owner) share a port; the kernel spreads traffic. */
export const SO_REUSEPORT = 15;
/** Receive buffer size past net.core.rmem_max (needs CAP_NET_ADMIN). */
export const SO_RCVBUFFORCE = 33;
/** Kernel receive times as struct timespec (CLOCK_REALTIME). */
export const SO_TIMESTAMPNS = 35;
/** The control message type of SO_TIMESTAMPNS. */
export const SCM_TIMESTAMPNS = 35;
/** Kernel receive and transmit times (struct scm_timestamping). */
export const SO_TIMESTAMPING = 37;
/** The control message type of SO_TIMESTAMPING. */
export const SCM_TIMESTAMPING = 37;
/** Extended errors (the error queue's control message). */
export const IP_RECVERR = 11;
/** Flags of SO_TIMESTAMPING. */
export const SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1;
/** Software receive timestamps. */
export const SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3;
/** Report software timestamps. */
export const SOF_TIMESTAMPING_SOFTWARE = 1 << 4;
/** Software transmit timestamps as a datagram enters the packet scheduler (qdisc). */
export const SOF_TIMESTAMPING_TX_SCHED = 1 << 8;
/** Number each send (ee_data of the error queue message). */
export const SOF_TIMESTAMPING_OPT_ID = 1 << 7;
/** Transmit timestamps without the packet. */
export const SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11;
/** recvmsg flag: read the error queue. */
export const MSG_ERRQUEUE = 0x2000;
/** recv/send flag: do not block. */
export const MSG_DONTWAIT = 0x40;
/** sock_extended_err origin of a timestamp. */
export const SO_EE_ORIGIN_TIMESTAMPING = 4;
/** poll: readable. */
export const POLLIN = 1;
/** poll: error queue has something. */
export const POLLERR = 8;
/** CLOCK_REALTIME: the clock the kernel's socket timestamps use. */
export const CLOCK_REALTIME = 0;
/** CLOCK_MONOTONIC: for pacing. */
export const CLOCK_MONOTONIC = 1;
/** clock_nanosleep: the time is absolute. */
export const TIMER_ABSTIME = 1;
/** prctl: timer slack in ns. */
export const PR_SET_TIMERSLACK = 29;
/** getrusage: the calling thread. */
export const RUSAGE_THREAD = 1;

/** Bytes of struct sockaddr_in. */
export const SOCKADDR_IN_BYTES = 16;
/** Bytes of struct iovec. */
export const IOVEC_BYTES = 16;
/** Bytes of struct msghdr. */
export const MSGHDR_BYTES = 56;
/** Bytes of struct mmsghdr (msghdr, msg_len, padding). */
export const MMSGHDR_BYTES = 64;
/** Control buffer per message: room for a timestamping message and an extended error. */
export const CONTROL_BYTES = 128;

const ERRNO_NAMES: Record<number, string> = {
  4: "Interrupted",
  11: "TimedOut",
  13: "PermissionDenied",
  90: "MessageTooLong",
  98: "AddrInUse",
  99: "AddrNotAvailable",
  101: "NetworkUnreachable",
  105: "NoBufferSpace",
  111: "ConnectionRefused",
  113: "HostUnreachable",
};

/** A Deno-style error name for an errno (`Errno<n>` when it has none). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `Errno${errno}`;
}

/** The calling thread's errno. */
export function errnoOf(c: SocketSymbols): number {
  return readErrno(c);
}

/** Writes an IPv4 sockaddr_in for `ip:port` at `offset`. */
export function writeSockaddrIn(view: DataView, offset: number, ip: string, port: number): void {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`Cannot write socket address "${ip}": not an IPv4 address`);
  }
  view.setUint16(offset, AF_INET, true);
  view.setUint16(offset + 2, port, false);
  parts.forEach((p, i) => view.setUint8(offset + 4 + i, p));
  view.setUint32(offset + 8, 0);
  view.setUint32(offset + 12, 0);
}

/** Binds `fd` to `ip:port` (0: any port); false, with errno set, when it cannot. */
export function bindTo(c: SocketSymbols, fd: number, ip: string, port: number): boolean {
  const address = new Uint8Array(new ArrayBuffer(SOCKADDR_IN_BYTES));
  writeSockaddrIn(new DataView(address.buffer), 0, ip, port);
  return c.bind(fd, address, SOCKADDR_IN_BYTES) === 0;
}

/**
 * A socket a worker could not set up: closes it (when it was opened) and libc, and says
 * why, as the worker reports it to its agent: `Cannot bind UDP socket to "ip:port": name`.
 */
export function bindFailure(
  libc: SocketLibrary,
  fd: number,
  where: string,
): { type: "failed"; name: string; message: string } {
  const c = libc.symbols;
  const name = errnoName(errnoOf(c));
  if (fd >= 0) c.close(fd);
  libc.close();
  return { type: "failed", name, message: `Cannot bind UDP socket to "${where}": ${name}` };
}

/** The local port a bound socket got (the one asked for, or the kernel's pick for 0). */
export function localPort(c: SocketSymbols, fd: number): number {
  const address = new Uint8Array(new ArrayBuffer(SOCKADDR_IN_BYTES));
  const length = new Uint32Array([SOCKADDR_IN_BYTES]);
  c.getsockname(fd, address, new Uint8Array(length.buffer));
  return new DataView(address.buffer).getUint16(2, false);
}

/** Reads an IPv4 sockaddr_in at `offset` as `ip:port`. */
export function readSockaddrIn(view: DataView, offset: number): string {
  const port = view.getUint16(offset + 2, false);
  const b = (i: number) => view.getUint8(offset + 4 + i);
  return `${b(0)}.${b(1)}.${b(2)}.${b(3)}:${port}`;
}

/** A time from the kernel: whole seconds and nanoseconds (CLOCK_REALTIME). */
export interface KernelTime {
  sec: number;
  nsec: number;
}

/** What a control buffer held. */
export interface ControlMessages {
  /** The software receive (or transmit) time, or null when there is none. */
  time: KernelTime | null;
  /** From an extended error of origin "timestamping": the send's number (ee_data). */
  timestampId: number | null;
}

/**
 * Parses the control messages (`cmsghdr`s) of `length` bytes at `offset`: the software
 * timestamp of SCM_TIMESTAMPNS or SCM_TIMESTAMPING (its first timespec), and the send's
 * number from an IP_RECVERR message of origin SO_EE_ORIGIN_TIMESTAMPING. Bounds-checked:
 * a short or malformed buffer ends the walk.
 *
 * @example
 * ```ts
 * import { parseControl } from "./libc_socket.ts";
 * const none = parseControl(new DataView(new ArrayBuffer(64)), 0, 0);
 * console.assert(none.time === null && none.timestampId === null);
 * ```
 */
export function parseControl(view: DataView, offset: number, length: number): ControlMessages {
  const result: ControlMessages = { time: null, timestampId: null };
  const end = Math.min(offset + length, view.byteLength);
  let at = offset;
  while (at + 16 <= end) {
    const len = u64(view, at);
    if (len < 16 || at + len > end) break;
    const level = view.getInt32(at + 8, true);
    const type = view.getInt32(at + 12, true);
    const data = at + 16;
    if (
      level === SOL_SOCKET && (type === SCM_TIMESTAMPNS || type === SCM_TIMESTAMPING) &&
      len >= 32
    ) {
      const sec = u64(view, data);
      const nsec = u64(view, data + 8);
      if (sec !== 0 || nsec !== 0) result.time = { sec, nsec };
    } else if (level === SOL_IP && type === IP_RECVERR && len >= 16 + 16) {
      const origin = view.getUint8(data + 4);
      if (origin === SO_EE_ORIGIN_TIMESTAMPING) {
        result.timestampId = view.getUint32(data + 12, true);
      }
    }
    at += (len + 7) & ~7;
  }
  return result;
}

/** A non-negative 64-bit little-endian integer below 2^53 (BigInt-free: this is per packet). */
function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}

function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

/** Writes a control message (for tests of {@linkcode parseControl}); returns its padded length. */
export function writeControl(
  view: DataView,
  offset: number,
  level: number,
  type: number,
  data: Uint8Array,
): number {
  const len = 16 + data.byteLength;
  view.setBigUint64(offset, BigInt(len), true);
  view.setInt32(offset + 8, level, true);
  view.setInt32(offset + 12, type, true);
  new Uint8Array(view.buffer, view.byteOffset + offset + 16, data.byteLength).set(data);
  return (len + 7) & ~7;
}

/**
 * Datagram slots for recvmmsg/sendmmsg/recvmsg, all in one ArrayBuffer whose addresses
 * are written into the structs once: slot `i` has a packet buffer, a sockaddr_in, an
 * iovec, a control buffer and an mmsghdr that points at them.
 */
export class DatagramSlots {
  /** Number of slots. */
  readonly count: number;
  /** Bytes of each packet buffer. */
  readonly packetBytes: number;
  /** Every byte of every slot. */
  readonly memory: ArrayBuffer;
  /** A view over `memory`. */
  readonly view: DataView;
  /** The mmsghdr array, for recvmmsg/sendmmsg (slot i's msghdr at i * MMSGHDR_BYTES). */
  readonly headers: Uint8Array<ArrayBuffer>;
  readonly #packets: number;
  readonly #addresses: number;
  readonly #controls: number;

  constructor(c: SocketSymbols, count: number, packetBytes: number) {
    this.count = count;
    this.packetBytes = packetBytes;
    const packet = (packetBytes + 63) & ~63;
    this.#packets = 0;
    this.#addresses = count * packet;
    this.#controls = this.#addresses + count * SOCKADDR_IN_BYTES;
    const iovecs = this.#controls + count * CONTROL_BYTES;
    const headers = iovecs + count * IOVEC_BYTES;
    this.memory = new ArrayBuffer(headers + count * MMSGHDR_BYTES);
    this.view = new DataView(this.memory);
    this.headers = new Uint8Array(this.memory, headers, count * MMSGHDR_BYTES);
    const all = new Uint8Array(this.memory);
    const base = c.addressOf(all, all, 0n) as bigint;
    for (let i = 0; i < count; i++) {
      const iov = iovecs + i * IOVEC_BYTES;
      this.view.setBigUint64(iov, base + BigInt(this.#packets + i * packet), true);
      this.view.setBigUint64(iov + 8, BigInt(packetBytes), true);
      const h = headers + i * MMSGHDR_BYTES;
      this.view.setBigUint64(h, base + BigInt(this.addressOffset(i)), true);
      this.view.setUint32(h + 8, SOCKADDR_IN_BYTES, true);
      this.view.setBigUint64(h + 16, base + BigInt(iov), true);
      this.view.setBigUint64(h + 24, 1n, true);
      this.view.setBigUint64(h + 32, base + BigInt(this.controlOffset(i)), true);
      this.view.setBigUint64(h + 40, BigInt(CONTROL_BYTES), true);
    }
    this.#packetStride = packet;
  }

  readonly #packetStride: number;

  /** Byte offset of slot i's packet in `memory`. */
  packetOffset(i: number): number {
    return this.#packets + i * this.#packetStride;
  }

  /** Byte offset of slot i's sockaddr_in. */
  addressOffset(i: number): number {
    return this.#addresses + i * SOCKADDR_IN_BYTES;
  }

  /** Byte offset of slot i's control buffer. */
  controlOffset(i: number): number {
    return this.#controls + i * CONTROL_BYTES;
  }

  /** Slot i's packet as bytes (the whole buffer). */
  packet(i: number): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.memory, this.packetOffset(i), this.packetBytes);
  }

  /** Slot i's msghdr as bytes, for recvmsg. */
  header(i: number): Uint8Array<ArrayBuffer> {
    return this.headers.subarray(i * MMSGHDR_BYTES, i * MMSGHDR_BYTES + MSGHDR_BYTES);
  }

  /** Resets slot i for a receive: name and control lengths back to their full size. */
  prepareReceive(i: number, packetBytes = this.packetBytes): void {
    const h = this.headers.byteOffset + i * MMSGHDR_BYTES;
    this.view.setUint32(h + 8, SOCKADDR_IN_BYTES, true);
    setU64(this.view, h + 40, CONTROL_BYTES);
    this.view.setInt32(h + 48, 0, true);
    this.#setLength(i, packetBytes);
  }

  /** Sets slot i up to send `length` bytes of its packet to its sockaddr, without control. */
  prepareSend(i: number, length: number): void {
    const h = this.headers.byteOffset + i * MMSGHDR_BYTES;
    this.view.setUint32(h + 8, SOCKADDR_IN_BYTES, true);
    setU64(this.view, h + 40, 0);
    this.view.setInt32(h + 48, 0, true);
    this.#setLength(i, length);
  }

  /** Bytes received into slot i (msg_len of its mmsghdr, after recvmmsg). */
  received(i: number): number {
    return this.view.getUint32(this.headers.byteOffset + i * MMSGHDR_BYTES + 56, true);
  }

  /** The control messages the kernel wrote into slot i. */
  control(i: number): ControlMessages {
    const h = this.headers.byteOffset + i * MMSGHDR_BYTES;
    const length = u64(this.view, h + 40);
    return parseControl(this.view, this.controlOffset(i), Math.min(length, CONTROL_BYTES));
  }

  #setLength(i: number, length: number): void {
    const iovecs = this.headers.byteOffset - this.count * IOVEC_BYTES;
    setU64(this.view, iovecs + i * IOVEC_BYTES + 8, length);
  }
}

/** Reads clocks through libc into one reused buffer. */
export class Clock {
  readonly #c: SocketSymbols;
  readonly #buffer = new Uint8Array(new ArrayBuffer(64));
  readonly #view = new DataView(this.#buffer.buffer);
  /** The CLOCK_REALTIME second that {@linkcode Clock.realNs} counts from. */
  readonly baseSec: number;

  constructor(c: SocketSymbols) {
    this.#c = c;
    this.#c.clock_gettime(CLOCK_REALTIME, this.#buffer);
    this.baseSec = Number(this.#view.getBigInt64(0, true));
  }

  /** CLOCK_REALTIME in ns since `baseSec` (exact in a double for 104 days). */
  realNs(): number {
    this.#c.clock_gettime(CLOCK_REALTIME, this.#buffer);
    return this.fromKernel(u64(this.#view, 0), u64(this.#view, 8));
  }

  /** CLOCK_REALTIME as whole seconds and nanoseconds. */
  realTime(): KernelTime {
    this.#c.clock_gettime(CLOCK_REALTIME, this.#buffer);
    return { sec: u64(this.#view, 0), nsec: u64(this.#view, 8) };
  }

  /** CLOCK_MONOTONIC in ns (exact in a double for 104 days of uptime). */
  monoNs(): number {
    this.#c.clock_gettime(CLOCK_MONOTONIC, this.#buffer);
    return u64(this.#view, 0) * 1e9 + u64(this.#view, 8);
  }

  /** A kernel time in ns since `baseSec`. */
  fromKernel(sec: number, nsec: number): number {
    return (sec - this.baseSec) * 1e9 + nsec;
  }

  /** Sleeps until CLOCK_MONOTONIC reaches `ns`. */
  sleepUntilMono(ns: number): void {
    const sec = Math.floor(ns / 1e9);
    setU64(this.#view, 16, sec);
    setU64(this.#view, 24, Math.floor(ns - sec * 1e9));
    this.#c.clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, this.#buffer.subarray(16, 32), null);
  }
}

/** CPU time of the calling thread (user + system) in ns, from getrusage(RUSAGE_THREAD). */
export function threadCpuNs(c: SocketSymbols, buffer: Uint8Array<ArrayBuffer>): number {
  c.getrusage(RUSAGE_THREAD, buffer);
  const v = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const tv = (at: number) =>
    Number(v.getBigInt64(at, true)) * 1e9 + Number(v.getBigInt64(at + 8, true)) * 1e3;
  return tv(0) + tv(16);
}

/** Bytes of struct rusage. */
export const RUSAGE_BYTES = 144;

/** Sets an int socket option; returns whether it worked. */
export function setIntOption(
  c: SocketSymbols,
  fd: number,
  level: number,
  name: number,
  value: number,
): boolean {
  return c.setsockopt(fd, level, name, new Uint8Array(new Int32Array([value]).buffer), 4) === 0;
}

/** Makes the receive buffer `bytes` big (past rmem_max where allowed). */
export function setReceiveBuffer(c: SocketSymbols, fd: number, bytes: number): void {
  if (!setIntOption(c, fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes)) {
    setIntOption(c, fd, SOL_SOCKET, SO_RCVBUF, bytes);
  }
}

/** Sets SO_RCVTIMEO to `us` microseconds. */
export function setReceiveTimeout(c: SocketSymbols, fd: number, us: number): boolean {
  const tv = new BigInt64Array([BigInt(Math.floor(us / 1e6)), BigInt(Math.floor(us % 1e6))]);
  return c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer), 16) === 0;
}
