/**
 * Bursty loss on the way to the server: a Gilbert-Elliott chain that loses 5% of
 * datagrams in bursts of 4 on average. The echo sees the gaps, so the report has the
 * mean burst length as well as the loss.
 *
 * Run: `deno task squall run scenarios/burst_loss.ts` (as root).
 */

import { burstLoss, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("bursty loss towards the server", {
  hosts: ["client", "server"],
  links: [{
    between: ["client", "server"],
    faults: [burstLoss({ loss: 0.05, burst: 4, direction: "forward" })],
  }],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: { on: "client", run: udpProbe({ target: "server:7000", count: 10_000, rate: 5000 }) },
  },
  thresholds: {
    "probe.loss": "< 10%",
    "probe.lost.outbound.burst": "> 2",
    "probe.lost.return": "== 0",
    "probe.lost.unexplained": "== 0",
  },
});
