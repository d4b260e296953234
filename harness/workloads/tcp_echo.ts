/**
 * The TCP echo workload kind: its options, spec, factory, description and conversion to
 * the settings its agent runs (its validation is the UDP echo's, {@linkcode validateEcho}).
 *
 * @module
 */

import type { EchoSettings } from "../agent/protocol.ts";
import type { ResolveContext } from "./_kind.ts";
import { describeGroup } from "./udp_echo.ts";
export { validateEcho } from "./udp_echo.ts";

/**
 * Options of {@linkcode tcpEcho}.
 *
 * @example
 * ```ts
 * import { tcpEcho, type TcpEchoOptions } from "./tcp_echo.ts";
 * const options: TcpEchoOptions = { port: 7100 };
 * console.assert(tcpEcho(options).port === 7100);
 * ```
 */
export interface TcpEchoOptions {
  /** TCP port to listen on, 1-65535. */
  port: number;
  /**
   * Run a SO_REUSEPORT group of this many listeners on the port instead of one: the
   * kernel spreads connections across them by a hash of the 4-tuple, and the result
   * shows each member's share. Programs under test that set SO_REUSEPORT themselves (as
   * root) join the same group. `group: 1` is one listener that sets SO_REUSEPORT.
   * @default {undefined} (one listener without SO_REUSEPORT)
   */
  group?: number;
}

/**
 * A TCP echo server: writes back every byte it reads, on every connection.
 *
 * @example
 * ```ts
 * import { tcpEcho, type TcpEchoSpec } from "./tcp_echo.ts";
 * const spec: TcpEchoSpec = tcpEcho({ port: 7100 });
 * console.assert(JSON.stringify(spec) === '{"kind":"tcpEcho","port":7100}');
 * ```
 */
export interface TcpEchoSpec extends Pick<EchoSettings, "port"> {
  /** Always `"tcpEcho"`. */
  kind: "tcpEcho";
  /** Members of its SO_REUSEPORT group; absent for one plain listener. */
  group?: number;
}

/**
 * A TCP echo server on `port`.
 *
 * @example
 * ```ts
 * import { tcpEcho } from "./tcp_echo.ts";
 * const echo = tcpEcho({ port: 7100 });
 * console.assert(echo.kind === "tcpEcho");
 * ```
 */
export function tcpEcho(options: TcpEchoOptions): TcpEchoSpec {
  const spec: TcpEchoSpec = { kind: "tcpEcho", port: options?.port };
  if (options?.group !== undefined) spec.group = options.group;
  return spec;
}

/** Describes a valid TCP echo spec in one line. */
export function describeTcpEcho(spec: TcpEchoSpec): string {
  return `tcp echo on port ${spec.port}${describeGroup(spec.group)}`;
}

/** A TCP echo spec as its agent runs it. */
export function tcpEchoSettings(
  spec: TcpEchoSpec,
  context: ResolveContext,
): { kind: "tcpEcho" } & EchoSettings {
  return {
    kind: "tcpEcho",
    hostname: context.hostname,
    port: spec.port,
    group: spec.group ?? null,
  };
}
