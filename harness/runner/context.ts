/**
 * The scenario function's view of a run, `t`: its hosts and links, starting and
 * finding workloads, faults on links, checks, sleeps and log lines; and which workload
 * a process that failed to bind belongs to.
 *
 * @module
 */

import { parseDuration } from "../core/duration.ts";
import { EnvironmentError, ScenarioError } from "../core/errors.ts";
import { sleep } from "../core/sleep.ts";
import type { Fault } from "../scenario/faults.ts";
import type {
  HandleOf,
  LinkHandle,
  ProgramHandle,
  ScenarioContext,
  WorkloadHandle,
  WorkloadPlacement,
} from "../scenario/scenario.ts";
import type { Plan } from "../scenario/topology.ts";
import type { WorkloadSpec } from "../workloads/kinds.ts";
import type { WorkloadRecord } from "./_workload_record.ts";
import type { ApplyFaultOptions, FaultManager } from "./fault_manager.ts";
import type { CheckOutcome } from "./report.ts";

/**
 * What the scenario function's view reads and acts through: the run behind `t`.
 *
 * @example
 * ```ts ignore
 * import { scenarioContext, type ContextRun } from "./context.ts";
 * const run: ContextRun = { name, plan, signal, workloads, faults, canDrop: true, ... };
 * await scenario.fn?.(scenarioContext(run));
 * ```
 */
export interface ContextRun {
  /** The scenario's name. */
  name: string;
  /** The run's network. */
  plan: Plan;
  /** Aborts when the run is interrupted or times out: sleeps end with it. */
  signal: AbortSignal;
  /** The workloads started so far, by name. */
  workloads: ReadonlyMap<string, WorkloadRecord>;
  /** Applies faults to the run's links. */
  faults: FaultManager;
  /** Whether faults can be applied here (agents hold the XDP dropper). */
  canDrop: boolean;
  /** Where the scenario's checks go. */
  checks: CheckOutcome[];
  /** Starts a workload. */
  start(name: string, placement: WorkloadPlacement): Promise<WorkloadHandle>;
  /** Adds a line to the run's log. */
  note(message: string): void;
  /** Marks the run's error as the scenario's (exit code for bad input). */
  badInput(): void;
}

/**
 * The `t` a scenario function gets.
 *
 * @example
 * ```ts ignore
 * import { scenarioContext } from "./context.ts";
 * const t = scenarioContext(run);
 * await t.sleep("1s");
 * ```
 */
export function scenarioContext(run: ContextRun): ScenarioContext {
  const { plan, workloads } = run;
  return {
    name: run.name,
    signal: run.signal,
    hosts: plan.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      interfaces: h.interfaces,
    })),
    address: (host) => {
      const planned = plan.hosts.find((h) => h.name === host);
      if (!planned) {
        const hosts = plan.hosts.map((h) => h.name).join(", ");
        throw new RangeError(`Cannot find host "${host}": hosts are ${hosts}`);
      }
      return planned.address;
    },
    link: (a, b) => linkHandle(run, a, b),
    start: <S extends WorkloadSpec>(name: string, placement: WorkloadPlacement<S>) =>
      run.start(name, placement) as Promise<HandleOf<S>>,
    workload: (name) => {
      const record = workloads.get(name);
      if (!record) {
        const names = [...workloads.keys()].join(", ") || "none";
        throw new RangeError(`Cannot find workload "${name}": workloads are ${names}`);
      }
      return record.handle;
    },
    program: (name) => {
      const record = workloads.get(name);
      if (record?.report.spec.kind !== "exec") {
        const programs = [...workloads.values()]
          .filter((w) => w.report.spec.kind === "exec").map((w) => w.report.name);
        throw new RangeError(
          `Cannot find program "${name}": programs under test are ${programs.join(", ") || "none"}`,
        );
      }
      return record.handle as ProgramHandle;
    },
    sleep: (duration) => sleep(parseDuration(duration, "sleep duration"), run.signal),
    check: (name, ok, detail) => {
      run.checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
      return ok;
    },
    log: (message) => run.note(message),
  };
}

