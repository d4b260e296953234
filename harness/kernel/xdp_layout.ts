// The TypeScript mirror of bpf/xdp_drop.h: its constants under the same names, the byte
// layout of its structs (C field names, so the two can be read side by side), and
// encoders and decoders for the map keys and values user space reads and writes.
// harness/kernel/xdp_layout_test.ts parses the header and checks that this file agrees with it.
//
// Host-order fields are little-endian (squall runs on x86_64); IPv4 addresses and masks
// are stored in network byte order, exactly as they appear in the packet.

/** Rule slots in the `rules` and `chain` maps. */
export const SQ_MAX_RULES = 16;
/** Entries of the `flow_drops` map. */
export const SQ_MAX_FLOWS = 4096;

/** Rule mode: the slot is unused and never matches. */
export const SQ_MODE_OFF = 0;
/** Rule mode: drop each matching packet with chance `loss_good`. */
export const SQ_MODE_BERNOULLI = 1;
/** Rule mode: Gilbert-Elliott, a good and a bad state, each with its own loss chance. */
export const SQ_MODE_GILBERT = 2;
/** Rule mode: drop every matching packet. */
export const SQ_MODE_BLACKHOLE = 3;

/** Protocol of a rule that matches any IPv4 packet. */
export const SQ_PROTO_ANY = 0;
/** Protocol of a rule that matches TCP (the IPv4 protocol number). */
export const SQ_PROTO_TCP = 6;
/** Protocol of a rule that matches UDP (the IPv4 protocol number). */
export const SQ_PROTO_UDP = 17;

/** Verdict index of passed packets in the counters. */
export const SQ_VERDICT_PASS = 0;
/** Verdict index of dropped packets in the counters. */
export const SQ_VERDICT_DROP = 1;
/** Verdicts per rule in the counters. */
export const SQ_VERDICTS = 2;

/** Counter slot of IPv4 packets that no rule matched (they pass). */
export const SQ_SLOT_NO_MATCH = SQ_MAX_RULES * SQ_VERDICTS;
/** Counter slot of packets not parsed as IPv4 (they pass). */
export const SQ_SLOT_NOT_IPV4 = SQ_MAX_RULES * SQ_VERDICTS + 1;
/** Counter slots: a pass and a drop slot per rule, then the two above. */
export const SQ_COUNTER_SLOTS = SQ_MAX_RULES * SQ_VERDICTS + 2;
/**
 * Entries of the `counters` map: one per rule (its pass and drop slots), then one for the
 * no-match and not-IPv4 slots. Slot `s` is in entry `s / SQ_VERDICTS`.
 */
export const SQ_COUNTER_ENTRIES = SQ_MAX_RULES + 1;
/**
 * Probe flows whose drops a rule counts in its `counters` entry, per CPU; the drops of any
 * further flow go to the `flow_drops` map.
 */
export const SQ_ENTRY_FLOWS = 2;

/** The fixed-point chance that always happens (0 never does); see {@linkcode chance}. */
export const SQ_CHANCE_ALWAYS = 0xffffffff;

/** "SQP1", the magic number at the start of a probe payload, big-endian on the wire. */
export const SQ_PROBE_MAGIC = 0x53515031;

/** The byte layout of a C struct: its size and the offset of each field. */
export interface StructLayout<F extends string> {
  /** Bytes of the struct, padding included. */
  size: number;
  /** Byte offset of each field. */
  fields: Readonly<Record<F, number>>;
}

/** Layout of `struct sq_rule`, the value of the `rules` map. */
export const SQ_RULE: StructLayout<
  | "mode"
  | "protocol"
  | "src_addr"
  | "src_mask"
  | "dport_min"
  | "dport_max"
  | "loss_good"
  | "loss_bad"
  | "p_enter_bad"
  | "p_leave_bad"
  | "active_from_ns"
  | "active_until_ns"
> = {
  size: 56,
  fields: {
    mode: 0,
    protocol: 4,
    src_addr: 8,
    src_mask: 12,
    dport_min: 16,
    dport_max: 20,
    loss_good: 24,
    loss_bad: 28,
    p_enter_bad: 32,
    p_leave_bad: 36,
    active_from_ns: 40,
    active_until_ns: 48,
  },
};

