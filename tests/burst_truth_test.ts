// Gilbert-Elliott on the real kernel: the stationary loss and the mean burst length the
// echo measures agree with the chain's parameters, within their confidence intervals,
// and every lost datagram is owed to the fault.

import assert from "node:assert/strict";
import { SIGMA_LIMIT } from "./_statistics.ts";
import { burstLoss, runScenario, scenario, stationaryLoss, udpEcho, udpProbe } from "../mod.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";

const COUNT = 60_000;
const RATE = 6_000;
/** Runs whose echo overflowed (a starved VM) skew the gaps it sees; one more run is allowed. */
const ATTEMPTS = 2;

for (const { p, r } of [{ p: 0.01, r: 0.25 }, { p: 0.02, r: 0.5 }]) {
  Deno.test(`burstLoss({ p: ${p}, r: ${r} }) loses ${(100 * p / (p + r)).toFixed(2)}% in bursts of ${1 / r}`, async () => {
    const fault = burstLoss({ p, r, direction: "forward" });
    const run = () =>
      runScenario(scenario("gilbert-elliott truth", {
        hosts: ["client", "server"],
        links: [{ between: ["client", "server"], faults: [fault] }],
        workloads: {
          echo: { on: "server", run: udpEcho({ port: 7000 }) },
          probe: {
            on: "client",
            run: udpProbe({ target: "server:7000", count: COUNT, rate: RATE, timeout: "500ms" }),
          },
        },
      }));
    let report = await run();
    let probe = report.workloads.find((w) => w.name === "probe")!.result as UdpProbeResult;
    for (let attempt = 1; attempt < ATTEMPTS && overflowed(probe); attempt++) {
      console.log(`overflow ${probe.ledger!.outbound!.receiveBufferOverflow}: running again`);
      report = await run();
      probe = report.workloads.find((w) => w.name === "probe")!.result as UdpProbeResult;
    }
    assert.equal(report.status, "passed", JSON.stringify(report.errors));
    assert.equal(probe.sent, COUNT);

    // Stationary loss: the variance of a two-state chain's mean is the binomial one
    // times (1 + lambda) / (1 - lambda), lambda = 1 - p - r its second eigenvalue.
    const expected = stationaryLoss(fault);
    const lambda = 1 - p - r;
    const sigma = Math.sqrt(expected * (1 - expected) / COUNT * (1 + lambda) / (1 - lambda));
    // The fault's own drops (a busy machine may add a few socket-buffer overflows).
    const dropped = probe.ledger!.outbound!.droppedByFault[0]?.packets ?? 0;
    const measured = dropped / probe.sent;
    assert.ok(
      Math.abs(measured - expected) <= SIGMA_LIMIT * sigma,
      `loss ${measured} vs ${expected} (sigma ${sigma})`,
    );

    // Mean burst length: runs in the bad state are geometric with mean 1/r and standard
    // deviation sqrt(1 - r)/r; the echo sees each run as a gap in sequence numbers.
    const runs = probe.outboundLossRuns!;
    const meanBurst = runs.packets / runs.runs;
    const burstSigma = Math.sqrt(1 - r) / r / Math.sqrt(runs.runs);
    assert.equal(runs.packets, probe.lostOutbound, "every outbound loss is inside a gap");
    const overflow = probe.ledger!.outbound!.receiveBufferOverflow;
    assert.ok(overflow <= runs.packets / 100, `overflow ${overflow} would skew the bursts`);
    assert.ok(
      Math.abs(meanBurst - 1 / r) <= SIGMA_LIMIT * burstSigma,
      `mean burst ${meanBurst} vs ${1 / r} (sigma ${burstSigma}, ${runs.runs} bursts)`,
    );

    // Every loss is explained, and the dropper's per-rule count agrees with its per-flow one.
    const ledger = probe.ledger!;
    assert.equal(ledger.total.unexplained, 0);
    assert.equal(dropped + overflow, probe.lostOutbound);
    assert.equal(report.faults[0]!.dropped, dropped);
    assert.equal(ledger.return!.droppedByFault.length, 0, "a forward fault drops no reply");
  });
}

/** Whether socket-buffer overflow was large enough to skew the gaps the echo saw. */
function overflowed(probe: UdpProbeResult): boolean {
  const outbound = probe.ledger!.outbound!;
  return outbound.receiveBufferOverflow > (probe.outboundLossRuns?.packets ?? 0) / 100;
}
