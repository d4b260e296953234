// Where libc is and how to read errno through it: what the agent's FFI workers need of
// libc before they open it with their own symbols (kernel/libbpf.ts opens it too).

/** Where libc.so.6 lives. */
export const LIBC_CANDIDATES = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
];

/** The first candidate path that exists, or undefined. */
export function findLibrary(candidates: readonly string[]): string | undefined {
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** The two libc symbols that reading errno takes. */
export interface ErrnoSymbols {
  __errno_location(): Deno.PointerValue;
  memcpy(dst: Uint8Array<ArrayBuffer>, src: Deno.PointerValue, n: bigint): Deno.PointerValue;
}

/** The calling thread's errno, read through libc (see LIBC_SYMBOLS). */
export function readErrno(libc: ErrnoSymbols): number {
  const location = libc.__errno_location();
  if (!location) return 0;
  const value = new Int32Array(1);
  libc.memcpy(new Uint8Array(value.buffer), location, 4n);
  return value[0]!;
}
