// A delay line's worker: binds an NFQUEUE queue in the current network namespace,
// reads each queued packet's id, length and kernel receive time, and gives it an accept
// verdict at its due time (see delay_schedule.ts). The packets stay in the kernel; this
// thread holds ids and due times only. It sleeps in ppoll (woken by new packets) until
// shortly before the earliest due time, with 1 ns timer slack, and spins the rest.
// Several verdicts go out in one send. The owner steers it through shared memory
// (delay_line_control.ts); it looks at least every 20 ms.

import {
  CONFIG_MESSAGES,
  configMessages,
  messageLength,
  NF_ACCEPT,
  NF_DROP,
  type QueuedPacket,
  readMessage,
  sockaddrNetlink,
  unbindMessage,
  VERDICT_BYTES,
  writeVerdict,
} from "./nfqueue.ts";
import { DelaySchedule, DueHeap, TAIL_DROP } from "./delay_schedule.ts";
import {
  CONTROL_CONFIG_SEQ,
  CONTROL_STATE,
  CONTROL_STOP,
  COUNTER,
  type LineCounters,
  type LineShared,
  readConfig,
  readCounters,
  STATE_RUNNING,
  STATE_STOPPED,
  STOP_DRAIN,
  STOP_DROP,
} from "./delay_line_control.ts";
import { readErrno } from "./libc.ts";

/** What the worker is started with. */
export interface DelayLineStart {
  /** The NFQUEUE queue number to bind. */
  queue: number;
  libcPath: string;
  shared: LineShared;
  /**
   * Packets the kernel holds for the queue before dropping (queue_dropped).
   * @default {65536}
   */
  maxLength?: number;
  /**
   * How long before a due time the line stops sleeping and spins, nanoseconds.
   * @default {60000}
   */
  guardNs?: number;
}

/** What the worker says. */
export type DelayLineMessage =
  | { type: "started" }
  | { type: "failed"; name: string; message: string }
  | { type: "stopped"; counters: LineCounters };

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SO_TIMESTAMPNS = 35;
const MSG_DONTWAIT = 0x40;
const POLLIN = 1;
const CLOCK_REALTIME = 0;
const PR_SET_TIMERSLACK = 29;
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;
/** Bytes of each packet copied to the line: enough for its IP and UDP/TCP headers. */
const COPY_RANGE = 64;
const RECEIVE_BUFFER_BYTES = 8 << 20;
/** The longest the line sleeps before it looks at its control block. */
const MAX_SLEEP_NS = 20_000_000;
const VERDICTS_PER_SEND = 256;
const ERRNO_NAMES: Record<number, string> = {
  1: "PermissionDenied",
  2: "NotFound",
  13: "PermissionDenied",
  16: "AddrInUse",
  22: "InvalidData",
  93: "NotSupported",
  97: "NotSupported",
};

function errorName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `Errno${errno}`;
}

function post(message: DelayLineMessage): void {
  (self as unknown as Worker).postMessage(message);
}

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  ppoll: { parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
} as const;

class LineError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

function run(start: DelayLineStart): void {
  const libc = Deno.dlopen(start.libcPath, SYMBOLS);
  const c = libc.symbols;
  const errno = () => readErrno(c);
  const fail = (what: string): never => {
    const name = errorName(errno());
    throw new LineError(name, `Cannot ${what} for NFQUEUE queue ${start.queue}: ${name}`);
  };
  const { shared, queue } = start;
  const guardNs = start.guardNs ?? 60_000;
  c.prctl(PR_SET_TIMERSLACK, 1n, 0n, 0n, 0n);

  // The kernel stamps received packets only while some socket asks for timestamps.
  const stamp = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const one = new Uint8Array(new Int32Array([1]).buffer);
  if (stamp < 0 || c.setsockopt(stamp, SOL_SOCKET, SO_TIMESTAMPNS, one, 4) !== 0) {
    if (stamp >= 0) c.close(stamp);
    fail("turn on receive timestamps");
  }
  const fd = c.socket(16, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  try {
    if (fd < 0) fail("open a netfilter netlink socket");
    const size = new Uint8Array(new Int32Array([RECEIVE_BUFFER_BYTES]).buffer);
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) {
      c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
    }
    if (c.bind(fd, sockaddrNetlink(), 12) !== 0) fail("bind a netlink socket");
    serve(c, fd, queue, shared, start.maxLength ?? 65_536, guardNs, fail, errno);
  } finally {
    if (fd >= 0) c.close(fd);
    c.close(stamp);
    libc.close();
  }
}

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

