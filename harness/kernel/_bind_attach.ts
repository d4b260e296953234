// How the bind watch reaches the kernel: the ids of the bind tracepoints (from tracefs,
// mounted privately when it is not), a perf event per tracepoint with the BPF program
// attached (a bpf_link), and the offset between the kernel's clock and the wall clock.

import { errnoText, lastError, type Libraries } from "./libbpf.ts";
import { readErrno } from "../native/libc.ts";
import { type CommandOutput, runCommand } from "../core/command.ts";
import { EnvironmentError } from "../core/errors.ts";

// perf_event_open(2): a tracepoint event on CPU 0 for every process; a BPF program
// attached to it runs on every CPU (the tracepoint calls it, not the perf event).
const PERF_TYPE_TRACEPOINT = 2;
const PERF_ATTR_SIZE = 128; // PERF_ATTR_SIZE_VER7; the kernel takes any known size
const PERF_FLAG_FD_CLOEXEC = 8n; // the fd must not outlive us in a child we spawn
/** perf_event_open's syscall number on each architecture squall runs on. */
export const SYS_PERF_EVENT_OPEN: Partial<Record<typeof Deno.build.arch, bigint>> = {
  x86_64: 298n,
  aarch64: 241n,
};
const CLOCK_MONOTONIC = 1;

const TRACEFS_ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const TRACEPOINTS = ["sys_enter_bind", "sys_exit_bind"] as const;

/** What the bind watch needs, for errors about the machine. */
export const BIND_WATCH_HINT =
  "squall's bind watch needs root, a kernel with BTF (/sys/kernel/btf/vmlinux) " +
  "and syscall tracepoints (CONFIG_FTRACE_SYSCALLS), and libbpf1";

/** The ids of syscalls:sys_enter_bind and syscalls:sys_exit_bind, from tracefs. */
export async function tracepointIds(): Promise<[number, number]> {
  const what = "Cannot find the bind tracepoints";
  for (const root of TRACEFS_ROOTS) {
    try {
      Deno.statSync(`${root}/events`);
    } catch {
      continue; // Not mounted here.
    }
    try {
      const ids = TRACEPOINTS.map((name) =>
        parseId(Deno.readTextFileSync(`${root}/events/syscalls/${name}/id`))
      );
      return [ids[0]!, ids[1]!];
    } catch (error) {
      throw new EnvironmentError(`${what} in "${root}": ${error}`, BIND_WATCH_HINT, {
        cause: error,
      });
    }
  }
  // Not mounted: a child in a mount namespace of its own (private propagation, so the
  // mount goes when the child does) mounts tracefs and reads them.
  const script = "mount -t tracefs tracefs /sys/kernel/tracing && for name; do " +
    'cat "/sys/kernel/tracing/events/syscalls/$name/id" || exit 1; done';
  const args = ["--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"];
  let output: CommandOutput;
  try {
    output = await runCommand("unshare", [...args, ...TRACEPOINTS], {
      timeoutMs: 10_000,
      noThrow: true,
    });
  } catch (error) {
    throw new EnvironmentError(`${what}: cannot run "unshare": ${error}`, BIND_WATCH_HINT, {
      cause: error,
    });
  }
  const stderr = output.stderr.trim();
  const lines = output.stdout.trim().split("\n");
  if (output.code !== 0 || lines.length !== TRACEPOINTS.length) {
    throw new EnvironmentError(
      `${what}: tracefs is not mounted, and mounting it privately failed (exit ${
        output.code ?? output.signal
      }): ${stderr}`,
      BIND_WATCH_HINT,
    );
  }
  return [parseId(lines[0]!), parseId(lines[1]!)];
}

function parseId(text: string): number {
  const id = Number(text.trim());
  if (!Number.isInteger(id) || id <= 0) throw new Error(`not a tracepoint id: "${text.trim()}"`);
  return id;
}

/** Opens a perf event on the tracepoint and attaches the program to it: the bpf_link. */
export function attachTracepoint(
  libs: Libraries,
  syscallNumber: bigint,
  program: Deno.PointerValue,
  id: number,
  what: string,
): Deno.PointerValue {
  const attr = new Uint8Array(PERF_ATTR_SIZE);
  const view = new DataView(attr.buffer);
  view.setUint32(0, PERF_TYPE_TRACEPOINT, true); // type
  view.setUint32(4, PERF_ATTR_SIZE, true); // size
  view.setBigUint64(8, BigInt(id), true); // config
  // pid -1, cpu 0: every process; group_fd -1.
  const fd = Number(
    libs.libc.perf_event_open(syscallNumber, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC),
  );
  if (fd < 0) {
    const errno = readErrno(libs.libc);
    throw new EnvironmentError(
      `${what}: cannot open a perf event on tracepoint ${id}: ${errnoText(libs, errno)}`,
      BIND_WATCH_HINT,
    );
  }
  const link = libs.bpf.bpf_program__attach_perf_event(program, fd);
  if (link === null) {
    const { text } = lastError(libs);
    libs.libc.close(fd);
    throw new EnvironmentError(
      `${what}: cannot attach to tracepoint ${id}: ${text}`,
      BIND_WATCH_HINT,
    );
  }
  return link; // It owns the perf event: bpf_link__destroy closes both.
}

/** Wall clock (Date.now()) minus CLOCK_MONOTONIC (bpf_ktime_get_ns), in ms. */
export function clockOffsetMs(libs: Libraries): number {
  // Date.now() has whole milliseconds: catch it as it ticks, between two readings of the
  // monotonic clock, so the offset is good to microseconds instead of a millisecond. A
  // few tries, keeping the tightest, in case the thread is descheduled during one.
  const timespec = new BigInt64Array(2);
  const bytes = new Uint8Array(timespec.buffer);
  const monotonicMs = () => {
    if (libs.libc.clock_gettime(CLOCK_MONOTONIC, bytes) !== 0) {
      throw new Error("Cannot read CLOCK_MONOTONIC");
    }
    return Number(timespec[0]!) * 1000 + Number(timespec[1]!) / 1e6;
  };
  let best = { widthMs: Infinity, offsetMs: 0 };
  for (let attempt = 0; attempt < 5 && best.widthMs > 0.05; attempt++) {
    const start = Date.now();
    let before = monotonicMs();
    let wall = Date.now();
    let after = monotonicMs();
    while (wall === start) { // Date.now() moves on within a millisecond
      before = after;
      wall = Date.now();
      after = monotonicMs();
    }
    if (after - before < best.widthMs) {
      best = { widthMs: after - before, offsetMs: wall - (before + after) / 2 };
    }
  }
  return best.offsetMs;
}
