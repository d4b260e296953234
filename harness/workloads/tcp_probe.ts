/**
 * The TCP probe workload kind: its options, spec, factory, validation, description and
 * conversion to the settings its agent runs.
 *
 * @module
 */

import { type Duration, parseDuration } from "../core/duration.ts";
import type { TcpProbeSettings } from "../agent/protocol.ts";
import {
  type Checks,
  formatted,
  probeBase,
  probeBaseSettings,
  type ResolveContext,
} from "./_kind.ts";

/**
 * Options of {@linkcode tcpProbe}.
 *
 * @example
 * ```ts
 * import { tcpProbe, type TcpProbeOptions } from "./tcp_probe.ts";
 * // A new connection for every request, so every request measures a connect.
 * const options: TcpProbeOptions = {
 *   target: "server:7100",
 *   duration: "10s",
 *   connection: "per-request",
 *   connectTimeout: "250ms",
 * };
 * console.assert(tcpProbe(options).connection === "per-request");
 * ```
 */
export interface TcpProbeOptions {
  /** Where to connect: `"host:port"` with a host name of the scenario, or `"ip:port"`. */
  target: string;
  /** How many requests to send. Give this or `duration`. */
  count?: number;
  /** How long to send. Give this or `count`. */
  duration?: Duration;
  /**
   * Requests per second (each waits for its response, so this is an upper bound).
   * @default {100}
   */
  rate?: number;
  /**
   * Request size in bytes, 1-65536; the echo sends as many back.
   * @default {64}
   */
  size?: number;
  /**
   * A connection attempt that has not succeeded after this long fails as timed out.
   * @default {"1s"}
   */
  connectTimeout?: Duration;
  /**
   * A response not complete after this long fails as timed out (the connection is then
   * closed and a new one made).
   * @default {"1s"}
   */
  timeout?: Duration;
  /**
   * `"keep"`: one connection, made again after an error. `"per-request"`: a new
   * connection for every request (connect time measured every time).
   * @default {"keep"}
   */
  connection?: "keep" | "per-request";
}

/**
 * A TCP probe: requests echoed back, with connect time and round-trip time measured. The
 * fields it shares with its agent's {@linkcode TcpProbeSettings} are declared there.
 *
 * @example
 * ```ts
 * import { tcpProbe, type TcpProbeSpec } from "./tcp_probe.ts";
 * const spec: TcpProbeSpec = tcpProbe({ target: "server:7100", count: 100 });
 * console.assert(spec.rate === 100 && spec.connectTimeout === "1s" && spec.timeout === "1s");
 * ```
 */
export interface TcpProbeSpec
  extends Pick<TcpProbeSettings, "count" | "rate" | "size" | "connection"> {
  /** Always `"tcpProbe"`. */
  kind: "tcpProbe";
  /** Where to connect. */
  target: string;
  /** The raw duration given, or null when `count` is given. */
  duration: Duration | null;
  /** The raw connect timeout given. */
  connectTimeout: Duration;
  /** The raw response timeout given. */
  timeout: Duration;
}

/**
 * A TCP probe towards `target`, for `count` requests or for `duration`.
 *
 * @example
 * ```ts
 * import { tcpProbe } from "./tcp_probe.ts";
 * const probe = tcpProbe({ target: "server:7100", count: 500, rate: 200 });
 * console.assert(probe.connection === "keep");
 * ```
 */
export function tcpProbe(options: TcpProbeOptions): TcpProbeSpec {
  return {
    kind: "tcpProbe",
    ...probeBase(options),
    connectTimeout: options?.connectTimeout ?? "1s",
    timeout: options?.timeout ?? "1s",
    connection: options?.connection ?? "keep",
  };
}

/** Checks a TCP probe spec. */
export function validateTcpProbe(s: TcpProbeSpec, check: Checks): void {
  check.target(s.target);
  check.amount(s.count, "count", s.duration, Number.MAX_SAFE_INTEGER);
  check.rate(s.rate);
  check.whole("size", s.size, 1, 65_536, "of bytes 1-65536");
  check.positiveDuration("connectTimeout", s.connectTimeout);
  check.positiveDuration("timeout", s.timeout);
  check.oneOf("connection", s.connection, ["keep", "per-request"]);
}

/** Describes a valid TCP probe spec in one line. */
export function describeTcpProbe(spec: TcpProbeSpec): string {
  const amount = spec.count !== null
    ? `${spec.count} requests`
    : `for ${formatted(spec.duration!)}`;
  return `tcp probe to ${spec.target}, ${amount} at most ${spec.rate}/s, ${spec.size} B, ${
    spec.connection === "keep" ? "one connection" : "a connection per request"
  }, timeouts ${formatted(spec.connectTimeout)} connect / ${formatted(spec.timeout)} response`;
}

/** A valid TCP probe spec as its agent runs it, its target resolved; or why it cannot. */
export function tcpProbeSettings(
  spec: TcpProbeSpec,
  context: ResolveContext,
): ({ kind: "tcpProbe" } & TcpProbeSettings) | { error: string } {
  const base = probeBaseSettings(spec, context);
  if ("error" in base) return base;
  return {
    kind: "tcpProbe",
    ...base,
    connectTimeoutMs: parseDuration(spec.connectTimeout),
    timeoutMs: parseDuration(spec.timeout),
    connection: spec.connection,
  };
}
