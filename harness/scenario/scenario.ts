/**
 * A scenario is a declaration that the runner interprets: hosts, links, workloads,
 * thresholds and an optional function that drives the run. Importing a scenario
 * module has no side effects; {@linkcode validateScenario} finds every problem
 * before anything is created.
 *
 * @module
 */

import { describeValue, type Duration, tryParseDuration } from "../core/duration.ts";
import type { Problem } from "../core/errors.ts";
import { METRICS } from "./metrics.ts";
import { parseThreshold, type Threshold } from "./threshold.ts";
import {
  linkEnds,
  linkFaults,
  type LinkOptions,
  type NetworkKind,
  planTopology,
  resolveTarget,
  validateTopology,
} from "./topology.ts";
import { type Fault, validateFault } from "./faults.ts";
import { runsUntilStopped, targetOf, validateWorkload } from "../workloads/kinds.ts";
import type { ScenarioFunction, WorkloadPlacement } from "./context.ts";
import { isIpv4, parseTarget } from "../core/addresses.ts";

export type {
  AppliedFault,
  EchoHandle,
  HandleOf,
  HostInfo,
  LinkHandle,
  ProgramHandle,
  ProgramStopOptions,
  ResultOf,
  ScenarioContext,
  ScenarioFunction,
  StopMemberOptions,
  WorkloadHandle,
  WorkloadPlacement,
} from "./context.ts";

/**
 * Options of {@linkcode scenario}.
 *
 * @example
 * ```ts
 * import { scenario, type ScenarioOptions } from "./scenario.ts";
 * import { tcpEcho } from "../workloads/tcp_echo.ts";
 * import { tcpProbe } from "../workloads/tcp_probe.ts";
 * const options: ScenarioOptions = {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: {
 *     echo: { on: "server", run: tcpEcho({ port: 7100 }) },
 *     probe: { on: "client", run: tcpProbe({ target: "server:7100", count: 100 }) },
 *   },
 *   timeout: "30s",
 *   thresholds: { "probe.failed": "== 0", "probe.rtt.p99": "< 10ms" },
 * };
 * export default scenario("tcp echo", options);
 * ```
 */
export interface ScenarioOptions {
  /**
   * How hosts are made: `"namespaces"` (one network namespace per host, needs root)
   * or `"loopback"` (one host on 127.0.0.1, no privileges).
   * @default {"namespaces"}
   */
  network?: NetworkKind;
  /** Host role names, e.g. `["client", "server"]`. */
  hosts: string[];
  /**
   * Links between hosts, each a veth pair: `[["client", "server"]]`.
   * @default {[]}
   */
  links?: LinkOptions[];
  /**
   * Workloads started before the scenario function runs, by name. Servers start
   * first, then the rest in order. They are validated before anything is created.
   * @default {{}}
   */
  workloads?: Record<string, WorkloadPlacement>;
  /**
   * The whole run is stopped after this long.
   * @default {"60s"}
   */
  timeout?: Duration;
  /**
   * Limits on metrics, as `"<workload>.<metric>": "<op> <value>"`:
   * `{ "probe.loss": "< 2%", "probe.rtt.p99": "< 5ms" }`.
   * @default {{}}
   */
  thresholds?: Record<string, string>;
}

/**
 * A scenario, as returned by {@linkcode scenario}. Plain data plus a function.
 *
 * @example
 * ```ts
 * import { type Scenario, scenario } from "./scenario.ts";
 * const s: Scenario = scenario("empty", { network: "loopback", hosts: ["local"] });
 * console.assert(s.kind === "squall.scenario" && s.fn === undefined && Object.isFrozen(s));
 * ```
 */
export interface Scenario {
  /** Marks the object as a scenario. */
  readonly kind: "squall.scenario";
  /** Its name. */
  readonly name: string;
  /** Its options, as given. */
  readonly options: ScenarioOptions;
  /** The function that drives it, if any. */
  readonly fn: ScenarioFunction | undefined;
}

/** The checked form of a scenario that the runner uses. */
export interface ValidScenario {
  /** The scenario. */
  scenario: Scenario;
  /** How hosts are made. */
  network: NetworkKind;
  /** Host names. */
  hosts: string[];
  /** Links. */
  links: LinkOptions[];
  /** Workloads from options, in start order (servers first). */
  workloads: { name: string; placement: WorkloadPlacement }[];
  /** Timeout of the whole run in milliseconds. */
  timeoutMs: number;
  /** Parsed thresholds. */
  thresholds: Threshold[];
}

