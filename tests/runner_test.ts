// How the runner ends a scenario, on loopback (real agents and sockets, no privileges):
// a throwing function, a bad workload started at run time, a failed check, a timeout.

import assert from "node:assert/strict";
import {
  bindChurn,
  ExitCode,
  runScenario,
  scenario,
  ScenarioError,
  udpEcho,
  udpProbe,
} from "../mod.ts";
import { settledLoss } from "../harness/runner/events.ts";
import { isAlive } from "./_processes.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";

const PORT = 17100;

function loopback(name: string, fn: Parameters<typeof scenario>[2], timeout = "20s") {
  return scenario(name, {
    network: "loopback",
    hosts: ["local"],
    timeout: timeout as "20s",
    workloads: { echo: { on: "local", run: udpEcho({ port: PORT }) } },
  }, fn);
}

function agentsGone(report: { hosts: { agentPid: number | null }[] }): boolean {
  return report.hosts.every((h) => h.agentPid === null || !isAlive(h.agentPid));
}

Deno.test("a scenario function that throws ends the scenario as an error, torn down", async () => {
  const report = await runScenario(loopback("throws", () => {
    throw new Error("boom in the scenario");
  }));
  assert.equal(report.status, "error");
  assert.equal(report.exitCode, ExitCode.Failed);
  assert.deepEqual(report.errors, ["boom in the scenario"]);
  assert.equal(report.workloads[0]!.status, "stopped");
  assert.ok(agentsGone(report));
});

Deno.test("a bad workload started at run time is bad input (exit 2), and the run is torn down", async () => {
  let caught: unknown;
  const report = await runScenario(loopback("bad start", async (t) => {
    try {
      await t.start("p", { on: "local", run: udpProbe({ target: "local:0", rate: 0 }) });
    } catch (error) {
      caught = error;
      throw error;
    }
  }));
  assert.ok(caught instanceof ScenarioError);
  assert.equal(caught.problems.length, 3, caught.message);
  assert.equal(report.status, "error");
  assert.equal(report.exitCode, ExitCode.BadInput);
  assert.ok(agentsGone(report));
});

Deno.test("a failed check fails the scenario with exit 1; results are still there", async () => {
  const report = await runScenario(loopback("failed check", async (t) => {
    const probe = await t.start("probe", {
      on: "local",
      run: udpProbe({ target: `local:${PORT}`, count: 50, rate: 500, timeout: "200ms" }),
    });
    const result = await probe.result();
    t.check("the impossible", result.delivered > result.sent, `${result.delivered}/${result.sent}`);
  }));
  assert.equal(report.status, "failed");
  assert.equal(report.exitCode, ExitCode.Failed);
  assert.deepEqual(report.checks, [{ name: "the impossible", ok: false, detail: "50/50" }]);
  const probe = report.workloads.find((w) => w.name === "probe")!;
  assert.equal(probe.status, "finished");
  assert.equal(probe.result?.kind, "udpProbe");
});

Deno.test("a scenario that outlives its timeout is stopped and reported as an error", async () => {
  const start = performance.now();
  const report = await runScenario(loopback("too slow", async (t) => {
    await t.sleep("30s");
  }, "500ms"));
  assert.ok(performance.now() - start < 5000, "stopped soon after the timeout");
  assert.equal(report.status, "error");
  assert.deepEqual(report.errors, ["Scenario timed out after 500ms"]);
  assert.ok(agentsGone(report));
});

Deno.test("an aborted signal interrupts the run and keeps what was measured", async () => {
  const controller = new AbortController();
  const report = await runScenario(
    loopback("aborted", async (t) => {
      const probe = await t.start("probe", {
        on: "local",
        run: udpProbe({ target: `local:${PORT}`, duration: "20s", rate: 200 }),
      });
      setTimeout(() => controller.abort(), 300);
      await probe.result();
    }),
    { signal: controller.signal },
  );
  assert.equal(report.status, "interrupted");
  assert.equal(report.exitCode, ExitCode.Interrupted);
  const probe = report.workloads.find((w) => w.name === "probe")!;
  assert.equal(probe.status, "stopped");
  assert.ok(probe.result && probe.result.kind === "udpProbe" && probe.result.sent > 20);
  assert.ok(agentsGone(report));
});

