// Starting a workload in a run: checking its placement, resolving its spec to the agent's
// settings, choosing who runs it (its host's agent, or the runner for a program under
// test), and completing its result when it finishes (the loss ledger of a probe, the
// recovery of a storm). The run (run.ts) owns the records and the lifecycle.

import type { Target } from "../core/addresses.ts";
import { parseDuration } from "../core/duration.ts";
import { ScenarioError } from "../core/errors.ts";
import type { KernelDrops } from "../measure/loss_ledger.ts";
import type { UdpProbeResult } from "../measure/results.ts";
import type { ReconnectStormResult } from "../measure/tcp_results.ts";
import type { AgentWorkload } from "../agent/protocol.ts";
import {
  validatePlacement,
  type WorkloadHandle,
  type WorkloadPlacement,
} from "../scenario/scenario.ts";
import { type Plan, resolveTarget } from "../scenario/topology.ts";
import { resolveWorkload } from "../workloads/kinds.ts";
import type { WorkloadHost } from "./_local_programs.ts";
import { type ProbePath, startRecord, type WorkloadRecord } from "./_workload_record.ts";
import type { AgentConnection } from "./agent_connection.ts";
import type { RunEvent } from "./events.ts";
import type { FaultManager } from "./fault_manager.ts";
import { finishProbe, kernelDrops, probePath, sharesHosts } from "./finish.ts";
import { finishStorm } from "./finish_storm.ts";

/** What starting workloads needs from its run. */
export interface WorkloadStartDeps {
  /** The run's plan. */
  plan: Plan;
  /** The scenario's host names. */
  hosts: readonly string[];
  /** The run's workloads by name; a started one is added. */
  workloads: Map<string, WorkloadRecord>;
  /** The agents by host (filled while the run is set up). */
  agents: ReadonlyMap<string, AgentConnection>;
  /** What starts programs under test, into their host's namespace. */
  programs: WorkloadHost;
  /** The run's faults. */
  faults: FaultManager;
  /** Programs each host's agent may run. */
  allowRun: ReadonlyMap<string, Set<string>>;
  /** Paths of the tools a workload may need, if this machine has them. */
  tools: { setpriv: string | undefined; ss: string | undefined; nsenter: string | undefined };
  /** Starts the bind watch (once) and resolves when it watches. */
  watchBinds(): Promise<void>;
  /** Milliseconds since the run started. */
  elapsedMs(): number;
  /** Date.now() when the run started. */
  startEpochMs(): number;
  /** Passes a run event on. */
  emit(event: RunEvent): void;
  /** A line in the report's log. */
  note(message: string): void;
  /** Marks the run's input as bad (exit code 2). */
  badInput(): void;
}

/** Starts the workloads of one run, from its options or from the scenario function. */
export class WorkloadStarter {
  readonly #deps: WorkloadStartDeps;
  #nextId = 1;

  constructor(deps: WorkloadStartDeps) {
    this.#deps = deps;
  }

  /**
   * Starts a workload: resolves once it runs (servers: bound). Rejects with a
   * ScenarioError, and marks the run's input bad, when its placement or spec is wrong.
   */
  start(name: string, placement: WorkloadPlacement): Promise<WorkloadHandle> {
    const problems = validatePlacement(name, placement, `workload "${name}"`, this.#deps.hosts);
    if (this.#deps.workloads.has(name)) {
      problems.push({
        where: `workload "${name}"`,
        message: "a workload with this name already ran",
      });
    }
    let agentWorkload: AgentWorkload | undefined;
    if (problems.length === 0) {
      let resolved: AgentWorkload | { error: string };
      try {
        resolved = this.#resolve(placement);
      } catch (error) {
        return Promise.reject(error);
      }
      if ("error" in resolved) {
        // A program that is not there is the command's fault; the rest, the target's.
        const field = placement.run.kind === "exec" ? "command[0]" : "target";
        problems.push({ where: `workload "${name}".run.${field}`, message: resolved.error });
      } else agentWorkload = resolved;
    }
    if (problems.length > 0 || !agentWorkload) {
      this.#deps.badInput();
      return Promise.reject(new ScenarioError(problems));
    }
    // Programs under test are started by the runner into the host's namespace.
    const agent: WorkloadHost = placement.run.kind === "exec"
      ? this.#deps.programs
      : this.#deps.agents.get(placement.on)!;
    const watched = placement.run.kind === "exec" || placement.run.kind === "bindChurn"
      ? this.#deps.watchBinds()
      : Promise.resolve();
    this.#warnOfSharedChurn(name, placement);
    const id = this.#nextId++;
    const startedAtMs = this.#deps.elapsedMs();
    const path = probePath(this.#deps.plan, {
      host: placement.on,
      workload: agentWorkload,
      kernelDrops: (host) => this.#kernelDrops(host),
    });
    const { record, started } = startRecord({
      id,
      name,
      placement,
      workload: agentWorkload,
      agent,
      path,
      // A probe starts once the kernel counters it is measured against have been read.
      ready: Promise.all([path?.before, watched]),
      startedAtMs,
      finish: async (result, record) =>
        result.kind === "udpProbe"
          ? await this.#finishProbe(result, record.path)
          : result.kind === "reconnectStorm"
          ? await this.#finishStorm(result, placement)
          : result,
      emit: (event) => this.#deps.emit(event),
    });
    this.#deps.workloads.set(name, record);
    const { description } = record.report;
    return started.then(() => {
      this.#deps.emit({ type: "workload-started", name, host: placement.on, description });
      return record.handle;
    });
  }