/** Layout of `struct sq_chain`, the value of the `chain` map. */
export const SQ_CHAIN: StructLayout<"bad" | "_pad"> = { size: 8, fields: { bad: 0, _pad: 4 } };

/** Layout of `struct sq_counter`: packets and bytes (`counter` holds two of them). */
export const SQ_COUNTER: StructLayout<"packets" | "bytes"> = {
  size: 16,
  fields: { packets: 0, bytes: 8 },
};

/** Layout of `struct sq_flow_count`: the drops of one probe flow in a `counters` entry. */
export const SQ_FLOW_COUNT: StructLayout<"flow_id" | "_pad" | "packets"> = {
  size: 16,
  fields: { flow_id: 0, _pad: 4, packets: 8 },
};

/**
 * Layout of `struct sq_counters`, one CPU's share of a `counters` entry: the random state
 * of the entry's rule on that CPU, `counter`, a `struct sq_counter` per verdict, and
 * `flow`, {@linkcode SQ_ENTRY_FLOWS} `struct sq_flow_count`.
 */
export const SQ_COUNTERS: StructLayout<
  | "random_state"
  | "random_next"
  | "counter"
  | "flow"
  | "first_drop_ns"
  | "last_drop_ns"
  | "before_ns"
  | "after_ns"
> = {
  size: 112,
  fields: {
    random_state: 0,
    random_next: 8,
    counter: 16,
    flow: 48,
    first_drop_ns: 80,
    last_drop_ns: 88,
    before_ns: 96,
    after_ns: 104,
  },
};

/** Layout of `struct sq_flow_key`, the key of the `flow_drops` map. */
export const SQ_FLOW_KEY: StructLayout<"flow_id" | "rule"> = {
  size: 8,
  fields: { flow_id: 0, rule: 4 },
};

/** Layout of `struct sq_flow_value`, one CPU's share of a `flow_drops` value. */
export const SQ_FLOW_VALUE: StructLayout<"packets"> = { size: 8, fields: { packets: 0 } };

/** Layout of `struct sq_config`, the one value of the `config` map. */
export const SQ_CONFIG: StructLayout<"rule_slots" | "_pad"> = {
  size: 8,
  fields: { rule_slots: 0, _pad: 4 },
};

/**
 * `active_until_ns` of a rule that applies until it is removed (all ones). With
 * `active_from_ns` 0 the rule applies at all times and the program reads no clock.
 */
export const SQ_TIME_FOREVER = 0xffff_ffff_ffff_ffffn;

/** A rule as {@linkcode encodeRule} takes it: numbers as the C program uses them. */
export interface Rule {
  /** One of the `SQ_MODE_*` constants. */
  mode: number;
  /** `SQ_PROTO_ANY` or an IPv4 protocol number. */
  protocol: number;
  /** Source address, dotted (`"198.18.0.1"`); only the bits under `srcMask` count. */
  srcAddr: string;
  /** Source mask, dotted (`"255.255.255.0"`); `"0.0.0.0"` matches any source. */
  srcMask: string;
  /** Lowest destination port matched. */
  dportMin: number;
  /** Highest destination port matched; 0-65535 also matches packets without ports. */
  dportMax: number;
  /** Loss chance (Bernoulli) or loss chance in the good state (Gilbert), see {@linkcode chance}. */
  lossGood: number;
  /** Loss chance in the bad state (Gilbert). */
  lossBad: number;
  /** Chance per packet of moving from the good to the bad state (Gilbert). */
  pEnterBad: number;
  /** Chance per packet of moving from the bad to the good state (Gilbert). */
  pLeaveBad: number;
  /**
   * Kernel time (`bpf_ktime_get_ns()`, CLOCK_MONOTONIC, ns) from which the rule applies.
   * @default {0n}
   */
  activeFromNs?: bigint;
  /**
   * Kernel time until which the rule applies (exclusive); 0 never applies.
   * @default {SQ_TIME_FOREVER}
   */
  activeUntilNs?: bigint;
}

/**
 * When a rule dropped, in kernel time (ns), over every CPU; and, for a rule with a
 * window, the packets it saw on either side of the window.
 */
