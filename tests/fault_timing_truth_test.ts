// Truth test of fault timing, on the real kernel: the first fault of a run,
// `during(blackhole(), "1s")` one second into the scenario, with a 10k/s probe from each
// end of the link towards an echo on the other. The droppers were attached at setup, so
// the fault is map writes; both directions carry one kernel-time window, so they switch
// at one instant. Checked against the droppers' own kernel stamps: at each end the last
// packet before the window passed and the first in it was dropped, the last in it was
// dropped and the first after passed; the two directions' first and last drops, the
// timeline's edges (asked and effective), and each probe's loss: 10,000 ± 1% on the way
// out (plus what a probe descheduled on a busy machine sends late in a burst), and on
// the way back no more than the echo held when the fault began.

import assert from "node:assert/strict";
import {
  blackhole,
  type FaultReport,
  runScenario,
  scenario,
  type ScenarioReport,
  udpEcho,
  udpProbe,
  type UdpProbeResult,
} from "../mod.ts";

const RATE = 10_000;
const WINDOW_MS = 1_000;

const firstFault = scenario("the first fault of a run, during 1 s at +1 s", {
  hosts: ["client", "server"],
  links: [["client", "server"]],
  workloads: {
    echoServer: { on: "server", run: udpEcho({ port: 7000 }) },
    echoClient: { on: "client", run: udpEcho({ port: 7001 }) },
  },
}, async (t) => {
  const probes = await Promise.all([
    t.start("there", {
      on: "client",
      run: udpProbe({ target: "server:7000", duration: "3s", rate: RATE }),
    }),
    t.start("back", {
      on: "server",
      // Not the same length as "there": two probes ending together ask each native echo
      // for two snapshots at once, and it answers one (the other waits for the echo's
      // end): a bug in agent/_native_udp_echo.ts (the worker coalesces snapshot requests).
      run: udpProbe({ target: "client:7001", duration: "3.3s", rate: RATE }),
    }),
  ]);
  await t.sleep("1s");
  await t.link("client", "server").during(blackhole(), "1s");
  await Promise.all(probes.map((p) => p.result()));
});

function probe(report: ScenarioReport, name: string): UdpProbeResult {
  const result = report.workloads.find((w) => w.name === name)?.result;
  assert.ok(result?.kind === "udpProbe", `probe ${name} ran`);
  return result;
}

/** Runs it; again (up to 3 times in all) when a socket overflowed (VM noise, not faults). */
async function run(): Promise<ScenarioReport> {
  let report: ScenarioReport | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    report = await runScenario(firstFault);
    assert.deepEqual(report.errors, []);
    const overflowed = ["there", "back"].some((name) =>
      (probe(report!, name).ledger?.total.receiveBufferOverflow ?? 0) > 0
    );
    if (!overflowed) return report;
  }
  return report!;
}

