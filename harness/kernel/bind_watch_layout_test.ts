// harness/kernel/bind_watch_layout.ts must agree with bpf/bind_watch.h: the header is parsed as
// text (its #defines, and its structs with their __u8/__u32/__u64 fields and arrays) and
// compared exactly. Then the decoder, and the ring reading on rings made up here.

import assert from "node:assert/strict";
import * as layout from "./bind_watch_layout.ts";
import {
  BW_AF_INET,
  BW_AF_INET6,
  BW_EVENT,
  BW_KIND_SUCCESS,
  BW_RING_SIZE,
  BW_SOCK_DGRAM,
  decodeEvent,
  drainRing,
} from "./bind_watch_layout.ts";
import {
  assertDefinesMirrored,
  assertStructsMirrored,
  parseHeader,
} from "../../tests/_c_header.ts";

const HEADER = new URL("../../bpf/bind_watch.h", import.meta.url);

const header = parseHeader(await Deno.readTextFile(HEADER));
const exported = layout as unknown as Record<string, unknown>;

Deno.test("the bind watch header parser reads what the header promises", () => {
  assert.ok(header.defines.size >= 10, `only ${header.defines.size} defines parsed`);
  assert.deepEqual([...header.structs.keys()].sort(), ["bw_event", "bw_head"]);
  for (const [name, struct] of header.structs) {
    assert.equal(struct.size % 8, 0, `struct ${name} is a multiple of 8 bytes`);
  }
  const ring = header.defines.get("BW_RING_SIZE")!;
  assert.equal(ring & (ring - 1), 0, "BW_RING_SIZE is a power of two");
});

const names = { header: "bpf/bind_watch.h", module: "bind_watch_layout.ts" };

Deno.test("every #define of bind_watch.h is exported with the same value, and no other BW_ number", () => {
  assertDefinesMirrored(header, exported, names);
});

Deno.test("every struct of bind_watch.h has a layout with the same size and offsets", () => {
  assertStructsMirrored(header, exported, names);
});

/** An encoded event; `seq` is its ring index + 1. */
function event(seq: number, fill: Partial<Record<keyof typeof BW_EVENT.fields, number>> = {}) {
  const bytes = new Uint8Array(BW_EVENT.size);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(BW_EVENT.fields.seq, BigInt(seq), true);
  for (const [field, value] of Object.entries(fill)) {
    view.setUint32(BW_EVENT.fields[field as keyof typeof BW_EVENT.fields], value, true);
  }
  return bytes;
}

Deno.test("decodeEvent() reads every field, IPv4 as 4 address bytes and IPv6 as 16", () => {
  const bytes = event(7, {
    kind: BW_KIND_SUCCESS,
    pid: 4242,
    tid: 4243,
    netns: 4026532317,
    family: BW_AF_INET,
    port: 7000,
    err: 98,
    sock_type: BW_SOCK_DGRAM,
  });
  const view = new DataView(bytes.buffer);
  view.setBigUint64(BW_EVENT.fields.ktime_ns, 123_456_789_012n, true);
  bytes.set([198, 18, 0, 2], BW_EVENT.fields.addr);
  bytes.set(new TextEncoder().encode("python3"), BW_EVENT.fields.comm);
  view.setBigUint64(BW_EVENT.fields.cgroup_id, 0x1_0000_0001n, true);
  view.setBigUint64(BW_EVENT.fields.cgroup_ancestors, 7n, true); // level 1
  view.setBigUint64(BW_EVENT.fields.cgroup_ancestors + 8, 0x1_0000_0001n, true); // level 2
  const decoded = decodeEvent(bytes);
  assert.deepEqual({ ...decoded, address: [...decoded.address] }, {
    seq: 7,
    ktimeNs: 123_456_789_012n,
    kind: BW_KIND_SUCCESS,
    pid: 4242,
    tid: 4243,
    netns: 4026532317,
    family: BW_AF_INET,
    port: 7000,
    address: [198, 18, 0, 2],
    errno: 98,
    sockType: BW_SOCK_DGRAM,
    comm: "python3",
    cgroupId: 0x1_0000_0001n,
    cgroupAncestors: [7n, 0x1_0000_0001n, 0n, 0n, 0n, 0n, 0n, 0n],
  });
  view.setUint32(BW_EVENT.fields.family, BW_AF_INET6, true);
  assert.equal(decodeEvent(bytes).address.byteLength, 16);
  bytes.fill(0x61, BW_EVENT.fields.comm); // 16 characters, no NUL
  assert.equal(decodeEvent(bytes).comm, "a".repeat(16));
  assert.throws(() => decodeEvent(bytes.subarray(1)), RangeError);
});

