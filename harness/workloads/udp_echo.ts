/**
 * The UDP echo workload kind: its options, spec, factory, validation, description and
 * conversion to the settings its agent runs.
 *
 * @module
 */

import { describeValue } from "../core/duration.ts";
import { isPort } from "../core/addresses.ts";
import type { EchoSettings } from "../agent/protocol.ts";
import type { Checks, ResolveContext } from "./_kind.ts";

/**
 * Options of {@linkcode udpEcho}.
 *
 * @example
 * ```ts
 * import { udpEcho, type UdpEchoOptions } from "./udp_echo.ts";
 * const options: UdpEchoOptions = { port: 7000 };
 * console.assert(udpEcho(options).port === 7000);
 * ```
 */
export interface UdpEchoOptions {
  /** UDP port to listen on, 1-65535. */
  port: number;
  /**
   * Run a SO_REUSEPORT group of this many sockets on the port (each its own thread),
   * instead of one plain socket: the kernel spreads flows across them by a hash of the
   * 5-tuple, and the result shows each member's share. Programs under test that set
   * SO_REUSEPORT themselves (as root) join the same group. `group: 1` is one socket that
   * sets SO_REUSEPORT. Needs hosts in namespaces (the native echo).
   * @default {undefined} (one socket without SO_REUSEPORT)
   */
  group?: number;
}

/**
 * A UDP echo server: sends every datagram back to where it came from.
 *
 * @example
 * ```ts
 * import { udpEcho, type UdpEchoSpec } from "./udp_echo.ts";
 * const spec: UdpEchoSpec = udpEcho({ port: 7000 });
 * console.assert(JSON.stringify(spec) === '{"kind":"udpEcho","port":7000}');
 * ```
 */
export interface UdpEchoSpec extends Pick<EchoSettings, "port"> {
  /** Always `"udpEcho"`. */
  kind: "udpEcho";
  /** Members of its SO_REUSEPORT group; absent for one plain socket. */
  group?: number;
}

/**
 * A UDP echo server on `port`.
 *
 * @example
 * ```ts
 * import { udpEcho } from "./udp_echo.ts";
 * const echo = udpEcho({ port: 7000 });
 * console.assert(echo.kind === "udpEcho");
 * ```
 */
export function udpEcho(options: UdpEchoOptions): UdpEchoSpec {
  const spec: UdpEchoSpec = { kind: "udpEcho", port: options?.port };
  if (options?.group !== undefined) spec.group = options.group;
  return spec;
}

/** Most members of one echo's SO_REUSEPORT group. */
export const MAX_GROUP = 64;

/** Checks a UDP or TCP echo spec. */
export function validateEcho(s: { port: unknown; group?: unknown }, check: Checks): void {
  if (!isPort(s.port)) {
    check.add("port", `port must be a whole number 1-65535, got ${describeValue(s.port)}`);
  }
  if (s.group !== undefined) check.whole("group", s.group, 1, MAX_GROUP, `1-${MAX_GROUP}`);
}

/** ` (SO_REUSEPORT group of 4)` for an echo with a group, else nothing. */
export function describeGroup(group: number | undefined): string {
  if (group === undefined) return "";
  return ` (SO_REUSEPORT group of ${group} socket${group === 1 ? "" : "s"})`;
}

/** Describes a valid UDP echo spec in one line. */
export function describeUdpEcho(spec: UdpEchoSpec): string {
  return `udp echo on port ${spec.port}${describeGroup(spec.group)}`;
}

/**
 * A UDP echo spec as its agent runs it.
 *
 * @example
 * ```ts
 * import { udpEcho, udpEchoSettings } from "./udp_echo.ts";
 * const context = {
 *   network: "loopback" as const,
 *   host: "local",
 *   hostname: "127.0.0.1",
 *   resolveTarget: () => ({ error: "none" }),
 *   tools: { setpriv: undefined, ss: undefined, nsenter: undefined },
 *   mayRun: new Set<string>(),
 *   agentPid: null,
 * };
 * const settings = udpEchoSettings(udpEcho({ port: 7000 }), context);
 * console.assert("port" in settings && settings.port === 7000 && settings.group === null);
 * ```
 */
export function udpEchoSettings(
  spec: UdpEchoSpec,
  context: ResolveContext,
): ({ kind: "udpEcho" } & EchoSettings) | { error: string } {
  if (spec.group !== undefined && context.network !== "namespaces") {
    return {
      error:
        `Cannot run a UDP SO_REUSEPORT group on port ${spec.port}: it needs the native echo, which runs only on hosts in namespaces (Deno's UDP sockets cannot set SO_REUSEPORT)`,
    };
  }
  return {
    kind: "udpEcho",
    hostname: context.hostname,
    port: spec.port,
    group: spec.group ?? null,
  };
}
