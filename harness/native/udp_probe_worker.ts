// The native UDP probe's worker: sends and receives through libc in a thread of its own,
// with the kernel's times. Receive times are the kernel's software receive timestamps
// (SO_TIMESTAMPING); send times are the kernel's software transmit timestamps taken as
// each datagram enters the qdisc, read back from the error queue
// (SOF_TIMESTAMPING_OPT_ID numbers each send), or, where the kernel gives none,
// clock_gettime(CLOCK_REALTIME) just before the send.
//
// Note: the kernel takes a receive timestamp as a packet enters the host (netif_rx),
// before netfilter: a packet held in the receiving namespace by an NFQUEUE delay line
// keeps the time it arrived, not the time the socket got it. All times are
// CLOCK_REALTIME, the clock every namespace shares, so the echo's stamps (probe_packet.ts)
// give the one-way delay of each direction.
//
// A fixed rate is held by sleeping (clock_nanosleep with 1 ns timer slack, or ppoll on the
// socket so replies are read meanwhile) to SPIN_NS before each send and spinning the
// rest. Above PRECISE_RATE the probe sends what is due in batches (sendmmsg) every
// BATCH_PERIOD_NS instead of spinning between datagrams, so one probe never takes a core.
//
// The worker only measures: it sends its samples in batches to the agent's thread, which
// keeps the histograms and the counts (agent/_native_udp_probe.ts). It loads only
// harness/native, the one folder an agent may read.

import {
  AF_INET,
  bindFailure,
  bindTo,
  Clock,
  DatagramSlots,
  errnoName,
  errnoOf,
  type KernelTime,
  localPort,
  MMSGHDR_BYTES,
  MSG_DONTWAIT,
  MSG_ERRQUEUE,
  openSocketLibrary,
  POLLIN,
  PR_SET_TIMERSLACK,
  RUSAGE_BYTES,
  setIntOption,
  setReceiveBuffer,
  SO_TIMESTAMPING,
  SO_TIMESTAMPNS,
  SOCK_DGRAM,
  SOF_TIMESTAMPING_OPT_ID,
  SOF_TIMESTAMPING_OPT_TSONLY,
  SOF_TIMESTAMPING_RX_SOFTWARE,
  SOF_TIMESTAMPING_SOFTWARE,
  SOF_TIMESTAMPING_TX_SCHED,
  SOL_SOCKET,
  threadCpuNs,
  writeSockaddrIn,
} from "./libc_socket.ts";
import { postToAgent, runOnStart } from "./worker_thread.ts";
import { isProbe, readStamps, requestStamps, STAMPED_BYTES, writeHeader } from "./probe_packet.ts";
import { countName } from "./counts.ts";

/** Slot of the shared control array the agent sets to stop the probe. */
export const PROBE_CONTROL_STOP = 0;

/** What the worker is started with. */
export interface NativeProbeStart {
  libcPath: string;
  /** Local address to bind. */
  hostname: string;
  targetAddress: string;
  targetPort: number;
  flowId: number;
  /** Datagrams to send. */
  total: number;
  /** Datagrams per second (a ceiling in ping-pong). */
  rate: number;
  /** Datagram size in bytes. */
  size: number;
  /** A reply later than this is late; the probe waits this long after its last send. */
  timeoutMs: number;
  /** One datagram in flight. */
  pingPong: boolean;
  /** Stop sending this long after the first send, whatever is left. */
  sendLimitMs: number;
  /** Int32Array over it: PROBE_CONTROL_STOP. */
  control: SharedArrayBuffer;
  /**
   * Int32Array over it: 1 once a delay line runs on this host, whose hold the kernel's
   * receive timestamp does not include: receive times are then read in user space.
   */
  lineHere: SharedArrayBuffer;
}

/** Fields of one send record in `NativeProbeBatch.sends`. */
export const SEND_FIELDS = 3;
/** Fields of one reply record in `NativeProbeBatch.replies`. */
export const REPLY_FIELDS = 6;

/**
 * Samples since the last batch. Times are ns of CLOCK_REALTIME since `baseSec` (see the
 * started message). `sends`: [seq, sent at, late by (ns after its due time)] per send;
 * `replies`: [seq, sent at, received at, echo received at, echo sent at, flags] per
 * reply of this flow (NaN where the echo did not stamp; flags bit 0: the send time is
 * the kernel's, bit 1: the receive time is the kernel's).
 */
