// The shared memory between a delay line's worker and its owner: a control word (run,
// stop, drain), a config under a sequence lock (the worker reads it whenever it wakes,
// at least every 20 ms), and counters the worker keeps current, so the owner can read
// them at any time, even after the worker died.

import { type LineConfig, NO_DELAY, type QueueLimitKind } from "./delay_schedule.ts";

/** Int32 slots of the control block. */
export const CONTROL_STOP = 0;
/** Config sequence number: odd while the owner writes. */
export const CONTROL_CONFIG_SEQ = 1;
/** The worker's state: see STATE_*. */
export const CONTROL_STATE = 2;
const CONTROL_SLOTS = 4;

/** Values of CONTROL_STOP. */
export const RUN = 0;
/** Drop what is held (counted as droppedAtStop) and stop. */
export const STOP_DROP = 1;
/** Stop taking packets, release what is held at its due time, then stop. */
export const STOP_DRAIN = 2;

/** Values of CONTROL_STATE. */
export const STATE_STARTING = 0;
/** Bound to its queue and running. */
export const STATE_RUNNING = 1;
/** Stopped; the counters are final. */
export const STATE_STOPPED = 2;

const CONFIG_SLOTS = 8;
const QUEUE_KINDS: QueueLimitKind[] = ["none", "bytes", "packets", "time"];

/** The counters of a delay line. */
export interface LineCounters {
  /** Packets the line was given by the kernel. */
  received: number;
  /** Packets it let go on (accept verdicts). */
  released: number;
  /** Packets the rate limit's queue had no room for (drop verdicts). */
  tailDropped: number;
  /** Packets held when the line was stopped without draining (dropped). */
  droppedAtStop: number;
  /** Packets held right now. */
  held: number;
  /** Packets released after a packet that arrived later (reordered by jitter). */
  reordered: number;
  /** Packets the kernel queued but could not tell the line about (socket overrun; dropped). */
  overrun: number;
  /** Sum of how late releases were, nanoseconds (the line's own timing error). */
  latenessSumNs: number;
  /** The latest release, nanoseconds past its due time. */
  latenessMaxNs: number;
  /** Receive errors other than "nothing queued" (ENOBUFS after an overrun, and the like). */
  socketErrors: number;
  /** Drops of probe datagrams whose flow did not fit the line's flow table. */
  unattributed: number;
  /**
   * Packets received that are of no probe flow in the flow table (other traffic, or probe
   * flows past FLOW_SLOTS): while there are none, the kernel's drops for the queue are
   * those of the flows in the table.
   */
  otherPackets: number;
  /** How long before a due time the line stops sleeping, nanoseconds (learned). */
  guardNs: number;
  /** Most packets held at once. */
  maxHeld: number;
}

const COUNTER_NAMES: (keyof LineCounters)[] = [
  "received",
  "released",
  "tailDropped",
  "droppedAtStop",
  "held",
  "reordered",
  "overrun",
  "latenessSumNs",
  "latenessMaxNs",
  "socketErrors",
  "unattributed",
  "otherPackets",
  "guardNs",
  "maxHeld",
];

/** Float64 slot of each counter. */
export const COUNTER: { readonly [K in keyof LineCounters]: number } = Object.fromEntries(
  COUNTER_NAMES.map((name, i) => [name, i]),
) as { [K in keyof LineCounters]: number };

/** The shared block of one line. */
export interface LineShared {
  control: Int32Array<SharedArrayBuffer>;
  config: Float64Array<SharedArrayBuffer>;
  counters: Float64Array<SharedArrayBuffer>;
  /**
   * Per probe flow: FLOW_SLOTS of FLOW_FIELDS numbers, [flow id or -1, tail drops, drops
   * at stop, packets received].
   */
  flows: Float64Array<SharedArrayBuffer>;
}

/** Probe flows whose packets a line counts one by one (others go to `unattributed`). */
export const FLOW_SLOTS = 64;
/** Numbers per slot of the flow table. */
export const FLOW_FIELDS = 4;
/** Where a slot keeps the packets of its flow the line received. */
export const FLOW_RECEIVED = 3;

/** What a line did with one probe flow. */
export interface FlowDrops {
  flowId: number;
  tailDropped: number;
  droppedAtStop: number;
  /** Packets of the flow the line was given. */
  received: number;
}

/**
 * The slot of probe flow `flowId` in the flow table (taking a free one for a new flow),
 * or -1 when the table is full. A flow keeps its slot.
 */
