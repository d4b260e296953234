/**
 * A client with a 500 ms timeout while its link's delay rises from 10 ms to 600 ms and
 * back: a probe asks 100 times a second for 6 seconds; for the middle 2 seconds the way
 * to the server takes 600 ms, so those replies come back after the client gave up
 * (`late`), and none is lost. A later delay on the same packets takes over from an
 * earlier one for the packets that arrive after it is applied.
 *
 * Run: `deno task squall run scenarios/delay_timeout.ts` (as root).
 */

import { delay, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("a 500 ms timeout against a delay rising to 600 ms", {
  hosts: ["client", "server"],
  // 10 ms on the way to the server from the start; the function raises it to 600 ms.
  links: [{ between: ["client", "server"], faults: [delay("10ms", { direction: "forward" })] }],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: {
      on: "client",
      run: udpProbe({ target: "server:7000", duration: "6s", rate: 100, timeout: "500ms" }),
    },
  },
  thresholds: {
    "probe.late": "> 100",
    "probe.lost": "== 0",
    "probe.rtt.p50": "< 15ms",
  },
}, async (t) => {
  await t.sleep("2s");
  // The newer delay takes over for packets arriving after it; removed, the 10 ms is back.
  const slow = await t.link("client", "server").apply(delay("600ms", { direction: "forward" }));
  await t.sleep("2s");
  await slow.remove();
});