/** A ring in memory: `claimed` and the slots, as the program would leave them. */
class FakeRing {
  claimed = 0;
  slots = Array.from({ length: BW_RING_SIZE }, () => new Uint8Array(BW_EVENT.size));
  /** Called after each slot is copied: a program writing meanwhile. */
  onCopy: (slot: number) => void = () => {};

  /** Claims and writes `n` events (`complete: false` leaves the last one unwritten). */
  write(n: number, complete = true): void {
    for (let i = 0; i < n; i++) {
      const index = this.claimed++;
      if (complete || i < n - 1) this.slots[index % BW_RING_SIZE] = event(index + 1);
    }
  }

  source() {
    return {
      claimed: () => this.claimed,
      slot: (slot: number) => {
        const copy = this.slots[slot]!.slice();
        this.onCopy(slot);
        return copy;
      },
    };
  }
}

function seqs(events: Uint8Array[]): number[] {
  return events.map((e) => decodeEvent(e).seq);
}

Deno.test("drainRing() returns each complete event once, oldest first", () => {
  const ring = new FakeRing();
  assert.deepEqual(drainRing(0, ring.source()), {
    events: [],
    next: 0,
    lost: 0,
    incomplete: undefined,
  });
  ring.write(3);
  const first = drainRing(0, ring.source());
  assert.deepEqual(seqs(first.events), [1, 2, 3]);
  assert.equal(first.next, 3);
  ring.write(2);
  const second = drainRing(first.next, ring.source());
  assert.deepEqual(seqs(second.events), [4, 5]);
  assert.equal(second.lost, 0);
});

Deno.test("drainRing() counts what a full lap overwrote as lost and keeps the last BW_RING_SIZE", () => {
  const ring = new FakeRing();
  ring.write(BW_RING_SIZE + 905);
  const drain = drainRing(0, ring.source());
  assert.equal(drain.lost, 905);
  assert.equal(drain.events.length, BW_RING_SIZE);
  assert.equal(decodeEvent(drain.events[0]!).seq, 906);
  assert.equal(drain.next, BW_RING_SIZE + 905);
});

Deno.test("drainRing() stops at an event still being written and resumes there", () => {
  const ring = new FakeRing();
  ring.write(2);
  ring.write(1, false); // index 2 claimed, not yet written
  ring.write(1); // index 3 written by another CPU
  const drain = drainRing(0, ring.source());
  assert.deepEqual(seqs(drain.events), [1, 2]);
  assert.equal(drain.incomplete, 2);
  assert.equal(drain.next, 2);
  ring.slots[2] = event(3);
  const resumed = drainRing(drain.next, ring.source());
  assert.deepEqual(seqs(resumed.events), [3, 4]);
  assert.equal(resumed.incomplete, undefined);
  // One that never completes is skipped when asked, and counted as lost.
  ring.write(1, false);
  ring.write(1);
  const skipped = drainRing(resumed.next, ring.source(), 4);
  assert.deepEqual(seqs(skipped.events), [6]);
  assert.equal(skipped.lost, 1);
});

Deno.test("drainRing() discards a slot a later lap overwrote while it was being copied", () => {
  const ring = new FakeRing();
  ring.write(BW_RING_SIZE);
  // The program laps the ring while slots 0-2 are copied: it claims (and then writes)
  // index BW_RING_SIZE + 0..2 right after each copy.
  ring.onCopy = (slot) => {
    if (slot < 3) ring.write(1);
  };
  const drain = drainRing(0, ring.source());
  // Slots 0-2 happened to be copied before being rewritten, but nothing proves it: lost.
  // Index 3 and on were within one ring of the counter when the copies were done.
  assert.equal(drain.lost, 3);
  assert.equal(drain.events.length, BW_RING_SIZE - 3);
  assert.equal(decodeEvent(drain.events[0]!).seq, 4);
  assert.equal(drain.next, BW_RING_SIZE);
  ring.onCopy = () => {};
  const rest = drainRing(drain.next, ring.source());
  assert.deepEqual(seqs(rest.events), [BW_RING_SIZE + 1, BW_RING_SIZE + 2, BW_RING_SIZE + 3]);
  assert.equal(rest.lost, 0);
});

Deno.test("drainRing() counts a slot already overwritten by the next lap as lost", () => {
  const ring = new FakeRing();
  ring.write(5);
  ring.slots[1] = event(1 + BW_RING_SIZE + 1); // a later lap's event, claimed after reading
  const drain = drainRing(0, ring.source());
  assert.deepEqual(seqs(drain.events), [1, 3, 4, 5]);
  assert.equal(drain.lost, 1);
});
