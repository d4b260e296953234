/**
 * UDP echo through a lossy link: the XDP dropper on the link drops 10% of the probe's
 * datagrams in each direction. The ledger attributes every lost datagram to the fault;
 * thresholds check the loss is near 19% (1 - 0.9 x 0.9) and nothing is unexplained.
 *
 * Run: `deno task squall run scenarios/udp_loss.ts` (as root).
 */

import { loss, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("udp echo at 10% loss each way", {
  hosts: ["client", "server"],
  // Both directions (the default); a port filter would match only the requests, since
  // replies go to the probe's own port.
  links: [{ between: ["client", "server"], faults: [loss(0.1, { protocol: "udp" })] }],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: { on: "client", run: udpProbe({ target: "server:7000", count: 5000, rate: 2500 }) },
  },
  thresholds: {
    "probe.loss": "< 23%",
    "probe.lost.dropped": "> 0",
    "probe.lost.unexplained": "== 0",
  },
});
