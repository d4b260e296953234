/**
 * Finishing what a run measured: a probe's result completed with what the echoes saw
 * and the loss ledger (from the droppers and the kernel's UDP counters). A storm's
 * result is finished in `finish_storm.ts`, the run's outcome in `outcome.ts`.
 *
 * @module
 */

import type { AgentWorkload } from "../agent/protocol.ts";
import { buildLedger, type FaultDrops, type KernelDrops } from "../measure/loss_ledger.ts";
import type { UdpEchoResult, UdpProbeResult } from "../measure/results.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import type { WorkloadHandle } from "../scenario/scenario.ts";
import type { Plan } from "../scenario/topology.ts";
import type { ProbePath, WorkloadRecord } from "./_workload_record.ts";

/**
 * What {@linkcode finishProbe} reads besides the probe's result.
 *
 * @example
 * ```ts
 * import type { FinishProbeOptions } from "./finish.ts";
 * const options: FinishProbeOptions = {
 *   echoes: [],
 *   kernelDrops: () => Promise.resolve({ receiveBufferOverflow: 0, noSocket: 0 }),
 *   dropsFor: () => Promise.resolve([]),
 *   shared: () => false,
 * };
 * ```
 */
export interface FinishProbeOptions {
  /** The run's UDP echoes, whose snapshots say what reached them of the probe's flow. */
  echoes: readonly WorkloadHandle[];
  /**
   * The run's programs under test, whose results say what was queued, unread, in their
   * SO_REUSEPORT sockets when they were killed.
   * @default {[]}
   */
  programs?: readonly WorkloadHandle[];
  /** UDP drop counters of a host's namespace now. */
  kernelDrops: (host: string) => Promise<KernelDrops>;
  /** What the droppers on interface `ifname` dropped of flow `flowId`. */
  dropsFor: (flowId: number, ifname: string) => Promise<FaultDrops[]>;
  /** Whether another running probe crosses either of the path's hosts (asked last). */
  shared: (path: ProbePath) => boolean;
}

/**
 * Completes a probe's result: what squall's echoes saw of its flow (loss on the way
 * there and back), and the loss ledger from the droppers and the kernel's counters.
 *
 * @example
 * ```ts ignore
 * import { finishProbe } from "./finish.ts";
 * const finished = await finishProbe(result, path, options);
 * console.log(finished.lostOutbound, finished.ledger);
 * ```
 */
export async function finishProbe(
  result: UdpProbeResult,
  path: ProbePath | undefined,
  options: FinishProbeOptions,
): Promise<UdpProbeResult> {
  const seen: (UdpEchoResult | undefined)[] = [];
  for (const echo of options.echoes) {
    seen.push(await echo.snapshot().catch(() => undefined) as UdpEchoResult | undefined);
  }
  const finished = withEchoCounts(result, seen);
  if (!path) return finished;
  const [before, sourceNow, targetNow, outboundDrops, returnDrops] = await Promise.all([
    path.before,
    options.kernelDrops(path.source.host),
    options.kernelDrops(path.target.host),
    options.dropsFor(result.flowId, path.target.ifname),
    options.dropsFor(result.flowId, path.source.ifname),
  ]);
  finished.ledger = buildLedger({
    result: finished,
    outboundDrops,
    returnDrops,
    outboundKernel: difference(targetNow, before.target),
    returnKernel: difference(sourceNow, before.source),
    shared: options.shared(path),
    closedSocket: discardedOf(result.flowId, seen) +
      await queuedAtKillOf(result.flowId, options.programs ?? []),
  });
  return finished;
}

/** Datagrams of flow `flowId` queued in programs' SO_REUSEPORT sockets when they were killed. */
async function queuedAtKillOf(
  flowId: number,
  programs: readonly WorkloadHandle[],
): Promise<number> {
  let n = 0;
  for (const program of programs) {
    const result = await program.snapshot().catch(() => undefined) as ExecResult | undefined;
    for (const queued of result?.queuedAtKill ?? []) {
      n += queued.flows.find((f) => f.flowId === flowId)?.datagrams ?? 0;
    }
  }
  return n;
}

/** Datagrams of flow `flowId` the echoes lost queued in a stopped group member's socket. */
function discardedOf(flowId: number, echoes: readonly (UdpEchoResult | undefined)[]): number {
  let n = 0;
  for (const seen of echoes) n += seen?.flows.find((f) => f.flowId === flowId)?.discarded ?? 0;
  return n;
}

/**
 * Whether another running probe crosses either host of `path`: it then shares the
 * kernel counters the probe's ledger reads.
 *
 * @example
 * ```ts ignore
 * import { sharesHosts } from "./finish.ts";
 * const shared = sharesHosts(workloads.values(), record.path!);
 * ```
 */
export function sharesHosts(workloads: Iterable<WorkloadRecord>, path: ProbePath): boolean {
  return [...workloads].some((w) =>
    w.path && w.path !== path && w.report.status === "running" &&
    [w.path.source.host, w.path.target.host].some((h) =>
      h === path.source.host || h === path.target.host
    )
  );
}

/**
 * A probe's result with what the echoes saw of its flow: how many datagrams reached
 * them, so the loss splits into the way there and the way back, and the runs of
 * consecutive datagrams lost on the way there. The result itself when no echo saw the
 * flow (a copy otherwise).
 *
 * @example
 * ```ts ignore
 * import { withEchoCounts } from "./finish.ts";
 * const split = withEchoCounts(probeResult, [echoSnapshot]);
 * console.log(split.lostOutbound, split.lostReturn);
 * ```
 */
