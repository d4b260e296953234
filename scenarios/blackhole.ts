/**
 * A 2-second blackhole and the recovery after it: a probe runs for 6 seconds; after 2
 * seconds the link drops everything in both directions for 2 seconds. The report shows
 * one outage, when service came back, and that every lost datagram was the blackhole's.
 *
 * Run: `deno task squall run scenarios/blackhole.ts` (as root).
 */

import { blackhole, scenario, udpEcho, udpProbe } from "../mod.ts";

export default scenario("a 2 s blackhole and recovery", {
  hosts: ["client", "server"],
  links: [["client", "server"]],
  workloads: {
    echo: { on: "server", run: udpEcho({ port: 7000 }) },
    probe: {
      on: "client",
      run: udpProbe({ target: "server:7000", duration: "6s", rate: 500, timeout: "500ms" }),
    },
  },
  thresholds: {
    "probe.outage.count": "== 1",
    "probe.outage.longest": "<= 2.2s",
    "probe.lost.unexplained": "== 0",
  },
}, async (t) => {
  await t.sleep("2s");
  await t.link("client", "server").during(blackhole(), "2s");
  const probe = await t.workload("probe").result();
  if (probe.kind === "udpProbe") {
    const outage = probe.outages[0];
    t.check(
      "service came back within 300 ms of the blackhole's end",
      outage !== undefined && outage.toMs - outage.fromMs <= 2300,
      outage ? `outage ${outage.fromMs}-${outage.toMs} ms` : "no outage",
    );
  }
});
