// One-way delay between two namespaces, for the delay truth tests: a paced UDP sender
// that stamps each datagram with CLOCK_REALTIME read right before sendto, and a receiver
// that reads the same clock right after recv returns (the receive socket's own kernel
// timestamp is taken when the packet reaches the interface, before a delay line holds
// it, so it cannot see the delay). Both through libc, so Deno's event loop is not in the
// measured path. Every namespace shares the machine's clock.
//
//   deno run -A tests/_owd_child.ts send <to-ip> <port> <rate/s> <count> [payload bytes]
//   deno run -A tests/_owd_child.ts recv <bind-ip> <port> <count> [idle ms]
//
// The receiver writes "ready" once bound, then one JSON line (OwdReport). The sender
// writes one JSON line when done.

import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";

/** What the receiver reports. */
export interface OwdReport {
  /** Datagrams received, duplicates included. */
  received: number;
  /** Distinct sequence numbers received. */
  unique: number;
  duplicates: number;
  /** Datagrams that arrived after one with a higher sequence number. */
  reordered: number;
  /** IP bytes received (payload + 28 per datagram). */
  ipBytes: number;
  /** Nanoseconds between the first and the last arrival. */
  spanNs: number;
  /** Percentiles 1..99 of the one-way delay, microseconds (index = percentile). */
  percentilesUs: number[];
  /** Mean one-way delay, microseconds. */
  meanUs: number;
}

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  clock_nanosleep: { parameters: ["i32", "i32", "buffer", "pointer"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

const MAGIC = 0x4f574431; // "OWD1"

function sockaddr(ip: string, port: number): Uint8Array<ArrayBuffer> {
  const address = new Uint8Array(16);
  const view = new DataView(address.buffer);
  view.setUint16(0, 2, true);
  view.setUint16(2, port, false);
  ip.split(".").forEach((part, i) => view.setUint8(4 + i, Number(part)));
  return address;
}

function main(args: string[]): void {
  const libc = Deno.dlopen(findLibrary(LIBC_CANDIDATES)!, SYMBOLS);
  const c = libc.symbols;
  c.prctl(29, 1n, 0n, 0n, 0n); // PR_SET_TIMERSLACK 1 ns
  const priority = Number(Deno.env.get("OWD_PRIORITY") ?? 0);
  if (priority > 0) {
    // SCHED_FIFO for the instrument, so other work on a busy machine does not time it.
    c.sched_setscheduler(0, 1, new Uint8Array(new Int32Array([priority]).buffer));
  }
  const time = new BigInt64Array(2);
  const timeBytes = new Uint8Array(time.buffer);
  const fd = c.socket(2, 2, 0);
  if (fd < 0) throw new Error("Cannot open a UDP socket");
  const [mode, ip, portText] = args;
  const port = Number(portText);
  if (mode === "send") {
    const rate = Number(args[3]);
    const count = Number(args[4]);
    const size = Math.max(20, Number(args[5] ?? 64));
    const to = sockaddr(ip!, port);
    const buffer = new Uint8Array(size);
    const view = new DataView(buffer.buffer);
    view.setUint32(0, MAGIC);
    c.clock_gettime(0, timeBytes);
    const start = time[0]! * 1_000_000_000n + time[1]! + 20_000_000n;
    const interval = BigInt(Math.round(1e9 / rate));
    const target = new BigInt64Array(2);
    const targetBytes = new Uint8Array(target.buffer);
    let errors = 0;
    for (let seq = 0; seq < count; seq++) {
      const at = start + BigInt(seq) * interval;
      target[0] = at / 1_000_000_000n;
      target[1] = at % 1_000_000_000n;
      c.clock_nanosleep(0, 1, targetBytes, null); // TIMER_ABSTIME
      view.setUint32(4, seq);
      c.clock_gettime(0, timeBytes);
      view.setUint32(8, Number(time[0]));
      view.setUint32(12, Number(time[1]));
      if (Number(c.sendto(fd, buffer, BigInt(size), 0, to, 16)) < 0) errors++;
    }
    console.log(JSON.stringify({ sent: count - errors, errors }));
  } else {
    const count = Number(args[3]);
    const idleMs = Number(args[4] ?? 1500);
    const size = new Uint8Array(new Int32Array([8 << 20]).buffer);
    c.setsockopt(fd, 1, 33, size, 4); // SO_RCVBUFFORCE
    const timeout = new Uint8Array(new BigInt64Array([0n, 100_000n]).buffer); // 100 ms
    c.setsockopt(fd, 1, 20, timeout, 16); // SO_RCVTIMEO
    if (c.bind(fd, sockaddr(ip!, port), 16) !== 0) throw new Error(`Cannot bind ${ip}:${port}`);
    console.log("ready");
    const buffer = new Uint8Array(65536);
    const view = new DataView(buffer.buffer);
    const delays = new Float64Array(count * 2);
    const seen = new Uint8Array(count);
    let received = 0;
    let unique = 0;
    let duplicates = 0;
    let reordered = 0;
    let highest = -1;
    let ipBytes = 0;
    let first = 0;
    let last = 0;
    const now = new Uint32Array(time.buffer);
    let idleSince = Date.now();
    let receivedAtCheck = 0;
    for (;;) {
      const n = Number(c.recv(fd, buffer, 65536n, 0));
      c.clock_gettime(0, timeBytes);
      if (n < 16 || view.getUint32(0) !== MAGIC) {
        // Every datagram is in, and nothing came for a receive timeout (100 ms): done. Not
        // as soon as the last original is in: a copy can come right after it (and a tc
        // duplicator's clone leaves before its original, so the last datagram read would
        // be a copy that was never counted).
        if (unique >= count) break;
        // A receive timeout (or a stray datagram): idle since the last one that counted.
        if (received !== receivedAtCheck) {
          receivedAtCheck = received;
          idleSince = Date.now();
        } else if (Date.now() - idleSince > idleMs) break;
        continue;
      }
      const rx = now[0]! * 1e9 + now[2]!;
      const tx = view.getUint32(8) * 1e9 + view.getUint32(12);
      const seq = view.getUint32(4);
      if (received < delays.length) delays[received] = rx - tx;
      received++;
      ipBytes += n + 28;
      if (first === 0) first = rx;
      last = rx;
      if (seq < count && seen[seq]) {
        duplicates++;
        continue;
      }
      if (seq < count) seen[seq] = 1;
      unique++;
      if (seq < highest) reordered++;
      else highest = seq;
    }
    const sorted = delays.slice(0, Math.min(received, delays.length)).sort();
    const percentilesUs = Array.from(
      { length: 100 },
      (_, p) =>
        sorted.length === 0
          ? NaN
          : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! / 1e3,
    );
    const meanUs = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length) / 1e3;
    const report: OwdReport = {
      received,
      unique,
      duplicates,
      reordered,
      ipBytes,
      spanNs: last - first,
      percentilesUs,
      meanUs,
    };
    console.log(JSON.stringify(report));
  }
  c.close(fd);
  libc.close();
}

if (import.meta.main) main(Deno.args);