export function withEchoCounts(
  result: UdpProbeResult,
  echoes: readonly (UdpEchoResult | undefined)[],
): UdpProbeResult {
  let received: number | null = null;
  let duplicated = 0;
  let runs = null as UdpProbeResult["outboundLossRuns"];
  for (const seen of echoes) {
    const flow = seen?.flows.find((f) => f.flowId === result.flowId);
    if (!flow) continue;
    received = (received ?? 0) + flow.received;
    duplicated += flow.duplicated;
    // Datagrams lost after the last one the echo saw end in no gap: the last run.
    const trailing = result.sent - 1 - flow.highestSeq;
    runs = {
      runs: (runs?.runs ?? 0) + flow.lossRuns + (trailing > 0 ? 1 : 0),
      packets: (runs?.packets ?? 0) + flow.lossRunPackets + Math.max(0, trailing),
    };
  }
  if (received === null) return result;
  const lostOutbound = result.sent - received;
  // The echo answers every copy it gets: the probe's duplicates are the echo's (made on
  // the way out) plus those made on the way back.
  const oneWay = result.oneWay && {
    ...result.oneWay,
    forward: { ...result.oneWay.forward, duplicated },
    return: { ...result.oneWay.return, duplicated: Math.max(0, result.duplicated - duplicated) },
  };
  return {
    ...result,
    echoReceived: received,
    lostOutbound,
    lostReturn: result.lost - lostOutbound,
    outboundLossRuns: runs,
    oneWay,
  };
}

/**
 * Options of {@linkcode probePath}.
 *
 * @example
 * ```ts ignore
 * import type { ProbePathOptions } from "./finish.ts";
 * const options: ProbePathOptions = { host: "client", workload, kernelDrops: readDrops };
 * ```
 */
export interface ProbePathOptions {
  /** The probe's host. */
  host: string;
  /** The probe, as its agent runs it. */
  workload: AgentWorkload;
  /** UDP drop counters of a host's namespace now. */
  kernelDrops: (host: string) => Promise<KernelDrops>;
}

/**
 * Where a probe's datagrams cross: undefined on loopback or off the links. Starts
 * reading both namespaces' kernel counters, which the probe is measured against.
 *
 * @example
 * ```ts ignore
 * import { kernelDrops, probePath } from "./finish.ts";
 * const path = probePath(plan, {
 *   host: "client",
 *   workload,
 *   kernelDrops: (host) => kernelDrops(pids.get(host)!),
 * });
 * await path?.before;
 * ```
 */
export function probePath(plan: Plan, options: ProbePathOptions): ProbePath | undefined {
  const { host, workload, kernelDrops: drops } = options;
  if (workload.kind !== "udpProbe" || plan.network !== "namespaces") return undefined;
  const source = plan.hosts.find((h) => h.name === host)!;
  const hop = source.interfaces.find((i) => i.peerAddress === workload.targetAddress);
  if (!hop) return undefined;
  const target = plan.hosts.find((h) => h.name === hop.peerHost)!;
  const targetIf = target.interfaces.find((i) => i.link === hop.link)!;
  const before = Promise.all([drops(host), drops(target.name)])
    .then(([s, t]) => ({ source: s, target: t }));
  before.catch(() => {});
  return {
    source: { host, ifname: hop.name },
    target: { host: target.name, ifname: targetIf.name },
    before,
  };
}

/**
 * UDP drop counters of the namespace of process `pid`: /proc/<pid>/net/snmp is that
 * namespace's /proc/net/snmp (no process needs to be started in it).
 *
 * @example
 * ```ts ignore
 * import { kernelDrops } from "./finish.ts";
 * console.log((await kernelDrops(agentPid)).receiveBufferOverflow);
 * ```
 */
export async function kernelDrops(pid: number): Promise<KernelDrops> {
  return udpDrops(await Deno.readTextFile(`/proc/${pid}/net/snmp`));
}

/**
 * The UDP drop counters in the text of /proc/net/snmp; 0 for those missing.
 *
 * @example
 * ```ts
 * import { udpDrops } from "./finish.ts";
 * const snmp = "Udp: InDatagrams NoPorts RcvbufErrors\nUdp: 10 2 3\n";
 * console.assert(udpDrops(snmp).noSocket === 2 && udpDrops(snmp).receiveBufferOverflow === 3);
 * ```
 */
export function udpDrops(snmp: string): KernelDrops {
  const [names, values] = snmp.split("\n").filter((l) => l.startsWith("Udp:"));
  const fields = new Map<string, number>();
  const keys = names?.split(/\s+/).slice(1) ?? [];
  const numbers = values?.split(/\s+/).slice(1) ?? [];
  keys.forEach((k, i) => fields.set(k, Number(numbers[i])));
  return {
    receiveBufferOverflow: fields.get("RcvbufErrors") ?? 0,
    noSocket: fields.get("NoPorts") ?? 0,
  };
}

/**
 * How much each kernel counter grew from `before` to `now`.
 *
 * @example
 * ```ts
 * import { difference } from "./finish.ts";
 * const grown = difference({ receiveBufferOverflow: 5, noSocket: 2 }, {
 *   receiveBufferOverflow: 1,
 *   noSocket: 2,
 * });
 * console.assert(grown.receiveBufferOverflow === 4 && grown.noSocket === 0);
 * ```
 */
export function difference(now: KernelDrops, before: KernelDrops): KernelDrops {
  return {
    receiveBufferOverflow: now.receiveBufferOverflow - before.receiveBufferOverflow,
    noSocket: now.noSocket - before.noSocket,
  };
}
