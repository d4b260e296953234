/**
 * Failed bind() calls of any process in chosen network namespaces, seen from the
 * kernel: loads bpf/bind_watch.o through libbpf (FFI) and attaches its two programs to
 * the syscall tracepoints syscalls:sys_enter_bind and syscalls:sys_exit_bind, each with
 * a bpf_link held by this process (no pins, nothing named: the programs detach when this
 * process dies, however it dies). Then {@linkcode BindWatch.read} says which program
 * failed to bind which port with which errno, and when, even when the program swallowed
 * the error; and when the port was bound after all.
 *
 * Needs root (or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN), --allow-ffi for libbpf and
 * libc, a kernel with BTF and syscall tracepoints, and `unshare` and `mount` when
 * tracefs is not mounted (see {@linkcode BindWatch.open}).
 *
 * @module
 */

import { cString, errnoText, lastError, type Libraries, openLibraries } from "./libbpf.ts";
import { readErrno } from "../native/libc.ts";
import {
  BW_AF_INET,
  BW_AF_INET6,
  BW_EVENT,
  BW_HEAD,
  BW_KIND_FAILURE,
  BW_KIND_SUCCESS,
  BW_SOCK_DGRAM,
  BW_SOCK_STREAM,
  BW_SOCK_UNKNOWN,
  decodeEvent,
  drainRing,
  type RawBindEvent,
} from "./bind_watch_layout.ts";
import { type CommandOutput, runCommand } from "../core/command.ts";
import { EnvironmentError } from "../core/errors.ts";

/** Path of the committed bind watch object. */
export const BIND_WATCH_OBJECT = new URL("../../bpf/bind_watch.o", import.meta.url).pathname;

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
  /** Network namespace inode of the caller, as {@linkcode namespaceInode} gives it. */
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

/** What {@linkcode BindWatch.read} found since the previous read. */
export interface BindWatchRead {
  /** New events, oldest first. */
  events: BindEvent[];
  /** Events overwritten in the ring (BW_RING_SIZE, 4096) before they could be read. */
  lost: number;
  /**
   * bind() calls in watched namespaces that could not be followed at all because 10240
   * were in flight at once (whether they failed is not known).
   */
  untracked: number;
}

