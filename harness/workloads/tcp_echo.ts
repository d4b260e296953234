/**
 * The TCP echo workload kind: its options, spec, factory, description and conversion to
 * the settings its agent runs (its validation is the UDP echo's, {@linkcode validateEcho}).
 *
 * @module
 */

import type { EchoSettings } from "../agent/protocol.ts";
import type { ResolveContext } from "./_kind.ts";
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
  return { kind: "tcpEcho", port: options?.port };
}

/** Describes a valid TCP echo spec in one line. */
export function describeTcpEcho(spec: TcpEchoSpec): string {
  return `tcp echo on port ${spec.port}`;
}

/** A TCP echo spec as its agent runs it. */
export function tcpEchoSettings(
  spec: TcpEchoSpec,
  context: ResolveContext,
): { kind: "tcpEcho" } & EchoSettings {
  return { kind: "tcpEcho", hostname: context.hostname, port: spec.port };
}
