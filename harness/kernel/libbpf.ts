// libbpf (libbpf.so.1) and the few libc calls squall needs, through Deno FFI. Loaded
// only by processes started with --allow-ffi for exactly these two paths.

import { findLibrary, LIBC_CANDIDATES, readErrno } from "../native/libc.ts";

/** Where Debian and Ubuntu put libbpf.so.1. */
export const LIBBPF_CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libbpf.so.1",
  "/usr/lib/aarch64-linux-gnu/libbpf.so.1",
  "/usr/lib64/libbpf.so.1",
  "/usr/lib/libbpf.so.1",
];

// Opening, loading (the verifier) and attaching take tens of milliseconds: they run on
// Deno's blocking thread pool (nonblocking), so an agent's workloads go on meanwhile.
const LIBBPF_SYMBOLS = {
  bpf_object__open_file: {
    parameters: ["buffer", "pointer"],
    result: "pointer",
    nonblocking: true,
  },
  bpf_object__load: { parameters: ["pointer"], result: "i32", nonblocking: true },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__attach_xdp: { parameters: ["pointer", "i32"], result: "pointer", nonblocking: true },
  // Quick (one bpf() call), and blocking so that errno is read on the thread that set it.
  bpf_program__attach_perf_event: { parameters: ["pointer", "i32"], result: "pointer" },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_get_next_key: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  // tc (clsact) programs: the duplicator. Each is a few netlink round trips.
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_tc_hook_create: { parameters: ["buffer"], result: "i32" },
  bpf_tc_hook_destroy: { parameters: ["buffer"], result: "i32" },
  bpf_tc_attach: { parameters: ["buffer", "buffer"], result: "i32" },
  bpf_tc_detach: { parameters: ["buffer", "buffer"], result: "i32" },
  // Maps by kernel-wide id (root): the runner writes the agents' droppers' rules itself.
  bpf_map_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // A BPF ring buffer's reader: its epoll fd wakes when a record comes; consume() calls
  // the sample callback for each, on the calling thread.
  ring_buffer__new: {
    parameters: ["i32", "function", "pointer", "pointer"],
    result: "pointer",
  },
  ring_buffer__epoll_fd: { parameters: ["pointer"], result: "i32" },
  ring_buffer__consume: { parameters: ["pointer"], result: "i32" },
  ring_buffer__free: { parameters: ["pointer"], result: "void" },
} as const;

// Memory behind a pointer is read by libc's own memcpy/strncpy into a buffer of ours:
// Deno.UnsafePointerView would need --allow-ffi for everything, not just these files.
const LIBC_SYMBOLS = {
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  strncpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // Waits on Deno's blocking thread pool (nonblocking): the event loop goes on meanwhile.
  epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags): glibc has no wrapper.
  // syscall() is variadic; on x86_64 and arm64 its integer arguments travel in the same
  // registers as in a fixed-argument call, and glibc's syscall() reads nothing else.
  perf_event_open: {
    name: "syscall",
    parameters: ["i64", "buffer", "i32", "i32", "i32", "u64"],
    result: "i64",
  },
} as const;

/** The opened libraries. */
export interface Libraries {
  bpf: Deno.DynamicLibrary<typeof LIBBPF_SYMBOLS>["symbols"];
  libc: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];
  close(): void;
}

/** Opens libbpf and libc; throws a clear error naming what is missing. */
export function openLibraries(libbpfPath?: string, libcPath?: string): Libraries {
  const bpfPath = libbpfPath ?? findLibrary(LIBBPF_CANDIDATES);
  if (!bpfPath) {
    throw new Deno.errors.NotFound(
      `Cannot find libbpf.so.1 (looked in ${
        LIBBPF_CANDIDATES.join(", ")
      }): apt-get install libbpf1`,
    );
  }
  const cPath = libcPath ?? findLibrary(LIBC_CANDIDATES);
  if (!cPath) throw new Deno.errors.NotFound("Cannot find libc.so.6");
  const bpf = Deno.dlopen(bpfPath, LIBBPF_SYMBOLS);
  const libc = Deno.dlopen(cPath, LIBC_SYMBOLS);
  return {
    bpf: bpf.symbols,
    libc: libc.symbols,
    close() {
      bpf.close();
      libc.close();
    },
  };
}

const encoder = new TextEncoder();

/** A NUL-terminated C string. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length * 3 + 1);
  const { written } = encoder.encodeInto(text, bytes);
  return bytes.subarray(0, written + 1) as Uint8Array<ArrayBuffer>;
}

/** The calling thread's errno and its text. */
export function lastError(libs: Libraries): { errno: number; text: string } {
  const errno = readErrno(libs.libc);
  return { errno, text: errnoText(libs, errno) };
}

/** strerror() of an errno (libbpf returns -errno). */
export function errnoText(libs: Libraries, errno: number): string {
  const text = libs.libc.strerror(Math.abs(errno));
  if (!text) return `errno ${errno}`;
  const bytes = new Uint8Array(256);
  libs.libc.strncpy(bytes, text, 255n);
  return new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
}

/**
 * Opens a BPF object file and loads its programs and maps into the kernel (the verifier);
 * closes it again when the kernel refuses it. Errors start with `what`.
 */
export async function loadObject(
  libs: Libraries,
  path: string,
  what: string,
): Promise<NonNullable<Deno.PointerValue>> {
  const object = await libs.bpf.bpf_object__open_file(cString(path), null);
  if (object === null) {
    throw new Error(`${what}: cannot open "${path}": ${lastError(libs).text}`);
  }
  const loaded = await libs.bpf.bpf_object__load(object);
  if (loaded < 0) {
    libs.bpf.bpf_object__close(object);
    throw new Error(`${what}: the kernel refused the program: ${errnoText(libs, loaded)}`);
  }
  return object;
}

/** A program of a loaded object, by name; errors start with `what` and name `path`. */
export function findProgram(
  libs: Libraries,
  object: Deno.PointerValue,
  name: string,
  what: string,
  path: string,
): NonNullable<Deno.PointerValue> {
  const program = libs.bpf.bpf_object__find_program_by_name(object, cString(name));
  if (program === null) throw new Error(`${what}: no program "${name}" in "${path}"`);
  return program;
}

/** The fd of a map of a loaded object, by name; errors start with `what` and name `path`. */
export function mapFd(
  libs: Libraries,
  object: Deno.PointerValue,
  name: string,
  what: string,
  path: string,
): number {
  const map = libs.bpf.bpf_object__find_map_by_name(object, cString(name));
  if (map === null) throw new Error(`${what}: no map "${name}" in "${path}"`);
  return libs.bpf.bpf_map__fd(map);
}
