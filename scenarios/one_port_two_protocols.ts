/**
 * One port, two protocols: a DNS-like server answers on UDP and on TCP port 7053 at
 * once. A 20% loss fault scoped to UDP on that port drops only the UDP requests: the
 * TCP flows on the same port go through untouched (no failed request, no retransmission
 * needed), and the UDP probe's ledger puts every lost datagram on the fault.
 *
 * Run: `deno task squall run scenarios/one_port_two_protocols.ts` (as root).
 */

import { loss, scenario, tcpEcho, tcpProbe, udpEcho, udpProbe } from "../mod.ts";

export default scenario("udp and tcp on one port, loss on udp only", {
  hosts: ["client", "server"],
  links: [{
    between: ["client", "server"],
    // Requests only: replies go to the probes' own ports.
    faults: [loss(0.2, { protocol: "udp", ports: 7053, direction: "forward" })],
  }],
  workloads: {
    udp: { on: "server", run: udpEcho({ port: 7053 }) },
    tcp: { on: "server", run: tcpEcho({ port: 7053 }) },
    udpClient: {
      on: "client",
      run: udpProbe({ target: "server:7053", count: 1500, rate: 1000 }),
    },
    tcpClient: {
      on: "client",
      run: tcpProbe({
        target: "server:7053",
        duration: "1500ms",
        rate: 200,
        timeout: "1s",
        connection: "per-request",
      }),
    },
  },
  thresholds: {
    // 20% of 1500 is 300 (sd ~15): far from both ends.
    "udpClient.lost.outbound": "> 150",
    "udpClient.loss": "< 35%",
    "udpClient.lost.return": "== 0",
    "udpClient.lost.unexplained": "== 0",
    "tcpClient.failed": "== 0",
    "tcpClient.responses": ">= 100",
  },
});