function serve(
  c: Libc,
  fd: number,
  queue: number,
  shared: LineShared,
  maxLength: number,
  guardNs: number,
  fail: (what: string) => never,
  errno: () => number,
): void {
  const receive = new Uint8Array(1 << 16);
  const rview = new DataView(receive.buffer);
  const packet: QueuedPacket = { id: 0, receivedUs: 0, length: 0 };

  // Bind the queue and wait for the four acks.
  const config = configMessages({ queue, copyRange: COPY_RANGE, maxLength }, 1);
  if (Number(c.send(fd, config, BigInt(config.length), 0)) !== config.length) {
    fail("configure the queue");
  }
  for (let acks = 0; acks < CONFIG_MESSAGES;) {
    const n = Number(c.recv(fd, receive, BigInt(receive.length), 0));
    if (n < 0) {
      if (errno() === EINTR) continue;
      fail("read the queue's config acks");
    }
    for (let at = 0; at < n; at += messageLength(rview, at)) {
      const kind = readMessage(rview, at, n, packet);
      if (kind === "ack") acks++;
      else if (kind === "error") {
        const name = errorName(-packet.id);
        throw new LineError(name, `Cannot bind NFQUEUE queue ${queue}: ${name}`);
      }
      if (messageLength(rview, at) === 0) break;
    }
  }

  const counters = shared.counters;
  const control = shared.control;
  const time = new BigInt64Array(2);
  const timeBytes = new Uint8Array(time.buffer);
  c.clock_gettime(CLOCK_REALTIME, timeBytes);
  const baseSeconds = Number(time[0]);
  const nowNs = (): number => {
    c.clock_gettime(CLOCK_REALTIME, timeBytes);
    return (Number(time[0]) - baseSeconds) * 1e9 + Number(time[1]);
  };

  let published = readConfig(shared);
  let configSeq = published.seq;
  const schedule = new DelaySchedule(published.config);
  let pendingAtNs = -1;
  let pending = published.config;
  const msToNs = (ms: number) => (ms - baseSeconds * 1e3) * 1e6;

  const heap = new DueHeap();
  const out = new Uint8Array(VERDICTS_PER_SEND * VERDICT_BYTES);
  const oview = new DataView(out.buffer);
  let outCount = 0;
  const flush = () => {
    if (outCount === 0) return;
    const bytes = outCount * VERDICT_BYTES;
    if (Number(c.send(fd, out, BigInt(bytes), 0)) !== bytes) fail("send verdicts");
    outCount = 0;
  };
  const verdict = (id: number, v: number) => {
    writeVerdict(oview, outCount * VERDICT_BYTES, queue, id, v);
    if (++outCount === VERDICTS_PER_SEND) flush();
  };

  let received = 0;
  let released = 0;
  let tailDropped = 0;
  let reordered = 0;
  let overrun = 0;
  let latenessSum = 0;
  let latenessMax = 0;
  let maxHeld = 0;
  let lastId = 0;
  let highestReleased = 0;

  const poll = new Uint8Array(8);
  const pview = new DataView(poll.buffer);
  pview.setInt32(0, fd, true);
  pview.setInt16(4, POLLIN, true);
  const timeout = new BigInt64Array(2);
  const timeoutBytes = new Uint8Array(timeout.buffer);

  const publish = () => {
    counters[COUNTER.received] = received;
    counters[COUNTER.released] = released;
    counters[COUNTER.tailDropped] = tailDropped;
    counters[COUNTER.held] = heap.size;
    counters[COUNTER.reordered] = reordered;
    counters[COUNTER.overrun] = overrun;
    counters[COUNTER.latenessSumNs] = latenessSum;
    counters[COUNTER.latenessMaxNs] = latenessMax;
    counters[COUNTER.maxHeld] = maxHeld;
  };

  const take = (n: number, now: number) => {
    for (let at = 0; at < n;) {
      const length = messageLength(rview, at);
      if (length === 0) break;
      if (readMessage(rview, at, n, packet) === "packet" && packet.id >= 0) {
        received++;
        const id = packet.id;
        if (lastId !== 0 && id > lastId + 1) overrun += id - lastId - 1;
        if (id > lastId) lastId = id;
        const arrival = packet.receivedUs >= 0
          ? (packet.receivedUs - baseSeconds * 1e6) * 1e3
          : now;
        if (pendingAtNs >= 0 && arrival >= pendingAtNs) {
          schedule.config = pending;
          pendingAtNs = -1;
        }
        const due = schedule.admit(arrival, packet.length);
        if (due === TAIL_DROP) {
          tailDropped++;
          verdict(id, NF_DROP);
        } else {
          heap.push(due, id);
          if (heap.size > maxHeld) maxHeld = heap.size;
        }
      }
      at += length;
    }
  };

  const release = (now: number) => {
    while (heap.size > 0 && heap.peekDue() <= now) {
      const late = now - heap.peekDue();
      const id = heap.pop();
      latenessSum += late;
      if (late > latenessMax) latenessMax = late;
      if (id < highestReleased) reordered++;
      else highestReleased = id;
      released++;
      verdict(id, NF_ACCEPT);
    }
    flush();
  };

  Atomics.store(control, CONTROL_STATE, STATE_RUNNING);
  post({ type: "started" });

  for (;;) {
    // Take every packet the kernel has queued for us.
    let now = nowNs();
    for (;;) {
      const n = Number(c.recv(fd, receive, BigInt(receive.length), MSG_DONTWAIT));
      if (n < 0) {
        const e = errno();
        if (e === EAGAIN) break;
        if (e === EINTR || e === ENOBUFS) continue; // Overruns show as gaps in the ids.
        fail("read queued packets");
      }
      take(n, now);
    }
    flush(); // Tail drops.

    const seq = Atomics.load(control, CONTROL_CONFIG_SEQ);
    if (seq !== configSeq) {
      published = readConfig(shared);
      configSeq = published.seq;
      if (published.effectiveAtMs <= 0) {
        schedule.config = published.config;
        pendingAtNs = -1;
      } else {
        pending = published.config;
        pendingAtNs = msToNs(published.effectiveAtMs);
      }
    }

    now = nowNs();
    release(now);
    publish();

    const stop = Atomics.load(control, CONTROL_STOP);
    if (stop === STOP_DROP) {
      const held = heap.size;
      while (heap.size > 0) verdict(heap.pop(), NF_DROP);
      flush();
      counters[COUNTER.droppedAtStop] = held;
      break;
    }
    if (stop === STOP_DRAIN && heap.size === 0) break;

    const next = heap.peekDue();
    const wait = next - now;
    if (wait > guardNs) {
      const sleep = Math.min(wait - guardNs, MAX_SLEEP_NS);
      timeout[0] = BigInt(Math.floor(sleep / 1e9));
      timeout[1] = BigInt(Math.floor(sleep % 1e9));
      pview.setInt16(6, 0, true);
      c.ppoll(poll, 1n, timeoutBytes, null);
    } else {
      // Close to the due time: spin, then release.
      while (nowNs() < next) {
        // Spin.
      }
    }
  }
  publish();
  const unbind = unbindMessage(queue, 99);
  c.send(fd, unbind, BigInt(unbind.length), 0);
  Atomics.store(control, CONTROL_STATE, STATE_STOPPED);
  post({ type: "stopped", counters: readCounters(shared) });
}

(self as unknown as Worker).onmessage = (event: MessageEvent<DelayLineStart>) => {
  try {
    run(event.data);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    post({ type: "failed", name: e.name, message: e.message });
  }
  self.close();
};
