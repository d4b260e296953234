// The netlink messages of NFQUEUE (nfnetlink_queue), encoded and decoded by hand: what
// the delay line sends (queue config, verdicts) and reads (queued packets, acks).
// Layouts from /usr/include/linux/netfilter/nfnetlink_queue.h, nfnetlink.h and
// linux/netlink.h: netlink headers are in host order (little-endian here), the nfqueue
// payloads (ids, verdicts, timestamps, lengths) in network order.

import { PROBE_MAGIC } from "./probe_packet.ts";

/** `NETLINK_NETFILTER`: the protocol of the socket. */
export const NETLINK_NETFILTER = 12;
/** `AF_NETLINK`. */
export const AF_NETLINK = 16;
/** `NFNL_SUBSYS_QUEUE`: high byte of every nfqueue message type. */
export const NFNL_SUBSYS_QUEUE = 3;
/** Message types inside the queue subsystem. */
export const NFQNL_MSG_PACKET = 0;
/** A verdict for one packet id. */
export const NFQNL_MSG_VERDICT = 1;
/** Queue configuration. */
export const NFQNL_MSG_CONFIG = 2;
/** A verdict for every queued id up to and including one id. */
export const NFQNL_MSG_VERDICT_BATCH = 3;
/** `NLMSG_ERROR`: an error or (error 0) an ack. */
export const NLMSG_ERROR = 2;
/** `NLM_F_REQUEST`. */
export const NLM_F_REQUEST = 1;
/** `NLM_F_ACK`. */
export const NLM_F_ACK = 4;

/** Packet attributes (`enum nfqnl_attr_type`). */
export const NFQA_PACKET_HDR = 1;
/** `nfqnl_msg_verdict_hdr`. */
export const NFQA_VERDICT_HDR = 2;
/** `nfqnl_msg_packet_timestamp`: the kernel's receive time, seconds and microseconds. */
export const NFQA_TIMESTAMP = 4;
/** The inbound interface index. */
export const NFQA_IFINDEX_INDEV = 5;
/** The copied start of the packet (its IP header on). */
export const NFQA_PAYLOAD = 10;
/** The packet's full length when the payload is shorter. */
export const NFQA_CAP_LEN = 13;

/** Config attributes (`enum nfqnl_attr_config`). */
export const NFQA_CFG_CMD = 1;
/** `nfqnl_msg_config_params`: copy range and mode. */
export const NFQA_CFG_PARAMS = 2;
/** How many packets the kernel holds for this queue. */
export const NFQA_CFG_QUEUE_MAXLEN = 3;
/** Which flags NFQA_CFG_FLAGS changes. */
export const NFQA_CFG_MASK = 4;
/** Flag values. */
export const NFQA_CFG_FLAGS = 5;
/** `NFQA_CFG_F_GSO`: queue GSO packets whole, without a checksum fix-up first. */
export const NFQA_CFG_F_GSO = 1 << 2;

/** Config commands. */
export const NFQNL_CFG_CMD_BIND = 1;
/** Unbinds the queue (the kernel drops what it holds). */
export const NFQNL_CFG_CMD_UNBIND = 2;
/** Copy modes. */
export const NFQNL_COPY_PACKET = 2;

/** Verdicts (`NF_DROP`, `NF_ACCEPT`). */
export const NF_DROP = 0;
/** Lets the packet go on. */
export const NF_ACCEPT = 1;

/** Bytes of one verdict message: nlmsghdr 16, nfgenmsg 4, one 12-byte attribute. */
export const VERDICT_BYTES = 32;

const NLMSG_HDRLEN = 16;
const NFGEN_BYTES = 4;

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** The 12-byte `sockaddr_nl` of the kernel (pid 0, no groups) or of a local bind. */
export function sockaddrNetlink(): Uint8Array<ArrayBuffer> {
  const address = new Uint8Array(12);
  new DataView(address.buffer).setUint16(0, AF_NETLINK, true);
  return address;
}

