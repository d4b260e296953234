// The probe datagram header: magic, flow id, sequence number, send time, and room for
// the echo's stamps (below). Any echo that sends datagrams back unchanged works with a
// probe; squall's udpEcho also reads the header to count what arrived per flow.

/** "SQP1": marks a squall probe datagram. */
export const PROBE_MAGIC = 0x53515031;
/** Bytes of the header. */
export const HEADER_BYTES = 20;

/**
 * Writes a header into `view`. `sentAtMs` is the send time on the sender's own clock, read
 * back only by the sender: the Deno probe's performance.now() in ms, the native probe's
 * CLOCK_REALTIME in ns since its start second.
 */
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

// The echo's stamps. A probe that wants one-way delays sends datagrams of at least
// STAMPED_BYTES with STAMP_REQUEST at offset 20; squall's native echo replaces it with
// STAMPED and writes, as CLOCK_REALTIME seconds and nanoseconds, the kernel's receive
// time of the request and its own time just before it sent the reply. An echo that
// sends datagrams back unchanged leaves STAMP_REQUEST: one-way delay is then not
// measured (never wrong). Every namespace shares the machine's clock, so these times
// compare exactly with the probe's own.

/** "SQTR": the probe asks for stamps. */
export const STAMP_REQUEST = 0x53515452;
/** "SQTS": the echo stamped this reply. */
export const STAMPED = 0x53515453;
/** Where the stamp marker is. */
export const STAMP_OFFSET = 20;
/** Bytes of a header with room for the echo's stamps. */
export const STAMPED_BYTES = 40;

/** Asks the echo for stamps (the datagram must have at least STAMPED_BYTES). */
export function requestStamps(view: DataView): void {
  view.setUint32(STAMP_OFFSET, STAMP_REQUEST);
  for (let at = STAMP_OFFSET + 4; at < STAMPED_BYTES; at += 4) view.setUint32(at, 0);
}

/** Whether the first `length` bytes of a probe datagram ask for stamps. */
export function wantsStamps(view: DataView, length: number): boolean {
  return length >= STAMPED_BYTES && view.getUint32(STAMP_OFFSET) === STAMP_REQUEST;
}

/** Writes the echo's receive and send times (CLOCK_REALTIME) into a reply. */
export function writeStamps(
  view: DataView,
  receivedSec: number,
  receivedNsec: number,
  sentSec: number,
  sentNsec: number,
): void {
  view.setUint32(STAMP_OFFSET, STAMPED);
  view.setUint32(STAMP_OFFSET + 4, receivedSec);
  view.setUint32(STAMP_OFFSET + 8, receivedNsec);
  view.setUint32(STAMP_OFFSET + 12, sentSec);
  view.setUint32(STAMP_OFFSET + 16, sentNsec);
}

/** The echo's stamps of a reply, or null when the echo did not stamp it. */
export function readStamps(
  view: DataView,
  length: number,
): { receivedSec: number; receivedNsec: number; sentSec: number; sentNsec: number } | null {
  if (length < STAMPED_BYTES || view.getUint32(STAMP_OFFSET) !== STAMPED) return null;
  return {
    receivedSec: view.getUint32(STAMP_OFFSET + 4),
    receivedNsec: view.getUint32(STAMP_OFFSET + 8),
    sentSec: view.getUint32(STAMP_OFFSET + 12),
    sentNsec: view.getUint32(STAMP_OFFSET + 16),
  };
}
