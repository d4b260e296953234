import assert from "node:assert/strict";
import {
  IP_RECVERR,
  parseControl,
  readSockaddrIn,
  SCM_TIMESTAMPING,
  SCM_TIMESTAMPNS,
  SO_EE_ORIGIN_TIMESTAMPING,
  SOL_IP,
  SOL_SOCKET,
  writeControl,
  writeSockaddrIn,
} from "./libc_socket.ts";

function timespecs(...pairs: [number, number][]): Uint8Array {
  const data = new DataView(new ArrayBuffer(16 * pairs.length));
  pairs.forEach(([sec, nsec], i) => {
    data.setBigInt64(i * 16, BigInt(sec), true);
    data.setBigInt64(i * 16 + 8, BigInt(nsec), true);
  });
  return new Uint8Array(data.buffer);
}

function extendedError(origin: number, id: number): Uint8Array {
  const data = new DataView(new ArrayBuffer(16));
  data.setUint32(0, 42, true); // ENOMSG
  data.setUint8(4, origin);
  data.setUint32(12, id, true);
  return new Uint8Array(data.buffer);
}

Deno.test("writeSockaddrIn and readSockaddrIn round-trip an IPv4 address", () => {
  const view = new DataView(new ArrayBuffer(32));
  writeSockaddrIn(view, 16, "198.18.0.2", 7000);
  assert.equal(view.getUint16(16, true), 2);
  assert.equal(view.getUint16(18, false), 7000);
  assert.equal(readSockaddrIn(view, 16), "198.18.0.2:7000");
});

Deno.test("writeSockaddrIn rejects what is not an IPv4 address", () => {
  const view = new DataView(new ArrayBuffer(16));
  assert.throws(() => writeSockaddrIn(view, 0, "198.18.0", 1), TypeError);
  assert.throws(() => writeSockaddrIn(view, 0, "198.18.0.256", 1), TypeError);
});

Deno.test("parseControl reads the time of SCM_TIMESTAMPNS", () => {
  const view = new DataView(new ArrayBuffer(128));
  const n = writeControl(view, 0, SOL_SOCKET, SCM_TIMESTAMPNS, timespecs([1_796_000_000, 123]));
  assert.equal(n, 32);
  assert.deepEqual(parseControl(view, 0, n), {
    time: { sec: 1_796_000_000, nsec: 123 },
    timestampId: null,
  });
});

Deno.test("parseControl takes the software time of SCM_TIMESTAMPING and the id of its error", () => {
  const view = new DataView(new ArrayBuffer(128));
  let n = writeControl(view, 0, SOL_SOCKET, SCM_TIMESTAMPING, timespecs([5, 6], [0, 0], [0, 0]));
  n += writeControl(view, n, SOL_IP, IP_RECVERR, extendedError(SO_EE_ORIGIN_TIMESTAMPING, 77));
  assert.deepEqual(parseControl(view, 0, n), { time: { sec: 5, nsec: 6 }, timestampId: 77 });
});

Deno.test("parseControl ignores errors of other origins and zero times", () => {
  const view = new DataView(new ArrayBuffer(128));
  let n = writeControl(view, 0, SOL_SOCKET, SCM_TIMESTAMPING, timespecs([0, 0], [0, 0], [1, 2]));
  n += writeControl(view, n, SOL_IP, IP_RECVERR, extendedError(2, 9));
  assert.deepEqual(parseControl(view, 0, n), { time: null, timestampId: null });
});

Deno.test("parseControl stops at a truncated or malformed message", () => {
  const view = new DataView(new ArrayBuffer(128));
  const n = writeControl(view, 0, SOL_SOCKET, SCM_TIMESTAMPNS, timespecs([1, 2]));
  assert.equal(parseControl(view, 0, n - 8).time, null);
  view.setBigUint64(0, 8n, true); // shorter than a header
  assert.equal(parseControl(view, 0, n).time, null);
  view.setBigUint64(0, 1000n, true); // longer than the buffer
  assert.equal(parseControl(view, 0, n).time, null);
});
