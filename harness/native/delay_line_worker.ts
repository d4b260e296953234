// A delay line's worker: binds an NFQUEUE queue in the current network namespace,
// reads each queued packet's id, length and kernel receive time, and gives it an accept
// verdict at its due time (see delay_schedule.ts). The packets stay in the kernel; this
// thread holds ids and due times only. It sleeps in ppoll (woken by new packets) until
// shortly before the earliest due time, with 1 ns timer slack, and spins the rest. Busy
// (above 20k packets a second) it neither spins nor wakes for input: it wakes every
// 200 us and releases what is due by then. Several verdicts go out in one send, and a
// run of packets released in arrival order goes as one batch verdict. The owner steers
// it through shared memory (delay_line_control.ts); it looks at least every 20 ms.

import {
  CONFIG_MESSAGES,
  configMessages,
  messageLength,
  NF_ACCEPT,
  NF_DROP,
  probeFlow,
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
  countFlowDrop,
  FLOW_FIELDS,
  FLOW_RECEIVED,
  flowSlot,
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
   * How long before a due time the line first stops sleeping and spins, nanoseconds; it
   * then learns how late its timer wakes it and sets this so that about 90% of wake-ups
   * come at most 5 us before the due time.
   * @default {50000}
   */
  guardNs?: number;
  /**
   * SCHED_FIFO priority of the line's thread (1-99), so a busy machine does not delay
   * releases; 0 keeps the normal scheduler.
   * @default {0}
   */
  priority?: number;
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
const SCHED_FIFO = 1;
const TIMER_ABSTIME = 1;
const EINTR = 4;
const EAGAIN = 11;
/** Bytes of each packet copied to the line: enough for its IP and UDP/TCP headers. */
const COPY_RANGE = 64;
const RECEIVE_BUFFER_BYTES = 8 << 20;
/** The longest the line sleeps before it looks at its control block. */
const MAX_SLEEP_NS = 20_000_000;
const VERDICTS_PER_SEND = 256;
/** recvmmsg: slots per call, bytes per slot (a packet message is about 200), layout. */
const RING_SLOTS = 64;
const RING_SLOT_BYTES = 2048;
const MMSGHDR_BYTES = 64; // struct mmsghdr on 64-bit Linux: msghdr (56) + msg_len + padding
const RING_IOVECS = RING_SLOTS * MMSGHDR_BYTES;
const RING_DATA = RING_IOVECS + RING_SLOTS * 16;
/** Bounds and step of the learned guard, and the spin it aims to leave before a due time. */
const MIN_GUARD_NS = 5_000;
const MAX_GUARD_NS = 500_000;
const GUARD_STEP_NS = 500;
const SPIN_NS = 5_000;
/** The line spins at most SPIN_BUDGET_NS of every WINDOW_NS (a quarter of a core). */
const WINDOW_NS = 100_000_000;
const SPIN_BUDGET_NS = 25_000_000;
/** Packets due this soon after one being released go with it. */
const COALESCE_NS = 10_000;
/**
 * Busy: more than BUSY_PACKETS packets in the last window (20k a second), or on average
 * over the recent windows. A busy line neither spins, nor learns a guard, nor wakes for
 * input: it wakes once per BUSY_PERIOD_NS and releases everything due up to half a
 * period ahead, so its releases are up to half a period early or half a period plus a
 * timer wake-up late (a packet every 20 us at 50k a second: one wake-up per ten packets,
 * not one or two per packet).
 */
const BUSY_PACKETS = 2_000;
/** Weight of the last window in the average number of packets per window (about a second). */
const AVERAGE_WEIGHT = 0.1;
const BUSY_PERIOD_NS = 200_000;
/**
 * When the next due time is further than the guard plus this, the line sleeps in ppoll
 * and new packets wake it; nearer, it sleeps without (they are read right after).
 */
const INPUT_WINDOW_NS = 1_000_000;
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
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  memset: { parameters: ["buffer", "i32", "usize"], result: "usize" },
  ppoll: { parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  clock_nanosleep: { parameters: ["i32", "i32", "buffer", "pointer"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
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
  const guardNs = start.guardNs ?? 50_000;
  c.prctl(PR_SET_TIMERSLACK, 1n, 0n, 0n, 0n);
  if ((start.priority ?? 0) > 0) {
    // This thread only (pid 0 is the calling thread); a failure leaves it as it was.
    c.sched_setscheduler(0, SCHED_FIFO, new Uint8Array(new Int32Array([start.priority!]).buffer));
  }

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

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

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
  const receiveLength = BigInt(receive.length);
  // The recvmmsg ring, one ArrayBuffer (large, so V8 keeps it off its heap and never moves
  // it): RING_SLOTS mmsghdrs, their iovecs, then a RING_SLOT_BYTES buffer for each.
  const ring = new Uint8Array(RING_DATA + RING_SLOTS * RING_SLOT_BYTES);
  const ringView = new DataView(ring.buffer);
  const ringAddress = c.memset(ring, 0, 0n) as bigint; // memset returns its first argument
  for (let i = 0; i < RING_SLOTS; i++) {
    const hdr = i * MMSGHDR_BYTES;
    const iov = RING_IOVECS + i * 16;
    ringView.setBigUint64(hdr + 16, ringAddress + BigInt(iov), true); // msg_iov
    ringView.setBigUint64(hdr + 24, 1n, true); // msg_iovlen
    ringView.setBigUint64(iov, ringAddress + BigInt(RING_DATA + i * RING_SLOT_BYTES), true);
    ringView.setBigUint64(iov + 8, BigInt(RING_SLOT_BYTES), true);
  }
  const packet: QueuedPacket = {
    id: 0,
    receivedUs: 0,
    length: 0,
    payloadOffset: -1,
    payloadLength: 0,
  };

  // Bind the queue and wait for the four acks.
  const config = configMessages({ queue, copyRange: COPY_RANGE, maxLength }, 1);
  if (Number(c.send(fd, config, BigInt(config.length), 0)) !== config.length) {
    fail("configure the queue");
  }
  for (let acks = 0; acks < CONFIG_MESSAGES;) {
    const n = Number(c.recv(fd, receive, receiveLength, 0));
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
  // A timespec read through 32-bit halves (seconds fit until 2106): no BigInt per call.
  const time = new Uint32Array(4);
  const timeBytes = new Uint8Array(time.buffer);
  c.clock_gettime(CLOCK_REALTIME, timeBytes);
  const baseSeconds = time[0]!;
  const nowNs = (): number => {
    c.clock_gettime(CLOCK_REALTIME, timeBytes);
    return (time[0]! - baseSeconds) * 1e9 + time[2]!;
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
  const verdict = (id: number, v: number, batch = false) => {
    writeVerdict(oview, outCount * VERDICT_BYTES, queue, id, v, batch);
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
  let socketErrors = 0;
  let unattributed = 0;
  let otherPackets = 0;
  // The flow of the last probe packet and its slot in the flow table (slots never move).
  let seenFlow = -1;
  let seenSlot = -1;
  let failuresInRow = 0;
  let lastId = 0;
  let highestReleased = 0;
  // The ids one release lets go; the highest id of a packet scheduled before one that was
  // due later (an early packet: jitter, a shorter delay); the latest due time scheduled.
  let releasing = new Float64Array(1024);
  let lastEarlyId = 0;
  let latestDue = -Infinity;

  const poll = new Uint8Array(8);
  const pview = new DataView(poll.buffer);
  pview.setInt32(0, fd, true);
  pview.setInt16(4, POLLIN, true);
  const timeout = new Uint32Array(4); // timespec, high halves stay 0
  const timeoutBytes = new Uint8Array(timeout.buffer);

  let guard = guardNs;
  // Learns how late this machine's timer wakes the line, so that about 90% of wake-ups
  // come before the due time and spin only the rest.
  const learn = (overshoot: number) => {
    guard += overshoot > guard - SPIN_NS ? GUARD_STEP_NS * 9 : -GUARD_STEP_NS;
    if (guard < MIN_GUARD_NS) guard = MIN_GUARD_NS;
    else if (guard > MAX_GUARD_NS) guard = MAX_GUARD_NS;
    counters[COUNTER.guardNs] = guard;
  };
  const until = new Uint32Array(4); // timespec, high halves stay 0
  const untilBytes = new Uint8Array(until.buffer);
  const sleepUntil = (t: number) => {
    const seconds = Math.floor(t / 1e9);
    until[0] = baseSeconds + seconds;
    until[2] = Math.floor(t - seconds * 1e9);
    c.clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, untilBytes, null);
  };
  let windowStart = 0;
  let spunNs = 0;
  let receivedAtWindow = 0;
  let busy = false;
  let averagePerWindow = 0;
  let busyWakeNs = 0;
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
    counters[COUNTER.socketErrors] = socketErrors;
    counters[COUNTER.unattributed] = unattributed;
    counters[COUNTER.otherPackets] = otherPackets;
  };

  const take = (start: number, end: number, now: number) => {
    for (let at = start; at < end;) {
      const length = messageLength(ringView, at);
      if (length === 0) break;
      if (readMessage(ringView, at, end, packet) === "packet" && packet.id >= 0) {
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
        const flow = probeFlow(ringView, packet);
        if (flow >= 0 && flow !== seenFlow) {
          seenFlow = flow;
          seenSlot = flowSlot(shared.flows, flow);
        }
        if (flow >= 0 && seenSlot >= 0) shared.flows[seenSlot * FLOW_FIELDS + FLOW_RECEIVED]! += 1;
        else otherPackets++;
        if (due === TAIL_DROP) {
          tailDropped++;
          if (flow >= 0 && !countFlowDrop(shared.flows, flow, false)) unattributed++;
          verdict(id, NF_DROP);
        } else {
          if (due < latestDue) lastEarlyId = id;
          else latestDue = due;
          heap.push(due, id, flow);
          if (heap.size > maxHeld) maxHeld = heap.size;
        }
      }
      at += length;
    }
  };

  const release = (now: number) => {
    // Once one packet is due, those due within COALESCE_NS after it go too: at tens of
    // thousands of packets a second that saves a wake-up per packet, at the cost of
    // releasing some of them a few microseconds early.
    const until = busy ? now + BUSY_PERIOD_NS / 2 : heap.peekDue() <= now ? now + COALESCE_NS : now;
    let count = 0;
    let top = 0;
    while (heap.size > 0 && heap.peekDue() <= until) {
      const late = now - heap.peekDue();
      const id = heap.pop();
      latenessSum += late;
      if (late > latenessMax) latenessMax = late;
      if (id < highestReleased) reordered++;
      else highestReleased = id;
      if (id > top) top = id;
      if (count === releasing.length) releasing = grow(releasing);
      releasing[count++] = id;
    }
    released += count;
    if (count > 1 && top > lastEarlyId) {
      // No packet still held has a lower id than the highest released (that packet would
      // have been scheduled after one due later, which makes it early): one verdict
      // releases them all.
      verdict(top, NF_ACCEPT, true);
    } else {
      for (let i = 0; i < count; i++) verdict(releasing[i]!, NF_ACCEPT);
    }
    flush();
  };

  Atomics.store(control, CONTROL_STATE, STATE_RUNNING);
  post({ type: "started" });

  for (;;) {
    // Take every packet the kernel has queued for us.
    let now = nowNs();
    for (;;) {
      // Up to RING_SLOTS messages (one packet each) in one system call.
      const n = c.recvmmsg(fd, ring, RING_SLOTS, MSG_DONTWAIT, null);
      if (n < 0) {
        // Nothing more now (EAGAIN), or an error the socket reports once (ENOBUFS after an
        // overrun, which shows as a gap in the ids): either way, on to the releases. A
        // socket that fails on end although poll says it is readable is broken.
        const e = errno();
        if (e !== EAGAIN && e !== EINTR) {
          socketErrors++;
          if (++failuresInRow > 1000) fail("read queued packets");
        }
        break;
      }
      failuresInRow = 0;
      for (let i = 0; i < n; i++) {
        const at = RING_DATA + i * RING_SLOT_BYTES;
        take(at, at + ringView.getUint32(i * MMSGHDR_BYTES + 56, true), now);
      }
      if (n < RING_SLOTS) break;
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
    if (now - windowStart > WINDOW_NS) {
      // The last window, or the recent average (a sender that stalls, then catches up,
      // sends in lumps; its average decides).
      const inWindow = received - receivedAtWindow;
      averagePerWindow += (inWindow - averagePerWindow) * AVERAGE_WEIGHT;
      busy = inWindow > BUSY_PACKETS || averagePerWindow > BUSY_PACKETS;
      receivedAtWindow = received;
      windowStart = now;
      spunNs = 0;
    }
    release(now);
    publish();

    const stop = Atomics.load(control, CONTROL_STOP);
    if (stop === STOP_DROP) {
      const held = heap.size;
      while (heap.size > 0) {
        verdict(heap.pop(), NF_DROP);
        const flow = heap.poppedFlow;
        if (flow >= 0 && !countFlowDrop(shared.flows, flow, true)) unattributed++;
      }
      counters[COUNTER.unattributed] = unattributed;
      flush();
      counters[COUNTER.droppedAtStop] = held;
      break;
    }
    if (stop === STOP_DRAIN && heap.size === 0) break;

    const next = heap.peekDue();
    const wait = next - now;
    if (busy) {
      // Busy: wake once a period, whatever is due, and read and release then. Waking for
      // input instead would wake the line for every packet while the next due time is far.
      busyWakeNs += BUSY_PERIOD_NS;
      if (busyWakeNs < now) busyWakeNs = now;
      else sleepUntil(busyWakeNs);
    } else if (wait > guard + INPUT_WINDOW_NS) {
      // Far from the next due time: sleep in ppoll, so that new packets wake the line.
      const sleep = Math.min(wait - guard, MAX_SLEEP_NS);
      timeout[0] = Math.floor(sleep / 1e9);
      timeout[2] = Math.floor(sleep % 1e9);
      pview.setInt16(6, 0, true);
      if (c.ppoll(poll, 1n, timeoutBytes, null) === 0 && sleep < MAX_SLEEP_NS) {
        learn(nowNs() - (now + sleep));
      }
    } else if (wait > 0) {
      // Near it: sleep without waking for input (new packets wait in the socket and are
      // read after this release), to a guard before the due time, then spin the rest
      // within a budget of CPU time. Past the budget, sleep to the due time itself and
      // release a timer wake-up late.
      if (wait > guard) {
        sleepUntil(next - guard);
        now = nowNs();
        learn(now - (next - guard));
      }
      if (spunNs < SPIN_BUDGET_NS) {
        let t = now;
        while ((t = nowNs()) < next) {
          // Spin.
        }
        spunNs += t - now;
      } else if (nowNs() < next) {
        sleepUntil(next);
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
