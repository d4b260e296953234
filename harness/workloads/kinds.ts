/**
 * Every workload kind, listed once: the {@linkcode WorkloadSpec} union and the
 * dispatchers that hand a spec to its kind's file. Workloads are plain data: the
 * factories return serialisable specs, and the agent on a host has the code that runs
 * them. Specs are validated together with the rest of the scenario, before anything is
 * created, so every problem is reported at once.
 *
 * @module
 */

import type { Problem } from "../core/errors.ts";
import type { AgentWorkload } from "../agent/protocol.ts";
import type {
  BindChurnResult,
  ExecResult,
  ReconnectStormResult,
  TcpEchoResult,
  TcpProbeResult,
  UdpEchoResult,
  UdpProbeResult,
} from "../measure/results.ts";
import { Checks, type ResolveContext } from "./_kind.ts";
import { describeUdpEcho, udpEchoSettings, type UdpEchoSpec, validateEcho } from "./udp_echo.ts";
import { describeTcpEcho, tcpEchoSettings, type TcpEchoSpec } from "./tcp_echo.ts";
import {
  describeUdpProbe,
  udpProbeSettings,
  type UdpProbeSpec,
  validateUdpProbe,
} from "./udp_probe.ts";
import {
  describeTcpProbe,
  tcpProbeSettings,
  type TcpProbeSpec,
  validateTcpProbe,
} from "./tcp_probe.ts";
import {
  describeReconnectStorm,
  reconnectStormSettings,
  type ReconnectStormSpec,
  validateReconnectStorm,
} from "./reconnect_storm.ts";
import {
  bindChurnSettings,
  type BindChurnSpec,
  describeBindChurn,
  validateBindChurn,
} from "./bind_churn.ts";
import { describeExec, execSettings, type ExecSpec, validateExec } from "./exec.ts";

export { MAX_PROBE_RATE, MAX_UDP_PAYLOAD, type ResolveContext } from "./_kind.ts";
export { findProgram } from "./exec.ts";

/**
 * Any workload spec.
 *
 * @example
 * ```ts
 * import type { WorkloadSpec } from "./kinds.ts";
 * import { tcpEcho } from "./tcp_echo.ts";
 * import { udpEcho } from "./udp_echo.ts";
 * function portOf(spec: WorkloadSpec): number | undefined {
 *   return spec.kind === "udpEcho" || spec.kind === "tcpEcho" ? spec.port : undefined;
 * }
 * console.assert(portOf(tcpEcho({ port: 7100 })) === 7100);
 * console.assert(portOf(udpEcho({ port: 7000 })) === 7000);
 * ```
 */
export type WorkloadSpec =
  | UdpEchoSpec
  | UdpProbeSpec
  | TcpEchoSpec
  | TcpProbeSpec
  | ReconnectStormSpec
  | BindChurnSpec
  | ExecSpec;

/**
 * The kinds of workload squall knows.
 *
 * @example
 * ```ts
 * import type { WorkloadKind } from "./kinds.ts";
 * import { udpProbe } from "./udp_probe.ts";
 * const kind: WorkloadKind = udpProbe({ target: "server:7000", count: 10 }).kind;
 * console.assert(kind === "udpProbe");
 * ```
 */
export type WorkloadKind = WorkloadSpec["kind"];

/**
 * The result of each kind, as the run's report holds it.
 *
 * @example
 * ```ts
 * import type { ResultByKind } from "./kinds.ts";
 * function lossOf(result: ResultByKind["udpProbe"]): number {
 *   return result.loss;
 * }
 * ```
 */
export interface ResultByKind {
  /** A UDP echo's flows. */
  udpEcho: UdpEchoResult;
  /** A UDP probe's loss, latency and causes. */
  udpProbe: UdpProbeResult;
  /** A TCP echo's connections. */
  tcpEcho: TcpEchoResult;
  /** A TCP probe's requests, connects and errors. */
  tcpProbe: TcpProbeResult;
  /** A reconnect storm's attempts. */
  reconnectStorm: ReconnectStormResult;
  /** A bind churn's cycles and failed binds. */
  bindChurn: BindChurnResult;
  /** A program under test's exit and bind failures. */
  exec: ExecResult;
}

