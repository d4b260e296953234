/**
 * A SO_REUSEPORT group echo's result from its members' results: the group's totals, each
 * member's share, and how evenly the kernel spread the traffic. Pure arithmetic.
 *
 * @module
 */

import type { EchoFlow, GroupSpread, UdpEchoResult, UdpGroupMember } from "./results.ts";
import type { TcpEchoResult, TcpGroupMember } from "./tcp_results.ts";

/**
 * How evenly `counts` (one per member) are spread.
 *
 * @example
 * ```ts
 * import { spreadOf } from "./echo_group.ts";
 * const spread = spreadOf([3, 1, 0, 4]);
 * console.assert(spread.idle === 1 && spread.maxShare === 0.5 && spread.maxOverEven === 2);
 * ```
 */
export function spreadOf(counts: readonly number[]): GroupSpread {
  const members = counts.length;
  const units = counts.reduce((a, b) => a + b, 0);
  const shares = counts.map((c) => units > 0 ? c / units : 0);
  const maxShare = members > 0 ? Math.max(...shares) : 0;
  return {
    members,
    units,
    idle: counts.filter((c) => c === 0).length,
    minShare: members > 0 ? Math.min(...shares) : 0,
    maxShare,
    maxOverEven: maxShare * members,
  };
}

/**
 * The result of a UDP echo group from its members' results (in member order) and which
 * of them were stopped early. A flow seen by several members (re-hashed when one
 * closed) is summed; its gaps are then those of the merged sequence numbers.
 *
 * @example
 * ```ts
 * import { mergeUdpGroup } from "./echo_group.ts";
 * const member = (received: number) => ({
 *   kind: "udpEcho" as const, address: "0.0.0.0:7000", received, replied: received,
 *   sendErrors: {}, flows: [],
 * });
 * const group = mergeUdpGroup([member(30), member(10)], [false, true]);
 * console.assert(group.received === 40 && group.group!.members[1]!.state === "stopped");
 * ```
 */
export function mergeUdpGroup(
  results: readonly UdpEchoResult[],
  stopped: readonly boolean[],
): UdpEchoResult {
  const received = results.reduce((n, r) => n + r.received, 0);
  const sendErrors: Record<string, number> = {};
  for (const r of results) {
    for (const [name, n] of Object.entries(r.sendErrors)) {
      sendErrors[name] = (sendErrors[name] ?? 0) + n;
    }
  }
  const flowCounts = results.map((r) => r.flows.length);
  const flowUnits = flowCounts.reduce((a, b) => a + b, 0);
  const members: UdpGroupMember[] = results.map((r, i) => ({
    member: i,
    state: stopped[i] ? "stopped" : "open",
    received: r.received,
    replied: r.replied,
    flows: r.flows.length,
    flowShare: flowUnits > 0 ? r.flows.length / flowUnits : 0,
    datagramShare: received > 0 ? r.received / received : 0,
    discarded: r.flows.reduce((n, f) => n + (f.discarded ?? 0), 0),
  }));
  return {
    kind: "udpEcho",
    address: results[0]?.address ?? "",
    received,
    replied: results.reduce((n, r) => n + r.replied, 0),
    sendErrors,
    flows: mergeFlows(results.flatMap((r) => r.flows)),
    group: { members, spread: spreadOf(flowCounts) },
  };
}

function mergeFlows(flows: readonly EchoFlow[]): EchoFlow[] {
  const byId = new Map<number, EchoFlow[]>();
  for (const f of flows) {
    const seen = byId.get(f.flowId);
    if (seen) seen.push(f);
    else byId.set(f.flowId, [f]);
  }
  return [...byId.values()].map((parts) => {
    if (parts.length === 1) return { ...parts[0]! };
    const received = parts.reduce((n, f) => n + f.received, 0);
    const highestSeq = Math.max(...parts.map((f) => f.highestSeq));
    const missing = Math.max(0, highestSeq + 1 - received);
    const discarded = parts.reduce((n, f) => n + (f.discarded ?? 0), 0);
    const merged: EchoFlow = {
      flowId: parts[0]!.flowId,
      from: parts[0]!.from,
      received,
      duplicated: parts.reduce((n, f) => n + f.duplicated, 0),
      // Each member saw the other's datagrams as gaps: only what none received is lost.
      lossRuns: Math.min(missing, parts.reduce((n, f) => n + f.lossRuns, 0)),
      lossRunPackets: missing,
      highestSeq,
    };
    if (discarded > 0) merged.discarded = discarded;
    return merged;
  });
}

/**
 * The result of a TCP echo group from its members' results (in member order) and which
 * of them were stopped early.
 *
 * @example
 * ```ts
 * import { mergeTcpGroup } from "./echo_group.ts";
 * const member = (connections: number) => ({
 *   kind: "tcpEcho" as const, address: "0.0.0.0:7100", connections, maxConcurrent: 1,
 *   bytes: connections * 64, errors: {},
 * });
 * const group = mergeTcpGroup([member(3), member(1)], [false, false]);
 * console.assert(group.connections === 4 && group.group!.members[0]!.share === 0.75);
 * ```
 */
export function mergeTcpGroup(
  results: readonly TcpEchoResult[],
  stopped: readonly boolean[],
): TcpEchoResult {
  const connections = results.reduce((n, r) => n + r.connections, 0);
  const errors: Record<string, number> = {};
  for (const r of results) {
    for (const [name, n] of Object.entries(r.errors)) errors[name] = (errors[name] ?? 0) + n;
  }
  const members: TcpGroupMember[] = results.map((r, i) => ({
    member: i,
    state: stopped[i] ? "stopped" : "open",
    connections: r.connections,
    bytes: r.bytes,
    share: connections > 0 ? r.connections / connections : 0,
  }));
  return {
    kind: "tcpEcho",
    address: results[0]?.address ?? "",
    connections,
    // Members' peaks need not coincide: their sum is an upper bound.
    maxConcurrent: results.reduce((n, r) => n + r.maxConcurrent, 0),
    bytes: results.reduce((n, r) => n + r.bytes, 0),
    errors,
    group: { members, spread: spreadOf(results.map((r) => r.connections)) },
  };
}
