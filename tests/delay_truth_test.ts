// The delay line on the real kernel: an NFQUEUE rule in the receiving namespace, the
// line's worker in a process there, and a one-way delay sender/receiver (CLOCK_REALTIME
// right before sendto and right after recv, same machine clock) in the two namespaces.
// Added delay is measured against a no-delay baseline taken in the same test.

import assert from "node:assert/strict";
import { DelayLab } from "./_delay_lab.ts";
import type { OwdReport } from "./_owd_child.ts";
import { SIGMA_LIMIT } from "./_statistics.ts";

const MS = 1e6;
const PORT = 9000;
const UDP = ["-p", "udp", "--dport", String(PORT)];

function ms(us: number): string {
  return `${(us / 1000).toFixed(3)}ms`;
}

/**
 * Up to three rounds of a measurement, as PLATFORM.md says of this VM (2-8 ms outliers
 * in every run, native tools included: take the median of several runs): a first round
 * that meets its bounds is the answer; otherwise two more are taken and each figure is
 * the median of the three. Every round is printed.
 */
async function medianOfRounds<T extends Record<string, number>>(
  round: () => Promise<T>,
  meets: (figures: T) => boolean,
): Promise<T> {
  const rounds = [await round()];
  if (meets(rounds[0]!)) return rounds[0]!;
  rounds.push(await round(), await round());
  console.log(`out of bounds in the first round: the median of ${rounds.length} rounds counts`);
  const keys = Object.keys(rounds[0]!) as (keyof T)[];
  return Object.fromEntries(keys.map((k) => [k, median(rounds.map((r) => r[k] as number))])) as T;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

Deno.test("a delay line adds 1, 10 and 50 ms at 10k pkt/s: median within 0.1 ms, p90 within 0.2 ms", async () => {
  await using lab = await DelayLab.create();
  const rate = 10_000;
  const count = 50_000; // 5 s
  const base = await lab.measure(PORT, rate, count);
  assert.equal(base.unique, count);
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  const problems: string[] = [];
  let sent = 0;
  for (const delay of [1, 10, 50]) {
    await line.configure({ delayNs: delay * MS });
    const { p50, p90 } = await medianOfRounds(
      async () => {
        const r = await lab.measure(PORT, rate, count);
        sent += count;
        assert.equal(r.unique, count, `delay ${delay}ms lost packets`);
        const p50 = r.percentilesUs[50]! - base.percentilesUs[50]!;
        const p90 = r.percentilesUs[90]! - base.percentilesUs[50]!;
        console.log(
          `delay ${delay}ms: added p50 ${ms(p50)}, p90 ${ms(p90)} ` +
            `(baseline p50 ${ms(base.percentilesUs[50]!)}, p90 ${ms(base.percentilesUs[90]!)})`,
        );
        return { p50, p90 };
      },
      ({ p50, p90 }) => Math.abs(p50 - delay * 1000) <= 100 && Math.abs(p90 - delay * 1000) <= 200,
    );
    if (Math.abs(p50 - delay * 1000) > 100) problems.push(`${delay}ms: p50 ${ms(p50)}`);
    if (Math.abs(p90 - delay * 1000) > 200) problems.push(`${delay}ms: p90 ${ms(p90)}`);
  }
  const counters = await line.stop();
  assert.equal(counters.received, sent);
  assert.equal(counters.released, sent);
  assert.deepEqual(problems, []);
});

Deno.test("jitter 10 ± 2 ms uniform: every decile of the added delay within 0.2 ms, and it reorders", async () => {
  await using lab = await DelayLab.create();
  const rate = 10_000;
  const count = 50_000;
  const base = await lab.measure(PORT, rate, count);
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  await line.configure({ delayNs: 10 * MS, jitterNs: 2 * MS, distribution: "uniform" });
  const D = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const ideal = (d: number) => 8000 + 400 * d;
  let r!: Awaited<ReturnType<typeof lab.measure>>;
  const added = await medianOfRounds(async () => {
    r = await lab.measure(PORT, rate, count);
    assert.equal(r.unique, count);
    const figures = Object.fromEntries(
      D.map((d) => [`d${d}`, r.percentilesUs[d * 10]! - base.percentilesUs[50]!]),
    );
    console.log(D.map((d) => `d${d} ${ms(figures[`d${d}`]!)} (ideal ${ms(ideal(d))})`).join(", "));
    return figures;
  }, (figures) => D.every((d) => Math.abs(figures[`d${d}`]! - ideal(d)) <= 200));
  const counters = await line.counters();
  const deciles = D.map((d) => ({ d, added: added[`d${d}`]!, ideal: ideal(d) }));
  console.log(`reordered: ${r.reordered} at the receiver, ${counters.reordered} by the line`);
  assert.deepEqual(deciles.filter(({ added, ideal }) => Math.abs(added - ideal) > 200), []);
  // Packets 0.1 ms apart with ±2 ms of jitter: most of them overtake or are overtaken.
  assert.ok(r.reordered > count / 4, `reordered ${r.reordered}`);
  assert.ok(counters.reordered > count / 4, `the line counted ${counters.reordered}`);

  // keepOrder: the same jitter, nothing overtakes.
  await line.configure({ delayNs: 10 * MS, jitterNs: 2 * MS, keepOrder: true });
  const kept = await lab.measure(PORT, rate, 10_000);
  assert.equal(kept.unique, 10_000);
  assert.equal(kept.reordered, 0);
  await line.stop();
});

Deno.test("50k pkt/s through a 10 ms delay for 10 s: nothing lost", async () => {
  await using lab = await DelayLab.create();
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  await line.configure({ delayNs: 10 * MS });
  const count = 500_000;
  const r = await lab.measure(PORT, 50_000, count);
  const queues = await lab.queueStats();
  const counters = await line.stop();
  console.log(
    `received ${r.unique}/${count}, p50 ${ms(r.percentilesUs[50]!)}, ` +
      `p90 ${ms(r.percentilesUs[90]!)}, most held ${counters.maxHeld}`,
  );
  assert.equal(r.unique, count);
  assert.equal(counters.released, count);
  assert.equal(counters.overrun, 0);
  assert.deepEqual(queues.get(1), { dropped: 0, userDropped: 0 });
});

Deno.test("a 10 Mbit/s rate limit delivers 10 Mbit/s within 2% and counts its tail drops", async () => {
  await using lab = await DelayLab.create();
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  await line.configure({
    delayNs: 5 * MS,
    rateBitsPerSecond: 10e6,
    queueKind: "packets",
    queueLimit: 100,
  });
  // 1250-byte IP packets (10,000 bits) at 2000/s: twice what the link carries.
  const count = 8000;
  const r = await lab.measure(PORT, 2000, count, { size: 1250 - 28 });
  const counters = await line.stop();
  const bits = (r.ipBytes - 1250) * 8; // the first packet's arrival starts the span
  const rate = bits / (r.spanNs / 1e9);
  console.log(
    `delivered ${r.unique}/${count} at ${(rate / 1e6).toFixed(3)} Mbit/s, ` +
      `tail-dropped ${counters.tailDropped}`,
  );
  assert.ok(Math.abs(rate - 10e6) / 10e6 < 0.02, `rate ${rate}`);
  assert.ok(counters.tailDropped > count / 3);
  // Every packet is delivered or a counted tail drop.
  assert.equal(r.unique + counters.tailDropped, count);
  assert.equal(counters.released, r.unique);
});

Deno.test("a delay changed mid-run from 10 to 600 ms applies to packets arriving after the change", async () => {
  await using lab = await DelayLab.create();
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  await line.configure({ delayNs: 10 * MS });
  const measuring = lab.measure(PORT, 1000, 3000, { idleMs: 2000 });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await line.configure({ delayNs: 600 * MS }, performance.timeOrigin + performance.now());
  const r: OwdReport = await measuring;
  await line.stop();
  assert.equal(r.unique, 3000);
  const p = r.percentilesUs;
  // At one delay or the other: at least it, at most 5 ms more (the odd VM hiccup).
  const near = (us: number, target: number) =>
    us > target * 1000 - 100 && us < target * 1000 + 5000;
  const modes = p.slice(1).map((us) => near(us, 10) ? 10 : near(us, 600) ? 600 : us);
  console.log(`p5 ${ms(p[5]!)}, p25 ${ms(p[25]!)}, p75 ${ms(p[75]!)}, p95 ${ms(p[95]!)}`);
  // Every percentile is at one delay or the other, and each holds a fair share.
  assert.deepEqual(modes.filter((m) => m !== 10 && m !== 600), []);
  assert.ok(modes.filter((m) => m === 10).length > 15);
  assert.ok(modes.filter((m) => m === 600).length > 15);
  // The later packets waited longer, so nothing overtook.
  assert.equal(r.reordered, 0);
});

Deno.test("a delay cut mid-run from 300 to 10 ms: later packets overtake, none held leaves early", async () => {
  await using lab = await DelayLab.create();
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  await line.configure({ delayNs: 300 * MS });
  // 30k/s is busy for the line: it releases runs of packets with one batch verdict, which
  // must never cover a packet still held for 300 ms when a 10 ms one overtook it.
  const measuring = lab.measure(PORT, 30_000, 90_000, { idleMs: 2000 });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await line.configure({ delayNs: 10 * MS }, performance.timeOrigin + performance.now());
  const r: OwdReport = await measuring;
  const counters = await line.stop();
  assert.equal(r.unique, 90_000);
  const p = r.percentilesUs;
  const near = (us: number, target: number) =>
    us > target * 1000 - 300 && us < target * 1000 + 5000;
  const modes = p.slice(1).map((us) => near(us, 10) ? 10 : near(us, 300) ? 300 : us);
  console.log(
    `p5 ${ms(p[5]!)}, p25 ${ms(p[25]!)}, p75 ${ms(p[75]!)}, p95 ${ms(p[95]!)}, ` +
      `reordered ${r.reordered} (the line: ${counters.reordered})`,
  );
  assert.deepEqual(modes.filter((m) => m !== 10 && m !== 300), []);
  assert.ok(modes.filter((m) => m === 10).length > 15);
  assert.ok(modes.filter((m) => m === 300).length > 15);
  // The first 10 ms packets overtook the last 300 ms ones: about 290 ms of them.
  assert.ok(r.reordered > 1000, `reordered ${r.reordered}`);
});

Deno.test("TCP through 10 ms each way: connect and request RTT about 20 ms more", async () => {
  await using lab = await DelayLab.create();
  const tcpPort = 9100;
  const base = await lab.tcpRtt(tcpPort, 20);
  const there = await lab.startLine(1, { index: 1 });
  const back = await lab.startLine(1, { index: 0 });
  await there.configure({ delayNs: 10 * MS });
  await back.configure({ delayNs: 10 * MS });
  // Every TCP packet of the connection, SYN and SYN-ACK included, both ways.
  await lab.addRule(1, ["-p", "tcp", "--dport", String(tcpPort)], 1);
  await lab.addRule(1, ["-p", "tcp", "--sport", String(tcpPort)], 0);
  const delayed = await lab.tcpRtt(tcpPort, 20);
  const connect = median(delayed.connectMs) - median(base.connectMs);
  const rtt = median(delayed.rttMs) - median(base.rttMs);
  console.log(`connect +${connect.toFixed(2)}ms, request RTT +${rtt.toFixed(2)}ms`);
  const [a, b] = [await there.stop(), await back.stop()];
  assert.ok(Math.abs(connect - 20) < 2, `connect +${connect}`);
  assert.ok(Math.abs(rtt - 20) < 2, `rtt +${rtt}`);
  assert.ok(a.released > 100 && b.released > 100);
});

Deno.test("a full kernel queue drops, and /proc counts each drop", async () => {
  await using lab = await DelayLab.create();
  // The kernel holds at most 100 packets; 50 ms at 10k/s would need 500.
  const line = await lab.startLine(1, { maxLength: 100 });
  await lab.addRule(1, UDP);
  await line.configure({ delayNs: 50 * MS });
  const count = 5000;
  const r = await lab.measure(PORT, 10_000, count);
  const queues = await lab.queueStats();
  const counters = await line.stop();
  const dropped = queues.get(1)!.dropped;
  console.log(
    `received ${r.unique}/${count}, queue full ${dropped}, held at most ${counters.maxHeld}`,
  );
  assert.ok(dropped > count / 2);
  assert.equal(r.unique + dropped, count);
  assert.equal(counters.received, r.unique);
});

Deno.test("a killed delay line leaves no queue, and later packets pass (--queue-bypass)", async () => {
  await using lab = await DelayLab.create();
  const line = await lab.startLine(1);
  await lab.addRule(1, UDP);
  await line.configure({ delayNs: 50 * MS });
  const before = await lab.queueStats();
  assert.ok(before.has(1));
  await line.kill();
  const after = await lab.queueStats();
  assert.equal(after.size, 0);
  const r = await lab.measure(PORT, 1000, 500);
  assert.equal(r.unique, 500);
  assert.ok(r.percentilesUs[50]! < 5000, `p50 ${r.percentilesUs[50]}`);
});

Deno.test("duplicate 20%: the copies are within 3.7 sigma of 20%, and every packet is accounted for", async () => {
  await using lab = await DelayLab.create();
  const dup = await lab.startDuplicator(0.2, PORT);
  const count = 20_000;
  const dropsBefore = await lab.pathDrops();
  const r = await lab.measure(PORT, 10_000, count);
  const dropped = await lab.pathDrops() - dropsBefore;
  const counters = await dup.counters();
  await dup.stop();
  const expected = count * 0.2;
  const sigma = Math.sqrt(count * 0.2 * 0.8);
  const z = (r.duplicates - expected) / sigma;
  console.log(
    `duplicated ${r.duplicates} of ${count} (${(r.duplicates / count * 100).toFixed(2)}%, ` +
      `z ${
        z.toFixed(2)
      }); the duplicator matched ${counters.matched}, sent ${counters.duplicated} copies`,
  );
  assert.ok(Math.abs(z) < SIGMA_LIMIT, `z ${z}`);
  // Every original arrived, and every copy the duplicator sent arrived or was dropped by
  // the kernel on the way (a veth or backlog drop, counted there: a copy leaves right
  // before its original, and a burst can overflow the receiver's backlog). The receiver
  // reads on after the last original until 100 ms pass with nothing: when the last
  // datagram was duplicated, its original comes after its copy, which it used to miss
  // (off by one in about a fifth of the runs).
  assert.equal(r.unique, count);
  assert.equal(r.received, count + r.duplicates);
  assert.equal(counters.matched, count);
  assert.equal(counters.duplicated, r.duplicates + dropped, `${dropped} dropped on the way`);
});