/** What squall knows of one kind: the functions in its file. */
interface Kind<S extends WorkloadSpec> {
  /** Adds the problems of a spec (its `kind` already known). */
  validate(spec: S, check: Checks): void;
  /** One line for the run header. */
  describe(spec: S): string;
  /** The spec as its agent runs it, or why it cannot run. */
  settings(spec: S, context: ResolveContext): AgentWorkload | { error: string };
  /** A server, running until stopped, rather than finishing by itself. */
  runsUntilStopped(spec: S): boolean;
}

/** Every kind, once. */
const KINDS: { [K in WorkloadKind]: Kind<Extract<WorkloadSpec, { kind: K }>> } = {
  udpEcho: {
    validate: validateEcho,
    describe: describeUdpEcho,
    settings: udpEchoSettings,
    runsUntilStopped: () => true,
  },
  udpProbe: {
    validate: validateUdpProbe,
    describe: describeUdpProbe,
    settings: udpProbeSettings,
    runsUntilStopped: () => false,
  },
  tcpEcho: {
    validate: validateEcho,
    describe: describeTcpEcho,
    settings: tcpEchoSettings,
    runsUntilStopped: () => true,
  },
  tcpProbe: {
    validate: validateTcpProbe,
    describe: describeTcpProbe,
    settings: tcpProbeSettings,
    runsUntilStopped: () => false,
  },
  reconnectStorm: {
    validate: validateReconnectStorm,
    describe: describeReconnectStorm,
    settings: reconnectStormSettings,
    runsUntilStopped: () => false,
  },
  bindChurn: {
    validate: validateBindChurn,
    describe: describeBindChurn,
    settings: bindChurnSettings,
    runsUntilStopped: () => false,
  },
  exec: {
    validate: validateExec,
    describe: describeExec,
    settings: execSettings,
    runsUntilStopped: (spec) => !spec.waitForExit,
  },
};

/** The functions of a spec's kind. */
function kindOf(spec: WorkloadSpec): Kind<WorkloadSpec> {
  return KINDS[spec.kind] as Kind<WorkloadSpec>;
}

/** Checks a workload spec; returns every problem, each at `where` plus a field. */
export function validateWorkload(spec: unknown, where: string): Problem[] {
  const check = new Checks(where);
  if (typeof spec !== "object" || spec === null || !("kind" in spec)) {
    check.add("", "expected a workload such as udpEcho({ port }) or udpProbe({ target, count })");
    return check.problems;
  }
  const kind = (spec as { kind: unknown }).kind;
  if (typeof kind !== "string" || !Object.hasOwn(KINDS, kind)) {
    check.add("kind", `unknown workload kind ${JSON.stringify(kind)}`);
    return check.problems;
  }
  kindOf(spec as WorkloadSpec).validate(spec as WorkloadSpec, check);
  return check.problems;
}

/** Describes a (valid) workload spec in one line, for the run header. */
export function describeWorkload(spec: WorkloadSpec): string {
  return kindOf(spec).describe(spec);
}

/**
 * A valid workload spec as its agent receives it: every name resolved, every duration in
 * ms; or why it cannot run (an unknown or unreachable target, a program not found).
 * Throws an EnvironmentError when a tool a program under test needs is missing.
 *
 * @example
 * ```ts
 * import { resolveWorkload } from "./kinds.ts";
 * import { udpProbe } from "./udp_probe.ts";
 * const settings = resolveWorkload(udpProbe({ target: "local:7000", count: 10 }), {
 *   network: "loopback",
 *   host: "local",
 *   hostname: "127.0.0.1",
 *   resolveTarget: (t) => ({ address: "127.0.0.1", port: t.port }),
 *   tools: { setpriv: undefined, ss: undefined, nsenter: undefined },
 *   mayRun: new Set(),
 *   agentPid: null,
 * });
 * console.assert("targetPort" in settings && settings.targetPort === 7000);
 * ```
 */
export function resolveWorkload(
  spec: WorkloadSpec,
  context: ResolveContext,
): AgentWorkload | { error: string } {
  return kindOf(spec).settings(spec, context);
}

/** Whether a workload runs until stopped (servers) rather than finishing by itself. */
export function runsUntilStopped(spec: WorkloadSpec): boolean {
  return kindOf(spec).runsUntilStopped(spec);
}

/** The `target` of a workload that sends somewhere, or undefined. */
export function targetOf(spec: WorkloadSpec): string | undefined {
  return "target" in spec ? spec.target : undefined;
}
