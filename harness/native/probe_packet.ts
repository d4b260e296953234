// The probe datagram header: magic, flow id, sequence number, send time. Any echo
// that sends datagrams back unchanged works with a probe; squall's udpEcho also reads
// the header to count what arrived per flow.

/** "SQP1": marks a squall probe datagram. */
export const PROBE_MAGIC = 0x53515031;
/** Bytes of the header. */
export const HEADER_BYTES = 20;

/** Writes a header into `buf`. `sentAtMs` is the sender's performance.now(). */
export function writeHeader(
  view: DataView,
  flowId: number,
  seq: number,
  sentAtMs: number,
): void {
  view.setUint32(0, PROBE_MAGIC);
  view.setUint32(4, flowId);
  view.setUint32(8, seq);
  view.setFloat64(12, sentAtMs);
}

/** Whether the first `length` bytes of a datagram hold a probe header. */
export function isProbe(view: DataView, length: number): boolean {
  return length >= HEADER_BYTES && view.getUint32(0) === PROBE_MAGIC;
}
