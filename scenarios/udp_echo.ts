/**
 * UDP echo between two hosts, each a network namespace joined by a veth pair. The
 * probe sends 2000 datagrams at 1000/s; thresholds bound loss and p99 round-trip time.
 *
 * Run: `deno task squall run scenarios/udp_echo.ts` (as root).
 */

import { scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("udp echo between two namespaces", {
  hosts: ["client", "server"],
  links: [["client", "server"]],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: {
      on: "client",
      run: udpProbe({ target: "server:7000", count: 2000, rate: 1000, timeout: "500ms" }),
    },
  },
  thresholds: {
    "probe.loss": "< 1%",
    "probe.rtt.p99": "< 25ms",
  },
});