export interface DropTimes {
  /** Kernel time of the first drop (the earliest over the CPUs); null: none. */
  firstNs: bigint | null;
  /** Kernel time of the last drop (the latest over the CPUs); null: none. */
  lastNs: bigint | null;
  /** The last packet the rule matched before its window opened (the latest); null: none. */
  beforeNs: bigint | null;
  /** The first packet it matched after its window closed (the earliest); null: none. */
  afterNs: bigint | null;
}

/** Packets and bytes, summed over every CPU. */
export interface Counter {
  /** Packets counted. */
  packets: number;
  /** Bytes counted (Ethernet frames, without the FCS). */
  bytes: number;
}

/** A key of the `flow_drops` map. */
export interface FlowKey {
  /** Flow id from the probe header. */
  flowId: number;
  /** Index of the rule that dropped the packets. */
  rule: number;
}

const MODES = [SQ_MODE_OFF, SQ_MODE_BERNOULLI, SQ_MODE_GILBERT, SQ_MODE_BLACKHOLE];
const TWO_TO_32 = 2 ** 32;

/**
 * Converts a probability (0 to 1) into the C program's fixed-point chance: an event
 * happens when a random u32 is below it, so it is `probability * 2^32` rounded to the
 * nearest integer, and 1 becomes {@linkcode SQ_CHANCE_ALWAYS}.
 *
 * @throws {TypeError} when the probability is not a number.
 * @throws {RangeError} when it is not between 0 and 1.
 * @example
 * ```ts
 * import { chance, SQ_CHANCE_ALWAYS } from "./xdp_layout.ts";
 * console.assert(chance(0.5) === 0x80000000);
 * console.assert(chance(1) === SQ_CHANCE_ALWAYS);
 * ```
 */
export function chance(probability: number): number {
  if (typeof probability !== "number") {
    throw new TypeError(`Cannot convert ${typeof probability} to a chance: expected a number`);
  }
  if (!(probability >= 0 && probability <= 1)) {
    throw new RangeError(
      `Cannot convert ${probability} to a chance: expected a probability from 0 to 1`,
    );
  }
  return Math.min(Math.round(probability * TWO_TO_32), SQ_CHANCE_ALWAYS);
}

/**
 * Encodes a rule as the value of the `rules` map (`struct sq_rule`).
 *
 * @throws {TypeError} when a field has the wrong type or an address is not dotted IPv4.
 * @throws {RangeError} when a number is out of range.
 * @example
 * ```ts
 * import { chance, encodeRule, SQ_MODE_BERNOULLI, SQ_PROTO_UDP, SQ_RULE } from "./xdp_layout.ts";
 * const bytes = encodeRule({
 *   mode: SQ_MODE_BERNOULLI,
 *   protocol: SQ_PROTO_UDP,
 *   srcAddr: "0.0.0.0",
 *   srcMask: "0.0.0.0",
 *   dportMin: 7000,
 *   dportMax: 7000,
 *   lossGood: chance(0.1),
 *   lossBad: 0,
 *   pEnterBad: 0,
 *   pLeaveBad: 0,
 * });
 * console.assert(bytes.length === SQ_RULE.size);
 * ```
 */
