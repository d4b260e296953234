/**
 * What a run tells its caller as it goes: {@linkcode RunEvent}s, and the progress of
 * running probes, storms and churns ({@linkcode FlowProgress}).
 *
 * @module
 */

import type { Plan } from "../scenario/topology.ts";
import type { Timeline, WorkloadResult } from "../measure/results.ts";
import type { HostReport, WorkloadReport } from "./report.ts";

/**
 * Something that happened during a run, for progress output.
 *
 * @example
 * ```ts
 * import type { RunEvent } from "./events.ts";
 * function describe(event: RunEvent): string | undefined {
 *   switch (event.type) {
 *     case "setup":
 *       return `${event.scenario}: run ${event.runId}, ${event.plan.hosts.length} hosts`;
 *     case "fault-applied":
 *       return `fault #${event.id} ${event.description}`;
 *     case "log":
 *       return event.message;
 *     default:
 *       return undefined;
 *   }
 * }
 * console.assert(describe({ type: "log", message: "hello" }) === "hello");
 * ```
 */
export type RunEvent =
  | { type: "setup"; scenario: string; runId: string; plan: Plan; backend: string }
  | { type: "ready"; scenario: string; hosts: HostReport[]; setupMs: number }
  | { type: "workload-started"; name: string; host: string; description: string }
  | { type: "workload-ended"; name: string; host: string; status: WorkloadReport["status"] }
  | { type: "log"; message: string }
  | { type: "fault-applied"; id: number; description: string }
  | { type: "fault-removed"; id: number; description: string; dropped: number }
  | { type: "progress"; scenario: string; elapsedMs: number; flows: FlowProgress[] }
  | { type: "teardown"; scenario: string };

/**
 * How a running probe, storm or churn is doing, for progress output. The figures mean,
 * by kind: UDP probe, datagrams sent / answered in time / loss / round-trip p99; TCP
 * probe, requests / responses / failed fraction / request-response p99; reconnect
 * storm, connect attempts / successes / failed fraction / connect time p99; bind churn,
 * bind attempts / successes / failed fraction / time-to-rebind p99.
 *
 * @example
 * ```ts
 * import type { FlowProgress } from "./events.ts";
 * const flow: FlowProgress = {
 *   name: "probe",
 *   host: "client",
 *   kind: "udpProbe",
 *   sent: 1000,
 *   delivered: 990,
 *   loss: 0.01,
 *   p99Ns: 2_500_000,
 * };
 * console.assert(`${flow.name}: p99 ${flow.p99Ns / 1e6}ms` === "probe: p99 2.5ms");
 * ```
 */
export interface FlowProgress {
  /** Workload name. */
  name: string;
  /** Host it runs on. */
  host: string;
  /** The kind of workload. */
  kind: "udpProbe" | "tcpProbe" | "reconnectStorm" | "bindChurn";
  /** Datagrams sent, requests, connect attempts or bind attempts so far. */
  sent: number;
  /** Of those, the ones that succeeded (a datagram answered in time, a response...). */
  delivered: number;
  /**
   * Loss (UDP: among the datagrams whose replies are due, see {@linkcode settledLoss};
   * those still in flight do not count) or the failed fraction so far, 0-1.
   */
  loss: number;
  /** 99th percentile so far, in nanoseconds (round trip, connect time or time to rebind). */
  p99Ns: number;
}

/**
 * The figures progress output shows of a workload's result so far, by kind (see
 * {@linkcode FlowProgress}); undefined for kinds it does not report on. `timeoutMs` is a
 * UDP probe's reply timeout.
 *
 * @example
 * ```ts
 * import { progressOf } from "./events.ts";
 * import type { WorkloadResult } from "../measure/results.ts";
 * function show(snapshot: WorkloadResult): string | undefined {
 *   const figures = progressOf(snapshot, 1000);
 *   return figures && `${figures.kind}: ${figures.sent} sent`;
 * }
 * ```
 */
export function progressOf(
  r: WorkloadResult,
  timeoutMs: number,
): Omit<FlowProgress, "name" | "host"> | undefined {
  const failed = (failures: number, of: number) => of > 0 ? failures / of : 0;
  switch (r.kind) {
    case "udpProbe":
      return {
        kind: r.kind,
        sent: r.sent,
        delivered: r.delivered,
        loss: settledLoss(r.timeline, r.durationMs - timeoutMs),
        p99Ns: r.rttSummary.p99,
      };
    case "tcpProbe":
      return {
        kind: r.kind,
        sent: r.requests,
        delivered: r.responses,
        loss: failed(r.failed, r.requests),
        p99Ns: r.rttSummary.p99,
      };
    case "reconnectStorm":
      return {
        kind: r.kind,
        sent: r.attempts,
        delivered: r.successes,
        loss: failed(r.failures, r.attempts),
        p99Ns: r.connectSummary.p99,
      };
    case "bindChurn":
      return {
        kind: r.kind,
        sent: r.attempts,
        delivered: r.attempts - r.failures,
        loss: failed(r.failures, r.attempts),
        p99Ns: r.rebindSummary.p99,
      };
    default:
      return undefined;
  }
}

/**
 * Loss among the datagrams sent before `beforeMs` (since the probe started), whose
 * replies are due: the timeline counts each reply in the interval its datagram was sent
 * in, so datagrams still in flight do not count as lost. 0 before any is due.
 *
 * @example
 * ```ts
 * import { settledLoss } from "./events.ts";
 * const timeline = { intervalMs: 100, sent: [50, 50, 50], delivered: [50, 45, 0], late: [0, 0, 0] };
 * // 250 ms in, with a 1 s timeout nothing is due yet; 1.2 s in, the first two intervals are.
 * console.assert(settledLoss(timeline, 250 - 1000) === 0);
 * console.assert(settledLoss(timeline, 1200 - 1000) === 0.05);
 * ```
 */
export function settledLoss(timeline: Timeline, beforeMs: number): number {
  let sent = 0;
  let lost = 0;
  for (let i = 0; (i + 1) * timeline.intervalMs <= beforeMs && i < timeline.sent.length; i++) {
    const s = timeline.sent[i]!;
    sent += s;
    lost += s - (timeline.delivered[i] ?? 0) - (timeline.late[i] ?? 0);
  }
  return sent > 0 ? lost / sent : 0;
}

/**
 * The workloads progress output reports on (those {@linkcode progressOf} reads).
 *
 * @example
 * ```ts
 * import { PROGRESS_KINDS } from "./events.ts";
 * console.assert(PROGRESS_KINDS.has("udpProbe") && !PROGRESS_KINDS.has("udpEcho"));
 * ```
 */
export const PROGRESS_KINDS: ReadonlySet<string> = new Set<FlowProgress["kind"]>([
  "udpProbe",
  "tcpProbe",
  "reconnectStorm",
  "bindChurn",
]);
