// The native UDP echo's worker: blocking recvfrom and sendto through libc, counting with
// the same EchoCounter as the Deno-socket echo. It cannot read messages while it waits
// in recvfrom, so the agent asks through shared memory (stop, snapshot), which the
// worker looks at after every datagram and at least every 50 ms.

import { EchoCounter } from "./echo_counter.ts";
import { readErrno } from "./libc.ts";
import { countName } from "./counts.ts";

/** Slots of the shared control array. */
export const CONTROL_STOP = 0;
/** Incremented by the agent for each snapshot it wants. */
export const CONTROL_SNAPSHOT = 1;

/** What the worker is started with. */
export interface NativeEchoStart {
  hostname: string;
  port: number;
  libcPath: string;
  control: SharedArrayBuffer;
}

/** What the worker says. */
export type NativeEchoMessage =
  | { type: "started"; address: string }
  | { type: "failed"; name: string; message: string }
  | { type: "snapshot"; result: ReturnType<EchoCounter["result"]> }
  | { type: "done"; result: ReturnType<EchoCounter["result"]> };

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
/**
 * The echo is a measuring instrument: a receive buffer of 4 MiB (about 4000 small
 * datagrams instead of the default ~194) rides out a scheduling gap of a few hundred
 * milliseconds at 10k/s, so what overflows is sustained overload, not a hiccup of ours.
 */
const RECEIVE_BUFFER_BYTES = 4 << 20;
const ERRNO_NAMES: Record<number, string> = {
  11: "TimedOut",
  13: "PermissionDenied",
  98: "AddrInUse",
  99: "AddrNotAvailable",
  101: "NetworkUnreachable",
  111: "ConnectionRefused",
};

function errorName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `Errno${errno}`;
}

function post(message: NativeEchoMessage): void {
  (self as unknown as Worker).postMessage(message);
}

function run(start: NativeEchoStart): void {
  const libc = Deno.dlopen(start.libcPath, {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    recvfrom: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
      result: "isize",
    },
    sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
    memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  });
  const c = libc.symbols;
  const errno = () => readErrno(c);
  const control = new Int32Array(start.control);

  const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
  const address = new Uint8Array(16);
  const view = new DataView(address.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, start.port, false);
  start.hostname.split(".").forEach((part, i) => view.setUint8(4 + i, Number(part)));
  const timeout = new BigInt64Array([0n, 50_000n]); // 50 ms
  if (
    fd < 0 || c.bind(fd, address, 16) !== 0 ||
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(timeout.buffer), 16) !== 0
  ) {
    const name = errorName(errno());
    if (fd >= 0) c.close(fd);
    libc.close();
    post({
      type: "failed",
      name,
      message: `Cannot bind UDP socket to "${start.hostname}:${start.port}": ${name}`,
    });
    return;
  }
  // SO_RCVBUFFORCE passes net.core.rmem_max (root only); SO_RCVBUF is capped by it.
  const size = new Uint8Array(new Int32Array([RECEIVE_BUFFER_BYTES]).buffer);
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) {
    c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
  }
  const length = new Uint32Array([16]);
  c.getsockname(fd, address, new Uint8Array(length.buffer));
  const counter = new EchoCounter(`${start.hostname}:${view.getUint16(2, false)}`);
  post({ type: "started", address: counter.address });

  const buffer = new Uint8Array(65_536);
  const data = new DataView(buffer.buffer);
  const from = new Uint8Array(16);
  const fromView = new DataView(from.buffer);
  const fromLength = new Uint8Array(length.buffer);
  const peer = () => `${from[4]}.${from[5]}.${from[6]}.${from[7]}:${fromView.getUint16(2, false)}`;
  let snapshots = 0;
  for (;;) {
    length[0] = 16;
    const n = Number(c.recvfrom(fd, buffer, 65_536n, 0, from, fromLength));
    if (n >= 0) {
      const sent = c.sendto(fd, buffer, BigInt(n), 0, from, 16);
      counter.datagram(data, n, peer);
      if (sent >= 0) counter.replied++;
      else countName(counter.sendErrors, errorName(errno()));
    }
    if (Atomics.load(control, CONTROL_STOP) !== 0) break;
    const wanted = Atomics.load(control, CONTROL_SNAPSHOT);
    if (wanted !== snapshots) {
      snapshots = wanted;
      post({ type: "snapshot", result: counter.result() });
    }
  }
  c.close(fd);
  libc.close();
  post({ type: "done", result: counter.result() });
}

(self as unknown as Worker).onmessage = (event: MessageEvent<NativeEchoStart>) => {
  try {
    run(event.data);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    post({ type: "failed", name: e.name, message: e.message });
  }
  self.close();
};
