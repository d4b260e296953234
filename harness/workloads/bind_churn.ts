/**
 * The bind churn workload kind: its options, spec, factory, validation, description and
 * conversion to the settings its agent runs.
 *
 * @module
 */

import { describeValue, type Duration, parseDuration } from "../core/duration.ts";
import { isPort } from "../core/addresses.ts";
import type { ChurnSettings } from "../agent/protocol.ts";
import type { Checks, ResolveContext } from "./_kind.ts";

/** Most cycles of a bind churn. */
export const MAX_CHURN_CYCLES = 10_000_000;
/** Most live connections a TCP bind churn may keep. */
export const MAX_LIVE_CONNECTIONS = 1_000;

/**
 * Options of {@linkcode bindChurn}.
 *
 * @example
 * ```ts
 * import { bindChurn, type BindChurnOptions } from "./bind_churn.ts";
 * // The fix for Deno 2.9: await the pending receive before binding again.
 * const options: BindChurnOptions = {
 *   port: 7300,
 *   cycles: 1000,
 *   pendingReceive: true,
 *   awaitPending: true,
 * };
 * console.assert(bindChurn(options).awaitPending);
 * ```
 */
export interface BindChurnOptions {
  /** The port to bind, close and bind again, 1-65535. */
  port: number;
  /**
   * The socket to bind: a UDP socket or a TCP listener.
   * @default {"udp"}
   */
  protocol?: "udp" | "tcp";
  /** Bind-close cycles, 1-10000000. */
  cycles: number;
  /**
   * Leave a `receive()` (UDP) or `accept()` (TCP) pending when the socket is closed: in
   * Deno 2.9 the port is then not free until the pending call has been rejected.
   * @default {false}
   */
  pendingReceive?: boolean;
  /**
   * After closing, await the pending call before binding again (the fix for the above).
   * @default {false}
   */
  awaitPending?: boolean;
  /**
   * TCP only: clients connected to the listener and kept open across rebinds.
   * @default {0}
   */
  liveConnections?: number;
  /**
   * Set SO_REUSEADDR (UDP only: Deno's TCP listeners always set it).
   * @default {false for udp, true for tcp}
   */
  reuseAddress?: boolean;
  /**
   * Set SO_REUSEPORT before each bind, so the churn can bind next to (and join) a
   * SO_REUSEPORT group of the same owner, e.g. `udpEcho({ port, group })`: a worker
   * restarted while its siblings run. A failure is then named in its `reason` (a holder
   * without SO_REUSEPORT, or a member of another owner). UDP binds through libc (hosts in
   * namespaces) and cannot have a receive pending.
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * A failed bind is tried again until it succeeds or this long has passed.
   * @default {"1s"}
   */
  rebindTimeout?: Duration;
  /**
   * Stop after this long even if cycles remain.
   * @default {"30s"}
   */
  maxDuration?: Duration;
}

/**
 * Bind churn: bind, close and bind the same port again, over and over. The fields it
 * shares with its agent's {@linkcode ChurnSettings} are declared there.
 *
 * @example
 * ```ts
 * import { bindChurn, type BindChurnSpec } from "./bind_churn.ts";
 * const udp: BindChurnSpec = bindChurn({ port: 7300, cycles: 10 });
 * const tcp: BindChurnSpec = bindChurn({ port: 7301, cycles: 10, protocol: "tcp" });
 * // SO_REUSEADDR is off for UDP by default; Deno's TCP listeners always set it.
 * console.assert(!udp.reuseAddress && tcp.reuseAddress);
 * ```
 */
export interface BindChurnSpec extends
  Pick<
    ChurnSettings,
    | "port"
    | "protocol"
    | "cycles"
    | "pendingReceive"
    | "awaitPending"
    | "liveConnections"
    | "reuseAddress"
  > {
  /** Always `"bindChurn"`. */
  kind: "bindChurn";
  /** SO_REUSEPORT; absent when not asked for. */
  reusePort?: boolean;
  /** The raw rebind timeout. */
  rebindTimeout: Duration;
  /** The raw time limit. */
  maxDuration: Duration;
}

/**
 * Bind churn on `port`: bind, close, bind again, `cycles` times, recording every failed
 * bind with the socket that held the port at that moment.
 *
 * @example
 * ```ts
 * import { bindChurn } from "./bind_churn.ts";
 * // The Deno 2.9 pattern that fails: close with a receive() pending, rebind at once.
 * const churn = bindChurn({ port: 7200, cycles: 100, pendingReceive: true });
 * console.assert(churn.protocol === "udp");
 * ```
 */
