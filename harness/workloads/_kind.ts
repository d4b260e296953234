/**
 * What every workload kind's file shares: the checks its validation is made of, and the
 * context the runner gives the conversion of a spec to agent settings.
 *
 * @module
 */

import {
  describeValue,
  type Duration,
  formatDuration,
  parseDuration,
  tryParseDuration,
} from "../core/duration.ts";
import type { Problem } from "../core/errors.ts";
import { parseTarget, type Target } from "../core/addresses.ts";
import type { ProbeBaseSettings } from "../agent/protocol.ts";

/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;
/** Largest rate a probe accepts, in datagrams per second. */
export const MAX_PROBE_RATE = 1_000_000;

/**
 * What the conversion of a spec to agent settings needs to know of the run: the runner
 * builds one for every workload it starts.
 */
export interface ResolveContext {
  /** How the run's hosts are made. */
  network: "namespaces" | "loopback";
  /** The host the workload runs on. */
  host: string;
  /** The address the workload binds: 0.0.0.0, or 127.0.0.1 on loopback. */
  hostname: string;
  /** A target as seen from `host`, resolved with the run's plan (to an address and port). */
  resolveTarget(target: Target): { address: string; port: number } | { error: string };
  /** Absolute paths of the tools a workload may need, undefined where not found. */
  tools: { setpriv: string | undefined; ss: string | undefined; nsenter: string | undefined };
  /** What the host's agent may run (absolute paths). */
  mayRun: ReadonlySet<string>;
  /** The pid of the host's agent (its namespace is the host's), or null when it has none. */
  agentPid: number | null;
}

/** Resolves a raw `"host:port"` target with the context, or says why not. */
export function resolveTargetIn(
  context: ResolveContext,
  raw: string,
): { address: string; port: number } | { error: string } {
  const target = parseTarget(raw);
  if ("error" in target) return target;
  return context.resolveTarget(target);
}

/** A valid duration, formatted for a description. */
export function formatted(duration: Duration): string {
  return formatDuration(tryParseDuration(duration) as number);
}

/** The fields every probe's spec (UDP or TCP) takes from its options the same way. */
export interface ProbeBase extends Pick<ProbeBaseSettings, "count" | "rate" | "size"> {
  /** Where to send or connect: `"host:port"` or `"ip:port"`. */
  target: string;
  /** The raw duration given, or null when `count` is given. */
  duration: Duration | null;
}

/** A probe's common fields from its options, with their defaults: 100/s, 64 B. */
export function probeBase(
  options: { target: string; count?: number; duration?: Duration; rate?: number; size?: number },
): ProbeBase {
  return {
    target: options?.target,
    count: options?.count ?? null,
    duration: options?.duration ?? null,
    rate: options?.rate ?? 100,
    size: options?.size ?? 64,
  };
}

/** A valid probe spec's common fields as its agent runs them, its target resolved; or why not. */
export function probeBaseSettings(
  spec: ProbeBase,
  context: ResolveContext,
): ProbeBaseSettings | { error: string } {
  const target = resolveTargetIn(context, spec.target);
  if ("error" in target) return target;
  return {
    hostname: context.hostname,
    targetAddress: target.address,
    targetPort: target.port,
    count: spec.count,
    durationMs: spec.duration === null ? null : parseDuration(spec.duration),
    rate: spec.rate,
    size: spec.size,
  };
}

/** The checks a kind's validation is made of; each adds its problem at `where.field`. */
export class Checks {
  /** Every problem found, in order. */
  readonly problems: Problem[] = [];
  readonly #where: string;

  constructor(where: string) {
    this.#where = where;
  }

  /** A problem at `field` (the whole workload when empty). */
  add(field: string, message: string): void {
    this.problems.push({ where: field ? `${this.#where}.${field}` : this.#where, message });
  }

  /** A whole number in min..max; `what` ends the message. */
  whole(field: string, value: unknown, min: number, max: number, what: string): void {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      this.add(field, `${field} must be a whole number ${what}, got ${JSON.stringify(value)}`);
    }
  }

  /** A duration above 0. */
  positiveDuration(field: string, value: unknown): void {
    const d = tryParseDuration(value);
    if (typeof d !== "number") this.add(field, d.error);
    else if (d <= 0) this.add(field, `${field} must be above 0`);
  }

  /** One of the allowed strings. */
  oneOf(field: string, value: unknown, allowed: readonly string[]): void {
    if (!allowed.includes(value as string)) {
      this.add(
        field,
        `${field} must be ${allowed.map((a) => `"${a}"`).join(" or ")}, got ${
          JSON.stringify(value)
        }`,
      );
    }
  }

  /** true or false. */
  boolean(field: string, value: unknown): void {
    if (typeof value !== "boolean") {
      this.add(field, `${field} must be true or false, got ${JSON.stringify(value)}`);
    }
  }

  /** A `"host:port"` target (the host is resolved when the workload starts). */
  target(value: unknown): void {
    const t = parseTarget(value);
    if ("error" in t) this.add("target", t.error);
  }

  /** A count (named `countName`) or a duration, exactly one of them. */
  amount(count: unknown, countName: string, duration: unknown, max: number): void {
    if (count === null && duration === null) this.add("", `give either ${countName} or duration`);
    if (count !== null && duration !== null) {
      this.add("", `give ${countName} or duration, not both`);
    }
    if (count !== null) {
      this.whole(
        countName,
        count,
        1,
        max,
        max === Number.MAX_SAFE_INTEGER ? "above 0" : `1-${max}`,
      );
    }
    if (duration !== null) this.positiveDuration("duration", duration);
  }

  /** A rate above 0, at most {@linkcode MAX_PROBE_RATE}. */
  rate(value: unknown): void {
    if (typeof value !== "number" || !(value > 0) || value > MAX_PROBE_RATE) {
      this.add(
        "rate",
        `rate must be above 0 and at most ${MAX_PROBE_RATE} per second, got ${
          describeValue(value)
        }`,
      );
    }
  }
}
