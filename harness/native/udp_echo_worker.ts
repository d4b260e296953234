// The native UDP echo's worker: blocking recvmmsg and sendmmsg through libc, counting
// with the same EchoCounter as the Deno-socket echo. A probe datagram that asks for
// stamps (probe_packet.ts) gets the kernel's receive time of the request and the echo's
// time just before the reply was sent. It cannot read messages while it waits
// in recvmmsg, so the agent asks through shared memory (stop, snapshot), which the
// worker looks at after every datagram and at least every 50 ms.

import { EchoCounter } from "./echo_counter.ts";
import { countName } from "./counts.ts";
import {
  AF_INET,
  bindFailure,
  bindTo,
  Clock,
  DatagramSlots,
  errnoName,
  errnoOf,
  localPort,
  MMSGHDR_BYTES,
  MSG_DONTWAIT,
  openSocketLibrary,
  readSockaddrIn,
  setIntOption,
  setReceiveBuffer,
  setReceiveTimeout,
  SO_REUSEPORT,
  SO_TIMESTAMPNS,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN_BYTES,
  SOL_SOCKET,
  writeSockaddrIn,
} from "./libc_socket.ts";
import { postToAgent, runOnStart } from "./worker_thread.ts";
import { isProbe, STAMP_OFFSET, wantsStamps, writeStamps } from "./probe_packet.ts";

/** Slots of the shared control array (Int32): 1 stops; {@linkcode STOP_DISCARD} stops as a dying worker. */
export const CONTROL_STOP = 0;
/** Incremented by the agent for each snapshot it wants. */
export const CONTROL_SNAPSHOT = 1;
/** With {@linkcode STOP_DISCARD}: ms to stop reading before the socket closes. */
export const CONTROL_HANG_MS = 2;
/** Never written: what the hang waits on. */
const CONTROL_IDLE = 3;
/** Bytes of the shared control array. */
export const CONTROL_BYTES = 16;
/**
 * A stop as a worker that dies: nothing more is answered; after the hang, what is queued
 * in the socket is read, counted per flow as discarded, and the socket closed.
 */
export const STOP_DISCARD = 2;

/** What the worker is started with. */
export interface NativeEchoStart {
  hostname: string;
  port: number;
  libcPath: string;
  control: SharedArrayBuffer;
  /**
   * Int32Array over it: 1 once a delay line runs on this host; the receive time written
   * into a reply is then read in user space (the kernel's stamp precedes the line's hold).
   */
  lineHere: SharedArrayBuffer;
  /** Set SO_REUSEPORT before binding (a member of a group). */
  reusePort: boolean;
}

/** What the worker says. */
export type NativeEchoMessage =
  | { type: "started"; address: string }
  | { type: "failed"; name: string; message: string }
  | { type: "snapshot"; result: ReturnType<EchoCounter["result"]>; served: number }
  | { type: "done"; result: ReturnType<EchoCounter["result"]> };

/**
 * The echo is a measuring instrument: a receive buffer of 4 MiB (about 4000 small
 * datagrams instead of the default ~194) rides out a scheduling gap of a few hundred
 * milliseconds at 10k/s, so what overflows is sustained overload, not a hiccup of ours.
 */
const RECEIVE_BUFFER_BYTES = 4 << 20;
/** Most datagrams taken by one recvmmsg and sent back by one sendmmsg. */
const BATCH = 64;
const MAX_DATAGRAM = 65_536;
/** recvmmsg: block for the first datagram only. */
const MSG_WAITFORONE = 0x10000;

function post(message: NativeEchoMessage): void {
  postToAgent(message);
}

