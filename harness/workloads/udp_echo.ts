/**
 * The UDP echo workload kind: its options, spec, factory, validation, description and
 * conversion to the settings its agent runs.
 *
 * @module
 */

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
  return { kind: "udpEcho", port: options?.port };
}

/** Checks a UDP or TCP echo spec. */
export function validateEcho(s: { port: unknown }, check: Checks): void {
  if (!isPort(s.port)) check.add("port", `port must be a whole number 1-65535, got ${s.port}`);
}

/** Describes a valid UDP echo spec in one line. */
export function describeUdpEcho(spec: UdpEchoSpec): string {
  return `udp echo on port ${spec.port}`;
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
 * console.assert(settings.hostname === "127.0.0.1" && settings.port === 7000);
 * ```
 */
export function udpEchoSettings(
  spec: UdpEchoSpec,
  context: ResolveContext,
): { kind: "udpEcho" } & EchoSettings {
  return { kind: "udpEcho", hostname: context.hostname, port: spec.port };
}
