import assert from "node:assert/strict";
import { formatScenarioReport } from "./text.ts";
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