Deno.test("runScenario() rejects an invalid scenario with every problem, before starting anything", async () => {
  const bad = scenario("bad", {
    hosts: ["a", "a"],
    links: [["a", "b"]],
    thresholds: { "x.nope": "< 1" },
  });
  await assert.rejects(runScenario(bad), (error: unknown) => {
    assert.ok(error instanceof ScenarioError);
    assert.equal(error.exitCode, ExitCode.BadInput);
    assert.ok(error.problems.length >= 3, error.message);
    return true;
  });
});

Deno.test("a ping-pong probe keeps one datagram in flight and is answered every time", async () => {
  const report = await runScenario(loopback("ping-pong", async (t) => {
    const probe = await t.start("pp", {
      on: "local",
      run: udpProbe({ target: `local:${PORT}`, count: 500, rate: 1_000_000, pingPong: true }),
    });
    await probe.result();
  }));
  const r = report.workloads.find((w) => w.name === "pp")!.result as UdpProbeResult;
  assert.equal(r.sent, 500);
  assert.equal(r.delivered, 500);
  assert.equal(r.reordered, 0, "one in flight cannot be reordered");
  assert.equal(r.echoReceived, 500);
});

Deno.test("a probe given a duration sends exactly rate x duration datagrams", async () => {
  const report = await runScenario(loopback("by duration", async (t) => {
    const probe = await t.start("timed", {
      on: "local",
      run: udpProbe({ target: `local:${PORT}`, duration: "1s", rate: 2000, timeout: "200ms" }),
    });
    await probe.result();
  }));
  const r = report.workloads.find((w) => w.name === "timed")!.result as UdpProbeResult;
  assert.equal(r.sent, 2000);
  assert.ok(r.achievedRate > 1800 && r.achievedRate < 2200, `achieved ${r.achievedRate}/s`);
});

Deno.test("a bind churn that shares a host with other workloads is named in the log, and one alone is not", async () => {
  const run = (shared: boolean) =>
    runScenario(scenario(shared ? "churn beside an echo" : "churn alone", {
      network: "loopback",
      hosts: ["local"],
      workloads: {
        ...(shared ? { echo: { on: "local", run: udpEcho({ port: 17311 }) } } : {}),
        churn: { on: "local", run: bindChurn({ port: 17312, cycles: 2000 }) },
      },
    }));
  const shared = await run(true);
  assert.equal(shared.status, "passed", JSON.stringify(shared.errors));
  assert.ok(
    shared.log.some((l) =>
      /^Bind churn churn shares host "local" with echo: .* give the churn a host of its own$/
        .test(l.message)
    ),
    JSON.stringify(shared.log),
  );
  const alone = await run(false);
  assert.equal(alone.status, "passed", JSON.stringify(alone.errors));
  assert.deepEqual(alone.log.filter((l) => l.message.includes("shares host")), []);
});

Deno.test("settledLoss() counts only datagrams whose replies are due: in-flight ones are not lost", () => {
  const timeline = { intervalMs: 100, sent: [50, 50, 50], delivered: [50, 45, 0], late: [0, 1, 0] };
  assert.equal(settledLoss(timeline, -750), 0, "nothing due yet");
  assert.equal(settledLoss(timeline, 150), 0, "only the first interval is due");
  assert.equal(settledLoss(timeline, 200), 4 / 100);
  assert.equal(settledLoss(timeline, 300), 54 / 150, "the third interval, due, lost all");
  assert.equal(settledLoss(timeline, 10_000), 54 / 150, "beyond the timeline");
});