/** Checks one run; returns how long after it was asked the fault took effect, ms. */
function check(report: ScenarioReport): number {
  assert.equal(report.faults.length, 1);
  const fault: FaultReport = report.faults[0]!;
  const ends = fault.directions;
  assert.equal(ends.length, 2, "one dropper rule per direction");
  const ms = (v: number | null) => v === null ? "none" : `${v.toFixed(4)} ms`;
  console.log(
    `asked +${fault.askedAtMs.toFixed(3)} ms, effective +${fault.appliedAtMs.toFixed(3)} ms; ` +
      `removal asked +${fault.removeAskedAtMs?.toFixed(3)} ms, effective +${
        fault.removedAtMs?.toFixed(3)
      } ms`,
  );
  for (const d of ends) {
    console.log(
      `${d.from} → ${d.to}: on ${ms(d.appliedAtMs)} to ${ms(d.removedAtMs)}, dropped ` +
        `${d.dropped}, before ${ms(d.beforeAtMs)}, first drop ${ms(d.firstDropAtMs)}, last ` +
        `drop ${ms(d.lastDropAtMs)}, after ${ms(d.afterAtMs)}`,
    );
  }

  // The timeline: took effect soon after it was asked (within 5 ms even on a loaded
  // machine; the median within 1 ms is checked over runs), and was removed exactly 1 s
  // later, at both ends at one instant.
  const lagMs = fault.appliedAtMs - fault.askedAtMs;
  assert.ok(lagMs >= 0 && lagMs <= 5, `took effect ${lagMs} ms after it was asked`);
  assert.ok(fault.removedAtMs !== null);
  assert.ok(
    Math.abs(fault.removedAtMs - fault.appliedAtMs - WINDOW_MS) < 0.001,
    `on for ${fault.removedAtMs - fault.appliedAtMs} ms`,
  );
  const [a, b] = ends as [typeof ends[0], typeof ends[0]];
  assert.equal(a.removedAtMs, b.removedAtMs, "both ends ended at one instant");

  // Each end, to the packet, in the kernel's own stamps: no drop before it took effect
  // there or after it ended, and what it matched just before and after passed. (A packet
  // before or after is seen only when one came in the half millisecond between write and
  // start, or between the end and the rule's removal.)
  for (const d of ends) {
    assert.ok(d.firstDropAtMs !== null && d.lastDropAtMs !== null, "it dropped");
    assert.ok(d.removedAtMs !== null, "it was removed");
    assert.ok(d.appliedAtMs <= d.firstDropAtMs, "no drop before it took effect");
    assert.ok(d.beforeAtMs === null || d.beforeAtMs < d.appliedAtMs, "it passed before");
    assert.ok(d.lastDropAtMs < d.removedAtMs, "no drop after it ended");
    assert.ok(d.afterAtMs === null || d.removedAtMs <= d.afterAtMs, "it passed after");
  }
  // The two directions' first drops and last drops, as close as the traffic lets them
  // be: each probe sends 10k/s on average, but in bursts (a Deno timer wakes it every
  // 1-2 ms here), so a direction's first drop comes with its first burst after the edge
  // (0-2.2 ms apart measured; tests/xdp_window_truth_test.ts proves the flip to the
  // packet with steady senders).
  // A probe that fell behind its schedule (descheduled on a busy machine) sends its next
  // datagram that much later: allowed for too.
  const firstApart = Math.abs(a.firstDropAtMs! - b.firstDropAtMs!);
  const lastApart = Math.abs(a.lastDropAtMs! - b.lastDropAtMs!);
  const behindMs = Math.max(
    ...["there", "back"].map((name) => (probe(report, name).pacing?.lateness.max ?? 0) / 1e6),
  );
  console.log(
    `first drops ${firstApart.toFixed(4)} ms apart, last ${lastApart.toFixed(4)} ms ` +
      `(a probe fell behind by ${behindMs.toFixed(3)} ms at most)`,
  );
  assert.ok(firstApart <= 5 + behindMs, `first drops ${firstApart} ms apart`);
  assert.ok(lastApart <= 5 + behindMs, `last drops ${lastApart} ms apart`);

  // Each probe lost a second of its datagrams, on the way out: 10,000 ± 1%, widened by how
  // far behind its schedule the probe ever fell (a probe descheduled on a busy machine
  // sends what fell due in one burst, so a window can hold up to that many more or fewer
  // sends). On the way back it lost only the replies to requests that reached the echo
  // before the fault but were answered after it took effect: at most what the echo holds
  // in its slowest turnaround (its own time, kernel receive to reply), plus 1%.
  for (const name of ["there", "back"]) {
    const r = probe(report, name);
    const behindMs = (r.pacing?.lateness.max ?? 0) / 1e6;
    const echoMs = (r.oneWay?.echo.timeSummary.max ?? 0) / 1e6;
    const out = RATE / 100 + Math.ceil(RATE * behindMs / 1000);
    const back = RATE / 100 + Math.ceil(RATE * echoMs / 1000);
    console.log(
      `${name} lost ${r.lost}: ${r.lostOutbound} out, ${r.lostReturn} back; fell behind by ` +
        `${behindMs.toFixed(3)} ms at most; the echo's slowest turnaround ${echoMs.toFixed(3)} ms`,
    );
    assert.ok(r.lostOutbound !== null && r.lostReturn !== null, "squall's echo: split known");
    assert.ok(
      Math.abs(r.lostOutbound - RATE) <= out,
      `${name} lost ${r.lostOutbound} on the way out (allowed ${RATE} ± ${out})`,
    );
    assert.ok(
      r.lostReturn <= back,
      `${name} lost ${r.lostReturn} on the way back (allowed up to ${back})`,
    );
  }
  return lagMs;
}

Deno.test("the first fault of a run takes effect when asked, both directions at one kernel instant, for exactly its duration", async () => {
  // Every run must pass every check; the lag must be within 1 ms in most: up to 3 runs
  // until 2 are (a run whose writes were descheduled on a busy VM takes a few ms).
  const lags: number[] = [];
  for (let runs = 0; runs < 3 && lags.filter((l) => l <= 1).length < 2; runs++) {
    lags.push(check(await run()));
  }
  assert.ok(
    lags.filter((l) => l <= 1).length >= 2,
    `took effect within 1 ms of the call in ${
      lags.filter((l) => l <= 1).length
    } of ${lags.length} runs: ${lags}`,
  );
});
