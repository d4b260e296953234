// Connection failures by kind, the same for the TCP probe and the reconnect storm.

import type { ConnectErrorKind, ErrorCounts } from "./tcp_results.ts";

/** Every kind, in report order. */
export const CONNECT_ERROR_KINDS: readonly ConnectErrorKind[] = [
  "refused",
  "timedOut",
  "reset",
  "addressInUse",
  "addressNotAvailable",
  "brokenPipe",
  "unreachable",
  "other",
];

/** Counts with every kind at 0. */
export function emptyErrorCounts(): ErrorCounts {
  return Object.fromEntries(CONNECT_ERROR_KINDS.map((k) => [k, 0])) as ErrorCounts;
}

const BY_NAME: Record<string, ConnectErrorKind> = {
  ConnectionRefused: "refused",
  TimedOut: "timedOut",
  TimeoutError: "timedOut",
  ConnectionReset: "reset",
  ConnectionAborted: "reset",
  UnexpectedEof: "reset",
  AddrInUse: "addressInUse",
  AddrNotAvailable: "addressNotAvailable",
  BrokenPipe: "brokenPipe",
  NetworkUnreachable: "unreachable",
  HostUnreachable: "unreachable",
};

/**
 * By errno name, for errors whose name says nothing: Deno has no class for
 * EHOSTUNREACH (a connect with no ARP answer throws a plain `Error` with code
 * `"EHOSTUNREACH"`, "No route to host"). node:net errors carry the same codes.
 */
const BY_CODE: Record<string, ConnectErrorKind> = {
  ECONNREFUSED: "refused",
  ETIMEDOUT: "timedOut",
  ECONNRESET: "reset",
  ECONNABORTED: "reset",
  EADDRINUSE: "addressInUse",
  EADDRNOTAVAIL: "addressNotAvailable",
  EPIPE: "brokenPipe",
  ENETUNREACH: "unreachable",
  EHOSTUNREACH: "unreachable",
  ENETDOWN: "unreachable",
  EHOSTDOWN: "unreachable",
};

/**
 * The kind of a failure thrown by Deno.connect, a read or a write, or an abort by
 * `AbortSignal.timeout` (a DOMException named TimeoutError): by the error's name, else
 * by its errno `code`.
 */
export function classifyError(error: unknown): ConnectErrorKind {
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  const code = error instanceof Error && "code" in error ? String(error.code) : "";
  return BY_NAME[name] ?? BY_CODE[code] ?? "other";
}