export interface NativeProbeBatch {
  type: "batch";
  sends: Float64Array<ArrayBuffer>;
  replies: Float64Array<ArrayBuffer>;
  /** Datagrams received that were not replies of this flow. */
  foreign: number;
}

/** What the worker reports at the end. */
export interface NativeProbeEnd {
  type: "done";
  /** Send errors by name. */
  sendErrors: Record<string, number>;
  /** CPU time of the worker's thread while it ran (getrusage RUSAGE_THREAD), ns. */
  cpuNs: number;
  /** Wall time from the first send until the worker stopped listening, ns. */
  wallNs: number;
  /** When the last send was, ns since baseSec. */
  sendEndNs: number;
  /** Whether it was stopped (or ran out of time) before its total was sent. */
  stoppedEarly: boolean;
  /** How pacing was done. */
  pacing: "ping-pong" | "sleep-spin" | "batched";
  /** Transmit timestamps that came back from the kernel. */
  kernelTxTimes: number;
}

/** What the worker says. */
export type NativeProbeMessage =
  | {
    type: "started";
    address: string;
    /** The CLOCK_REALTIME second the batches' times count from. */
    baseSec: number;
    /** When the first send is due, ns since baseSec. */
    startNs: number;
    /** Whether receive times come from the kernel. */
    kernelRx: boolean;
    /** Whether transmit times come from the kernel (error queue). */
    kernelTx: boolean;
  }
  | { type: "failed"; name: string; message: string }
  | NativeProbeBatch
  | NativeProbeEnd;

/** Sleep to this long before a send, then spin (the wake-up floor is about 40 us). */
export const SPIN_NS = 60_000;
/** Above this rate, datagrams go in batches instead of one by one. */
export const PRECISE_RATE = 10_000;
/** How often a batched probe wakes up to send what is due. */
export const BATCH_PERIOD_NS = 200_000;
/** A send later than this after its due time (plus the batch period when batched) missed. */
export const PACING_TOLERANCE_NS = 100_000;

const RECEIVE_BATCH = 64;
const SEND_BATCH = 64;
const ERROR_BATCH = 64;
const FLUSH_RECORDS = 4096;
const FLUSH_EVERY_NS = 50e6;
/** Longest a blocked receive or poll waits before it looks at the stop flag. */
const WAIT_SLICE_NS = 50e6;
const RECEIVE_BUFFER_BYTES = 4 << 20;
const MAX_DATAGRAM = 65_536;

function post(message: NativeProbeMessage, transfer: Transferable[] = []): void {
  postToAgent(message, transfer);
}

/** Sends-per-second after which in-flight datagrams need a bigger ring. */
function ringSize(rate: number, timeoutMs: number): number {
  let size = 1024;
  const wanted = Math.min(1 << 20, rate * (timeoutMs / 1000) * 2 + SEND_BATCH);
  while (size < wanted) size *= 2;
  return size;
}

