/**
 * The options of another process's socket, which neither /proc/net nor `ss` show:
 * whether it set SO_REUSEPORT. The kernel's socket diagnostics (sock_diag, `ss -e`)
 * expose the owner's uid and the inode but not SO_REUSEPORT, so this borrows the socket
 * itself: `pidfd_open(pid)`, `pidfd_getfd(pidfd, fd)` (a duplicate in this process,
 * which needs ptrace rights over it: root), `getsockopt(SO_REUSEPORT)`, and closes the
 * duplicate (the owner's socket stays open). Through libc by FFI.
 *
 * @module
 */

import { isProbe } from "../native/probe_packet.ts";

const SYMBOLS = {
  syscall: { parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getuid: { parameters: [], result: "u32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
} as const;

const SO_TYPE = 3;
const SOCK_DGRAM = 2;
const MSG_DONTWAIT = 0x40;
/** sockaddr_in of 127.0.0.1:9 (discard): a peer nothing sends from. */
const NOWHERE = new Uint8Array([2, 0, 0, 9, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);

const SYS_PIDFD_OPEN = 434n;
const SYS_PIDFD_GETFD = 438n;
const SOL_SOCKET = 1;
const SO_REUSEPORT = 15;

/**
 * Reads SO_REUSEPORT of sockets held by any process (as root).
 *
 * @example
 * ```ts ignore
 * import { SocketOptionReader } from "./socket_options.ts";
 * using reader = SocketOptionReader.open("/lib/x86_64-linux-gnu/libc.so.6");
 * console.log(reader.reusePort(4242, 3)); // true, false, or null (gone, or no rights)
 * ```
 */
export class SocketOptionReader implements Disposable {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.#lib = lib;
  }

  /** Loads libc from `libcPath`; throws if this process may not. */
  static open(libcPath: string): SocketOptionReader {
    return new SocketOptionReader(Deno.dlopen(libcPath, SYMBOLS));
  }

  /** This process's real uid (the owner its new sockets get). */
  uid(): number {
    return this.#lib.symbols.getuid();
  }

  /**
   * Whether socket `fd` of process `pid` has SO_REUSEPORT set; null when it cannot be
   * looked at (the process or the fd is gone, or no rights).
   */
  reusePort(pid: number, fd: number): boolean | null {
    const copy = this.borrow(pid, fd);
    if (copy === null) return null;
    try {
      return this.#option(copy, SO_REUSEPORT);
    } finally {
      this.#lib.symbols.close(copy);
    }
  }

  /**
   * A duplicate of file descriptor `fd` of process `pid` in this process (the same open
   * socket: it stays open until both close it), or null. Close it with `release()`.
   */
  borrow(pid: number, fd: number): number | null {
    const c = this.#lib.symbols;
    const pidfd = Number(c.syscall(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n));
    if (pidfd < 0) return null;
    try {
      const copy = Number(c.syscall(SYS_PIDFD_GETFD, BigInt(pidfd), BigInt(fd), 0n));
      return copy < 0 ? null : copy;
    } finally {
      c.close(pidfd);
    }
  }

  /** Whether borrowed `fd` is a UDP socket. */
  isUdp(fd: number): boolean {
    return this.#intOption(fd, SO_TYPE) === SOCK_DGRAM;
  }

  /**
   * Takes borrowed UDP socket `fd` out of its SO_REUSEPORT group (connecting it to a
   * peer nothing sends from: the kernel re-hashes its flows over the rest at once),
   * reads what was queued in it, and closes it: what its owner, gone now, never read.
   * Returns the probe datagrams read per flow id, and all datagrams read.
   */
  drainAndClose(fd: number): { flows: Map<number, number>; datagrams: number } {
    const c = this.#lib.symbols;
    const flows = new Map<number, number>();
    let datagrams = 0;
    try {
      c.connect(fd, NOWHERE, NOWHERE.length);
      const buffer = new Uint8Array(65_536);
      const view = new DataView(buffer.buffer);
      for (;;) {
        const n = Number(c.recv(fd, buffer, BigInt(buffer.length), MSG_DONTWAIT));
        if (n < 0) break;
        datagrams++;
        if (isProbe(view, n)) {
          const flowId = view.getUint32(4);
          flows.set(flowId, (flows.get(flowId) ?? 0) + 1);
        }
      }
    } finally {
      c.close(fd);
    }
    return { flows, datagrams };
  }

  /** Closes a borrowed descriptor (the owner's socket stays open if it still has it). */
  release(fd: number): void {
    this.#lib.symbols.close(fd);
  }

  #intOption(fd: number, option: number): number | null {
    const value = new Int32Array(1);
    const length = new Uint32Array([4]);
    const ok = this.#lib.symbols.getsockopt(
      fd,
      SOL_SOCKET,
      option,
      new Uint8Array(value.buffer),
      new Uint8Array(length.buffer),
    );
    return ok === 0 ? value[0]! : null;
  }

  #option(fd: number, option: number): boolean | null {
    const value = this.#intOption(fd, option);
    return value === null ? null : value !== 0;
  }

  [Symbol.dispose](): void {
    this.#lib.close();
  }
}
