// The README's "From a Deno test" section, as it is written there: runScenario inside
// Deno.test, with the test sanitizers on (Deno's default, and deno.json says so), for a
// namespaced scenario and a loopback one. A leaked resource or pending op (an agent's
// process, its pipes, a timer) fails the test through the sanitizers; on top of that,
// each agent process must be gone and the report must have passed.

import assert from "node:assert/strict";
import { runScenario, type ScenarioReport } from "../mod.ts";
import scenario from "../scenarios/udp_echo.ts";
import loopback from "../scenarios/loopback.ts";

/** Every agent of the report has exited and been reaped: nothing outlives the run. */
function assertAgentsGone(report: ScenarioReport): void {
  const pids = report.hosts.map((h) => h.agentPid);
  assert.ok(pids.length > 0 && pids.every((pid) => pid !== null), "the report names its agents");
  for (const pid of pids) {
    assert.throws(() => Deno.statSync(`/proc/${pid}`), Deno.errors.NotFound, `agent ${pid}`);
  }
}

Deno.test("the echo answers every datagram", async () => {
  const report = await runScenario(scenario);
  if (report.status !== "passed") throw new Error(JSON.stringify(report.thresholds));
  assertAgentsGone(report);
});

Deno.test("the echo on loopback answers every datagram", async () => {
  const report = await runScenario(loopback);
  if (report.status !== "passed") throw new Error(JSON.stringify(report.thresholds));
  assertAgentsGone(report);
});