export function encodeRule(rule: Rule): Uint8Array<ArrayBuffer> {
  if (typeof rule !== "object" || rule === null) {
    throw new TypeError(`Cannot encode rule: expected an object, got ${rule}`);
  }
  const mode = checkInteger(rule.mode, "mode", 0, SQ_CHANCE_ALWAYS);
  if (!MODES.includes(mode)) {
    throw new RangeError(
      `Cannot encode rule: mode ${mode} is not one of ${MODES.join(", ")} (SQ_MODE_*)`,
    );
  }
  const protocol = checkInteger(rule.protocol, "protocol", 0, 255);
  const srcAddr = parseIpv4(rule.srcAddr, "srcAddr");
  const srcMask = parseIpv4(rule.srcMask, "srcMask");
  const dportMin = checkInteger(rule.dportMin, "dportMin", 0, 65535);
  const dportMax = checkInteger(rule.dportMax, "dportMax", 0, 65535);
  if (dportMin > dportMax) {
    throw new RangeError(
      `Cannot encode rule: dportMin ${dportMin} is above dportMax ${dportMax}`,
    );
  }
  const activeFromNs = checkTime(rule.activeFromNs ?? 0n, "activeFromNs");
  const activeUntilNs = checkTime(rule.activeUntilNs ?? SQ_TIME_FOREVER, "activeUntilNs");
  const chances = {
    loss_good: checkInteger(rule.lossGood, "lossGood", 0, SQ_CHANCE_ALWAYS),
    loss_bad: checkInteger(rule.lossBad, "lossBad", 0, SQ_CHANCE_ALWAYS),
    p_enter_bad: checkInteger(rule.pEnterBad, "pEnterBad", 0, SQ_CHANCE_ALWAYS),
    p_leave_bad: checkInteger(rule.pLeaveBad, "pLeaveBad", 0, SQ_CHANCE_ALWAYS),
  };

  const bytes = new Uint8Array(SQ_RULE.size);
  const view = new DataView(bytes.buffer);
  const at = SQ_RULE.fields;
  view.setUint32(at.mode, mode, true);
  view.setUint32(at.protocol, protocol, true);
  bytes.set(srcAddr, at.src_addr);
  bytes.set(srcMask, at.src_mask);
  view.setUint32(at.dport_min, dportMin, true);
  view.setUint32(at.dport_max, dportMax, true);
  for (const [field, value] of Object.entries(chances)) {
    view.setUint32(at[field as keyof typeof chances], value, true);
  }
  view.setBigUint64(at.active_from_ns, activeFromNs, true);
  view.setBigUint64(at.active_until_ns, activeUntilNs, true);
  return bytes;
}

/**
 * Decodes the time stamps of a value of xdp_drop's `counters` map (one `struct
 * sq_counters` per CPU): the earliest first drop and the latest last drop over the CPUs,
 * the latest packet before the rule's window and the earliest after it.
 *
 * @throws {RangeError} when the length is not a whole number of entries.
 * @example
 * ```ts
 * import { decodeDropTimes, SQ_COUNTERS } from "./xdp_layout.ts";
 * const twoCpus = new Uint8Array(2 * SQ_COUNTERS.size);
 * const view = new DataView(twoCpus.buffer);
 * view.setBigUint64(SQ_COUNTERS.fields.first_drop_ns, 50n, true);
 * view.setBigUint64(SQ_COUNTERS.fields.last_drop_ns, 90n, true);
 * view.setBigUint64(SQ_COUNTERS.size + SQ_COUNTERS.fields.first_drop_ns, 40n, true);
 * view.setBigUint64(SQ_COUNTERS.size + SQ_COUNTERS.fields.last_drop_ns, 70n, true);
 * const times = decodeDropTimes(twoCpus);
 * console.assert(times.firstNs === 40n && times.lastNs === 90n && times.beforeNs === null);
 * ```
 */
export function decodeDropTimes(bytes: Uint8Array): DropTimes {
  checkLength(bytes, SQ_COUNTERS.size, "counters entry");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let firstNs: bigint | null = null;
  let lastNs: bigint | null = null;
  let beforeNs: bigint | null = null;
  let afterNs: bigint | null = null;
  const at = SQ_COUNTERS.fields;
  for (let cpu = 0; cpu < bytes.byteLength; cpu += SQ_COUNTERS.size) {
    const before = view.getBigUint64(cpu + at.before_ns, true);
    if (before !== 0n && (beforeNs === null || before > beforeNs)) beforeNs = before;
    const after = view.getBigUint64(cpu + at.after_ns, true);
    if (after !== 0n && (afterNs === null || after < afterNs)) afterNs = after;
    const first = view.getBigUint64(cpu + at.first_drop_ns, true);
    if (first === 0n) continue; // no drop on this CPU
    const last = view.getBigUint64(cpu + at.last_drop_ns, true);
    if (firstNs === null || first < firstNs) firstNs = first;
    if (lastNs === null || last > lastNs) lastNs = last;
  }
  return { firstNs, lastNs, beforeNs, afterNs };
}

function checkTime(value: unknown, name: string): bigint {
  if (typeof value !== "bigint") {
    throw new TypeError(`Cannot encode rule: ${name} must be a bigint, got ${typeof value}`);
  }
  if (value < 0n || value > SQ_TIME_FOREVER) {
    throw new RangeError(`Cannot encode rule: ${name} must be a u64, got ${value}`);
  }
  return value;
}

