/**
 * The reconnect storm workload kind: its options, spec, factory, validation, description
 * and conversion to the settings its agent runs.
 *
 * @module
 */

import { type Duration, parseDuration, tryParseDuration } from "../core/duration.ts";
import type { BackoffSettings, StormSettings } from "../agent/protocol.ts";
import {
  type Checks,
  formatted,
  MAX_UDP_PAYLOAD,
  type ResolveContext,
  resolveTargetIn,
} from "./_kind.ts";

/** Most clients a reconnect storm may have. */
export const MAX_STORM_CLIENTS = 10_000;

/**
 * How a client waits before connecting again.
 *
 * @example
 * ```ts
 * import { type BackoffOptions, reconnectStorm } from "./reconnect_storm.ts";
 * const backoff: BackoffOptions = { type: "fixed", initial: "100ms" };
 * const storm = reconnectStorm({ target: "server:7500", clients: 50, cycles: 10, backoff });
 * console.assert(storm.backoff.initial === "100ms" && storm.backoff.jitter === 0.1);
 * ```
 */
export interface BackoffOptions {
  /**
   * `"fixed"`: always `initial`. `"exponential"`: `initial`, then times `factor` after
   * every failure in a row, at most `max`; back to `initial` after a success.
   * @default {"exponential"}
   */
  type?: "fixed" | "exponential";
  /**
   * The first wait, and the wait after a success.
   * @default {"10ms"}
   */
  initial?: Duration;
  /**
   * The longest wait.
   * @default {"1s"}
   */
  max?: Duration;
  /**
   * Growth per failure in a row (exponential only), above 1.
   * @default {2}
   */
  factor?: number;
  /**
   * Random spread of every wait, 0-1: a wait of w becomes uniform in w x (1 +- jitter).
   * @default {0.1}
   */
  jitter?: number;
}

/**
 * A backoff with every default filled in.
 *
 * @example
 * ```ts
 * import { type Backoff, reconnectStorm } from "./reconnect_storm.ts";
 * const backoff: Backoff =
 *   reconnectStorm({ target: "server:7500", clients: 10, cycles: 5 }).backoff;
 * console.assert(
 *   JSON.stringify(backoff) ===
 *     '{"type":"exponential","initial":"10ms","max":"1s","factor":2,"jitter":0.1}',
 * );
 * ```
 */
export interface Backoff extends Pick<BackoffSettings, "type" | "factor" | "jitter"> {
  /** The raw first wait. */
  initial: Duration;
  /** The raw longest wait. */
  max: Duration;
}

/**
 * Options of {@linkcode reconnectStorm}.
 *
 * @example
 * ```ts
 * import { reconnectStorm, type ReconnectStormOptions } from "./reconnect_storm.ts";
 * // UDP: a "connection" is one datagram and its echo; at most 20 attempts at once.
 * const options: ReconnectStormOptions = {
 *   target: "server:7000",
 *   clients: 100,
 *   duration: "5s",
 *   concurrency: 20,
 *   protocol: "udp",
 * };
 * console.assert(reconnectStorm(options).concurrency === 20);
 * ```
 */
export interface ReconnectStormOptions {
  /** Where the clients connect: `"host:port"` or `"ip:port"`. */
  target: string;
  /** Number of clients, 1-10000. */
  clients: number;
  /** Connect-exchange-close cycles per client. Give this or `duration`. */
  cycles?: number;
  /** How long the clients keep cycling. Give this or `cycles`. */
  duration?: Duration;
  /**
   * Most connection attempts in flight at once (1-clients).
   * @default {clients}
   */
  concurrency?: number;
  /** How clients wait between cycles and after failures. */
  backoff?: BackoffOptions;
  /**
   * `"tcp"`: connect, send `size` bytes, read them back, close. `"udp"`: send a datagram
   * and wait for the echo (a "connection" is one exchange).
   * @default {"tcp"}
   */
  protocol?: "tcp" | "udp";
  /**
   * An attempt (connect and exchange) not done after this long fails as timed out.
   * @default {"1s"}
   */
  connectTimeout?: Duration;
  /**
   * Bytes exchanged per cycle, 1-65507.
   * @default {64}
   */
  size?: number;
}

/**
 * A reconnect storm: many clients connecting, exchanging, closing and reconnecting. The
 * fields it shares with its agent's {@linkcode StormSettings} are declared there.
 *
 * @example
 * ```ts
 * import { reconnectStorm, type ReconnectStormSpec } from "./reconnect_storm.ts";
 * const spec: ReconnectStormSpec = reconnectStorm({
 *   target: "server:7500",
 *   clients: 200,
 *   cycles: 3,
 * });
 * console.assert(spec.concurrency === 200 && spec.protocol === "tcp" && spec.size === 64);
 * ```
 */
export interface ReconnectStormSpec
  extends Pick<StormSettings, "clients" | "cycles" | "concurrency" | "protocol" | "size"> {
  /** Always `"reconnectStorm"`. */
  kind: "reconnectStorm";
  /** Where the clients connect. */
  target: string;
  /** The raw duration, or null when `cycles` is given. */
  duration: Duration | null;
  /** The backoff, defaults filled in. */
  backoff: Backoff;
  /** The raw attempt timeout. */
  connectTimeout: Duration;
}

