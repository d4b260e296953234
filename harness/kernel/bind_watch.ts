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

import {
  cString,
  errnoText,
  findProgram,
  lastError,
  type Libraries,
  mapFd,
  openLibraries,
} from "./libbpf.ts";
import { BW_EVENT, BW_HEAD, decodeEvent, drainRing } from "./bind_watch_layout.ts";
import { EnvironmentError } from "../core/errors.ts";
import { type BindEvent, toBindEvent } from "./bind_event.ts";
import {
  attachTracepoint,
  BIND_WATCH_HINT,
  clockOffsetMs,
  SYS_PERF_EVENT_OPEN,
  tracepointIds,
} from "./_bind_attach.ts";

export type { BindEvent } from "./bind_event.ts";

/** Path of the committed bind watch object. */
export const BIND_WATCH_OBJECT = new URL("../../bpf/bind_watch.o", import.meta.url).pathname;

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

/** libbpf's ring_buffer_sample_fn: (ctx, data, size) -> int. */
const DOORBELL_CALLBACK = {
  parameters: ["pointer", "pointer", "usize"],
  result: "i32",
} as const;

/** An event still being written after this long is given up on (counted as lost). */
const STUCK_MS = 1000;

const PROGRAMS = { enter: "bind_enter", exit: "bind_exit" } as const;

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
      throw new EnvironmentError(
        `${what}: cannot read the doorbell ring buffer: ${text}`,
        BIND_WATCH_HINT,
      );
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
      throw new EnvironmentError(
        `${what}: unsupported architecture "${Deno.build.arch}"`,
        BIND_WATCH_HINT,
      );
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
          BIND_WATCH_HINT,
        );
      }
      const fd = (name: string) => mapFd(libs, object, name, what, path);
      const fds = {
        netns: fd("netns"),
        head: fd("head"),
        events: fd("events"),
        doorbell: fd("doorbell"),
      };
      // Exit first: an exit without its enter is ignored, an enter without its exit
      // would leave a stale call behind.
      for (const [name, id] of [[PROGRAMS.exit, ids[1]], [PROGRAMS.enter, ids[0]]] as const) {
        const program = findProgram(libs, object, name, what, path);
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
      events: drain.events.map((bytes) => toBindEvent(decodeEvent(bytes), this.#clockOffsetMs)),
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
