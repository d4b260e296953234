/**
 * 200 clients reconnecting through a 2-second blackhole: every client connects to a TCP
 * echo, exchanges a message, closes and connects again, with exponential backoff. After
 * 1 s the link drops everything for 2 s; attempts time out, clients back off, and when
 * the blackhole ends they come back. The threshold bounds how long after the blackhole
 * ended every client was served again.
 *
 * Run: `deno task squall run scenarios/reconnect_storm.ts` (as root).
 */

import { blackhole, reconnectStorm, scenario, tcpEcho } from "../mod.ts";

export default scenario("200 clients reconnecting through a 2 s blackhole", {
  hosts: ["client", "server"],
  links: [["client", "server"]],
  workloads: {
    echo: { on: "server", run: tcpEcho({ port: 7500 }) },
    storm: {
      on: "client",
      run: reconnectStorm({
        target: "server:7500",
        clients: 200,
        duration: "6s",
        connectTimeout: "500ms",
        backoff: { type: "exponential", initial: "50ms", max: "800ms", factor: 2, jitter: 0.2 },
      }),
    },
  },
  thresholds: {
    "storm.recovery": "< 2s",
    "storm.errors.timedOut": ">= 200",
    "storm.errors.other": "== 0",
  },
}, async (t) => {
  await t.sleep("1s");
  await t.link("client", "server").during(blackhole(), "2s");
});
