// Whatever a scenario function does, the runner tears down and reports: a promise
// rejected with nobody listening, an exception from a timer, Deno.exit(), a function that
// blocks the event loop past its timeout, a thrown non-Error.

import assert from "node:assert/strict";
import { EnvironmentError, runScenario, scenario, type ScenarioFunction, udpEcho } from "../mod.ts";
import { isAlive, SQUALL_CLI } from "./_processes.ts";

/** Runs a loopback scenario with an echo and `fn`; returns its report. */
async function run(fn: ScenarioFunction, timeout: `${number}s` = "10s") {
  const report = await runScenario(
    scenario("misuse", {
      network: "loopback",
      hosts: ["local"],
      workloads: { echo: { on: "local", run: udpEcho({ port: 17410 }) } },
      timeout,
    }, fn),
  );
  for (const host of report.hosts) {
    if (host.agentPid !== null) assert.equal(isAlive(host.agentPid), false, "agent gone");
  }
  return report;
}

Deno.test("an unhandled rejection in the scenario function errors the scenario, with its stack, and tears down", async () => {
  const report = await run(async (t) => {
    Promise.reject(new Error("forgot to await this"));
    await t.sleep("2s");
  });
  assert.equal(report.status, "error");
  assert.match(
    report.errors.join("\n"),
    /Unhandled promise rejection in scenario code \(a missing await\?\): Error: forgot to await this\n\s+at .*misuse_test\.ts/,
  );
  assert.ok(report.durationMs < 1900, `stopped at once, not after the sleep: ${report.durationMs}`);
  assert.equal(report.workloads[0]!.status, "stopped");
});

Deno.test("an exception thrown from a timer errors the scenario", async () => {
  const report = await run(async (t) => {
    setTimeout(() => {
      throw new TypeError("in a timer");
    }, 10);
    await t.sleep("2s");
  });
  assert.equal(report.status, "error");
  assert.match(
    report.errors.join("\n"),
    /Uncaught exception in scenario code .*TypeError: in a timer/,
  );
});

Deno.test("Deno.exit() from scenario code tears the run down instead of ending the process", async () => {
  const exit = Deno.exit;
  const report = await run(() => {
    Deno.exit(7);
  });
  assert.equal(Deno.exit, exit, "Deno.exit is itself again");
  assert.equal(report.status, "error");
  assert.match(report.errors[0]!, /Deno\.exit\(7\) was called by scenario code/);
});

Deno.test("a scenario function that blocks the event loop past its timeout times out", async () => {
  const report = await run(() => {
    const until = performance.now() + 1500;
    while (performance.now() < until) {
      // Busy: no timer can fire.
    }
  }, "1s");
  assert.equal(report.status, "error");
  assert.deepEqual(report.errors, ["Scenario timed out after 1s"]);
});

Deno.test("a thrown non-Error is reported as such, and an Error with where it was thrown", async () => {
  const nothing = await run(() => {
    throw null;
  });
  assert.deepEqual(nothing.errors, [
    "The scenario threw null, not an Error (no message, no stack)",
  ]);
  const located = await run(() => {
    throw new Error("boom");
  });
  assert.match(located.errors[0]!, /^boom \(at .*misuse_test\.ts:\d+:\d+\)$/);
});

Deno.test("through the CLI, an unhandled rejection still writes every report and removes the run record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall-misuse-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...SQUALL_CLI,
        "run",
        "tests/fixtures/misuse/forgotten_await.ts",
        "--junit",
        `${dir}/junit.xml`,
        "--json",
        `${dir}/report.json`,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      env: { NO_COLOR: "1", SQUALL_RUN_DIR: `${dir}/records` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, text);
    assert.match(
      text,
      /Unhandled promise rejection in scenario code \(a missing await\?\): Error: bg/,
    );
    assert.match(await Deno.readTextFile(`${dir}/junit.xml`), /<error[^>]*>/);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(report.scenarios[0].status, "error");
    assert.deepEqual([...Deno.readDirSync(`${dir}/records`)], [], "the run record is gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an environment error raised during the run is reported with its hint", async () => {
  const report = await run(() => {
    throw new EnvironmentError(
      "Cannot do the thing: no widget on this machine",
      "apt-get install widget",
    );
  });
  assert.equal(report.status, "error");
  assert.equal(report.exitCode, 3);
  assert.deepEqual(report.errors, [
    "Cannot do the thing: no widget on this machine\nhint: apt-get install widget",
  ]);
});