/** Options of {@linkcode BindWatch.open}. */
export interface BindWatchOptions {
  /** libbpf.so.1; found in the usual places when not given. */
  libbpfPath?: string;
  /** libc.so.6; found in the usual places when not given. */
  libcPath?: string;
  /**
   * The compiled object.
   * @default {BIND_WATCH_OBJECT}
   */
  objectPath?: string;
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
 * import { errnoName } from "./bind_watch.ts";
 * console.assert(errnoName(98) === "EADDRINUSE");
 * ```
 */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

// perf_event_open(2): a tracepoint event on CPU 0 for every process; a BPF program
// attached to it runs on every CPU (the tracepoint calls it, not the perf event).
const PERF_TYPE_TRACEPOINT = 2;
const PERF_ATTR_SIZE = 128; // PERF_ATTR_SIZE_VER7; the kernel takes any known size
const PERF_FLAG_FD_CLOEXEC = 8n; // the fd must not outlive us in a child we spawn
const SYS_PERF_EVENT_OPEN: Partial<Record<typeof Deno.build.arch, bigint>> = {
  x86_64: 298n,
  aarch64: 241n,
};
const CLOCK_MONOTONIC = 1;

/** libbpf's ring_buffer_sample_fn: (ctx, data, size) -> int. */
const DOORBELL_CALLBACK = {
  parameters: ["pointer", "pointer", "usize"],
  result: "i32",
} as const;

const TRACEFS_ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const TRACEPOINTS = ["sys_enter_bind", "sys_exit_bind"] as const;

/** An event still being written after this long is given up on (counted as lost). */
const STUCK_MS = 1000;

const PROGRAMS = { enter: "bind_enter", exit: "bind_exit" } as const;
const HINT = "squall's bind watch needs root, a kernel with BTF (/sys/kernel/btf/vmlinux) " +
  "and syscall tracepoints (CONFIG_FTRACE_SYSCALLS), and libbpf1";

/**
 * The bind watch, attached. Add the namespaces to watch, then read what happened in
 * them; dispose of it to detach.
 *
 * @example
 * ```ts
 * import { BindWatch, namespaceInode } from "./bind_watch.ts";
 * using watch = await BindWatch.open(); // as root
 * watch.watchNamespace(namespaceInode(Deno.pid)); // or the pid of a server under test
 * // ... later, and again as often as wanted:
 * for (const e of watch.read().events) {
 *   console.log(`${e.comm} (pid ${e.pid}) failed to bind ${e.address}:${e.port}: ${e.error}`);
 * }
 * ```
 */
export class BindWatch implements Disposable {
  #libs: Libraries;
  #object: Deno.PointerValue;
  #links: Deno.PointerValue[];
  #fds: { netns: number; head: number; events: number; doorbell: number };
  /** The doorbell's reader (libbpf's ring_buffer) and its epoll fd. */
  #doorbell: Deno.PointerValue = null;
  #doorbellCallback: Deno.UnsafeCallback<typeof DOORBELL_CALLBACK> | undefined;
  #epollFd = -1;
  #epollEvents = new Uint8Array(12 * 4); // struct epoll_event is 12 bytes (packed) on x86_64
  /** The epoll_wait() in flight, if any: what is freed waits for it. */
  #waiting: Promise<number> | undefined;
  #closed: Promise<void> | undefined;
  /** Wall clock (Date.now()) minus CLOCK_MONOTONIC, in ms. */
  #clockOffsetMs: number;
  #next = 0;
  #untracked = 0;
  #incomplete: { index: number; sinceMs: number } | undefined;
  #disposed = false;

  private constructor(
    libs: Libraries,
    object: Deno.PointerValue,
    links: Deno.PointerValue[],
    fds: { netns: number; head: number; events: number; doorbell: number },
  ) {
    this.#libs = libs;
    this.#object = object;
    this.#links = links;
    this.#fds = fds;
    this.#clockOffsetMs = clockOffsetMs(libs);
  }

  /**
   * Opens the doorbell's reader: libbpf's ring_buffer on the `doorbell` map, with a
   * sample callback that does nothing (the events are read from the `events` ring), and
   * its epoll fd, which {@linkcode BindWatch.wait} waits on.
   */
  #openDoorbell(what: string): void {
    this.#doorbellCallback = new Deno.UnsafeCallback(DOORBELL_CALLBACK, () => 0);
    this.#doorbell = this.#libs.bpf.ring_buffer__new(
      this.#fds.doorbell,
      this.#doorbellCallback.pointer,
      null,
      null,
    );
    if (this.#doorbell === null) {
      const { text } = lastError(this.#libs);
      this.#doorbellCallback.close();
      this.#doorbellCallback = undefined;
      throw new EnvironmentError(`${what}: cannot read the doorbell ring buffer: ${text}`, HINT);
    }
    this.#epollFd = this.#libs.bpf.ring_buffer__epoll_fd(this.#doorbell);
  }

  /**
   * Loads the programs (the kernel's verifier, CO-RE relocation against the running
   * kernel's BTF) and attaches them to the bind tracepoints, for every namespace; no
   * namespace is watched yet. The tracepoints' ids come from tracefs; when it is not
   * mounted, a short-lived `unshare --mount` child mounts it privately to read them, so
   * the host's mounts stay as they are.
   *
   * @throws {TypeError} when an option is not a string.
   * @throws {Deno.errors.NotFound} when the object or a library is missing.
   * @throws {EnvironmentError} when the kernel refuses the programs or has no such tracepoints.
   */
  static async open(options: BindWatchOptions = {}): Promise<BindWatch> {
    for (const key of ["libbpfPath", "libcPath", "objectPath"] as const) {
      const value = options[key];
      if (value !== undefined && typeof value !== "string") {
        throw new TypeError(`Cannot open bind watch: ${key} must be a string, got ${typeof value}`);
      }
    }
    const path = options.objectPath ?? BIND_WATCH_OBJECT;
    const what = "Cannot open bind watch";
    try {
      Deno.statSync(path);
    } catch (error) {
      throw new Deno.errors.NotFound(`${what}: cannot read "${path}": ${error}`, { cause: error });
    }
    const syscallNumber = SYS_PERF_EVENT_OPEN[Deno.build.arch];
    if (syscallNumber === undefined) {
      throw new EnvironmentError(`${what}: unsupported architecture "${Deno.build.arch}"`, HINT);
    }
    const ids = await tracepointIds();
    const libs = openLibraries(options.libbpfPath, options.libcPath);
    let object: Deno.PointerValue = null;
    const links: Deno.PointerValue[] = [];
    let watch: BindWatch | undefined;
    try {
      object = await libs.bpf.bpf_object__open_file(cString(path), null);
      if (object === null) throw new Error(`${what}: libbpf cannot open "${path}"`);
      const loaded = await libs.bpf.bpf_object__load(object);
      if (loaded < 0) {
        throw new EnvironmentError(
          `${what}: the kernel refused "${path}": ${errnoText(libs, loaded)}`,
          HINT,
        );
      }
      const fd = (name: string) => {
        const map = libs.bpf.bpf_object__find_map_by_name(object, cString(name));
        if (map === null) throw new Error(`${what}: no map "${name}" in "${path}"`);
        return libs.bpf.bpf_map__fd(map);
      };
      const fds = {
        netns: fd("netns"),
        head: fd("head"),
        events: fd("events"),
        doorbell: fd("doorbell"),
      };
      // Exit first: an exit without its enter is ignored, an enter without its exit
      // would leave a stale call behind.
      for (const [name, id] of [[PROGRAMS.exit, ids[1]], [PROGRAMS.enter, ids[0]]] as const) {
        const program = libs.bpf.bpf_object__find_program_by_name(object, cString(name));
        if (program === null) throw new Error(`${what}: no program "${name}" in "${path}"`);
        links.push(attachTracepoint(libs, syscallNumber, program, id, `${what}: ${name}`));
      }
      watch = new BindWatch(libs, object, links, fds);
      watch.#openDoorbell(what);
      return watch;
    } catch (error) {
      if (watch) { // it owns everything now
        watch[Symbol.dispose]();
        throw error;
      }
      for (const link of links) libs.bpf.bpf_link__destroy(link);
      if (object !== null) libs.bpf.bpf_object__close(object);
      libs.close();
      throw error;
    }
  }

  /**
   * Watches the network namespace with this inode (see {@linkcode namespaceInode}):
   * from now on, bind() calls of tasks in it are followed. Watching it twice is fine.
   * Unwatch it when the namespace goes: the kernel reuses the inode numbers of gone
   * namespaces, and a later namespace with the same inode would be watched too.
   *
   * @throws {RangeError} when the inode is not a u32 above 0 or the filter is full (1024).
   */
  watchNamespace(inode: number): void {
    this.#checkOpen();
    const key = u32Key(inode, "watch");
    const result = this.#libs.bpf.bpf_map_update_elem(this.#fds.netns, key, u32Key(1), 0n);
    if (result < 0) {
      const text = errnoText(this.#libs, result);
      const message = `Cannot watch network namespace ${inode}: ${text}`;
      throw result === -7
        ? new RangeError(`${message} (the filter holds 1024)`)
        : new Error(message);
    }
  }

  /**
   * Stops watching the network namespace with this inode. Not watching it is fine.
   *
   * @throws {RangeError} when the inode is not a u32 above 0.
   */
  unwatchNamespace(inode: number): void {
    this.#checkOpen();
    this.#libs.bpf.bpf_map_delete_elem(this.#fds.netns, u32Key(inode, "unwatch"));
  }

  /**
   * The events since the previous read (or since open), oldest first, with how many
   * were lost. Costs a map lookup (a syscall, about 2 us) per event plus decoding; read
   * often enough that fewer than 4096 events come between two reads.
   */
  read(): BindWatchRead {
    this.#checkOpen();
    const headValue = new Uint8Array(BW_HEAD.size);
    const headView = new DataView(headValue.buffer);
    const readHead = () => {
      this.#lookup(this.#fds.head, 0, headValue);
      return {
        claimed: Number(headView.getBigUint64(BW_HEAD.fields.claimed, true)),
        untracked: Number(headView.getBigUint64(BW_HEAD.fields.untracked, true)),
      };
    };
    const stuck = this.#incomplete;
    const skip = stuck && performance.now() - stuck.sinceMs > STUCK_MS ? stuck.index : undefined;
    const drain = drainRing(this.#next, {
      claimed: () => readHead().claimed,
      slot: (slot) => {
        const value = new Uint8Array(BW_EVENT.size);
        this.#lookup(this.#fds.events, slot, value);
        return value;
      },
    }, skip);
    this.#next = drain.next;
    if (drain.incomplete === undefined) {
      this.#incomplete = undefined;
    } else if (this.#incomplete?.index !== drain.incomplete) {
      this.#incomplete = { index: drain.incomplete, sinceMs: performance.now() };
    }
    const untracked = readHead().untracked;
    const newlyUntracked = untracked - this.#untracked;
    this.#untracked = untracked;
    return {
      events: drain.events.map((bytes) => this.#toEvent(decodeEvent(bytes))),
      lost: drain.lost,
      untracked: newlyUntracked,
    };
  }

  /**
   * Waits until an event has been written (the program rings a doorbell, a BPF ring
   * buffer, for each), or `timeoutMs` passes: true when it rang. The wait runs on Deno's
   * blocking thread pool (epoll_wait), so the event loop goes on; the doorbell is then
   * consumed here, on the calling thread. Then {@linkcode BindWatch.read} the events.
   * One wait at a time; keep `timeoutMs` short (disposal waits for it to end).
   *
   * @throws {RangeError} when `timeoutMs` is not an integer from 0 to 60000.
   * @throws {Error} when a wait is already in flight, or the watch was disposed of.
   */
  async wait(timeoutMs: number): Promise<boolean> {
    this.#checkOpen();
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 60_000) {
      throw new RangeError(
        `Cannot wait for bind events: timeoutMs must be an integer from 0 to 60000, got ${timeoutMs}`,
      );
    }
    if (this.#waiting) throw new Error("Cannot wait for bind events: a wait is in flight");
    const waiting = this.#libs.libc.epoll_wait(this.#epollFd, this.#epollEvents, 4, timeoutMs);
    this.#waiting = waiting;
    let ready: number;
    try {
      ready = await waiting;
    } finally {
      this.#waiting = undefined;
    }
    if (this.#disposed || ready <= 0) return false; // timed out, or EINTR: the caller reads anyway
    this.#libs.bpf.ring_buffer__consume(this.#doorbell);
    return true;
  }

  /**
   * After disposal, resolves when everything is freed: at once, or when a
   * {@linkcode BindWatch.wait} in flight has returned (at most its timeout later).
   * Before disposal, resolves at once.
   */
  closed(): Promise<void> {
    return this.#closed ?? Promise.resolve();
  }

  /**
   * Detaches both programs at once (no event comes after this), and frees everything,
   * after the wait in flight if any (see {@linkcode BindWatch.closed}). Safe to call twice.
   */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const link of this.#links.toReversed()) this.#libs.bpf.bpf_link__destroy(link);
    const free = () => {
      if (this.#doorbell !== null) this.#libs.bpf.ring_buffer__free(this.#doorbell);
      this.#doorbellCallback?.close();
      this.#libs.bpf.bpf_object__close(this.#object);
      this.#libs.close();
    };
    const waiting = this.#waiting;
    if (waiting) {
      this.#closed = waiting.then(free, free);
    } else {
      free();
      this.#closed = Promise.resolve();
    }
  }

  #toEvent(raw: RawBindEvent): BindEvent {
    return {
      kind: raw.kind === BW_KIND_SUCCESS ? "success" : "failure",
      atMs: Number(raw.ktimeNs / 1000n) / 1000 + this.#clockOffsetMs,
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

  #checkOpen(): void {
    if (this.#disposed) throw new Error("Cannot use bind watch: it was disposed of");
  }

  #lookup(fd: number, index: number, value: Uint8Array<ArrayBuffer>): void {
    const result = this.#libs.bpf.bpf_map_lookup_elem(fd, u32Key(index), value);
    if (result < 0) {
      throw new Error(`Cannot read bind watch map: ${errnoText(this.#libs, result)}`);
    }
  }
}

