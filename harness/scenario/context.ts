/**
 * What a scenario function sees while it runs: the context `t`, the handles of the
 * workloads, links and hosts it gets from `t`, and where a workload is placed. The runner
 * implements them (`runner/context.ts`); `scenario.ts` declares the scenario around them.
 *
 * @module
 */

import type { Duration } from "../core/duration.ts";
import type { WorkloadResult } from "../measure/results.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import type { PlannedInterface } from "./topology.ts";
import type { Fault } from "./faults.ts";
import type { ResultByKind, WorkloadSpec } from "../workloads/kinds.ts";
import type { ExecSpec } from "../workloads/exec.ts";
import type { UdpEchoSpec } from "../workloads/udp_echo.ts";
import type { TcpEchoSpec } from "../workloads/tcp_echo.ts";

/**
 * Where a workload runs and what it runs: `{ on: "server", run: udpEcho({ port: 7000 }) }`.
 *
 * @example
 * ```ts
 * import type { WorkloadPlacement } from "./scenario.ts";
 * import { udpEcho } from "../workloads/udp_echo.ts";
 * const echo: WorkloadPlacement = { on: "server", run: udpEcho({ port: 7000 }) };
 * console.assert(echo.run.kind === "udpEcho");
 * ```
 */
export interface WorkloadPlacement<S extends WorkloadSpec = WorkloadSpec> {
  /** The host to run it on. */
  on: string;
  /** The workload. */
  run: S;
}

/**
 * The result type of a workload spec.
 *
 * @example
 * ```ts
 * import type { ResultOf } from "./scenario.ts";
 * import type { UdpProbeSpec } from "../workloads/udp_probe.ts";
 * function lossOf(result: ResultOf<UdpProbeSpec>): number {
 *   return result.loss; // a UdpProbeResult
 * }
 * ```
 */
export type ResultOf<S extends WorkloadSpec> = S extends WorkloadSpec ? ResultByKind[S["kind"]]
  : WorkloadResult;

/**
 * The handle type of a workload spec: programs under test can also be restarted and signalled.
 *
 * @example
 * ```ts
 * import type { HandleOf } from "./scenario.ts";
 * import type { UdpProbeSpec } from "../workloads/udp_probe.ts";
 * import type { ExecSpec } from "../workloads/exec.ts";
 * async function sentSoFar(probe: HandleOf<UdpProbeSpec>): Promise<number> {
 *   return (await probe.snapshot()).sent; // a WorkloadHandle<UdpProbeResult>
 * }
 * async function crash(server: HandleOf<ExecSpec>): Promise<void> {
 *   await server.kill("SIGKILL"); // a ProgramHandle
 * }
 * ```
 */
export type HandleOf<S extends WorkloadSpec> = S extends ExecSpec ? ProgramHandle
  : S extends UdpEchoSpec | TcpEchoSpec ? EchoHandle<ResultOf<S>>
  : WorkloadHandle<ResultOf<S>>;

/**
 * A running (or finished) workload.
 *
 * @example
 * ```ts
 * import { scenario } from "./scenario.ts";
 * import { udpEcho } from "../workloads/udp_echo.ts";
 * import { udpProbe } from "../workloads/udp_probe.ts";
 *
 * export default scenario("a probe started later", {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: { echo: { on: "server", run: udpEcho({ port: 7000 }) } },
 * }, async (t) => {
 *   const probe = await t.start("probe", {
 *     on: "client",
 *     run: udpProbe({ target: "server:7000", duration: "5s" }),
 *   });
 *   await t.sleep("1s");
 *   t.log(`sent ${(await probe.snapshot()).sent} in the first second`);
 *   const result = await probe.result();
 *   t.check("every datagram answered", result.lost === 0, `${result.lost} lost`);
 * });
 * ```
 */
export interface WorkloadHandle<R extends WorkloadResult = WorkloadResult> {
  /** Its name. */
  readonly name: string;
  /** The host it runs on. */
  readonly host: string;
  /** Resolves with its result when it finishes (servers finish when stopped). */
  result(): Promise<R>;
  /** Stops it and resolves with its result. Stopping a finished workload is a no-op. */
  stop(): Promise<R>;
  /** What it has measured so far, without stopping it. */
  snapshot(): Promise<R>;
}

/**
 * A UDP or TCP echo; one started with `group` can lose a member while the rest run.
 *
 * @example
 * ```ts
 * import { scenario, type EchoHandle } from "./scenario.ts";
 * import { udpEcho } from "../workloads/udp_echo.ts";
 * import type { UdpEchoResult } from "../measure/results.ts";
 *
 * export default scenario("a worker dies", {
 *   hosts: ["server"],
 *   workloads: { echo: { on: "server", run: udpEcho({ port: 7000, group: 4 }) } },
 * }, async (t) => {
 *   const echo = t.workload("echo") as EchoHandle<UdpEchoResult>;
 *   await t.sleep("1s");
 *   await echo.stopMember(2, { hang: "200ms" });
 * });
 * ```
 */