/**
 * Decodes a value of xdp_count's `counters` map, or any run of per-CPU `struct
 * sq_counter`: one per CPU (as a per-CPU lookup returns them), summed.
 *
 * @throws {RangeError} when the length is not a whole number of counters.
 * @example
 * ```ts
 * import { decodeCounter } from "./xdp_layout.ts";
 * const twoCpus = new Uint8Array(32);
 * twoCpus[0] = 3; // CPU 0: 3 packets
 * twoCpus[16] = 1; // CPU 1: 1 packet
 * console.assert(decodeCounter(twoCpus).packets === 4);
 * ```
 */
export function decodeCounter(bytes: Uint8Array): Counter {
  checkLength(bytes, SQ_COUNTER.size, "counter");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let packets = 0n;
  let octets = 0n;
  for (let cpu = 0; cpu < bytes.byteLength; cpu += SQ_COUNTER.size) {
    packets += view.getBigUint64(cpu + SQ_COUNTER.fields.packets, true);
    octets += view.getBigUint64(cpu + SQ_COUNTER.fields.bytes, true);
  }
  return { packets: Number(packets), bytes: Number(octets) };
}

/**
 * Decodes a value of xdp_drop's `counters` map: one `struct sq_counters` per CPU (as a
 * per-CPU lookup returns them) into its two counter slots, each summed over the CPUs
 * (entry `e` holds slots `2e` and `2e + 1`). The random state is skipped.
 *
 * @throws {RangeError} when the length is not a whole number of entries.
 * @example
 * ```ts
 * import { decodeCounters, SQ_COUNTERS } from "./xdp_layout.ts";
 * const twoCpus = new Uint8Array(2 * SQ_COUNTERS.size);
 * twoCpus[SQ_COUNTERS.fields.counter] = 3; // CPU 0: 3 packets passed
 * twoCpus[SQ_COUNTERS.size + SQ_COUNTERS.fields.counter + 16] = 1; // CPU 1: 1 dropped
 * const [passed, dropped] = decodeCounters(twoCpus);
 * console.assert(passed.packets === 3 && dropped.packets === 1);
 * ```
 */
export function decodeCounters(bytes: Uint8Array): [Counter, Counter] {
  checkLength(bytes, SQ_COUNTERS.size, "counters entry");
  const slot = (which: number) => {
    const perCpu = new Uint8Array(bytes.byteLength / SQ_COUNTERS.size * SQ_COUNTER.size);
    for (let cpu = 0; cpu * SQ_COUNTERS.size < bytes.byteLength; cpu++) {
      const from = cpu * SQ_COUNTERS.size + SQ_COUNTERS.fields.counter + which * SQ_COUNTER.size;
      perCpu.set(bytes.subarray(from, from + SQ_COUNTER.size), cpu * SQ_COUNTER.size);
    }
    return decodeCounter(perCpu);
  };
  return [slot(0), slot(1)];
}

/**
 * Decodes the probe flows of a value of xdp_drop's `counters` map (one `struct
 * sq_counters` per CPU): the drops of each flow that has a slot on some CPU, summed over
 * the CPUs, in the order first seen. Drops of the same flow in the `flow_drops` map are
 * not included.
 *
 * @throws {RangeError} when the length is not a whole number of entries.
 * @example
 * ```ts
 * import { decodeEntryFlows, SQ_COUNTERS, SQ_FLOW_COUNT } from "./xdp_layout.ts";
 * const oneCpu = new Uint8Array(SQ_COUNTERS.size);
 * const view = new DataView(oneCpu.buffer);
 * view.setUint32(SQ_COUNTERS.fields.flow + SQ_FLOW_COUNT.fields.flow_id, 7, true);
 * view.setBigUint64(SQ_COUNTERS.fields.flow + SQ_FLOW_COUNT.fields.packets, 2n, true);
 * console.assert(decodeEntryFlows(oneCpu)[0]?.packets === 2);
 * ```
 */
