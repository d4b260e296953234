import assert from "node:assert/strict";
import { type RuleEnd, SETTLE_NS, WindowedFault } from "./_fault_edges.ts";
import { FaultClock } from "./_fault_clock.ts";
import { closeClock, monotonicNs } from "../native/clock.ts";
import { BLACKHOLE_EVERYTHING } from "../../tests/fixtures/rules.ts";
import type { RuleTally } from "../kernel/xdp_dropper.ts";

const RULE = BLACKHOLE_EVERYTHING;

/** Drop stamps a fake end's rule gives when taken. */
interface Stamps {
  firstDropNs: number | null;
  lastDropNs: number | null;
}

/** A fake end: records every call, answers at once (or `delayMs` later). */
function fakeEnd(
  to: string,
  delayMs = 0,
  stamps: () => Stamps = () => ({ firstDropNs: null, lastDropNs: null }),
): RuleEnd & { calls: [string, Record<string, unknown>][] } {
  const calls: [string, Record<string, unknown>][] = [];
  return {
    from: to === "a" ? "b" : "a",
    to,
    ifname: `sq-test-0${to}`,
    slot: 0,
    rule: RULE,
    calls,
    async call(method, params) {
      calls.push([method, params]);
      // A slow agent: the write itself lands late (writtenNs is read after the delay).
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (method === "dropper.take") {
        return {
          passed: { packets: 0, bytes: 0 },
          dropped: { packets: 0, bytes: 0 },
          flows: [],
          ...stamps(),
          beforeNs: null,
          afterNs: null,
        } satisfies RuleTally;
      }
      return { writtenNs: String(monotonicNs()) };
    },
  };
}

Deno.test("a fault with a duration gives both ends one window, and ends when the droppers end it", async () => {
  using clock = new FaultClock(performance.now());
  const ends = [fakeEnd("a"), fakeEnd("b")];
  const fault = await WindowedFault.apply(clock, ends, { forNs: 20_000_000n });
  const [[, a], [, b]] = [ends[0]!.calls[0]!, ends[1]!.calls[0]!];
  assert.deepEqual(a.rule, b.rule, "the same rule and window at both ends");
  const rule = a.rule as { activeFromNs: string; activeUntilNs: string };
  assert.equal(BigInt(rule.activeFromNs), fault.start.atNs);
  assert.equal(BigInt(rule.activeUntilNs), fault.start.atNs + 20_000_000n);
  assert.ok(fault.start.atNs > fault.start.askedNs, "a little ahead");
  assert.equal(fault.start.effectiveNs, fault.start.atNs, "both writes landed before it");
  assert.deepEqual(fault.start.late, []);
  await fault.plannedEnd();
  assert.ok(monotonicNs() >= fault.untilNs!, "waited for the planned end");
  const tallies = await fault.remove();
  assert.equal(tallies.length, 2);
  assert.deepEqual(fault.endEdge?.effectiveNs, fault.start.atNs + 20_000_000n, "as planned");
  for (const end of ends) {
    assert.deepEqual(end.calls.map(([m]) => m), ["dropper.set", "dropper.take"], "no more writes");
  }
  assert.equal(await fault.remove(), tallies, "twice is once");
  closeClock();
});

Deno.test("an open-ended fault is opened to all time after its start, and given one end at both ends", async () => {
  using clock = new FaultClock(performance.now());
  const ends = [fakeEnd("a"), fakeEnd("b")];
  const fault = await WindowedFault.apply(clock, ends);
  assert.equal(fault.untilNs, null);
  await assert.rejects(fault.plannedEnd(), TypeError);
  await new Promise((resolve) => setTimeout(resolve, Number(SETTLE_NS / 1_000_000n) + 30));
  for (const end of ends) {
    assert.deepEqual(end.calls[1], ["dropper.window", {
      ifname: end.ifname,
      slot: 0,
      fromNs: "0",
    }], "opened to all time: no clock read per packet");
  }
  const edge = await fault.end();
  const untils = ends.map((e) => e.calls[2]![1].untilNs);
  assert.equal(untils[0], untils[1], "one end instant at both ends");
  assert.equal(BigInt(untils[0] as string), edge.atNs);
  assert.ok(monotonicNs() >= edge.effectiveNs, "end() returns once it has passed");
  await fault.remove();
  closeClock();
});

Deno.test("an end whose write lands after the instant is named, and the edge is when it landed", async () => {
  using clock = new FaultClock(performance.now());
  // A lead of 4.6 ms: the quick end lands within it even on a loaded machine, the slow
  // end (20 ms) does not.
  clock.noteWrite(0n, 1_500_000n);
  const ends = [fakeEnd("a"), fakeEnd("b", 20)];
  const fault = await WindowedFault.apply(clock, ends, { forNs: 100_000_000n });
  assert.deepEqual(fault.start.late, ["b"]);
  assert.ok(fault.start.effectiveNs > fault.start.atNs + 10_000_000n, "when the late one landed");
  await fault.remove();
  closeClock();
});

Deno.test("an open-ended fault's drop stamps count only from the times they were watched", async () => {
  using clock = new FaultClock(performance.now());
  // Both drops stamped at its start (before it was opened to all time): the first is
  // the first drop, the last is not the last (none was stamped once its end was asked).
  let startNs = 0;
  const early = () => ({ firstDropNs: startNs + 1000, lastDropNs: startNs + 2000 });
  const ends = [fakeEnd("a", 0, early), fakeEnd("b", 0, early)];
  const fault = await WindowedFault.apply(clock, ends);
  startNs = Number(fault.start.atNs);
  await new Promise((resolve) => setTimeout(resolve, Number(SETTLE_NS / 1_000_000n) + 30));
  for (const { firstDropSeen, lastDropSeen } of await fault.remove()) {
    assert.equal(firstDropSeen, true);
    assert.equal(lastDropSeen, false, "a stamp from its start is not its last drop");
  }
  // A drop stamped after its end was asked (here: when the rule is taken) is its last.
  const late = () => ({ firstDropNs: null, lastDropNs: Number(monotonicNs()) });
  const again = [fakeEnd("a", 0, late), fakeEnd("b", 0, late)];
  const other = await WindowedFault.apply(clock, again);
  await new Promise((resolve) => setTimeout(resolve, Number(SETTLE_NS / 1_000_000n) + 30));
  for (const { firstDropSeen, lastDropSeen } of await other.remove()) {
    assert.equal(firstDropSeen, false);
    assert.equal(lastDropSeen, true);
  }
  closeClock();
});
