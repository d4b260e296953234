// harness/kernel/xdp_layout.ts must agree with bpf/xdp_drop.h: the header is parsed as text
// (its #defines, and its structs with their __u32/__u64 fields and arrays of structs
// declared before them) and compared exactly.

import assert from "node:assert/strict";
import * as layout from "./xdp_layout.ts";
import { BLACKHOLE_EVERYTHING } from "../../tests/fixtures/rules.ts";
import {
  chance,
  decodeCounter,
  decodeCounters,
  decodeDropTimes,
  decodeEntryFlows,
  decodeFlowKey,
  decodeFlowValue,
  encodeFlowKey,
  encodeRule,
  SQ_CHANCE_ALWAYS,
  SQ_MODE_GILBERT,
  SQ_PROTO_UDP,
} from "./xdp_layout.ts";
import {
  assertDefinesMirrored,
  assertStructsMirrored,
  parseHeader,
} from "../../tests/_c_header.ts";

const HEADER = new URL("../../bpf/xdp_drop.h", import.meta.url);

const header = parseHeader(await Deno.readTextFile(HEADER));
const exported = layout as unknown as Record<string, unknown>;

Deno.test("the header parser reads what the header promises", () => {
  assert.ok(header.defines.size >= 15, `only ${header.defines.size} defines parsed`);
  assert.deepEqual([...header.structs.keys()].sort(), [
    "sq_chain",
    "sq_config",
    "sq_counter",
    "sq_counters",
    "sq_flow_count",
    "sq_flow_key",
    "sq_flow_value",
    "sq_rule",
  ]);
  for (const [name, struct] of header.structs) {
    assert.equal(struct.size % 8, 0, `struct ${name} is a multiple of 8 bytes`);
  }
});

const names = { header: "bpf/xdp_drop.h", module: "xdp_layout.ts" };

Deno.test("every #define of the header is exported with the same value, and no other SQ_ number", () => {
  assertDefinesMirrored(header, exported, names);
});

Deno.test("every struct of the header has a layout with the same size and offsets", () => {
  assertStructsMirrored(header, exported, names);
});

Deno.test("encodeRule() writes host-order fields little-endian and addresses in network order", () => {
  const bytes = encodeRule({
    mode: SQ_MODE_GILBERT,
    protocol: SQ_PROTO_UDP,
    srcAddr: "198.18.0.1",
    srcMask: "255.255.255.0",
    dportMin: 7000,
    dportMax: 7001,
    lossGood: 0x01020304,
    lossBad: SQ_CHANCE_ALWAYS,
    pEnterBad: 0x80000000,
    pLeaveBad: 0,
  });
  // deno-fmt-ignore
  assert.deepEqual([...bytes], [
    2, 0, 0, 0, //          mode
    17, 0, 0, 0, //         protocol
    198, 18, 0, 1, //       src_addr
    255, 255, 255, 0, //    src_mask
    0x58, 0x1b, 0, 0, //    dport_min 7000
    0x59, 0x1b, 0, 0, //    dport_max 7001
    4, 3, 2, 1, //          loss_good
    255, 255, 255, 255, //  loss_bad
    0, 0, 0, 0x80, //       p_enter_bad
    0, 0, 0, 0, //          p_leave_bad
    0, 0, 0, 0, 0, 0, 0, 0, //                  active_from_ns: 0 (always, by default)
    255, 255, 255, 255, 255, 255, 255, 255, //  active_until_ns: forever
  ]);
});

Deno.test("encodeRule() writes a time window as two little-endian u64s", () => {
  const bytes = encodeRule({
    ...BLACKHOLE_EVERYTHING,
    mode: SQ_MODE_GILBERT,
    protocol: SQ_PROTO_UDP,
    activeFromNs: 0x0102030405060708n,
    activeUntilNs: 0x1112131415161718n,
  });
  const view = new DataView(bytes.buffer);
  assert.equal(view.getBigUint64(layout.SQ_RULE.fields.active_from_ns, true), 0x0102030405060708n);
  assert.equal(view.getBigUint64(layout.SQ_RULE.fields.active_until_ns, true), 0x1112131415161718n);
  assert.equal(bytes[layout.SQ_RULE.fields.active_from_ns], 0x08, "little-endian");
});

Deno.test("encodeRule() rejects bad fields before encoding anything", () => {
  const rule = { ...BLACKHOLE_EVERYTHING, mode: 1 };
  assert.equal(encodeRule(rule).length, 56);
  assert.throws(() => encodeRule({ ...rule, activeFromNs: -1n }), RangeError);
  assert.throws(() => encodeRule({ ...rule, activeUntilNs: 2n ** 64n }), RangeError);
  assert.throws(() => encodeRule({ ...rule, activeFromNs: 5 as unknown as bigint }), TypeError);
  assert.throws(() => encodeRule({ ...rule, mode: 4 }), RangeError);
  assert.throws(() => encodeRule({ ...rule, srcAddr: "198.18.0.256" }), TypeError);
  assert.throws(() => encodeRule({ ...rule, srcMask: "255.255.255" }), TypeError);
  assert.throws(() => encodeRule({ ...rule, dportMin: 8, dportMax: 7 }), RangeError);
  assert.throws(() => encodeRule({ ...rule, dportMax: 65536 }), RangeError);
  assert.throws(() => encodeRule({ ...rule, lossGood: 0.5 }), RangeError);
  assert.throws(() => encodeRule({ ...rule, lossBad: 2 ** 32 }), RangeError);
});