export interface EchoHandle<R extends WorkloadResult = WorkloadResult> extends WorkloadHandle<R> {
  /**
   * Stops one member (0 to group - 1) of the echo's SO_REUSEPORT group, as a worker
   * that dies while its siblings run: it answers nothing more; after `hang`, the
   * datagrams queued in its socket are counted (per flow, the ledger's `closedSocket`)
   * and the socket is closed, and the kernel re-hashes the flows over the rest. TCP: the
   * listener and its connections close at once. Resolves once the socket is closed.
   */
  stopMember(member: number, options?: StopMemberOptions): Promise<void>;
}

/** Options of {@linkcode EchoHandle.stopMember}. */
export interface StopMemberOptions {
  /**
   * How long the member stops reading before its socket closes (UDP only): datagrams
   * hashed to it meanwhile queue up and are lost with the socket.
   * @default {0}
   */
  hang?: Duration;
}

/**
 * A program under test, started by {@linkcode ScenarioContext.start} with `exec([...])`.
 *
 * @example
 * ```ts
 * import { scenario } from "./scenario.ts";
 * import { exec } from "../workloads/exec.ts";
 *
 * export default scenario("a server that crashes", {
 *   hosts: ["server"],
 *   workloads: {
 *     web: {
 *       on: "server",
 *       run: exec(["python3", "-m", "http.server", "8000"], { ready: { tcp: 8000 } }),
 *     },
 *   },
 * }, async (t) => {
 *   const web = t.program("web");
 *   await t.sleep("1s");
 *   await web.kill(); // SIGKILL: a crash
 *   await web.restart(); // resolves once it listens again
 *   t.log(`runs: ${(await web.snapshot()).runs.length}`);
 * });
 * ```
 */
export interface ProgramHandle extends WorkloadHandle<ExecResult> {
  /**
   * Stops the program (SIGTERM, then SIGKILL) and starts it again; resolves once it is
   * ready. By default everything the program started ends with it (its cgroup is
   * emptied, as systemd's default KillMode does); with `keepChildren`, only its process
   * group is signalled, and what it forked into a session of its own keeps running (and
   * its sockets), as with systemd's `KillMode=process`: the result lists those processes
   * as `orphans`, with the ports they hold. They end with the run.
   */
  restart(options?: ProgramStopOptions): Promise<void>;
  /** Stops the program; with `keepChildren`, as {@linkcode ProgramHandle.restart} says. */
  stop(options?: ProgramStopOptions): Promise<ExecResult>;
  /**
   * Sends a signal to the program (SIGKILL to simulate a crash, SIGSTOP to freeze it);
   * it can be started again with `restart()`.
   * @default {"SIGKILL"}
   */
  kill(signal?: Deno.Signal): Promise<void>;
}

/** Options of {@linkcode ProgramHandle.restart} and {@linkcode ProgramHandle.stop}. */
export interface ProgramStopOptions {
  /**
   * Signal only the program's process group, and leave what it forked into a session of
   * its own running (systemd's `KillMode=process`).
   * @default {false}
   */
  keepChildren?: boolean;
}

/**
 * A fault applied to a link; dispose of it (or call `remove()`) to remove it.
 *
 * @example
 * ```ts
 * import { type AppliedFault, scenario } from "./scenario.ts";
 * import { blackhole, loss } from "./faults.ts";
 * import { udpEcho } from "../workloads/udp_echo.ts";
 * import { udpProbe } from "../workloads/udp_probe.ts";
 *
 * export default scenario("faults while traffic flows", {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: {
 *     echo: { on: "server", run: udpEcho({ port: 7000 }) },
 *     probe: { on: "client", run: udpProbe({ target: "server:7000", duration: "5s" }) },
 *   },
 * }, async (t) => {
 *   const link = t.link("client", "server");
 *   {
 *     await using _lossy = await link.apply(loss(0.2));
 *     await t.sleep("1s");
 *   } // removed here
 *   const outage: AppliedFault = await link.apply(blackhole({ direction: "reverse" }));
 *   await t.sleep("1s");
 *   await outage.remove();
 *   t.log(`fault #${outage.id} removed`);
 * });
 * ```
 */
export interface AppliedFault extends AsyncDisposable {
  /** Its id in this run (the report's fault timeline and ledgers use it). */
  readonly id: number;
  /** Removes the fault; resolves once the droppers no longer apply it. */
  remove(): Promise<void>;
}

