/**
 * The UDP probe workload kind: its options, spec, factory, validation, description and
 * conversion to the settings its agent runs.
 *
 * @module
 */

import { type Duration, parseDuration } from "../core/duration.ts";
import { HEADER_BYTES } from "../native/probe_packet.ts";
import type { ProbeSettings } from "../agent/protocol.ts";
import {
  type Checks,
  formatted,
  MAX_UDP_PAYLOAD,
  probeBase,
  probeBaseSettings,
  type ResolveContext,
} from "./_kind.ts";

/** Size of the probe header: magic, flow id, sequence number, send time. */
export const PROBE_HEADER_BYTES = HEADER_BYTES;

/**
 * Options of {@linkcode udpProbe}.
 *
 * @example
 * ```ts
 * import { udpProbe, type UdpProbeOptions } from "./udp_probe.ts";
 * // Lowest latency: one datagram in flight, at most 10000/s, for 5 seconds.
 * const options: UdpProbeOptions = {
 *   target: "server:7000",
 *   duration: "5s",
 *   rate: 10_000,
 *   pingPong: true,
 * };
 * console.assert(udpProbe(options).count === null);
 * ```
 */
export interface UdpProbeOptions {
  /** Where to send: `"host:port"` with a host name of the scenario, or `"ip:port"`. */
  target: string;
  /** How many datagrams to send. Give this or `duration`. */
  count?: number;
  /** How long to send. Give this or `count`. */
  duration?: Duration;
  /**
   * Datagrams per second.
   * @default {100}
   */
  rate?: number;
  /**
   * Datagram payload size in bytes, 20-65507 (a probe header is 20 bytes; one-way delay
   * needs 40, room for the echo's stamps).
   * @default {64}
   */
  size?: number;
  /**
   * A reply later than this after its datagram was sent counts as late, not delivered.
   * @default {"1s"}
   */
  timeout?: Duration;
  /**
   * Ping-pong: keep one datagram in flight, and send the next as soon as it is answered
   * (or has timed out); `rate` is then an upper bound. For latency at its lowest, like
   * sockperf ping-pong; the default sends at a fixed rate whatever comes back.
   * @default {false}
   */
  pingPong?: boolean;
}

/**
 * A UDP probe: sequence-numbered, timestamped datagrams sent at a fixed rate. The fields
 * it shares with its agent's {@linkcode ProbeSettings} are declared there.
 *
 * @example
 * ```ts
 * import { udpProbe, type UdpProbeSpec } from "./udp_probe.ts";
 * const spec: UdpProbeSpec = udpProbe({ target: "server:7000", count: 100 });
 * console.assert(spec.rate === 100 && spec.size === 64 && spec.timeout === "1s");
 * ```
 */
export interface UdpProbeSpec extends Pick<ProbeSettings, "count" | "rate" | "size" | "pingPong"> {
  /** Always `"udpProbe"`. */
  kind: "udpProbe";
  /** Where to send: `"host:port"` or `"ip:port"`. */
  target: string;
  /** The raw duration given, or null when `count` is given. */
  duration: Duration | null;
  /** The raw timeout given. */
  timeout: Duration;
}

/**
 * A UDP probe towards `target`, for `count` datagrams or for `duration`.
 *
 * @example
 * ```ts
 * import { udpProbe } from "./udp_probe.ts";
 * const probe = udpProbe({ target: "server:7000", count: 1000, rate: 500 });
 * console.assert(probe.timeout === "1s");
 * ```
 */
export function udpProbe(options: UdpProbeOptions): UdpProbeSpec {
  return {
    kind: "udpProbe",
    ...probeBase(options),
    timeout: options?.timeout ?? "1s",
    pingPong: options?.pingPong ?? false,
  };
}

/** Checks a UDP probe spec. */
export function validateUdpProbe(s: UdpProbeSpec, check: Checks): void {
  check.target(s.target);
  check.amount(s.count, "count", s.duration, Number.MAX_SAFE_INTEGER);
  check.rate(s.rate);
  check.whole(
    "size",
    s.size,
    PROBE_HEADER_BYTES,
    MAX_UDP_PAYLOAD,
    `of bytes ${PROBE_HEADER_BYTES}-${MAX_UDP_PAYLOAD}`,
  );
  check.boolean("pingPong", s.pingPong);
  check.positiveDuration("timeout", s.timeout);
}

/** Describes a valid UDP probe spec in one line. */
export function describeUdpProbe(spec: UdpProbeSpec): string {
  const amount = spec.count !== null
    ? `${spec.count} datagrams`
    : `for ${formatted(spec.duration!)}`;
  const pace = spec.pingPong ? `ping-pong, at most ${spec.rate}/s` : `at ${spec.rate}/s`;
  return `udp probe to ${spec.target}, ${amount} ${pace}, ${spec.size} B, timeout ${
    formatted(spec.timeout)
  }`;
}

/** A valid UDP probe spec as its agent runs it, its target resolved; or why it cannot. */
export function udpProbeSettings(
  spec: UdpProbeSpec,
  context: ResolveContext,
): ({ kind: "udpProbe" } & ProbeSettings) | { error: string } {
  const base = probeBaseSettings(spec, context);
  if ("error" in base) return base;
  return {
    kind: "udpProbe",
    ...base,
    timeoutMs: parseDuration(spec.timeout),
    pingPong: spec.pingPong,
  };
}
