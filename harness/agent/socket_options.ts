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

const SYMBOLS = {
  syscall: { parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getuid: { parameters: [], result: "u32" },
} as const;

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
    const c = this.#lib.symbols;
    const pidfd = Number(c.syscall(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n));
    if (pidfd < 0) return null;
    try {
      const copy = Number(c.syscall(SYS_PIDFD_GETFD, BigInt(pidfd), BigInt(fd), 0n));
      if (copy < 0) return null;
      try {
        const value = new Int32Array(1);
        const length = new Uint32Array([4]);
        const ok = c.getsockopt(
          copy,
          SOL_SOCKET,
          SO_REUSEPORT,
          new Uint8Array(value.buffer),
          new Uint8Array(length.buffer),
        );
        return ok === 0 ? value[0] !== 0 : null;
      } finally {
        c.close(copy);
      }
    } finally {
      c.close(pidfd);
    }
  }

  [Symbol.dispose](): void {
    this.#lib.close();
  }
}
