/**
 * A scenario without namespaces or privileges: one host on 127.0.0.1. A probe runs for
 * a second against an echo, then the scenario function starts a second probe with a
 * larger datagram and checks what came back.
 *
 * Run: `deno task squall run scenarios/loopback.ts` (any user).
 */

import { scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("udp echo on loopback", {
  network: "loopback",
  hosts: ["local"],
  workloads: {
    echo: { on: "local", run: udpEcho({ port: 17000 }) },
    probe: { on: "local", run: udpProbe({ target: "local:17000", duration: "1s", rate: 500 }) },
  },
  thresholds: { "probe.loss": "< 1%", "probe.rtt.p50": "< 5ms" },
}, async (t) => {
  const big = await t.start("big", {
    on: "local",
    run: udpProbe({ target: "local:17000", count: 200, rate: 200, size: 1400 }),
  });
  const result = await big.result();
  t.check(
    "every 1400-byte datagram came back",
    result.delivered === result.sent,
    `${result.delivered}/${result.sent}`,
  );
});
