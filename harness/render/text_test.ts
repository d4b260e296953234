import assert from "node:assert/strict";
import { formatEvent, formatScenarioReport } from "./text.ts";
import type { RunEvent } from "../runner/events.ts";
import type { UdpProbeResult } from "../measure/results.ts";
import { sampleReport } from "../../tests/fixtures/reports/sample_report.ts";

/** The sample report's first scenario, with one probe's outages replaced. */
function withOutages(outages: UdpProbeResult["outages"]): string {
  const scenario = structuredClone(sampleReport().scenarios[0]!);
  const probe = scenario.workloads.find((w) => w.result?.kind === "udpProbe")!;
  (probe.result as UdpProbeResult).outages = outages;
  return formatScenarioReport(scenario, { color: false });
}

Deno.test("formatScenarioReport() says answered again only after an answer", () => {
  const recovered = withOutages([{ fromMs: 1000, toMs: 2000, sent: 10, recovered: true }]);
  assert.match(
    recovered,
    /outage from \+1s to \+2s \(10 datagrams unanswered\); answered again from \+2s/,
  );
  const never = withOutages([{ fromMs: 1000, toMs: 3000, sent: 20, recovered: false }]);
  assert.match(
    never,
    /outage from \+1s until the probe ended \(20 datagrams unanswered\); never answered again/,
  );
  assert.doesNotMatch(never, /answered again from/);
});

Deno.test("formatScenarioReport() shows control characters from names, logs and stderr escaped", () => {
  const scenario = structuredClone(sampleReport().scenarios[0]!);
  scenario.name = "evil\x1b[2J\nscenarios: 9 passed, 0 failed";
  scenario.checks.push({ name: "check\r\x1b]0;title\x07", ok: true, detail: "\u202eevil" });
  scenario.log.push({ atMs: 1, message: "log line\x1b[1A" });
  scenario.errors.push("first line\nsecond line\x1b[31m");
  const text = formatScenarioReport(scenario, { color: false });
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
  assert.match(text, /evil\\x1b\[2J\\nscenarios: 9 passed, 0 failed/);
  assert.match(text, /check: check\\r\\x1b\]0;title\\x07/);
  assert.ok(!text.split("\n").some((l) => l.startsWith("scenarios:")), "no forged summary line");
  assert.match(text, / {2}error: first line\n {4}second line\\x1b\[31m/);
});

Deno.test("formatEvent() escapes a log line and a workload name", () => {
  const text = formatEvent(
    { type: "log", message: "moved\x1b[H\nscenarios: 1 passed, 0 failed" } as RunEvent,
    { color: false },
  )!;
  assert.equal(text, "  log    moved\\x1b[H\\nscenarios: 1 passed, 0 failed");
});
