/**
 * The loss ledger: given what a probe saw, what the droppers dropped of its flow and
 * what the kernel counted in each namespace, it attributes every lost datagram to a
 * cause, per direction, and says how many are left unexplained. Pure arithmetic.
 *
 * @module
 */

import type { LedgerEntry, LineDropCause, LossLedger, UdpProbeResult } from "./results.ts";

/** Datagrams of one flow one fault dropped. */
export interface FaultDrops {
  /** The fault's id. */
  fault: number;
  /** Its one-line description. */
  description: string;
  /** Datagrams of the flow it dropped (with `notSplit`: of every flow on the queue). */
  packets: number;
  /**
   * For a delay line's drops, why: a rate limit's tail drop, held when the line stopped,
   * or dropped by the kernel for the line's queue (full, or overrun: the line did not read
   * fast enough). Absent for the XDP dropper's.
   */
  cause?: LineDropCause;
  /**
   * For the kernel's drops for a line's queue, which it counts per queue: set when more
   * than this flow crossed the queue. `packets` are then the queue's drops, of every
   * flow; the ledger does not split them.
   */
  notSplit?: { flows: number; otherPackets: number };
}

/** What the kernel of the receiving namespace counted while the flow ran. */
export interface KernelDrops {
  /** UdpRcvbufErrors. */
  receiveBufferOverflow: number;
  /** UdpNoPorts. */
  noSocket: number;
}

/** Everything the ledger of one probe flow is built from. */
export interface LedgerInput {
  /** The probe's result, with `echoReceived` filled in when the echo is squall's. */
  result: UdpProbeResult;
  /** Drops by the dropper on the target's end of the link (client → echo). */
  outboundDrops: FaultDrops[];
  /** Drops by the dropper on the probe's end of the link (echo → client). */
  returnDrops: FaultDrops[];
  /** Kernel counts in the target's namespace. */
  outboundKernel: KernelDrops;
  /** Kernel counts in the probe's namespace. */
  returnKernel: KernelDrops;
  /** Whether another probe shared the namespaces meanwhile. */
  shared: boolean;
  /**
   * Datagrams of the flow queued in a stopped member of the echo's SO_REUSEPORT group
   * (lost on the way out, at the echo).
   * @default {0}
   */
  closedSocket?: number;
}

/**
 * Builds the ledger.
 *
 * @example
 * ```ts
 * import { buildLedger } from "./loss_ledger.ts";
 * import type { UdpProbeResult } from "./results.ts";
 * const result = { sent: 100, delivered: 90, late: 0, lost: 10, echoReceived: 92 } as UdpProbeResult;
 * const ledger = buildLedger({
 *   result,
 *   outboundDrops: [{ fault: 1, description: "loss 10%", packets: 8 }],
 *   returnDrops: [{ fault: 1, description: "loss 10%", packets: 2 }],
 *   outboundKernel: { receiveBufferOverflow: 0, noSocket: 0 },
 *   returnKernel: { receiveBufferOverflow: 0, noSocket: 0 },
 *   shared: false,
 * });
 * console.assert(ledger.total.unexplained === 0);
 * ```
 */
export function buildLedger(input: LedgerInput): LossLedger {
  const { result } = input;
  const split = result.echoReceived !== null;
  const closed = input.closedSocket ?? 0;
  const outbound = split
    ? entry(result.sent - result.echoReceived!, input.outboundDrops, input.outboundKernel, closed)
    : null;
  const back = split
    ? entry(result.echoReceived! - result.delivered - result.late, input.returnDrops, {
      receiveBufferOverflow: input.returnKernel.receiveBufferOverflow,
      noSocket: 0,
    })
    : null;
  const total = entry(result.lost, merge(input.outboundDrops, input.returnDrops), {
    receiveBufferOverflow: input.outboundKernel.receiveBufferOverflow +
      input.returnKernel.receiveBufferOverflow,
    noSocket: input.outboundKernel.noSocket,
  }, closed);
  return {
    outbound,
    return: back,
    total,
    late: result.late,
    kernelCountersShared: input.shared,
  };
}

function entry(
  lost: number,
  drops: FaultDrops[],
  kernel: KernelDrops,
  closedSocket = 0,
): LedgerEntry {
  const own = drops.filter((d) => !d.notSplit && d.packets > 0);
  const shared = drops.filter((d) => d.notSplit && d.packets > 0);
  const dropped = own.reduce((n, d) => n + d.packets, 0);
  const left = lost - dropped - kernel.receiveBufferOverflow - kernel.noSocket - closedSocket;
  // What is left may be the queues' drops, up to as many as they dropped of all flows.
  const queued = Math.max(0, Math.min(left, shared.reduce((n, d) => n + d.packets, 0)));
  const e: LedgerEntry = {
    lost,
    droppedByFault: own.map(({ notSplit: _, ...d }) => d),
    receiveBufferOverflow: kernel.receiveBufferOverflow,
    noSocket: kernel.noSocket,
    unexplained: left - queued,
  };
  if (closedSocket > 0) e.closedSocket = closedSocket;
  if (shared.length > 0) {
    e.queueDropsNotSplit = {
      packets: queued,
      queues: shared.map((d) => ({
        fault: d.fault,
        description: d.description,
        cause: d.cause as "queueFull" | "overrun",
        dropped: d.packets,
        flows: d.notSplit!.flows,
        otherPackets: d.notSplit!.otherPackets,
      })),
    };
  }
  return e;
}

function merge(a: FaultDrops[], b: FaultDrops[]): FaultDrops[] {
  const byFault = new Map<string, FaultDrops>();
  for (const d of [...a, ...b]) {
    // A queue's drops shared with other flows stay apart from the flow's own.
    const key = `${d.fault}:${d.cause ?? ""}:${d.notSplit ? "shared" : ""}`;
    const seen = byFault.get(key);
    if (seen) {
      seen.packets += d.packets;
      if (seen.notSplit && d.notSplit) {
        seen.notSplit = {
          flows: Math.max(seen.notSplit.flows, d.notSplit.flows),
          otherPackets: seen.notSplit.otherPackets + d.notSplit.otherPackets,
        };
      }
    } else byFault.set(key, { ...d });
  }
  return [...byFault.values()];
}
