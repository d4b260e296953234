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

Deno.test("formatScenarioReport() shows one-way rows, the measuring path and missed pacing", () => {
  const scenario = structuredClone(sampleReport().scenarios[0]!);
  const w = scenario.workloads.find((w) => w.result?.kind === "udpProbe")!;
  const r = w.result as UdpProbeResult;
  const deno = formatScenarioReport(scenario, { color: false });
  assert.match(deno, new RegExp(`${w.name}: measured on Deno's sockets`));
  assert.doesNotMatch(deno, /one way/);

  const delay = (ns: number) => ({
    count: 10,
    min: ns,
    mean: ns,
    p50: ns,
    p90: ns,
    p99: ns,
    p999: ns,
    max: ns,
  });
  const histogram = {
    unit: "ns" as const,
    subBucketBits: 7,
    count: 0,
    min: 0,
    max: 0,
    sum: 0,
    buckets: [],
  };
  r.measuredBy = "native";
  r.clock = { send: "kernel", receive: "kernel" };
  r.oneWay = {
    forward: { delay: histogram, delaySummary: delay(3000), late: 1, reordered: 2, duplicated: 0 },
    return: {
      delay: histogram,
      delaySummary: delay(40_000_000),
      late: 5,
      reordered: 0,
      duplicated: 0,
    },
    echo: { time: histogram, timeSummary: delay(7000) },
  };
  r.pacing = {
    mode: "sleep-spin",
    lateness: delay(2_000_000),
    misses: r.sent,
    toleranceNs: 100_000,
  };
  r.cpu = { ns: 1e9, share: 0.12 };
  const native = formatScenarioReport(scenario, { color: false });
  assert.match(native, /out \(one way\)\s+\S+\s+1\s+0\s+2\s+3us/);
  assert.match(native, /back \(one way\)\s+\S+\s+5\s+0\s+0\s+40ms/);
  assert.match(
    native,
    /measured natively \(the kernel's socket timestamps\), the echo's own time p50 7us, CPU 12% of a core/,
  );
  assert.match(native, new RegExp(`${w.name}: pacing missed: ${r.sent} of ${r.sent} datagrams`));
});

Deno.test("formatScenarioReport() names a delay line's drop causes, and queue drops not split among flows", () => {
  const scenario = structuredClone(sampleReport().scenarios[0]!);
  const probe = scenario.workloads.find((w) => w.name === "probe")!.result as UdpProbeResult;
  const out = probe.ledger!.outbound!;
  const rest = out.lost - 100 - out.receiveBufferOverflow - out.noSocket;
  out.droppedByFault = [
    { fault: 3, description: "delay 2s: queue full", packets: 100, cause: "queueFull" },
  ];
  out.queueDropsNotSplit = {
    packets: rest,
    queues: [{
      fault: 4,
      description: "delay 1s: queue full",
      cause: "queueFull",
      dropped: 900,
      flows: 2,
      otherPackets: 0,
    }],
  };
  out.unexplained = 0;
  const text = formatScenarioReport(scenario, { color: false });
  assert.match(
    text,
    new RegExp(
      `probe out : lost ${out.lost} = 100 by fault #3 \\(its delay line's queue full\\)` +
        `.* \\+ ${rest} by delay lines' queues, not split among flows \\(fault #4 dropped 900 across 2 flows\\)`,
    ),
  );
  assert.doesNotMatch(text.split("\n").find((l) => l.includes("probe out"))!, /UNEXPLAINED/);
});