export function decodeEntryFlows(bytes: Uint8Array): { flowId: number; packets: number }[] {
  checkLength(bytes, SQ_COUNTERS.size, "counters entry");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flows = new Map<number, bigint>();
  for (let cpu = 0; cpu < bytes.byteLength; cpu += SQ_COUNTERS.size) {
    for (let i = 0; i < SQ_ENTRY_FLOWS; i++) {
      const at = cpu + SQ_COUNTERS.fields.flow + i * SQ_FLOW_COUNT.size;
      const packets = view.getBigUint64(at + SQ_FLOW_COUNT.fields.packets, true);
      if (packets === 0n) continue; // a free slot
      const flowId = view.getUint32(at + SQ_FLOW_COUNT.fields.flow_id, true);
      flows.set(flowId, (flows.get(flowId) ?? 0n) + packets);
    }
  }
  return [...flows].map(([flowId, packets]) => ({ flowId, packets: Number(packets) }));
}

/**
 * Decodes a value of the `flow_drops` map: one `struct sq_flow_value` per CPU, summed.
 *
 * @throws {RangeError} when the length is not a whole number of values.
 * @example
 * ```ts
 * import { decodeFlowValue } from "./xdp_layout.ts";
 * console.assert(decodeFlowValue(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0])) === 2);
 * ```
 */
export function decodeFlowValue(bytes: Uint8Array): number {
  checkLength(bytes, SQ_FLOW_VALUE.size, "flow value");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let packets = 0n;
  for (let cpu = 0; cpu < bytes.byteLength; cpu += SQ_FLOW_VALUE.size) {
    packets += view.getBigUint64(cpu + SQ_FLOW_VALUE.fields.packets, true);
  }
  return Number(packets);
}

/**
 * Decodes a key of the `flow_drops` map (`struct sq_flow_key`).
 *
 * @throws {RangeError} when the key does not have the size of `struct sq_flow_key`.
 * @example
 * ```ts
 * import { decodeFlowKey } from "./xdp_layout.ts";
 * const key = decodeFlowKey(new Uint8Array([7, 0, 0, 0, 1, 0, 0, 0]));
 * console.assert(key.flowId === 7 && key.rule === 1);
 * ```
 */
export function decodeFlowKey(bytes: Uint8Array): FlowKey {
  if (bytes.byteLength !== SQ_FLOW_KEY.size) {
    throw new RangeError(
      `Cannot decode flow key: expected ${SQ_FLOW_KEY.size} bytes, got ${bytes.byteLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    flowId: view.getUint32(SQ_FLOW_KEY.fields.flow_id, true),
    rule: view.getUint32(SQ_FLOW_KEY.fields.rule, true),
  };
}

/**
 * Encodes a key of the `flow_drops` map (`struct sq_flow_key`).
 *
 * @throws {RangeError} when a field is not a u32.
 * @example
 * ```ts
 * import { decodeFlowKey, encodeFlowKey } from "./xdp_layout.ts";
 * console.assert(decodeFlowKey(encodeFlowKey({ flowId: 9, rule: 2 })).flowId === 9);
 * ```
 */
export function encodeFlowKey(key: FlowKey): Uint8Array<ArrayBuffer> {
  const flowId = checkInteger(key.flowId, "flowId", 0, 0xffffffff, "flow key");
  const rule = checkInteger(key.rule, "rule", 0, SQ_MAX_RULES - 1, "flow key");
  const bytes = new Uint8Array(SQ_FLOW_KEY.size);
  const view = new DataView(bytes.buffer);
  view.setUint32(SQ_FLOW_KEY.fields.flow_id, flowId, true);
  view.setUint32(SQ_FLOW_KEY.fields.rule, rule, true);
  return bytes;
}

function checkInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
  what = "rule",
): number {
  if (typeof value !== "number") {
    throw new TypeError(`Cannot encode ${what}: ${name} must be a number, got ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot encode ${what}: ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/** The four bytes of a dotted IPv4 address, in network byte order. */
function parseIpv4(value: unknown, name: string): Uint8Array {
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot encode rule: ${name} must be a dotted IPv4 address, got ${typeof value}`,
    );
  }
  const parts = value.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) {
    throw new TypeError(
      `Cannot encode rule: ${name} must be a dotted IPv4 address, got "${value}"`,
    );
  }
  return new Uint8Array(parts.map(Number));
}

function checkLength(bytes: Uint8Array, unit: number, what: string): void {
  if (bytes.byteLength === 0 || bytes.byteLength % unit !== 0) {
    throw new RangeError(
      `Cannot decode ${what}: expected a multiple of ${unit} bytes (one per CPU), got ${bytes.byteLength}`,
    );
  }
}
