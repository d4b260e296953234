import assert from "node:assert/strict";
import {
  CONFIG_MESSAGES,
  configMessages,
  messageLength,
  NF_ACCEPT,
  NFQA_CAP_LEN,
  NFQA_PACKET_HDR,
  NFQA_PAYLOAD,
  NFQA_TIMESTAMP,
  probeFlow,
  type QueuedPacket,
  readMessage,
  unbindMessage,
  VERDICT_BYTES,
  writeVerdict,
} from "./nfqueue.ts";

function emptyPacket(): QueuedPacket {
  return { id: 0, receivedUs: 0, length: 0, payloadOffset: -1, payloadLength: 0 };
}

/** A packet message as the kernel writes it (attributes padded to 4 bytes). */
function packetMessage(
  id: number,
  seconds: number,
  micros: number,
  payload: number | Uint8Array,
  capLength?: number,
): Uint8Array {
  const attrs: [number, Uint8Array][] = [];
  const hdr = new Uint8Array(7);
  new DataView(hdr.buffer).setUint32(0, id, false);
  new DataView(hdr.buffer).setUint16(4, 0x0800, false);
  attrs.push([NFQA_PACKET_HDR, hdr]);
  const ts = new Uint8Array(16);
  const tv = new DataView(ts.buffer);
  tv.setBigUint64(0, BigInt(seconds), false);
  tv.setBigUint64(8, BigInt(micros), false);
  attrs.push([NFQA_TIMESTAMP, ts]);
  if (capLength !== undefined) {
    const cap = new Uint8Array(4);
    new DataView(cap.buffer).setUint32(0, capLength, false);
    attrs.push([NFQA_CAP_LEN, cap]);
  }
  attrs.push([NFQA_PAYLOAD, typeof payload === "number" ? new Uint8Array(payload) : payload]);
  const size = attrs.reduce((n, [, d]) => n + ((4 + d.length + 3) & ~3), 20);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, size, true);
  view.setUint16(4, 3 << 8, true);
  let at = 20;
  for (const [type, data] of attrs) {
    view.setUint16(at, 4 + data.length, true);
    view.setUint16(at + 2, type, true);
    bytes.set(data, at + 4);
    at += (4 + data.length + 3) & ~3;
  }
  return bytes;
}

Deno.test("readMessage reads a queued packet's id, kernel time and full length", () => {
  const bytes = packetMessage(4242, 1_765_000_000, 123_456, 64, 1028);
  const packet = emptyPacket();
  const view = new DataView(bytes.buffer);
  assert.equal(readMessage(view, 0, bytes.length, packet), "packet");
  assert.equal(packet.id, 4242);
  assert.equal(packet.receivedUs, 1_765_000_000 * 1e6 + 123_456);
  assert.equal(packet.length, 1028);
  assert.equal(messageLength(view, 0), bytes.length);
});

Deno.test("readMessage takes the payload's length when the whole packet was copied", () => {
  const bytes = packetMessage(7, 1, 2, 48);
  const packet = emptyPacket();
  readMessage(new DataView(bytes.buffer), 0, bytes.length, packet);
  assert.equal(packet.length, 48);
});

Deno.test("readMessage reads messages back to back, and acks and errors", () => {
  const a = packetMessage(1, 1, 0, 20);
  const error = new Uint8Array(36);
  const ev = new DataView(error.buffer);
  ev.setUint32(0, 36, true);
  ev.setUint16(4, 2, true); // NLMSG_ERROR
  ev.setInt32(16, -16, true); // -EBUSY
  const bytes = new Uint8Array(a.length + error.length);
  bytes.set(a);
  bytes.set(error, a.length);
  const view = new DataView(bytes.buffer);
  const packet = emptyPacket();
  assert.equal(readMessage(view, 0, bytes.length, packet), "packet");
  const next = messageLength(view, 0);
  assert.equal(readMessage(view, next, bytes.length, packet), "error");
  assert.equal(packet.id, -16);
  ev.setInt32(16, 0, true);
  bytes.set(error, a.length);
  assert.equal(readMessage(view, next, bytes.length, packet), "ack");
});