/**
 * Declares a scenario. Nothing happens until a runner runs it.
 *
 * @example
 * ```ts
 * import { scenario } from "./scenario.ts";
 * import { udpEcho } from "../workloads/udp_echo.ts";
 * import { udpProbe } from "../workloads/udp_probe.ts";
 *
 * export default scenario("udp echo", {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: {
 *     echo: { on: "server", run: udpEcho({ port: 7000 }) },
 *     probe: { on: "client", run: udpProbe({ target: "server:7000", count: 1000, rate: 500 }) },
 *   },
 *   thresholds: { "probe.loss": "< 1%", "probe.rtt.p99": "< 5ms" },
 * });
 * ```
 */
export function scenario(name: string, options: ScenarioOptions, fn?: ScenarioFunction): Scenario {
  return Object.freeze({ kind: "squall.scenario", name, options, fn });
}

/** Whether a value is a scenario made by {@linkcode scenario}. */
export function isScenario(value: unknown): value is Scenario {
  return typeof value === "object" && value !== null &&
    (value as { kind?: unknown }).kind === "squall.scenario";
}

const WORKLOAD_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Checks a scenario: returns it in checked form, or every problem, each with where it is. */
export function validateScenario(
  s: Scenario,
  where: string,
): { ok: true; value: ValidScenario } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  const o = (s.options ?? {}) as Partial<ScenarioOptions>;
  if (typeof s.name !== "string" || s.name.trim() === "") {
    problems.push({ where: `${where}: name`, message: "a scenario needs a non-empty name" });
  }
  if (typeof s.options !== "object" || s.options === null) {
    problems.push({ where: `${where}: options`, message: "expected an options object" });
    return { ok: false, problems };
  }
  if (s.fn !== undefined && typeof s.fn !== "function") {
    problems.push({ where: `${where}: fn`, message: "expected a function or nothing" });
  }
  const at = `${where}: options`;
  const topologyProblems = validateTopology(o.network, o.hosts, o.links, at);
  problems.push(...topologyProblems);
  const network = o.network ?? "namespaces";
  const hosts = (o.hosts ?? []) as string[];
  const links = (o.links ?? []) as LinkOptions[];
  if (topologyProblems.length === 0) {
    links.forEach((link, i) => {
      linkFaults(link).forEach((fault, j) => {
        problems.push(
          ...validateLinkFault(fault, linkEnds(link), `${at}.links[${i}].faults[${j}]`),
        );
      });
    });
  }

  let timeoutMs = 60_000;
  if (o.timeout !== undefined) {
    const t = tryParseDuration(o.timeout);
    if (typeof t !== "number") problems.push({ where: `${at}.timeout`, message: t.error });
    else if (t <= 0) problems.push({ where: `${at}.timeout`, message: "timeout must be above 0" });
    else timeoutMs = t;
  }

  const workloads: { name: string; placement: WorkloadPlacement }[] = [];
  if (o.workloads !== undefined && (typeof o.workloads !== "object" || o.workloads === null)) {
    problems.push({ where: `${at}.workloads`, message: "expected an object of named workloads" });
  }
  const plan = topologyProblems.length === 0
    ? planTopology(network, hosts, links, "000000")
    : undefined;
  for (const [name, placement] of Object.entries(o.workloads ?? {})) {
    const wat = `${at}.workloads.${name}`;
    problems.push(...validatePlacement(name, placement, wat, hosts));
    const targeted = placement?.run && typeof placement.run === "object"
      ? targetOf(placement.run)
      : undefined;
    if (plan && placement?.on && hosts.includes(placement.on) && targeted !== undefined) {
      const target = parseTarget(targeted);
      if (!("error" in target)) {
        const resolved = resolveTarget(plan, placement.on, target);
        if ("error" in resolved) {
          problems.push({ where: `${wat}.run.target`, message: resolved.error });
        }
      }
    }
    workloads.push({ name, placement });
  }
  // Two of squall's own servers on one host, protocol and port can never both bind,
  // unless both are SO_REUSEPORT groups: they then join one group.
  const servers = new Map<string, { name: string; group: boolean }>();
  for (const { name, placement } of workloads) {
    const run = placement?.run;
    if (run?.kind !== "udpEcho" && run?.kind !== "tcpEcho") continue;
    const protocol = run.kind === "udpEcho" ? "udp" : "tcp";
    const key = `${placement.on} ${protocol} ${run.port}`;
    const first = servers.get(key);
    const group = run.group !== undefined;
    if (first === undefined) servers.set(key, { name, group });
    else if (!(first.group && group)) {
      problems.push({
        where: `${at}.workloads.${name}.run.port`,
        message:
          `${protocol} port ${run.port} on host "${placement.on}" is already taken by workload "${first.name}"${
            first.group || group
              ? " (two echoes share a port only when both set group: a SO_REUSEPORT member next to a socket without it cannot bind)"
              : ""
          }`,
      });
    }
  }
  workloads.sort((a, b) => serverFirst(a.placement) - serverFirst(b.placement));

  const thresholds: Threshold[] = [];
  const thresholdsAreObject = o.thresholds === undefined ||
    (typeof o.thresholds === "object" && o.thresholds !== null && !Array.isArray(o.thresholds));
  if (!thresholdsAreObject) {
    problems.push({
      where: `${at}.thresholds`,
      message: `expected an object of thresholds, such as { "probe.loss": "< 1%" }, got ${
        describeValue(o.thresholds)
      }`,
    });
  }
  for (const [key, expression] of Object.entries(thresholdsAreObject ? o.thresholds ?? {} : {})) {
    // A threshold on a declared workload may only name the metrics of its kind.
    const declared = workloads.find((w) => w.name === key.slice(0, key.indexOf(".")));
    const declaredKind = declared?.placement?.run?.kind;
    const kind = declaredKind && declaredKind in METRICS ? declaredKind : undefined;
    const parsed = parseThreshold(key, expression, `${at}.thresholds`, kind);
    if (Array.isArray(parsed)) {
      problems.push(...parsed);
      continue;
    }
    thresholds.push(parsed);
    const twat = `${at}.thresholds[${JSON.stringify(key)}]`;
    if (network === "loopback" && /^bindFailures(\.|$)/.test(parsed.metric)) {
      problems.push({
        where: twat,
        message:
          `${parsed.metric} needs the bind watch, which watches squall's namespaces: a loopback scenario has none (use hosts in namespaces)`,
      });
    }
    if (!declared && s.fn === undefined) {
      problems.push({
        where: twat,
        message: `no workload named "${parsed.workload}" (workloads: ${
          workloads.map((w) => w.name).join(", ") || "none"
        })`,
      });
    }
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: { scenario: s, network, hosts, links, workloads, timeoutMs, thresholds },
  };
}