/**
 * A link as the scenario function sees it: faults can be put on it while traffic flows.
 *
 * @example
 * ```ts
 * import { type LinkHandle, scenario } from "./scenario.ts";
 * import { blackhole } from "./faults.ts";
 * import { tcpEcho } from "../workloads/tcp_echo.ts";
 * import { tcpProbe } from "../workloads/tcp_probe.ts";
 *
 * export default scenario("a 2-second outage", {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: {
 *     echo: { on: "server", run: tcpEcho({ port: 7100 }) },
 *     probe: { on: "client", run: tcpProbe({ target: "server:7100", duration: "5s" }) },
 *   },
 * }, async (t) => {
 *   const link: LinkHandle = t.link("client", "server");
 *   await t.sleep("1s");
 *   await link.during(blackhole(), "2s"); // both ways, then removed
 * });
 * ```
 */
export interface LinkHandle {
  /** The two hosts, in the order given: a fault's `"forward"` is from the first to the second. */
  readonly hosts: readonly [string, string];
  /**
   * Applies a fault; resolves once it acts on the next packet.
   *
   * @example
   * ```ts ignore
   * await using drop = await t.link("client", "server").apply(loss(0.3));
   * await t.sleep("2s");
   * // removed here, when `drop` goes out of scope
   * ```
   */
  apply(fault: Fault): Promise<AppliedFault>;
  /** Applies a fault for a while, then removes it; resolves after removing it. */
  during(fault: Fault, duration: Duration): Promise<void>;
}

/**
 * A host as the scenario function sees it.
 *
 * @example
 * ```ts
 * import type { HostInfo } from "./scenario.ts";
 * function describe(host: HostInfo): string {
 *   const ends = host.interfaces.map((i) => `${i.name} ${i.address} → ${i.peerHost}`);
 *   return `${host.name} ${host.address}: ${ends.join(", ")}`;
 * }
 * console.assert(describe({ name: "local", address: "127.0.0.1", interfaces: [] }) ===
 *   "local 127.0.0.1: ");
 * ```
 */
export interface HostInfo {
  /** Role name. */
  name: string;
  /** Main address: its first link end, or 127.0.0.1 on loopback. */
  address: string;
  /** Its link ends, each with its interface name, address and peer. */
  interfaces: readonly PlannedInterface[];
}

/**
 * What a scenario function gets: the running network and its workloads.
 *
 * @example
 * ```ts
 * import { scenario, type ScenarioContext } from "./scenario.ts";
 * import { udpEcho } from "../workloads/udp_echo.ts";
 * import { udpProbe } from "../workloads/udp_probe.ts";
 *
 * async function drive(t: ScenarioContext): Promise<void> {
 *   t.log(`server address: ${t.address("server")}`);
 *   const probe = await t.start("probe", {
 *     on: "client",
 *     run: udpProbe({ target: "server:7000", count: 200 }),
 *   });
 *   const result = await probe.result();
 *   t.check("answered", result.delivered > 0, `${result.delivered}/${result.sent}`);
 * }
 *
 * export default scenario("a driven run", {
 *   hosts: ["client", "server"],
 *   links: [["client", "server"]],
 *   workloads: { echo: { on: "server", run: udpEcho({ port: 7000 }) } },
 * }, drive);
 * ```
 */
export interface ScenarioContext {
  /** The scenario's name. */
  readonly name: string;
  /** Aborted when the run is interrupted or times out. */
  readonly signal: AbortSignal;
  /** The hosts, with their addresses and link ends. */
  readonly hosts: readonly HostInfo[];
  /** The link between two hosts, to apply faults to. */
  link(a: string, b: string): LinkHandle;
  /** The main address of a host (its first link end, or 127.0.0.1 on loopback). */
  address(host: string): string;
  /** Starts a workload by name; resolves once it is running (servers: bound). */
  start<S extends WorkloadSpec>(
    name: string,
    placement: WorkloadPlacement<S>,
  ): Promise<HandleOf<S>>;
  /** A workload started from options or by {@linkcode ScenarioContext.start}. */
  workload(name: string): WorkloadHandle;
  /**
   * A program under test (an `exec` workload), to restart or signal it.
   *
   * @example
   * ```ts ignore
   * await t.program("server").restart();
   * ```
   */
  program(name: string): ProgramHandle;
  /** Waits for a duration; rejects when the run is interrupted. */
  sleep(duration: Duration): Promise<void>;
  /** Records a check; a failed check fails the scenario. Returns `ok`. */
  check(name: string, ok: boolean, detail?: string): boolean;
  /** Adds a line to the report's log. */
  log(message: string): void;
}

/**
 * The function that drives a scenario.
 *
 * @example
 * ```ts
 * import { scenario, type ScenarioFunction } from "./scenario.ts";
 *
 * const drive: ScenarioFunction = async (t) => {
 *   await t.sleep("500ms");
 *   t.check("still running", !t.signal.aborted);
 * };
 * export default scenario("just waits", { network: "loopback", hosts: ["local"] }, drive);
 * ```
 */
export type ScenarioFunction = (t: ScenarioContext) => Promise<void> | void;
