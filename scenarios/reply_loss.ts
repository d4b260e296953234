/**
 * Loss of replies only: every request reaches the server, and 20% of the answers are
 * dropped on the way back. The report tells the two directions apart.
 *
 * Run: `deno task squall run scenarios/reply_loss.ts` (as root).
 */

import { loss, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("replies lost on the way back", {
  hosts: ["client", "server"],
  // "reverse" is from the second host of the link to the first: server -> client.
  links: [{ between: ["client", "server"], faults: [loss(0.2, { direction: "reverse" })] }],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: { on: "client", run: udpProbe({ target: "server:7000", count: 4000, rate: 2000 }) },
  },
  thresholds: {
    "probe.lost.outbound": "== 0",
    "probe.lost.return": "> 0",
    "probe.loss": "< 30%",
    "probe.lost.unexplained": "== 0",
  },
});
