// An agent that dies mid-run (SIGKILL, at a random moment) ends the run within a bounded
// time, fails the scenario naming its host, and leaves nothing behind: whatever runs on
// that host (an echo, a probe, programs under test only) and whatever state the other
// workloads are in.

import assert from "node:assert/strict";
import { readLines } from "../harness/agent/protocol.ts";
import type { RunReport } from "../harness/runner/report.ts";
import { eventually, isAlive, SQUALL_CLI } from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs `file`, kills the agent of `host` `afterMs` after its workloads started. */
async function killAgentDuring(file: string, host: string, afterMs: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "squall-dead-agent-" });
  const json = `${dir}/report.json`;
  try {
    const runner = new Deno.Command(Deno.execPath(), {
      args: [
        ...SQUALL_CLI,
        "run",
        file,
        "--json",
        json,
        "--allow-run", // its programs under test
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const agents = new Map<string, number>();
    let runId = "";
    const lines = readLines(runner.stdout);
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      const agent = /^\s+host\s+(\S+)\s+(?:\S+\s+)?agent pid (\d+)/.exec(next.value);
      if (agent) agents.set(agent[1]!, Number(agent[2]));
      runId ||= /\(run ([0-9a-f]{6}),/.exec(next.value)?.[1] ?? "";
      if (next.value.includes("  start  ")) break;
    }
    const victim = agents.get(host);
    assert.ok(victim, `agent of ${host} in ${[...agents.keys()]}`);
    await new Promise((r) => setTimeout(r, afterMs));
    Deno.kill(victim, "SIGKILL");
    const killedAt = performance.now();
    const rest: string[] = [];
    for await (const line of lines) rest.push(line);
    const stderr = await new Response(runner.stderr).text();
    const status = await runner.status;
    const tookMs = performance.now() - killedAt;
    const shown = `${rest.join("\n")}\n${stderr}`;

    assert.ok(tookMs < 15_000, `ended ${Math.round(tookMs)} ms after the kill\n${shown}`);
    assert.equal(status.code, 1, shown);
    const report: RunReport = JSON.parse(await Deno.readTextFile(json));
    const scenario = report.scenarios[0]!;
    assert.notEqual(scenario.status, "passed");
    assert.ok(
      scenario.errors.some((e) =>
        e.includes(`Agent of host "${host}" (pid ${victim}) exited on SIGKILL`)
      ),
      `the report names the dead agent's host: ${JSON.stringify(scenario.errors)}`,
    );
    assert.ok(scenario.workloads.every((w) => w.status !== "running"), "no workload left running");
    assert.ok(
      await eventually(() => [...agents.values()].every((pid) => !isAlive(pid)), 3000),
      "every agent is gone",
    );
    const links = await new Deno.Command("ip", { args: ["-o", "link"], stdout: "piped" }).output();
    assert.doesNotMatch(new TextDecoder().decode(links.stdout), new RegExp(`sq-${runId}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A random moment in [fromMs, toMs), different each run, printed so a failure can be replayed. */
function randomMs(fromMs: number, toMs: number): number {
  const ms = Math.round(fromMs + Math.random() * (toMs - fromMs));
  console.log(`killing after ${ms} ms`);
  return ms;
}

Deno.test("a dead echo agent fails the scenario while its probe runs on, and the run ends", async () => {
  await killAgentDuring("scenarios/udp_loss.ts", "server", randomMs(200, 2500));
});

Deno.test("a dead probe agent fails the scenario and the run ends", async () => {
  await killAgentDuring("scenarios/blackhole.ts", "client", randomMs(200, 2500));
});

Deno.test("a dead agent of a host that runs only programs under test fails the scenario", async () => {
  await killAgentDuring("scenarios/udp_rebind.ts", "server", randomMs(50, 400));
});