function writeHeader(
  view: DataView,
  offset: number,
  length: number,
  message: number,
  flags: number,
  seq: number,
  queue: number,
): void {
  view.setUint32(offset, length, true);
  view.setUint16(offset + 4, (NFNL_SUBSYS_QUEUE << 8) | message, true);
  view.setUint16(offset + 6, flags, true);
  view.setUint32(offset + 8, seq, true);
  view.setUint32(offset + 12, 0, true);
  view.setUint8(offset + 16, 0); // AF_UNSPEC
  view.setUint8(offset + 17, 0); // NFNETLINK_V0
  view.setUint16(offset + 18, queue, false);
}

/** What a queue is configured with. */
export interface QueueConfig {
  /** The queue number (the iptables rule's `--queue-num`). */
  queue: number;
  /** Bytes of each packet to copy (its headers; the length comes from NFQA_CAP_LEN). */
  copyRange: number;
  /** Packets the kernel holds before it drops (counted as queue_dropped). */
  maxLength: number;
}

/**
 * The config messages that bind `queue` to this socket, set the copy mode, the kernel's
 * queue length and the GSO flag. Each asks for an ack; seq numbers run from `seq`.
 */
export function configMessages(config: QueueConfig, seq: number): Uint8Array<ArrayBuffer> {
  const parts: [number, number, (view: DataView, at: number) => void][] = [
    [NFQA_CFG_CMD, 4, (v, at) => {
      v.setUint8(at, NFQNL_CFG_CMD_BIND);
      v.setUint8(at + 1, 0);
      v.setUint16(at + 2, 2, false); // AF_INET, ignored by kernels since 3.8
    }],
    [NFQA_CFG_PARAMS, 5, (v, at) => {
      v.setUint32(at, config.copyRange, false);
      v.setUint8(at + 4, NFQNL_COPY_PACKET);
    }],
    [NFQA_CFG_QUEUE_MAXLEN, 4, (v, at) => v.setUint32(at, config.maxLength, false)],
  ];
  const messages = parts.map(([type, size, write]) => [[type, size, write]] as const);
  // Flags and their mask go in one message.
  const flags = [
    [NFQA_CFG_MASK, 4, (v: DataView, at: number) => v.setUint32(at, NFQA_CFG_F_GSO, false)],
    [NFQA_CFG_FLAGS, 4, (v: DataView, at: number) => v.setUint32(at, NFQA_CFG_F_GSO, false)],
  ] as const;
  const all = [...messages, flags];
  const lengths = all.map((attrs) =>
    attrs.reduce((n, [, size]) => n + align4(4 + size), NLMSG_HDRLEN + NFGEN_BYTES)
  );
  const bytes = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  const view = new DataView(bytes.buffer);
  let offset = 0;
  all.forEach((attrs, i) => {
    writeHeader(
      view,
      offset,
      lengths[i]!,
      NFQNL_MSG_CONFIG,
      NLM_F_REQUEST | NLM_F_ACK,
      seq + i,
      config.queue,
    );
    let at = offset + NLMSG_HDRLEN + NFGEN_BYTES;
    for (const [type, size, write] of attrs) {
      view.setUint16(at, 4 + size, true);
      view.setUint16(at + 2, type, true);
      write(view, at + 4);
      at += align4(4 + size);
    }
    offset += lengths[i]!;
  });
  return bytes;
}

/** How many messages {@linkcode configMessages} writes (one ack each). */
export const CONFIG_MESSAGES = 4;

/** The config message that unbinds `queue` (no ack asked). */
export function unbindMessage(queue: number, seq: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(NLMSG_HDRLEN + NFGEN_BYTES + 8);
  const view = new DataView(bytes.buffer);
  writeHeader(view, 0, bytes.length, NFQNL_MSG_CONFIG, NLM_F_REQUEST, seq, queue);
  view.setUint16(20, 8, true);
  view.setUint16(22, NFQA_CFG_CMD, true);
  view.setUint8(24, NFQNL_CFG_CMD_UNBIND);
  view.setUint16(26, 2, false);
  return bytes;
}

/**
 * Writes one verdict message at `offset` (VERDICT_BYTES long). With `batch`, the
 * verdict is for every queued id up to and including `id`.
 */