Deno.test("chance() maps probabilities to u32 fixed point, rounding to nearest", () => {
  assert.equal(chance(0), 0);
  assert.equal(chance(1), SQ_CHANCE_ALWAYS);
  assert.equal(chance(0.5), 0x80000000);
  assert.equal(chance(0.25), 0x40000000);
  assert.equal(chance(0.1), 429496730); // 429496729.6
  assert.equal(chance(0.01), 42949673); // 42949672.96
  assert.equal(chance(1 / 2 ** 33), 1); // half a step rounds up
  assert.equal(chance(1 - 2 ** -33), SQ_CHANCE_ALWAYS); // never wraps past 0xffffffff
  assert.throws(() => chance(-0.01), RangeError);
  assert.throws(() => chance(1.01), RangeError);
  assert.throws(() => chance(Number.NaN), RangeError);
  assert.throws(() => chance("0.5" as unknown as number), TypeError);
});

Deno.test("decodeCounter() and decodeFlowValue() sum the per-CPU values", () => {
  const counters = new Uint8Array(3 * 16);
  const view = new DataView(counters.buffer);
  view.setBigUint64(0, 5n, true);
  view.setBigUint64(8, 500n, true);
  view.setBigUint64(32, 2n, true);
  view.setBigUint64(40, 2n ** 40n, true);
  assert.deepEqual(decodeCounter(counters), { packets: 7, bytes: 500 + 2 ** 40 });
  assert.deepEqual(decodeCounter(counters.subarray(16, 32)), { packets: 0, bytes: 0 });
  assert.throws(() => decodeCounter(new Uint8Array(24)), RangeError);
  assert.equal(
    decodeFlowValue(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])),
    3,
  );
  assert.throws(() => decodeFlowValue(new Uint8Array(0)), RangeError);
});

Deno.test("decodeCounters() sums each of an entry's two counters over the CPUs", () => {
  const entry = new Uint8Array(2 * 112);
  const view = new DataView(entry.buffer);
  view.setBigUint64(0, 0xffffffffffffffffn, true); // CPU 0 random state: skipped
  view.setBigUint64(16, 5n, true); // CPU 0 counter 0
  view.setBigUint64(24, 500n, true);
  view.setBigUint64(32 + 112, 2n, true); // CPU 1 counter 1
  view.setBigUint64(40 + 112, 2n ** 40n, true);
  view.setBigUint64(80, 123n, true); // CPU 0 first drop time: skipped
  view.setBigUint64(56, 9n, true); // CPU 0 flow slot 0: skipped
  assert.deepEqual(decodeCounters(entry), [
    { packets: 5, bytes: 500 },
    { packets: 2, bytes: 2 ** 40 },
  ]);
  assert.throws(() => decodeCounters(new Uint8Array(48)), RangeError);
});

Deno.test("decodeEntryFlows() sums each flow's slots over the CPUs and skips free slots", () => {
  const entry = new Uint8Array(2 * 112);
  const view = new DataView(entry.buffer);
  const slot = (cpu: number, i: number, flowId: number, packets: bigint) => {
    view.setUint32(cpu * 112 + 48 + i * 16, flowId, true);
    view.setBigUint64(cpu * 112 + 48 + i * 16 + 8, packets, true);
  };
  slot(0, 0, 0xdeadbeef, 3n);
  slot(0, 1, 7, 1n);
  slot(1, 0, 7, 4n); // the same flow in another slot on another CPU
  slot(1, 1, 8, 0n); // free: packets 0, whatever the flow id says
  assert.deepEqual(decodeEntryFlows(entry), [
    { flowId: 0xdeadbeef, packets: 3 },
    { flowId: 7, packets: 5 },
  ]);
  assert.throws(() => decodeEntryFlows(new Uint8Array(48)), RangeError);
});

Deno.test("decodeDropTimes() takes the earliest first and latest last drop, latest before and earliest after", () => {
  const entry = new Uint8Array(3 * 112);
  const view = new DataView(entry.buffer);
  view.setBigUint64(80, 2_000n, true); // CPU 0: first
  view.setBigUint64(88, 9_000n, true); // CPU 0: last
  view.setBigUint64(96, 1_000n, true); // CPU 0: the last packet before the window
  view.setBigUint64(112 + 80, 1_500n, true); // CPU 1: the earliest first
  view.setBigUint64(112 + 88, 8_000n, true);
  view.setBigUint64(112 + 96, 1_200n, true); // CPU 1: the latest before
  view.setBigUint64(112 + 104, 9_500n, true); // CPU 1: the first after the window
  view.setBigUint64(224 + 88, 99_000n, true); // CPU 2: no first drop, so no drop: skipped
  view.setBigUint64(224 + 104, 9_900n, true); // CPU 2: a later first after
  assert.deepEqual(decodeDropTimes(entry), {
    firstNs: 1_500n,
    lastNs: 9_000n,
    beforeNs: 1_200n,
    afterNs: 9_500n,
  });
  assert.deepEqual(decodeDropTimes(new Uint8Array(112)), {
    firstNs: null,
    lastNs: null,
    beforeNs: null,
    afterNs: null,
  });
  assert.throws(() => decodeDropTimes(new Uint8Array(96)), RangeError);
});

Deno.test("decodeFlowKey() reads what encodeFlowKey() writes", () => {
  const bytes = encodeFlowKey({ flowId: 0xdeadbeef, rule: 15 });
  assert.deepEqual([...bytes], [0xef, 0xbe, 0xad, 0xde, 15, 0, 0, 0]);
  assert.deepEqual(decodeFlowKey(bytes), { flowId: 0xdeadbeef, rule: 15 });
  assert.throws(() => decodeFlowKey(new Uint8Array(4)), RangeError);
  assert.throws(() => encodeFlowKey({ flowId: 1, rule: 16 }), RangeError);
});