function run(start: NativeEchoStart): void {
  const libc = openSocketLibrary(start.libcPath);
  const c = libc.symbols;
  const control = new Int32Array(start.control);
  const lineHere = new Int32Array(start.lineHere);

  // CLOEXEC: a child the agent spawns (ss) must not hold the socket, nor keep it in its
  // SO_REUSEPORT group after the echo closed it.
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (
    fd < 0 || (start.reusePort && !setIntOption(c, fd, SOL_SOCKET, SO_REUSEPORT, 1)) ||
    !bindTo(c, fd, start.hostname, start.port) ||
    !setReceiveTimeout(c, fd, 50_000)
  ) {
    post(bindFailure(libc, fd, `${start.hostname}:${start.port}`));
    return;
  }
  setReceiveBuffer(c, fd, RECEIVE_BUFFER_BYTES);
  // Kernel receive times, for the stamps a probe asks for (probe_packet.ts).
  const timestamps = setIntOption(c, fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
  const counter = new EchoCounter(`${start.hostname}:${localPort(c, fd)}`);
  post({ type: "started", address: counter.address });

  const slots = new DatagramSlots(c, BATCH, MAX_DATAGRAM);
  const views = Array.from(
    { length: BATCH },
    (_, i) => new DataView(slots.memory, slots.packetOffset(i), MAX_DATAGRAM),
  );
  const clock = new Clock(c);
  const stamps = new Uint8Array(BATCH);
  // Who sent slot i's datagram, read only for a flow's first datagram.
  const peers = Array.from(
    { length: BATCH },
    (_, i) => () => readSockaddrIn(slots.view, slots.addressOffset(i)),
  );
  let snapshots = 0;
  for (let i = 0; i < BATCH; i++) slots.prepareReceive(i);
  for (;;) {
    if (Atomics.load(control, CONTROL_STOP) === STOP_DISCARD) break;
    // Blocks for the first datagram (at most 50 ms), then takes what else is queued.
    const n = c.recvmmsg(fd, slots.headers, BATCH, MSG_WAITFORONE, null);
    if (n > 0 && Atomics.load(control, CONTROL_STOP) === STOP_DISCARD) {
      // Told to die while it waited: what it just took is not answered either.
      for (let i = 0; i < n; i++) {
        counter.discard(views[i]!, slots.received(i), peers[i]!);
        slots.prepareReceive(i);
      }
      break;
    }
    if (n > 0) {
      let stamped = false;
      stamps.fill(0);
      // With a delay line here, the kernel's stamp precedes the line's hold: read the time
      // now, after the line let the batch go.
      const userReceived = Atomics.load(lineHere, 0) === 1 ? clock.realTime() : undefined;
      for (let i = 0; i < n; i++) {
        const size = slots.received(i);
        const data = views[i]!;
        if ((timestamps || userReceived) && isProbe(data, size) && wantsStamps(data, size)) {
          const received = userReceived ?? slots.control(i).time;
          if (received) {
            // The send time is written below, once for the batch, just before sendmmsg.
            writeStamps(data, received.sec, received.nsec, 0, 0);
            stamps[i] = 1;
            stamped = true;
          }
        }
        slots.prepareSend(i, size);
      }
      if (stamped) {
        const now = clock.realTime();
        for (let i = 0; i < n; i++) {
          if (stamps[i] === 1) {
            views[i]!.setUint32(STAMP_OFFSET + 12, now.sec);
            views[i]!.setUint32(STAMP_OFFSET + 16, now.nsec);
          }
        }
      }
      let sent = 0;
      let failed = 0;
      while (sent < n) {
        const k = c.sendmmsg(fd, slots.headers.subarray(sent * MMSGHDR_BYTES), n - sent, 0);
        if (k > 0) {
          sent += k;
          continue;
        }
        // The first message of what is left failed: count it, go on with the rest.
        countName(counter.sendErrors, errnoName(errnoOf(c)));
        failed++;
        sent++;
      }
      for (let i = 0; i < n; i++) {
        const size = slots.received(i);
        counter.datagram(views[i]!, size, peers[i]!);
        slots.prepareReceive(i);
      }
      counter.replied += n - failed;
    }
    if (Atomics.load(control, CONTROL_STOP) !== 0) break;
    const wanted = Atomics.load(control, CONTROL_SNAPSHOT);
    if (wanted !== snapshots) {
      snapshots = wanted;
      // Answers every request up to `wanted` at once (several may come between looks).
      post({ type: "snapshot", result: counter.result(), served: wanted });
    }
  }
  if (Atomics.load(control, CONTROL_STOP) === STOP_DISCARD) {
    // A worker that dies: it stops reading; what queues meanwhile dies with the socket.
    const hangMs = Atomics.load(control, CONTROL_HANG_MS);
    if (hangMs > 0) Atomics.wait(control, CONTROL_IDLE, 0, hangMs);
    // Leave the group before draining, so that nothing arrives between the last read
    // and close(): connecting a UDP socket takes it out of its SO_REUSEPORT group (the
    // kernel re-hashes its flows over the rest at once), and a connected socket takes
    // only its peer's datagrams, here a discard port nothing sends from. What was queued
    // stays queued, to be read and counted exactly. (If connect fails, a datagram that
    // comes between the drain and close() is lost uncounted.)
    const nowhere = new Uint8Array(SOCKADDR_IN_BYTES);
    writeSockaddrIn(new DataView(nowhere.buffer), 0, "127.0.0.1", 9);
    c.connect(fd, nowhere, SOCKADDR_IN_BYTES);
    for (;;) {
      const n = c.recvmmsg(fd, slots.headers, BATCH, MSG_DONTWAIT, null);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        counter.discard(views[i]!, slots.received(i), peers[i]!);
        slots.prepareReceive(i);
      }
    }
  }
  c.close(fd);
  libc.close();
  post({ type: "done", result: counter.result() });
}

runOnStart(run);
