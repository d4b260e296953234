// Every scenario in scenarios/ runs in the test suite, on the real kernel, and passes.
// Each flow's counts must add up exactly.

import assert from "node:assert/strict";
import { runScenario } from "../mod.ts";
import { isScenario } from "../harness/scenario/scenario.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";

const dir = new URL("../scenarios/", import.meta.url);
const files = [...Deno.readDirSync(dir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts") && !e.name.startsWith("_"))
  .map((e) => e.name)
  .sort();

Deno.test("scenarios/ has the examples the docs promise", () => {
  assert.ok(files.includes("udp_echo.ts"));
  assert.ok(files.includes("loopback.ts"));
});

for (const name of files) {
  Deno.test(`scenario ${name} runs and passes`, async () => {
    const module = await import(new URL(name, dir).href);
    assert.ok(isScenario(module.default), `${name} exports a scenario as default`);
    const report = await runScenario(module.default, { file: `scenarios/${name}` });
    const failures = [
      ...report.errors,
      ...report.thresholds.filter((t) => !t.ok).map((t) => t.reason),
      ...report.checks.filter((c) => !c.ok).map((c) => `check failed: ${c.name}`),
    ];
    assert.deepEqual(failures, []);
    assert.equal(report.status, "passed");
    for (const w of report.workloads) {
      if (w.result?.kind !== "udpProbe") continue;
      const r = w.result as UdpProbeResult;
      assert.ok(r.sent > 0, `${w.name} sent something`);
      assert.equal(
        r.sent,
        r.delivered + r.lost + r.late,
        `${w.name}: sent = delivered + lost + late`,
      );
      if (r.lostOutbound !== null) {
        assert.equal(r.lostOutbound + r.lostReturn!, r.lost, `${w.name}: outbound + return = lost`);
      }
      assert.equal(
        r.timeline.sent.reduce((a, b) => a + b, 0),
        r.sent,
        `${w.name}: timeline adds up`,
      );
    }
  });
}