export function writeVerdict(
  view: DataView,
  offset: number,
  queue: number,
  id: number,
  verdict: number,
  batch = false,
): void {
  writeHeader(
    view,
    offset,
    VERDICT_BYTES,
    batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT,
    NLM_F_REQUEST,
    0,
    queue,
  );
  view.setUint16(offset + 20, 12, true);
  view.setUint16(offset + 22, NFQA_VERDICT_HDR, true);
  view.setUint32(offset + 24, verdict, false);
  view.setUint32(offset + 28, id, false);
}

/** One queued packet, as {@linkcode readMessage} found it (fields reused between calls). */
export interface QueuedPacket {
  /** The queue's packet id (increases by one per queued packet). */
  id: number;
  /** Kernel receive time, microseconds since the epoch; -1 when the kernel sent none. */
  receivedUs: number;
  /** Bytes of the whole packet (its IP length). */
  length: number;
  /** Where the copied start of the packet is in the buffer read, or -1. */
  payloadOffset: number;
  /** Bytes copied. */
  payloadLength: number;
}

/** What {@linkcode readMessage} found at an offset. */
export type MessageKind = "packet" | "ack" | "error" | "other";

/**
 * Reads the netlink message at `offset` of a received buffer of `end` bytes. A packet
 * fills `packet`; an ack or error puts the (negative) errno in `packet.id`. Returns the
 * kind; the message's aligned length is {@linkcode messageLength}.
 */
export function readMessage(
  view: DataView,
  offset: number,
  end: number,
  packet: QueuedPacket,
): MessageKind {
  const length = view.getUint32(offset, true);
  const type = view.getUint16(offset + 4, true);
  if (length < NLMSG_HDRLEN || offset + length > end) return "other";
  if (type === NLMSG_ERROR) {
    const error = view.getInt32(offset + NLMSG_HDRLEN, true);
    packet.id = error;
    return error === 0 ? "ack" : "error";
  }
  if (type !== ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) return "other";
  packet.id = -1;
  packet.receivedUs = -1;
  packet.length = 0;
  packet.payloadOffset = -1;
  packet.payloadLength = 0;
  let capLength = -1;
  let at = offset + NLMSG_HDRLEN + NFGEN_BYTES;
  const stop = offset + length;
  while (at + 4 <= stop) {
    const attrLength = view.getUint16(at, true);
    if (attrLength < 4 || at + attrLength > stop) break;
    const attrType = view.getUint16(at + 2, true) & 0x3fff;
    const data = at + 4;
    switch (attrType) {
      case NFQA_PACKET_HDR:
        packet.id = view.getUint32(data, false);
        break;
      case NFQA_TIMESTAMP: {
        const seconds = view.getUint32(data, false) * 2 ** 32 + view.getUint32(data + 4, false);
        const micros = view.getUint32(data + 12, false);
        packet.receivedUs = seconds * 1e6 + micros;
        break;
      }
      case NFQA_CAP_LEN:
        capLength = view.getUint32(data, false);
        break;
      case NFQA_PAYLOAD:
        packet.length = attrLength - 4;
        packet.payloadOffset = data;
        packet.payloadLength = attrLength - 4;
        break;
    }
    at += align4(attrLength);
  }
  if (capLength >= 0) packet.length = capLength;
  return "packet";
}

/**
 * The flow id of a squall probe datagram (IPv4, UDP, the probe header right after the
 * UDP header), read from the copied start of a queued packet, or -1 for any other packet.
 */
export function probeFlow(view: DataView, packet: QueuedPacket): number {
  const at = packet.payloadOffset;
  if (at < 0 || packet.payloadLength < 20) return -1;
  const first = view.getUint8(at);
  if (first >> 4 !== 4 || view.getUint8(at + 9) !== 17) return -1;
  const header = at + (first & 15) * 4 + 8;
  if (header + 8 > at + packet.payloadLength) return -1;
  if (view.getUint32(header, false) !== PROBE_MAGIC) return -1;
  return view.getUint32(header + 4, false);
}

/** The aligned length of the netlink message at `offset`. */
export function messageLength(view: DataView, offset: number): number {
  return align4(view.getUint32(offset, true));
}
