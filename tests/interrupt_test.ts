// Ctrl-C tears everything down and still reports what was measured, with exit 130.

import assert from "node:assert/strict";
import { readLines } from "../harness/agent/protocol.ts";
import type { RunReport } from "../harness/runner/report.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";
import { eventually, isAlive, SQUALL_CLI } from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Starts `squall run <fixture> --json <json>` in a process group of its own (as a shell
 * gives a job: the terminal's Ctrl-C goes to every process in it), and reads its output
 * until the probe has started; resolves with the runner, its remaining output lines and
 * the agents' pids.
 */
async function startRun(fixture: string, json: string, env: Record<string, string> = {}) {
  const runner = new Deno.Command(Deno.execPath(), {
    args: [
      ...SQUALL_CLI,
      "run",
      fixture,
      "--json",
      json,
      "--allow-run",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
    detached: true,
  }).spawn();
  const agentPids: number[] = [];
  const lines = readLines(runner.stdout);
  // Not for-await with break: that would close the generator and lose the rest.
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const agent = /agent pid (\d+)/.exec(next.value);
    if (agent) agentPids.push(Number(agent[1]));
    if (next.value.includes("start  probe")) break;
  }
  return { runner, lines, agentPids };
}

/**
 * Runs tests/fixtures/long_probe.ts, interrupts it 1 s into the probe with `interrupt`,
 * and checks that the run stopped cleanly, with exit 130 and what was measured.
 */
async function interruptedRun(
  interrupt: (runner: Deno.ChildProcess) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "squall-interrupt-" });
  const json = `${dir}/report.json`;
  try {
    const { runner, lines, agentPids } = await startRun("tests/fixtures/long_probe.ts", json);
    await new Promise((r) => setTimeout(r, 1000));
    interrupt(runner);
    const rest: string[] = [];
    for await (const line of lines) rest.push(line);
    const stderr = await new Response(runner.stderr).text();
    const status = await runner.status;

    assert.equal(status.code, 130, stderr);
    assert.match(stderr, /Interrupted: stopping workloads/);
    assert.match(rest.join("\n"), /INTERRUPTED long probe/);
    assert.ok(
      await eventually(() => agentPids.every((pid) => !isAlive(pid)), 3000),
      "agents exited",
    );

    const report: RunReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.exitCode, 130);
    assert.equal(report.scenarios[0]!.status, "interrupted");
    for (const w of report.scenarios[0]!.workloads) {
      assert.notEqual(w.status, "failed", `${w.name}: ${w.error}`);
    }
    const probe = report.scenarios[0]!.workloads.find((w) => w.name === "probe")!;
    assert.equal(probe.status, "stopped");
    const r = probe.result as UdpProbeResult;
    assert.ok(r.sent >= 100, `measured before the interrupt: sent ${r.sent}`);
    assert.ok(r.stoppedEarly);
    assert.equal(r.sent, r.delivered + r.lost + r.late);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SIGINT to the runner stops the run, writes the report with what was measured, and exits 130", async () => {
  await interruptedRun((runner) => runner.kill("SIGINT"));
});

Deno.test("SIGINT to the whole process group, as a terminal's Ctrl-C, stops the run the same way", async () => {
  await interruptedRun((runner) => Deno.kill(-runner.pid, "SIGINT"));
});

Deno.test("^C typed at a real terminal (a pseudo-terminal from script(1)) stops the run with every measurement", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall-pty-" });
  const json = `${dir}/report.json`;
  try {
    const command = [
      Deno.execPath(),
      ...SQUALL_CLI,
      "run tests/fixtures/long_probe.ts --json",
      json,
    ].join(" ");
    // script runs the command on a new pseudo-terminal, as its foreground job, and copies
    // its own stdin to the terminal: a 0x03 byte there is a Ctrl-C typed at the keyboard.
    const terminal = new Deno.Command("script", {
      args: ["-qfec", command, "/dev/null"],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const keyboard = terminal.stdin.getWriter();
    const decoder = new TextDecoder();
    let screen = "";
    let typed = false;
    for await (const chunk of terminal.stdout) {
      screen += decoder.decode(chunk, { stream: true });
      if (!typed && screen.includes("start  probe")) {
        typed = true;
        setTimeout(() => keyboard.write(new Uint8Array([0x03])).catch(() => {}), 1000);
      }
    }
    await keyboard.close().catch(() => {});
    await terminal.stderr.cancel();
    const status = await terminal.status;
    assert.equal(status.code, 130, screen.slice(-2000));
    assert.match(screen, /Interrupted: stopping workloads/);
    const report: RunReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.scenarios[0]!.status, "interrupted");
    for (const w of report.scenarios[0]!.workloads) {
      assert.notEqual(w.status, "failed", `${w.name}: ${w.error}`);
    }
    const r = report.scenarios[0]!.workloads.find((w) => w.name === "probe")!
      .result as UdpProbeResult;
    assert.ok(r.sent >= 100, `measured before the interrupt: sent ${r.sent}`);
    assert.equal(r.sent, r.delivered + r.lost + r.late);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second Ctrl-C stops waiting, and still writes the report and removes the run record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall-interrupt-" });
  const json = `${dir}/report.json`;
  try {
    const { runner, lines, agentPids } = await startRun("tests/fixtures/slow_to_stop.ts", json, {
      SQUALL_RUN_DIR: `${dir}/records`,
    });
    await new Promise((r) => setTimeout(r, 1000));
    Deno.kill(-runner.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 150));
    // The first stop waits for a program that ignores SIGTERM (20 s); the second cuts it.
    const secondAt = performance.now();
    Deno.kill(-runner.pid, "SIGINT");
    for await (const _ of lines) { /* drain */ }
    const stderr = await new Response(runner.stderr).text();
    const status = await runner.status;
    assert.equal(status.code, 130, stderr);
    assert.match(stderr, /Not waiting: agents are ended now/);
    assert.ok(performance.now() - secondAt < 5000, "it stopped waiting for the program");
    const report: RunReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.scenarios[0]!.status, "interrupted");
    const probe = report.scenarios[0]!.workloads.find((w) => w.name === "probe")!;
    const sent = (probe.result as UdpProbeResult | null)?.sent ?? 0;
    assert.ok(sent >= 100, `what was measured: sent ${sent}`);
    assert.deepEqual([...Deno.readDirSync(`${dir}/records`)], [], "the run record is gone");
    assert.ok(
      await eventually(() => agentPids.every((pid) => !isAlive(pid)), 3000),
      "agents exited",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM while scenarios load ends squall as interrupted (130), with nothing created", async () => {
  const runner = new Deno.Command(Deno.execPath(), {
    args: [
      ...SQUALL_CLI,
      "run",
      "tests/fixtures/misuse/slow_import.ts",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  await new Promise((r) => setTimeout(r, 1500)); // the import takes 3 s
  runner.kill("SIGTERM");
  const output = await runner.output();
  assert.equal(output.code, 130, new TextDecoder().decode(output.stderr));
  assert.equal(new TextDecoder().decode(output.stdout), "", "nothing ran");
});
