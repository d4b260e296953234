/**
 * The loss ledger: given what a probe saw, what the droppers dropped of its flow and
 * what the kernel counted in each namespace, it attributes every lost datagram to a
 * cause, per direction, and says how many are left unexplained. Pure arithmetic.
 *
 * @module
 */

import type { LedgerEntry, LossLedger, UdpProbeResult } from "./results.ts";

/** Datagrams of one flow one fault dropped. */
export interface FaultDrops {
  /** The fault's id. */
  fault: number;
  /** Its one-line description. */
  description: string;
  /** Datagrams of the flow it dropped. */
  packets: number;
  /**
   * For a delay line's drops, why: a rate limit's tail drop, or held when the line
   * stopped. Absent for the XDP dropper's.
   */
  cause?: "tailDrop" | "heldAtStop";
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
  const dropped = drops.reduce((n, d) => n + d.packets, 0);
  const e: LedgerEntry = {
    lost,
    droppedByFault: drops.filter((d) => d.packets > 0),
    receiveBufferOverflow: kernel.receiveBufferOverflow,
    noSocket: kernel.noSocket,
    unexplained: lost - dropped - kernel.receiveBufferOverflow - kernel.noSocket - closedSocket,
  };
  if (closedSocket > 0) e.closedSocket = closedSocket;
  return e;
}

function merge(a: FaultDrops[], b: FaultDrops[]): FaultDrops[] {
  const byFault = new Map<string, FaultDrops>();
  for (const d of [...a, ...b]) {
    const key = `${d.fault}:${d.cause ?? ""}`;
    const seen = byFault.get(key);
    if (seen) seen.packets += d.packets;
    else byFault.set(key, { ...d });
  }
  return [...byFault.values()];
}