/**
 * A reconnect storm: `clients` clients that each connect to `target`, exchange a
 * message, close and connect again, for `cycles` cycles or for `duration`, waiting
 * between attempts as `backoff` says.
 *
 * @example
 * ```ts
 * import { reconnectStorm } from "./reconnect_storm.ts";
 * const storm = reconnectStorm({
 *   target: "server:7100",
 *   clients: 200,
 *   duration: "6s",
 *   backoff: { type: "exponential", initial: "20ms", max: "500ms" },
 * });
 * console.assert(storm.concurrency === 200);
 * ```
 */
export function reconnectStorm(options: ReconnectStormOptions): ReconnectStormSpec {
  const b = options?.backoff;
  return {
    kind: "reconnectStorm",
    target: options?.target,
    clients: options?.clients,
    cycles: options?.cycles ?? null,
    duration: options?.duration ?? null,
    concurrency: options?.concurrency ?? options?.clients,
    backoff: {
      type: b?.type ?? "exponential",
      initial: b?.initial ?? "10ms",
      max: b?.max ?? "1s",
      factor: b?.factor ?? 2,
      jitter: b?.jitter ?? 0.1,
    },
    protocol: options?.protocol ?? "tcp",
    connectTimeout: options?.connectTimeout ?? "1s",
    size: options?.size ?? 64,
  };
}

/** Checks a reconnect storm spec. */
export function validateReconnectStorm(s: ReconnectStormSpec, check: Checks): void {
  check.target(s.target);
  check.whole("clients", s.clients, 1, MAX_STORM_CLIENTS, `1-${MAX_STORM_CLIENTS}`);
  check.amount(s.cycles, "cycles", s.duration, Number.MAX_SAFE_INTEGER);
  // A concurrency left at its default follows clients: only one problem then.
  if (Number.isInteger(s.clients) && s.clients > 0) {
    const n = Math.min(s.clients, MAX_STORM_CLIENTS);
    check.whole("concurrency", s.concurrency, 1, n, `1-${n} (the number of clients)`);
  }
  check.oneOf("protocol", s.protocol, ["tcp", "udp"]);
  check.positiveDuration("connectTimeout", s.connectTimeout);
  check.whole("size", s.size, 1, MAX_UDP_PAYLOAD, `of bytes 1-${MAX_UDP_PAYLOAD}`);
  const b = s.backoff;
  check.oneOf("backoff.type", b?.type, ["fixed", "exponential"]);
  const initial = tryParseDuration(b?.initial);
  const max = tryParseDuration(b?.max);
  if (typeof initial !== "number") check.add("backoff.initial", initial.error);
  else if (initial < 0) check.add("backoff.initial", "backoff.initial must be 0 or more");
  if (typeof max !== "number") check.add("backoff.max", max.error);
  else if (typeof initial === "number" && max < initial) {
    check.add(
      "backoff.max",
      `backoff.max (${b.max}) must be at least backoff.initial (${b.initial})`,
    );
  }
  if (typeof b?.factor !== "number" || !(b.factor >= 1) || b.factor > 100) {
    check.add(
      "backoff.factor",
      `backoff.factor must be 1-100, got ${JSON.stringify(b?.factor)}`,
    );
  }
  if (typeof b?.jitter !== "number" || !(b.jitter >= 0 && b.jitter <= 1)) {
    check.add("backoff.jitter", `backoff.jitter must be 0-1, got ${JSON.stringify(b?.jitter)}`);
  }
}

/** Describes a valid reconnect storm spec in one line. */
export function describeReconnectStorm(spec: ReconnectStormSpec): string {
  const amount = spec.cycles !== null
    ? `${spec.cycles} cycles each`
    : `for ${formatted(spec.duration!)}`;
  const b = spec.backoff;
  const backoff = b.type === "fixed"
    ? `fixed backoff ${formatted(b.initial)}`
    : `exponential backoff ${formatted(b.initial)}..${formatted(b.max)} x${b.factor}`;
  return `${spec.protocol} reconnect storm to ${spec.target}: ${spec.clients} clients ${amount}, ${
    spec.concurrency < spec.clients ? `at most ${spec.concurrency} at once, ` : ""
  }${backoff} ±${Math.round(b.jitter * 100)}%, timeout ${formatted(spec.connectTimeout)}`;
}

/** A valid reconnect storm spec as its agent runs it, its target resolved; or why not. */
export function reconnectStormSettings(
  spec: ReconnectStormSpec,
  context: ResolveContext,
): ({ kind: "reconnectStorm" } & StormSettings) | { error: string } {
  const target = resolveTargetIn(context, spec.target);
  if ("error" in target) return target;
  const b = spec.backoff;
  return {
    kind: "reconnectStorm",
    hostname: context.hostname,
    targetAddress: target.address,
    targetPort: target.port,
    clients: spec.clients,
    cycles: spec.cycles,
    durationMs: spec.duration === null ? null : parseDuration(spec.duration),
    concurrency: spec.concurrency,
    backoff: {
      type: b.type,
      initialMs: parseDuration(b.initial),
      maxMs: parseDuration(b.max),
      factor: b.factor,
      jitter: b.jitter,
    },
    protocol: spec.protocol,
    connectTimeoutMs: parseDuration(spec.connectTimeout),
    size: spec.size,
  };
}