export function bindChurn(options: BindChurnOptions): BindChurnSpec {
  const protocol = options?.protocol ?? "udp";
  const spec: BindChurnSpec = {
    kind: "bindChurn",
    port: options?.port,
    protocol,
    cycles: options?.cycles,
    pendingReceive: options?.pendingReceive ?? false,
    awaitPending: options?.awaitPending ?? false,
    liveConnections: options?.liveConnections ?? 0,
    reuseAddress: options?.reuseAddress ?? protocol === "tcp",
    rebindTimeout: options?.rebindTimeout ?? "1s",
    maxDuration: options?.maxDuration ?? "30s",
  };
  if (options?.reusePort !== undefined) spec.reusePort = options.reusePort;
  return spec;
}

/** Checks a bind churn spec. */
export function validateBindChurn(s: BindChurnSpec, check: Checks): void {
  if (!isPort(s.port)) {
    check.add("port", `port must be a whole number 1-65535, got ${describeValue(s.port)}`);
  }
  check.oneOf("protocol", s.protocol, ["udp", "tcp"]);
  check.whole("cycles", s.cycles, 1, MAX_CHURN_CYCLES, `1-${MAX_CHURN_CYCLES}`);
  check.boolean("pendingReceive", s.pendingReceive);
  check.boolean("awaitPending", s.awaitPending);
  check.boolean("reuseAddress", s.reuseAddress);
  check.whole(
    "liveConnections",
    s.liveConnections,
    0,
    MAX_LIVE_CONNECTIONS,
    `0-${MAX_LIVE_CONNECTIONS}`,
  );
  if (s.protocol === "udp" && s.liveConnections > 0) {
    check.add("liveConnections", 'liveConnections needs protocol "tcp"');
  }
  if (s.protocol === "tcp" && s.reuseAddress === false) {
    check.add(
      "reuseAddress",
      "Deno's TCP listeners always set SO_REUSEADDR: use an exec() program to test without it",
    );
  }
  check.positiveDuration("rebindTimeout", s.rebindTimeout);
  check.positiveDuration("maxDuration", s.maxDuration);
  if (s.reusePort !== undefined) check.boolean("reusePort", s.reusePort);
  if (s.reusePort === true && s.protocol === "udp" && s.pendingReceive === true) {
    check.add(
      "pendingReceive",
      "a UDP churn with reusePort binds through libc (Deno's UDP sockets cannot set SO_REUSEPORT), where no receive can be pending",
    );
  }
}

/** Describes a valid bind churn spec in one line. */
export function describeBindChurn(spec: BindChurnSpec): string {
  const pending = spec.pendingReceive
    ? spec.awaitPending
      ? `, closing with a ${spec.protocol === "udp" ? "receive" : "accept"} pending and awaiting it`
      : `, closing with a ${spec.protocol === "udp" ? "receive" : "accept"} pending`
    : "";
  const live = spec.liveConnections > 0 ? `, ${spec.liveConnections} live connections` : "";
  return `${spec.protocol} bind churn on port ${spec.port}: ${spec.cycles} cycles${pending}${live}${
    spec.protocol === "udp" && spec.reuseAddress ? ", SO_REUSEADDR" : ""
  }${spec.reusePort ? ", SO_REUSEPORT" : ""}`;
}

/**
 * A valid bind churn spec as its agent runs it: `ss` (to name who holds the port when a
 * bind fails) only when the host may run it.
 */
export function bindChurnSettings(
  spec: BindChurnSpec,
  context: ResolveContext,
): ({ kind: "bindChurn" } & ChurnSettings) | { error: string } {
  const ss = context.tools.ss;
  if (spec.reusePort && spec.protocol === "udp" && context.network !== "namespaces") {
    return {
      error:
        `Cannot churn UDP port ${spec.port} with SO_REUSEPORT: it binds through libc, which agents load only on hosts in namespaces`,
    };
  }
  const settings: { kind: "bindChurn" } & ChurnSettings = {
    kind: "bindChurn",
    hostname: context.hostname,
    port: spec.port,
    protocol: spec.protocol,
    cycles: spec.cycles,
    pendingReceive: spec.pendingReceive,
    awaitPending: spec.awaitPending,
    liveConnections: spec.liveConnections,
    reuseAddress: spec.reuseAddress,
    rebindTimeoutMs: parseDuration(spec.rebindTimeout),
    maxDurationMs: parseDuration(spec.maxDuration),
    ssPath: context.mayRun.has(ss ?? "") ? ss! : null,
  };
  if (spec.reusePort) settings.reusePort = true;
  return settings;
}
