/**
 * Addresses and targets: IPv4 literals, ports and `"host:port"` strings, the same for
 * the declaration, the runner and the agents.
 *
 * @module
 */

/**
 * A target split into host (a name or an IP literal) and port.
 *
 * @example
 * ```ts
 * import type { Target } from "./addresses.ts";
 * const target: Target = { host: "server", port: 7000 };
 * console.assert(`${target.host}:${target.port}` === "server:7000");
 * ```
 */
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
