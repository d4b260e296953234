// Ctrl-C tears everything down and still reports what was measured, with exit 130.

import assert from "node:assert/strict";
import { readLines } from "../harness/agent/protocol.ts";
import type { RunReport } from "../harness/runner/report.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";
import { eventually, isAlive } from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("SIGINT stops the run, writes the report with what was measured, and exits 130", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall-interrupt-" });
  const json = `${dir}/report.json`;
  try {
    const runner = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        "harness/cli/main.ts",
        "run",
        "tests/fixtures/long_probe.ts",
        "--json",
        json,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const agentPids: number[] = [];
    const lines = readLines(runner.stdout);
    // Not for-await with break: that would close the generator and lose the rest.
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      const agent = /agent pid (\d+)/.exec(next.value);
      if (agent) agentPids.push(Number(agent[1]));
      if (next.value.includes("start  probe")) break;
    }
    await new Promise((r) => setTimeout(r, 1000));
    runner.kill("SIGINT");
    const rest: string[] = [];
    for await (const line of lines) rest.push(line);
    const stderr = await new Response(runner.stderr).text();
    const status = await runner.status;

    assert.equal(status.code, 130);
    assert.match(stderr, /Interrupted: stopping workloads/);
    assert.match(rest.join("\n"), /INTERRUPTED long probe/);
    assert.ok(
      await eventually(() => agentPids.every((pid) => !isAlive(pid)), 3000),
      "agents exited",
    );

    const report: RunReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.exitCode, 130);
    assert.equal(report.scenarios[0]!.status, "interrupted");
    const probe = report.scenarios[0]!.workloads.find((w) => w.name === "probe")!;
    assert.equal(probe.status, "stopped");
    const r = probe.result as UdpProbeResult;
    assert.ok(r.sent >= 100, `measured before the interrupt: sent ${r.sent}`);
    assert.ok(r.stoppedEarly);
    assert.equal(r.sent, r.delivered + r.lost + r.late);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