function run(start: NativeProbeStart): void {
  const libc = openSocketLibrary(start.libcPath);
  const c = libc.symbols;
  const control = new Int32Array(start.control);
  const lineHere = new Int32Array(start.lineHere);
  const clock = new Clock(c);
  c.prctl(PR_SET_TIMERSLACK, 1n, 0n, 0n, 0n);
  const rusage = new Uint8Array(new ArrayBuffer(RUSAGE_BYTES));

  const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || !bindTo(c, fd, start.hostname, 0)) {
    post(bindFailure(libc, fd, `${start.hostname}:0`));
    return;
  }
  setReceiveBuffer(c, fd, RECEIVE_BUFFER_BYTES);
  // The transmit time is taken as the datagram enters the qdisc (TX_SCHED), not in the
  // driver (TX_SOFTWARE): a queue or a rate limit on the probe's own egress is part of
  // the way there.
  const tsFlags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SCHED |
    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
  let kernelTx = setIntOption(c, fd, SOL_SOCKET, SO_TIMESTAMPING, tsFlags);
  const kernelRx = kernelTx || setIntOption(c, fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
  const address = `${start.hostname}:${localPort(c, fd)}`;

  const stampable = start.size >= STAMPED_BYTES;
  const intervalNs = 1e9 / start.rate;
  const pacing: NativeProbeEnd["pacing"] = start.pingPong
    ? "ping-pong"
    : start.rate > PRECISE_RATE
    ? "batched"
    : "sleep-spin";

  // Send slots: every one holds a copy of the datagram, addressed to the target.
  const sendSlots = new DatagramSlots(c, SEND_BATCH, start.size);
  const sendViews: DataView[] = [];
  for (let i = 0; i < SEND_BATCH; i++) {
    writeSockaddrIn(
      sendSlots.view,
      sendSlots.addressOffset(i),
      start.targetAddress,
      start.targetPort,
    );
    sendSlots.prepareSend(i, start.size);
    sendViews.push(new DataView(sendSlots.memory, sendSlots.packetOffset(i), start.size));
  }
  const receiveSlots = new DatagramSlots(c, RECEIVE_BATCH, MAX_DATAGRAM);
  const receiveViews = Array.from(
    { length: RECEIVE_BATCH },
    (_, i) => new DataView(receiveSlots.memory, receiveSlots.packetOffset(i), MAX_DATAGRAM),
  );
  for (let i = 0; i < RECEIVE_BATCH; i++) receiveSlots.prepareReceive(i);
  const errorSlots = new DatagramSlots(c, ERROR_BATCH, 64);
  for (let i = 0; i < ERROR_BATCH; i++) errorSlots.prepareReceive(i);
  const poll = new Uint8Array(new ArrayBuffer(16));
  const pollView = new DataView(poll.buffer);
  pollView.setInt32(0, fd, true);
  pollView.setInt16(4, POLLIN, true);
  const pollTimeout = new Uint8Array(new ArrayBuffer(16));
  const pollTimeoutView = new DataView(pollTimeout.buffer);

  // In flight: user-space send time and the kernel's, by seq; the seq of each send number.
  const ring = ringSize(start.pingPong ? 1 : start.rate, start.timeoutMs);
  const mask = ring - 1;
  const ringSeq = new Float64Array(ring).fill(-1);
  const userTx = new Float64Array(ring);
  const kernelTxAt = new Float64Array(ring);
  const seqOfSend = new Float64Array(ring).fill(-1);
  let sendNumber = 0;
  let kernelTxTimes = 0;

  const sends = new Float64Array(FLUSH_RECORDS * SEND_FIELDS);
  const replies = new Float64Array(FLUSH_RECORDS * REPLY_FIELDS);
  let lastSeqSeen = -1;
  let lastBatch = -Infinity;
  let sendCount = 0;
  let replyCount = 0;
  let foreign = 0;
  let lastFlush = clock.monoNs();
  const sendErrors: Record<string, number> = {};
  const stopped = () => Atomics.load(control, PROBE_CONTROL_STOP) !== 0;

  function flush(): void {
    post(
      {
        type: "batch",
        sends: sends.slice(0, sendCount * SEND_FIELDS),
        replies: replies.slice(0, replyCount * REPLY_FIELDS),
        foreign,
      },
    );
    sendCount = 0;
    replyCount = 0;
    foreign = 0;
    lastFlush = clock.monoNs();
  }

  function maybeFlush(): void {
    if (
      sendCount >= FLUSH_RECORDS - SEND_BATCH || replyCount >= FLUSH_RECORDS - RECEIVE_BATCH ||
      clock.monoNs() - lastFlush >= FLUSH_EVERY_NS
    ) flush();
  }

  function timeOf(t: KernelTime | null): number {
    return t ? clock.fromKernel(t.sec, t.nsec) : NaN;
  }

  /** Reads the transmit timestamps the kernel queued. */
  function drainErrors(): void {
    if (!kernelTx) return;
    for (;;) {
      const n = c.recvmmsg(fd, errorSlots.headers, ERROR_BATCH, MSG_ERRQUEUE | MSG_DONTWAIT, null);
      if (n <= 0) return;
      for (let i = 0; i < n; i++) {
        const found = errorSlots.control(i);
        errorSlots.prepareReceive(i);
        if (found.time === null || found.timestampId === null) continue;
        const seq = seqOfSend[found.timestampId & mask]!;
        if (seq < 0 || ringSeq[seq & mask] !== seq) continue;
        const at = timeOf(found.time);
        // A kernel time before its send's user-space time means the numbering slipped (a
        // send that failed after taking a number): from then on, user-space times only.
        const user = userTx[seq & mask]!;
        if (at < user - 1e3 || at > user + 1e9) {
          kernelTx = false;
          return;
        }
        kernelTxAt[seq & mask] = at;
        kernelTxTimes++;
      }
      if (n < ERROR_BATCH) return;
    }
  }

  /** Reads what is queued (blocking for the first datagram when `blockNs` > 0). */
  function receive(blockNs: number): number {
    if (blockNs > 0) {
      const ns = Math.min(blockNs, WAIT_SLICE_NS);
      pollTimeoutView.setBigInt64(0, BigInt(Math.floor(ns / 1e9)), true);
      pollTimeoutView.setBigInt64(8, BigInt(Math.floor(ns % 1e9)), true);
      pollView.setInt16(6, 0, true);
      if (c.ppoll(poll, 1n, pollTimeout, null) <= 0) return 0;
    }
    drainErrors();
    let total = 0;
    for (;;) {
      const n = c.recvmmsg(fd, receiveSlots.headers, RECEIVE_BATCH, MSG_DONTWAIT, null);
      if (n <= 0) return total;
      const userRx = clock.realNs();
      // A delay line here holds packets after the kernel stamped them: its hold is only in
      // a time read now, after the line let them go.
      const kernelTimes = kernelRx && Atomics.load(lineHere, 0) === 0;
      for (let i = 0; i < n; i++) {
        const view = receiveViews[i]!;
        const size = receiveSlots.received(i);
        const rxKernel = kernelTimes ? timeOf(receiveSlots.control(i).time) : NaN;
        receiveSlots.prepareReceive(i);
        if (!isProbe(view, size) || view.getUint32(4) !== start.flowId) {
          foreign++;
          continue;
        }
        const seq = view.getUint32(8);
        const slot = seq & mask;
        // The send time: the kernel's if it came back, else the one in the datagram.
        let tx = view.getFloat64(12);
        let flags = 0;
        if (ringSeq[slot] === seq && kernelTxAt[slot]! > 0) {
          tx = kernelTxAt[slot]!;
          flags |= 1;
        }
        const rx = Number.isNaN(rxKernel) ? userRx : rxKernel;
        if (!Number.isNaN(rxKernel)) flags |= 2;
        const stamps = readStamps(view, size);
        const r = replyCount++ * REPLY_FIELDS;
        replies[r] = seq;
        replies[r + 1] = tx;
        replies[r + 2] = rx;
        replies[r + 3] = stamps ? clock.fromKernel(stamps.receivedSec, stamps.receivedNsec) : NaN;
        replies[r + 4] = stamps ? clock.fromKernel(stamps.sentSec, stamps.sentNsec) : NaN;
        replies[r + 5] = flags;
        total++;
        lastSeqSeen = seq;
      }
      if (replyCount >= FLUSH_RECORDS - RECEIVE_BATCH) flush();
      if (n < RECEIVE_BATCH) return total;
    }
  }

  /** Sends `count` datagrams (seq from `sent`) in one sendmmsg; returns how many went. */
  function send(first: number, count: number, dueNs: number): number {
    for (let i = 0; i < count; i++) {
      const view = sendViews[i]!;
      writeHeader(view, start.flowId, first + i, 0);
      if (stampable) requestStamps(view);
    }
    const now = clock.realNs();
    for (let i = 0; i < count; i++) {
      const seq = first + i;
      sendViews[i]!.setFloat64(12, now);
      const slot = seq & mask;
      ringSeq[slot] = seq;
      userTx[slot] = now;
      kernelTxAt[slot] = 0;
    }
    let done = 0;
    while (done < count) {
      const k = c.sendmmsg(fd, sendSlots.headers.subarray(done * MMSGHDR_BYTES), count - done, 0);
      if (k > 0) {
        for (let i = 0; i < k; i++) seqOfSend[(sendNumber++) & mask] = first + done + i;
        done += k;
        continue;
      }
      countName(sendErrors, errnoName(errnoOf(c)));
      done++;
    }
    const s = sendCount * SEND_FIELDS;
    for (let i = 0; i < count; i++) {
      sends[s + i * SEND_FIELDS] = first + i;
      sends[s + i * SEND_FIELDS + 1] = now;
      sends[s + i * SEND_FIELDS + 2] = now - (dueNs + i * intervalNs);
    }
    sendCount += count;
    return count;
  }

  // Real time and monotonic time of the start: pacing runs on the monotonic clock.
  const startMono = clock.monoNs() + 1e6;
  const startNs = clock.realNs() + 1e6;
  const cpuStart = threadCpuNs(c, rusage);
  post({ type: "started", address, baseSec: clock.baseSec, startNs, kernelRx, kernelTx });
  const realOf = (mono: number) => startNs + (mono - startMono);
  const sendDeadline = startMono + start.sendLimitMs * 1e6;

  /** Sleeps until `mono` (reading replies meanwhile when `listen`), then spins to it. */
  function waitUntil(mono: number, listen: boolean): void {
    for (;;) {
      const now = clock.monoNs();
      const left = mono - now;
      if (left <= 0 || stopped()) return;
      if (left > SPIN_NS) {
        if (listen) receive(left - SPIN_NS);
        else clock.sleepUntilMono(Math.min(mono - SPIN_NS, now + WAIT_SLICE_NS));
        continue;
      }
      // The last stretch: spin (replies wait in the socket, with their kernel times).
      while (clock.monoNs() < mono) { /* spin */ }
      return;
    }
  }

  let sent = 0;
  clock.sleepUntilMono(startMono - SPIN_NS);
  waitUntil(startMono, false);
  if (start.pingPong) {
    while (sent < start.total && !stopped() && clock.monoNs() < sendDeadline) {
      const due = startMono + sent * intervalNs;
      if (clock.monoNs() < due) waitUntil(due, true);
      if (stopped()) break;
      const seq = sent;
      sent += send(seq, 1, realOf(Math.max(due, clock.monoNs())));
      // Wait for this reply (blocking), or the timeout.
      const deadline = clock.monoNs() + start.timeoutMs * 1e6;
      lastSeqSeen = -1;
      for (;;) {
        const left = deadline - clock.monoNs();
        if (left <= 0 || stopped()) break;
        receive(left);
        if (lastSeqSeen === seq) break;
      }
      maybeFlush();
    }
  } else {
    const period = pacing === "batched" ? BATCH_PERIOD_NS : 0;
    while (sent < start.total && !stopped()) {
      const now = clock.monoNs();
      if (now >= sendDeadline) break;
      const due = startMono + sent * intervalNs;
      if (now < due) {
        // Sleep (reading replies) to shortly before the next send, then spin; batched,
        // wake once per period and send everything due by then.
        waitUntil(period > 0 ? Math.max(due, lastBatch + period) : due, true);
        if (stopped()) break;
      }
      const at = clock.monoNs();
      const dueCount = Math.min(start.total, Math.floor((at - startMono) / intervalNs) + 1) - sent;
      const count = Math.max(1, Math.min(SEND_BATCH, dueCount));
      sent += send(sent, count, realOf(startMono + sent * intervalNs));
      lastBatch = at;
      if (pacing === "batched" || dueCount > count) receive(0);
      maybeFlush();
    }
  }
  const sendEndNs = clock.realNs();
  // Give the last datagram its full timeout to come back.
  const listenUntil = clock.monoNs() + start.timeoutMs * 1e6;
  while (!stopped()) {
    const left = listenUntil - clock.monoNs();
    if (left <= 0) break;
    receive(left);
    maybeFlush();
  }
  receive(0);
  const cpuNs = threadCpuNs(c, rusage) - cpuStart;
  flush();
  c.close(fd);
  libc.close();
  post({
    type: "done",
    sendErrors,
    cpuNs,
    wallNs: clock.realNs() - startNs,
    sendEndNs,
    stoppedEarly: sent < start.total,
    pacing,
    kernelTxTimes,
  });
}

runOnStart(run);