/**
 * The inode of the network namespace of a process (`net:[4026532...]` in
 * /proc/<pid>/ns/net), the number {@linkcode BindWatch.watchNamespace} takes.
 *
 * @throws {TypeError} when `pid` is not a number.
 * @throws {RangeError} when it is not a positive integer.
 * @throws {Deno.errors.NotFound} when there is no such process.
 * @example
 * ```ts
 * import { namespaceInode } from "./bind_watch.ts";
 * console.assert(namespaceInode(Deno.pid) > 0);
 * ```
 */
export function namespaceInode(pid: number): number {
  if (typeof pid !== "number") {
    throw new TypeError(`Cannot read network namespace: pid must be a number, got ${typeof pid}`);
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new RangeError(
      `Cannot read network namespace: pid must be a positive integer, got ${pid}`,
    );
  }
  let link: string;
  try {
    link = Deno.readLinkSync(`/proc/${pid}/ns/net`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot read network namespace of pid ${pid}: no such process`,
        { cause: error },
      );
    }
    throw error;
  }
  const match = /^net:\[(\d+)\]$/.exec(link);
  if (!match) {
    throw new Error(`Cannot read network namespace of pid ${pid}: unexpected link "${link}"`);
  }
  return Number(match[1]);
}

/** The ids of syscalls:sys_enter_bind and syscalls:sys_exit_bind, from tracefs. */
async function tracepointIds(): Promise<[number, number]> {
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
      throw new EnvironmentError(`${what} in "${root}": ${error}`, HINT, { cause: error });
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
    throw new EnvironmentError(`${what}: cannot run "unshare": ${error}`, HINT, { cause: error });
  }
  const stderr = output.stderr.trim();
  const lines = output.stdout.trim().split("\n");
  if (output.code !== 0 || lines.length !== TRACEPOINTS.length) {
    throw new EnvironmentError(
      `${what}: tracefs is not mounted, and mounting it privately failed (exit ${
        output.code ?? output.signal
      }): ${stderr}`,
      HINT,
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
function attachTracepoint(
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
      HINT,
    );
  }
  const link = libs.bpf.bpf_program__attach_perf_event(program, fd);
  if (link === null) {
    const { text } = lastError(libs);
    libs.libc.close(fd);
    throw new EnvironmentError(`${what}: cannot attach to tracepoint ${id}: ${text}`, HINT);
  }
  return link; // It owns the perf event: bpf_link__destroy closes both.
}

/** Wall clock (Date.now()) minus CLOCK_MONOTONIC (bpf_ktime_get_ns), in ms. */
function clockOffsetMs(libs: Libraries): number {
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

function u32Key(value: number, verb?: string): Uint8Array<ArrayBuffer> {
  if (verb !== undefined && (!Number.isInteger(value) || value <= 0 || value > 0xffffffff)) {
    throw new RangeError(
      `Cannot ${verb} network namespace: inode must be an integer from 1 to 4294967295, got ${value}`,
    );
  }
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
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
 * import { formatIpv6 } from "./bind_watch.ts";
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
