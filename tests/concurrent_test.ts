// Two runs at the same time on one machine do not collide: each has its own run id,
// its own namespaces and its own links, even with the same host names and ports.

import assert from "node:assert/strict";
import { runScenario } from "../mod.ts";
import scenario from "../scenarios/udp_echo.ts";

Deno.test("two runs of the same scenario at once both pass, with separate run ids and agents", async () => {
  const [a, b] = await Promise.all([runScenario(scenario), runScenario(scenario)]);
  assert.equal(a.status, "passed", JSON.stringify(a.errors));
  assert.equal(b.status, "passed", JSON.stringify(b.errors));
  assert.notEqual(a.runId, b.runId);
  const pids = [...a.hosts, ...b.hosts].map((h) => h.agentPid);
  assert.equal(new Set(pids).size, 4);
  for (const report of [a, b]) {
    for (const host of report.hosts) {
      for (const i of host.interfaces) {
        assert.ok(i.name.startsWith(`sq-${report.runId}-`), i.name);
        assert.ok(i.name.length <= 15, i.name);
      }
    }
  }
});