/** Checks a fault for a link between `ends`: the fault itself, and its source. */
export function validateLinkFault(
  fault: unknown,
  ends: readonly [string, string],
  where: string,
): Problem[] {
  const problems = validateFault(fault, where);
  const from = (fault as Fault | undefined)?.match?.from;
  if (problems.length === 0 && from !== undefined && !isIpv4(from) && !ends.includes(from)) {
    problems.push({
      where: `${where}.from`,
      message: `"${from}" is not an end of this link (${ends.join(", ")})`,
    });
  }
  return problems;
}

/** Checks one workload placement: its name, its host and its spec. */
export function validatePlacement(
  name: string,
  placement: unknown,
  where: string,
  hosts: readonly string[],
): Problem[] {
  const problems: Problem[] = [];
  if (!WORKLOAD_NAME.test(name)) {
    problems.push({
      where,
      message: `workload name must be letters, digits, "-" or "_", starting with a letter, got ${
        JSON.stringify(name)
      }`,
    });
  }
  if (typeof placement !== "object" || placement === null) {
    problems.push({ where, message: "expected { on: <host>, run: <workload> }" });
    return problems;
  }
  const p = placement as Partial<WorkloadPlacement>;
  if (typeof p.on !== "string" || !hosts.includes(p.on)) {
    problems.push({
      where: `${where}.on`,
      message: `unknown host ${JSON.stringify(p.on)} (hosts: ${hosts.join(", ")})`,
    });
  }
  problems.push(...validateWorkload(p.run, `${where}.run`));
  return problems;
}

function serverFirst(placement: WorkloadPlacement): number {
  return placement?.run && runsUntilStopped(placement.run) ? 0 : 1;
}