export function flowSlot(flows: Float64Array<SharedArrayBuffer>, flowId: number): number {
  for (let slot = 0; slot < FLOW_SLOTS; slot++) {
    const at = slot * FLOW_FIELDS;
    if (flows[at] === -1) flows[at] = flowId;
    if (flows[at] === flowId) return slot;
  }
  return -1;
}

/**
 * Counts a drop of probe flow `flowId` (`atStop`: held when the line stopped, else a
 * tail drop); returns false when the table is full and the drop went unattributed.
 */
export function countFlowDrop(
  flows: Float64Array<SharedArrayBuffer>,
  flowId: number,
  atStop: boolean,
): boolean {
  const slot = flowSlot(flows, flowId);
  if (slot < 0) return false;
  flows[slot * FLOW_FIELDS + (atStop ? 2 : 1)]! += 1;
  return true;
}

/** What the line counted of each probe flow, in the order it first saw them. */
export function readFlowDrops(shared: LineShared): FlowDrops[] {
  const out: FlowDrops[] = [];
  for (let slot = 0; slot < FLOW_SLOTS; slot++) {
    const at = slot * FLOW_FIELDS;
    if (shared.flows[at] === -1) break;
    out.push({
      flowId: shared.flows[at]!,
      tailDropped: shared.flows[at + 1]!,
      droppedAtStop: shared.flows[at + 2]!,
      received: shared.flows[at + FLOW_RECEIVED]!,
    });
  }
  return out;
}

/** A new shared block holding `config`, effective from the start. */
export function createShared(config: LineConfig = NO_DELAY): LineShared {
  const shared = {
    control: new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4)),
    config: new Float64Array(new SharedArrayBuffer(CONFIG_SLOTS * 8)),
    counters: new Float64Array(new SharedArrayBuffer(COUNTER_NAMES.length * 8)),
    flows: new Float64Array(new SharedArrayBuffer(FLOW_SLOTS * FLOW_FIELDS * 8)),
  };
  for (let slot = 0; slot < FLOW_SLOTS; slot++) shared.flows[slot * FLOW_FIELDS] = -1;
  writeConfig(shared, config, 0);
  return shared;
}

/**
 * Publishes `config` for packets the kernel receives at or after `effectiveAtMs`
 * (milliseconds since the epoch; 0 for every packet the worker has not yet scheduled).
 */
export function writeConfig(shared: LineShared, config: LineConfig, effectiveAtMs: number): void {
  Atomics.add(shared.control, CONTROL_CONFIG_SEQ, 1);
  const c = shared.config;
  c[0] = config.delayNs;
  c[1] = config.jitterNs;
  c[2] = config.distribution === "normal" ? 1 : 0;
  c[3] = config.keepOrder ? 1 : 0;
  c[4] = config.rateBitsPerSecond;
  c[5] = QUEUE_KINDS.indexOf(config.queueKind);
  c[6] = config.queueLimit;
  c[7] = effectiveAtMs;
  Atomics.add(shared.control, CONTROL_CONFIG_SEQ, 1);
}

/** A config as the worker read it, with the time it applies from. */
export interface PublishedConfig {
  config: LineConfig;
  effectiveAtMs: number;
  seq: number;
}

/** Reads the published config (retrying while the owner writes it). */
export function readConfig(shared: LineShared): PublishedConfig {
  for (;;) {
    const before = Atomics.load(shared.control, CONTROL_CONFIG_SEQ);
    if (before & 1) continue;
    const c = shared.config;
    const config: LineConfig = {
      delayNs: c[0]!,
      jitterNs: c[1]!,
      distribution: c[2] === 1 ? "normal" : "uniform",
      keepOrder: c[3] === 1,
      rateBitsPerSecond: c[4]!,
      queueKind: QUEUE_KINDS[c[5]!] ?? "none",
      queueLimit: c[6]!,
    };
    const effectiveAtMs = c[7]!;
    if (Atomics.load(shared.control, CONTROL_CONFIG_SEQ) === before) {
      return { config, effectiveAtMs, seq: before };
    }
  }
}

/** The counters as the worker last wrote them. */
export function readCounters(shared: LineShared): LineCounters {
  return Object.fromEntries(
    COUNTER_NAMES.map((name, i) => [name, shared.counters[i]!]),
  ) as unknown as LineCounters;
}
