// The kernel's CLOCK_MONOTONIC through libc, the clock of bpf_ktime_get_ns(): the time
// droppers switch rules on and the bind watch stamps events with. Every network
// namespace shares it (squall makes no time namespaces), so a time read by the runner
// means the same instant in every agent and every BPF program.

import { findLibrary, LIBC_CANDIDATES } from "./libc.ts";

const CLOCK_MONOTONIC = 1;

const SYMBOLS = {
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

/**
 * CLOCK_MONOTONIC through its own handle on libc (needs `--allow-ffi` for it); about 0.2
 * us a reading. Dispose of it to unload libc.
 *
 * @example
 * ```ts ignore
 * import { MonotonicClock } from "./clock.ts";
 * using clock = new MonotonicClock();
 * const from = clock.nowNs() + 2_000_000n; // a rule that starts in 2 ms, at every end
 * ```
 */
export class MonotonicClock implements Disposable {
  #libc: Deno.DynamicLibrary<typeof SYMBOLS>;
  #timespec = new BigInt64Array(2);
  #bytes = new Uint8Array(this.#timespec.buffer);

  /**
   * Opens libc (`libcPath`, or the usual places).
   *
   * @throws {Deno.errors.NotFound} when libc is not found.
   */
  constructor(libcPath?: string) {
    const path = libcPath ?? findLibrary(LIBC_CANDIDATES);
    if (!path) throw new Deno.errors.NotFound("Cannot read CLOCK_MONOTONIC: libc.so.6 not found");
    this.#libc = Deno.dlopen(path, SYMBOLS);
  }

  /** CLOCK_MONOTONIC now, in ns: what `bpf_ktime_get_ns()` returns at this instant. */
  nowNs(): bigint {
    if (this.#libc.symbols.clock_gettime(CLOCK_MONOTONIC, this.#bytes) !== 0) {
      throw new Error("Cannot read CLOCK_MONOTONIC: clock_gettime failed");
    }
    return this.#timespec[0]! * 1_000_000_000n + this.#timespec[1]!;
  }

  /**
   * CLOCK_MONOTONIC minus `performance.now()`, in ms: add it to a `performance.now()` to
   * get kernel time in ms, subtract it from a kernel time (ns / 1e6) to get a
   * `performance.now()`. Deno's `performance.now()` runs on the same clock, so the offset
   * is constant; it is read as the tightest of a few bracketing pairs (good to a few us).
   */
  offsetMs(): number {
    let best = { widthNs: Infinity, offsetMs: 0 };
    for (let attempt = 0; attempt < 8; attempt++) {
      const before = this.nowNs();
      const at = performance.now();
      const after = this.nowNs();
      const widthNs = Number(after - before);
      if (widthNs < best.widthNs) {
        best = { widthNs, offsetMs: Number(before) / 1e6 + widthNs / 2e6 - at };
      }
    }
    return best.offsetMs;
  }

  /** Unloads libc. */
  [Symbol.dispose](): void {
    this.#libc.close();
  }
}

let shared: MonotonicClock | undefined;

/**
 * CLOCK_MONOTONIC now, in ns, through a clock opened on first use and kept until
 * {@linkcode closeClock} (for tests and tools; a run owns a {@linkcode MonotonicClock}).
 *
 * @example
 * ```ts ignore
 * import { closeClock, monotonicNs } from "./clock.ts";
 * const now = monotonicNs();
 * closeClock();
 * ```
 */
export function monotonicNs(): bigint {
  shared ??= new MonotonicClock();
  return shared.nowNs();
}

/** Closes the clock {@linkcode monotonicNs} opened, if it did. */
export function closeClock(): void {
  shared?.[Symbol.dispose]();
  shared = undefined;
}