Deno.test("readMessage refuses a message that runs past the bytes received", () => {
  const bytes = packetMessage(1, 1, 0, 20);
  const packet = emptyPacket();
  assert.equal(readMessage(new DataView(bytes.buffer), 0, bytes.length - 4, packet), "other");
});

Deno.test("writeVerdict writes nlmsghdr, nfgenmsg and the verdict header in their orders", () => {
  const bytes = new Uint8Array(VERDICT_BYTES * 2);
  const view = new DataView(bytes.buffer);
  writeVerdict(view, VERDICT_BYTES, 258, 0x01020304, NF_ACCEPT, true);
  const at = VERDICT_BYTES;
  assert.equal(view.getUint32(at, true), 32);
  assert.equal(view.getUint16(at + 4, true), 0x0303); // queue subsystem, VERDICT_BATCH
  assert.equal(view.getUint16(at + 6, true), 1); // NLM_F_REQUEST
  assert.equal(view.getUint16(at + 18, false), 258); // res_id, network order
  assert.equal(view.getUint16(at + 20, true), 12);
  assert.equal(view.getUint16(at + 22, true), 2); // NFQA_VERDICT_HDR
  assert.equal(view.getUint32(at + 24, false), NF_ACCEPT);
  assert.equal(view.getUint32(at + 28, false), 0x01020304);
  writeVerdict(view, 0, 1, 9, NF_ACCEPT);
  assert.equal(view.getUint16(4, true), 0x0301); // VERDICT
});

Deno.test("configMessages binds, sets copy mode, queue length and the GSO flag, each acked", () => {
  const bytes = configMessages({ queue: 5, copyRange: 64, maxLength: 4096 }, 10);
  const view = new DataView(bytes.buffer);
  const seen: { seq: number; attrs: [number, number][] }[] = [];
  for (let at = 0; at < bytes.length; at += messageLength(view, at)) {
    assert.equal(view.getUint16(at + 4, true), 0x0302); // CONFIG
    assert.equal(view.getUint16(at + 6, true), 1 | 4); // REQUEST | ACK
    assert.equal(view.getUint16(at + 18, false), 5);
    const attrs: [number, number][] = [];
    const end = at + view.getUint32(at, true);
    for (let a = at + 20; a < end; a += (view.getUint16(a, true) + 3) & ~3) {
      attrs.push([view.getUint16(a + 2, true), view.getUint16(a, true)]);
    }
    seen.push({ seq: view.getUint32(at + 8, true), attrs });
  }
  assert.equal(seen.length, CONFIG_MESSAGES);
  assert.deepEqual(seen.map((s) => s.seq), [10, 11, 12, 13]);
  assert.deepEqual(seen.map((s) => s.attrs), [[[1, 8]], [[2, 9]], [[3, 8]], [[4, 8], [5, 8]]]);
  // The params: copy range 64 (network order), then NFQNL_COPY_PACKET.
  const params = 28 + 24;
  assert.equal(view.getUint32(params, false), 64);
  assert.equal(view.getUint8(params + 4), 2);
});

Deno.test("unbindMessage asks for NFQNL_CFG_CMD_UNBIND on the queue", () => {
  const bytes = unbindMessage(3, 1);
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0, true), bytes.length);
  assert.equal(view.getUint16(18, false), 3);
  assert.equal(view.getUint8(24), 2);
});

Deno.test("probeFlow finds a probe datagram's flow id behind the IP and UDP headers", () => {
  const ip = new Uint8Array(64);
  const v = new DataView(ip.buffer);
  v.setUint8(0, 0x45); // IPv4, 20-byte header
  v.setUint8(9, 17); // UDP
  v.setUint32(28, 0x53515031); // "SQP1"
  v.setUint32(32, 77);
  const bytes = packetMessage(1, 1, 0, ip, 1000);
  const view = new DataView(bytes.buffer);
  const packet = emptyPacket();
  readMessage(view, 0, bytes.length, packet);
  assert.equal(probeFlow(view, packet), 77);
  v.setUint8(9, 6); // TCP: not a probe
  const tcp = packetMessage(1, 1, 0, ip, 1000);
  readMessage(new DataView(tcp.buffer), 0, tcp.length, packet);
  assert.equal(probeFlow(new DataView(tcp.buffer), packet), -1);
});
