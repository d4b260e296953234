/**
 * Workloads are plain data: these functions return serialisable specs, and the agent on
 * a host has the code that runs them. Specs are validated together with the rest of
 * the scenario, before anything is created, so every problem is reported at once.
 *
 * @module
 */

import { type Duration, formatDuration, tryParseDuration } from "./duration.ts";
import type { Problem } from "./errors.ts";
import { HEADER_BYTES } from "./_probe_packet.ts";

/** Options of {@linkcode udpEcho}. */
export interface UdpEchoOptions {
  /** UDP port to listen on, 1-65535. */
  port: number;
}

/** A UDP echo server: sends every datagram back to where it came from. */
export interface UdpEchoSpec {
  /** Always `"udpEcho"`. */
  kind: "udpEcho";
  /** UDP port to listen on. */
  port: number;
}

/** Options of {@linkcode udpProbe}. */
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
   * Datagram payload size in bytes, 20-65507 (a probe header is 20 bytes).
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

/** A UDP probe: sequence-numbered, timestamped datagrams sent at a fixed rate. */
export interface UdpProbeSpec {
  /** Always `"udpProbe"`. */
  kind: "udpProbe";
  /** Where to send: `"host:port"` or `"ip:port"`. */
  target: string;
  /** How many datagrams to send, or null when `duration` is given. */
  count: number | null;
  /** The raw duration given, or null when `count` is given. */
  duration: Duration | null;
  /** Datagrams per second. */
  rate: number;
  /** Datagram payload size in bytes. */
  size: number;
  /** The raw timeout given. */
  timeout: Duration;
  /** One datagram in flight at a time. */
  pingPong: boolean;
}

/** Any workload spec. */
export type WorkloadSpec = UdpEchoSpec | UdpProbeSpec;

/** The kinds of workload squall knows. */
export type WorkloadKind = WorkloadSpec["kind"];

/** Size of the probe header: magic, flow id, sequence number, send time. */
export const PROBE_HEADER_BYTES = HEADER_BYTES;
/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;
/** Largest rate a probe accepts, in datagrams per second. */
export const MAX_PROBE_RATE = 1_000_000;

/**
 * A UDP echo server on `port`.
 *
 * @example
 * ```ts
 * import { udpEcho } from "./workloads.ts";
 * const echo = udpEcho({ port: 7000 });
 * console.assert(echo.kind === "udpEcho");
 * ```
 */
export function udpEcho(options: UdpEchoOptions): UdpEchoSpec {
  return { kind: "udpEcho", port: options?.port };
}

/**
 * A UDP probe towards `target`, for `count` datagrams or for `duration`.
 *
 * @example
 * ```ts
 * import { udpProbe } from "./workloads.ts";
 * const probe = udpProbe({ target: "server:7000", count: 1000, rate: 500 });
 * console.assert(probe.timeout === "1s");
 * ```
 */
export function udpProbe(options: UdpProbeOptions): UdpProbeSpec {
  return {
    kind: "udpProbe",
    target: options?.target,
    count: options?.count ?? null,
    duration: options?.duration ?? null,
    rate: options?.rate ?? 100,
    size: options?.size ?? 64,
    timeout: options?.timeout ?? "1s",
    pingPong: options?.pingPong ?? false,
  };
}

/** A target split into host (a name or an IP literal) and port. */
export interface Target {
  /** A host name of the scenario, or an IPv4 literal. */
  host: string;
  /** The port. */
  port: number;
}

/** Splits `"host:port"`; returns an error message when it is not of that form. */
export function parseTarget(target: unknown): Target | { error: string } {
  if (typeof target !== "string") {
    return { error: `expected "host:port", got ${typeof target}` };
  }
  const match = /^([A-Za-z0-9_.-]+):(\d+)$/.exec(target);
  if (!match) return { error: `expected "host:port", got ${JSON.stringify(target)}` };
  const port = Number(match[2]);
  if (!isPort(port)) {
    return {
      error: `port must be a whole number 1-65535, got ${match[2]} in ${JSON.stringify(target)}`,
    };
  }
  return { host: match[1]!, port };
}

/** Whether a value is an IPv4 address literal. */
export function isIpv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Whether an IPv4 literal is in 127.0.0.0/8. */
export function isLoopbackIpv4(value: string): boolean {
  return isIpv4(value) && value.startsWith("127.");
}

/** Whether a value is an integer port 1-65535. */
export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

/** Checks a workload spec; returns every problem, each at `where` plus a field. */
export function validateWorkload(spec: unknown, where: string): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) =>
    problems.push({ where: field ? `${where}.${field}` : where, message });
  if (typeof spec !== "object" || spec === null || !("kind" in spec)) {
    add("", "expected a workload such as udpEcho({ port }) or udpProbe({ target, count })");
    return problems;
  }
  const s = spec as WorkloadSpec;
  switch (s.kind) {
    case "udpEcho":
      if (!isPort(s.port)) add("port", `port must be a whole number 1-65535, got ${s.port}`);
      break;
    case "udpProbe": {
      const target = parseTarget(s.target);
      if ("error" in target) add("target", target.error);
      if (s.count === null && s.duration === null) {
        add("", "give either count or duration");
      }
      if (s.count !== null && s.duration !== null) {
        add("", "give count or duration, not both");
      }
      if (s.count !== null && !(Number.isInteger(s.count) && s.count > 0)) {
        add("count", `count must be a whole number above 0, got ${s.count}`);
      }
      if (s.duration !== null) {
        const d = tryParseDuration(s.duration);
        if (typeof d !== "number") add("duration", d.error);
        else if (d <= 0) add("duration", "duration must be above 0");
      }
      if (typeof s.rate !== "number" || !(s.rate > 0) || s.rate > MAX_PROBE_RATE) {
        add("rate", `rate must be above 0 and at most ${MAX_PROBE_RATE} per second, got ${s.rate}`);
      }
      if (!Number.isInteger(s.size) || s.size < PROBE_HEADER_BYTES || s.size > MAX_UDP_PAYLOAD) {
        add(
          "size",
          `size must be a whole number of bytes ${PROBE_HEADER_BYTES}-${MAX_UDP_PAYLOAD}, got ${s.size}`,
        );
      }
      if (typeof s.pingPong !== "boolean") {
        add("pingPong", `pingPong must be true or false, got ${JSON.stringify(s.pingPong)}`);
      }
      const timeout = tryParseDuration(s.timeout);
      if (typeof timeout !== "number") add("timeout", timeout.error);
      else if (timeout <= 0) add("timeout", "timeout must be above 0");
      break;
    }
    default:
      add("kind", `unknown workload kind ${JSON.stringify((s as { kind: unknown }).kind)}`);
  }
  return problems;
}

/** Describes a (valid) workload spec in one line, for the run header. */
export function describeWorkload(spec: WorkloadSpec): string {
  switch (spec.kind) {
    case "udpEcho":
      return `udp echo on port ${spec.port}`;
    case "udpProbe": {
      const amount = spec.count !== null
        ? `${spec.count} datagrams`
        : `for ${formatDuration(tryParseDuration(spec.duration) as number)}`;
      const timeout = formatDuration(tryParseDuration(spec.timeout) as number);
      const pace = spec.pingPong ? `ping-pong, at most ${spec.rate}/s` : `at ${spec.rate}/s`;
      return `udp probe to ${spec.target}, ${amount} ${pace}, ${spec.size} B, timeout ${timeout}`;
    }
  }
}

/** Whether a workload runs until stopped (servers) rather than finishing by itself. */
export function runsUntilStopped(spec: WorkloadSpec): boolean {
  return spec.kind === "udpEcho";
}
