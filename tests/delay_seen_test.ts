// squall's own probe sees the delay squall adds: the delay line holds packets after the
// kernel stamped their arrival, so the native probe and echo read their receive times
// after the line instead, and the report's one-way delays and round trip carry the delay
// of each direction, on the real kernel.

import assert from "node:assert/strict";
import { delay, runScenario, scenario, udpEcho, udpProbe } from "../mod.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";

Deno.test("a delay on each direction shows in that direction's one-way delay and in the round trip", async () => {
  const report = await runScenario(
    scenario("delay seen", {
      hosts: ["client", "server"],
      links: [{
        between: ["client", "server"],
        faults: [
          delay("10ms", { direction: "forward" }),
          delay("20ms", { direction: "reverse" }),
        ],
      }],
      workloads: {
        echo: { on: "server", run: udpEcho({ port: 7000 }) },
        probe: {
          on: "client",
          run: udpProbe({ target: "server:7000", count: 1000, rate: 500, timeout: "1s" }),
        },
      },
    }),
  );
  assert.deepEqual(report.errors, []);
  const r = report.workloads.find((w) => w.name === "probe")!.result as UdpProbeResult;
  assert.equal(r.measuredBy, "native");
  assert.equal(r.delivered, r.sent, "nothing lost or late");
  assert.ok(r.oneWay, "one-way delays measured");
  const ms = (ns: number) => ns / 1e6;
  const forward = ms(r.oneWay.forward.delaySummary.p50);
  const back = ms(r.oneWay.return.delaySummary.p50);
  const rtt = ms(r.rttSummary.p50);
  assert.ok(Math.abs(forward - 10) < 1, `forward p50 ${forward} ms, configured 10 ms`);
  assert.ok(Math.abs(back - 20) < 1, `return p50 ${back} ms, configured 20 ms`);
  assert.ok(Math.abs(rtt - 30) < 2, `round trip p50 ${rtt} ms, configured 10 + 20 ms`);
  assert.equal(r.clock.receive, "user", "receive times read after the delay line");
});
