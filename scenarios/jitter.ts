/**
 * A jittery link and the reordering it causes: the way to the server adds 20 ms ± 5 ms
 * (uniform), and datagrams sent 2 ms apart overtake each other; the probe counts the
 * replies that came out of order. With `keepOrder: true` the same jitter would keep
 * them in order (each waits for those before it).
 *
 * Run: `deno task squall run scenarios/jitter.ts` (as root).
 */

import { delay, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("20 ms ± 5 ms of jitter reorders datagrams", {
  hosts: ["client", "server"],
  links: [{
    between: ["client", "server"],
    faults: [delay("20ms", { jitter: "5ms", direction: "forward" })],
  }],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: { on: "client", run: udpProbe({ target: "server:7000", count: 1500, rate: 500 }) },
  },
  thresholds: {
    "probe.reordered": "> 100",
    "probe.lost": "== 0",
    "probe.rtt.p50": "< 22ms",
    "probe.rtt.p99": "< 30ms",
  },
});