/** `t.link(a, b)`: faults on the link between hosts `a` and `b`, oriented from `a`. */
function linkHandle(run: ContextRun, a: string, b: string): LinkHandle {
  const { plan } = run;
  const index = plan.links.findIndex(({ hosts: [x, y] }) =>
    (x === a && y === b) || (x === b && y === a)
  );
  if (index < 0) {
    const links = plan.links.map((l) => l.hosts.join("-")).join(", ") || "none";
    run.badInput();
    throw new ScenarioError([{
      where: `t.link(${JSON.stringify(a)}, ${JSON.stringify(b)})`,
      message: `no link between "${a}" and "${b}" (links: ${links})`,
    }]);
  }
  const reversed = plan.links[index]!.hosts[0] !== a;
  const apply = async (fault: Fault, options: ApplyFaultOptions = {}) => {
    if (!run.canDrop) {
      throw new EnvironmentError(
        `Cannot apply "${fault?.kind}" to the link between "${a}" and "${b}": the XDP dropper cannot be loaded here`,
        plan.network === "loopback"
          ? 'faults need network: "namespaces"'
          : "install libbpf1, and rebuild bpf/xdp_drop.o with deno task bpf if it is missing",
      );
    }
    const oriented = reversed && fault?.direction !== "both"
      ? { ...fault, direction: fault.direction === "forward" ? "reverse" : "forward" } as Fault
      : fault;
    try {
      return await run.faults.apply(
        index,
        oriented,
        `t.link("${a}", "${b}").${options.forMs === undefined ? "apply" : "during"}()`,
        options,
      );
    } catch (error) {
      if (error instanceof ScenarioError) run.badInput();
      throw error;
    }
  };
  return {
    hosts: [a, b],
    apply: (fault) => apply(fault),
    during: async (fault, duration) => {
      const ms = parseDuration(duration, "fault duration");
      // The droppers end it themselves, `ms` after it took effect, at both ends at once.
      const applied = await apply(fault, { forMs: ms });
      try {
        await run.faults.ended(applied.id, run.signal);
      } finally {
        await applied.remove();
      }
    },
  };
}

/**
 * Options of {@linkcode ownerOf}.
 *
 * @example
 * ```ts
 * import type { OwnerOfOptions } from "./context.ts";
 * const options: OwnerOfOptions = { host: "server", port: 7000, agentPid: 4242 };
 * ```
 */
export interface OwnerOfOptions {
  /** The host the process runs on. */
  host: string;
  /** The port it failed to bind. */
  port: number;
  /** The pid of that host's agent; undefined if it has none. */
  agentPid: number | undefined;
}

/**
 * The workload a process belongs to, given its pid and its parents' pids (`pids`,
 * its own first): a program under test by the pid of one of its runs, or the agent's
 * own bind churn on that port by the agent's pid; null if neither.
 *
 * @example
 * ```ts ignore
 * import { ownerOf } from "./context.ts";
 * const name = ownerOf(workloads.values(), [failure.pid, ...ancestors], {
 *   host: failure.host,
 *   port: failure.port,
 *   agentPid,
 * });
 * ```
 */
export function ownerOf(
  workloads: Iterable<WorkloadRecord>,
  pids: readonly number[],
  options: OwnerOfOptions,
): string | null {
  const here = [...workloads].filter((w) => w.report.host === options.host);
  const program = here.find((w) =>
    w.final?.kind === "exec" && w.final.runs.some((r) => pids.includes(r.pid))
  );
  if (program) return program.report.name;
  if (options.agentPid !== pids[0]) return null;
  const churns = here.filter((w) =>
    w.report.spec.kind === "bindChurn" && w.report.spec.port === options.port
  );
  return churns.length === 1 ? churns[0]!.report.name : null;
}