  /**
   * A bind churn keeps its agent's event loop busy (it yields every few ms): whatever
   * else runs in that agent is measured slow. Says so when the two meet on a host.
   */
  #warnOfSharedChurn(name: string, placement: WorkloadPlacement): void {
    const kind = placement.run.kind;
    if (kind === "exec") return; // Programs run outside the agent.
    const others = [...this.#deps.workloads.values()].filter((w) =>
      w.report.host === placement.on && w.report.status === "running" &&
      w.report.spec.kind !== "exec" &&
      (kind === "bindChurn") !== (w.report.spec.kind === "bindChurn")
    ).map((w) => w.report.name);
    if (others.length === 0) return;
    const [churn, rest] = kind === "bindChurn" ? [[name], others] : [others, [name]];
    this.#deps.note(
      `Bind churn ${churn.join(", ")} shares host "${placement.on}" with ${
        rest.join(", ")
      }: a churn keeps its host's agent busy, so their timings come out slow; ` +
        "give the churn a host of its own",
    );
  }

  #resolve(placement: WorkloadPlacement): AgentWorkload | { error: string } {
    return resolveWorkload(placement.run, {
      network: this.#deps.plan.network,
      host: placement.on,
      hostname: this.#deps.plan.network === "loopback" ? "127.0.0.1" : "0.0.0.0",
      resolveTarget: (target) => this.#resolveTarget(placement.on, target),
      tools: {
        setpriv: this.#deps.tools.setpriv,
        ss: this.#deps.tools.ss,
        nsenter: this.#deps.tools.nsenter,
      },
      mayRun: this.#deps.allowRun.get(placement.on) ?? new Set(),
      agentPid: this.#deps.agents.get(placement.on)?.pid ?? null,
    });
  }

  #resolveTarget(
    host: string,
    target: Target,
  ): { address: string; port: number } | { error: string } {
    return resolveTarget(this.#deps.plan, host, target);
  }

  /**
   * Completes a probe's result: what squall's echoes saw of its flow (loss on the way
   * there and back), and the loss ledger from the droppers and the kernel's counters.
   */
  #finishProbe(result: UdpProbeResult, path: ProbePath | undefined): Promise<UdpProbeResult> {
    const workloads = [...this.#deps.workloads.values()];
    return finishProbe(result, path, {
      echoes: workloads.filter((w) => w.report.spec.kind === "udpEcho").map((w) => w.handle),
      programs: workloads.filter((w) => w.report.spec.kind === "exec").map((w) => w.handle),
      kernelDrops: (host) => this.#kernelDrops(host),
      dropsFor: (flowId, ifname) => this.#deps.faults.dropsFor(flowId, ifname),
      shared: (path) => sharesHosts(this.#deps.workloads.values(), path),
    });
  }

  /** Completes a storm's result (see finishStorm): TIME_WAIT sockets and recovery time. */
  #finishStorm(
    result: ReconnectStormResult,
    placement: WorkloadPlacement,
  ): Promise<ReconnectStormResult> {
    const spec = placement.run;
    const agent = this.#deps.agents.get(placement.on);
    const counted = this.#deps.plan.network === "namespaces" && agent !== undefined;
    return finishStorm(result, {
      host: placement.on,
      links: this.#deps.plan.links,
      timeWait: counted ? { agentPid: agent.pid } : null,
      faults: () => this.#deps.faults.reports(),
      startEpochMs: this.#deps.startEpochMs(),
      // An attempt made just before the fault ended may fail up to a timeout later.
      slackMs: spec.kind === "reconnectStorm" ? parseDuration(spec.connectTimeout) : 0,
    });
  }

  /** UDP drop counters of a host's namespace. */
  async #kernelDrops(host: string): Promise<KernelDrops> {
    return await kernelDrops(this.#deps.agents.get(host)!.pid);
  }
}
