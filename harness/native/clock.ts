// The kernel's CLOCK_MONOTONIC through libc, the clock of bpf_ktime_get_ns(): the time
// droppers switch rules on and the bind watch stamps events with. Every network
// namespace shares it (squall makes no time namespaces), so a time read by the runner
// means the same instant in every agent and every BPF program.

import { findLibrary, LIBC_CANDIDATES } from "./libc.ts";

const CLOCK_MONOTONIC = 1;

const SYMBOLS = {
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

let libc: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
const timespec = new BigInt64Array(2);
const timespecBytes = new Uint8Array(timespec.buffer);

function open(): Deno.DynamicLibrary<typeof SYMBOLS> {
  if (libc) return libc;
  const path = findLibrary(LIBC_CANDIDATES);
  if (!path) throw new Deno.errors.NotFound("Cannot read CLOCK_MONOTONIC: libc.so.6 not found");
  libc = Deno.dlopen(path, SYMBOLS);
  return libc;
}

/**
 * CLOCK_MONOTONIC now, in nanoseconds: the value `bpf_ktime_get_ns()` returns at this
 * instant. Opens libc on first use (needs `--allow-ffi` for it); about 0.2 us a call.
 *
 * @example
 * ```ts ignore
 * import { monotonicNs } from "./clock.ts";
 * const leadNs = 2_000_000n;
 * const from = monotonicNs() + leadNs; // a rule that starts in 2 ms, on every end alike
 * ```
 */
export function monotonicNs(): bigint {
  if (open().symbols.clock_gettime(CLOCK_MONOTONIC, timespecBytes) !== 0) {
    throw new Error("Cannot read CLOCK_MONOTONIC: clock_gettime failed");
  }
  return timespec[0]! * 1_000_000_000n + timespec[1]!;
}

/**
 * CLOCK_MONOTONIC minus `performance.now()`, in ms: add it to a `performance.now()` to
 * get kernel time in ms, subtract it from a kernel time (ns / 1e6) to get a
 * `performance.now()`. Deno's `performance.now()` runs on the same clock, so the offset
 * is constant; it is read as the tightest of a few bracketing pairs (good to a few us).
 *
 * @example
 * ```ts ignore
 * import { monotonicNs, monotonicOffsetMs } from "./clock.ts";
 * const offset = monotonicOffsetMs();
 * const atPerformanceMs = Number(monotonicNs()) / 1e6 - offset; // about performance.now()
 * ```
 */
export function monotonicOffsetMs(): number {
  let best = { widthNs: Infinity, offsetMs: 0 };
  for (let attempt = 0; attempt < 8; attempt++) {
    const before = monotonicNs();
    const at = performance.now();
    const after = monotonicNs();
    const widthNs = Number(after - before);
    if (widthNs < best.widthNs) {
      best = { widthNs, offsetMs: Number(before) / 1e6 + widthNs / 2e6 - at };
    }
  }
  return best.offsetMs;
}

/** Closes libc if {@linkcode monotonicNs} opened it (tests with resource sanitizers). */
export function closeClock(): void {
  libc?.close();
  libc = undefined;
}
