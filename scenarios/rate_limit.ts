/**
 * A rate-limited link filling its queue: the way to the server carries 1 Mbit/s with a
 * queue of 50 packets, and the probe offers 2 Mbit/s (500 datagrams of 472 bytes a
 * second, 500 bytes on the wire). The queue fills, the round trip grows to the 200 ms it
 * takes to send 50 packets, and about half the datagrams are tail drops: the ledger puts
 * each of them on the rate limit, none unexplained.
 *
 * Run: `deno task squall run scenarios/rate_limit.ts` (as root).
 */

import { rateLimit, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("a 1 Mbit/s bottleneck and its full queue", {
  hosts: ["client", "server"],
  links: [{
    between: ["client", "server"],
    faults: [rateLimit({ rate: "1mbit", queue: { packets: 50 }, direction: "forward" })],
  }],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: {
      on: "client",
      run: udpProbe({ target: "server:7000", duration: "4s", rate: 500, size: 472 }),
    },
  },
  thresholds: {
    "probe.loss": "> 40%",
    "probe.lost.unexplained": "== 0",
    "probe.rtt.p90": "> 150ms",
  },
});
