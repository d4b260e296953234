import assert from "node:assert/strict";
import type { Problem } from "./errors.ts";
import type { UdpEchoResult, UdpProbeResult, WorkloadResult } from "./results.ts";
import { evaluateThreshold, formatMetric, parseThreshold, type Threshold } from "./threshold.ts";

function parsed(key: string, expression: unknown): Threshold {
  const result = parseThreshold(key, expression, "thresholds");
  assert.ok(!Array.isArray(result), `expected a threshold, got ${JSON.stringify(result)}`);
  return result;
}

function problems(key: string, expression: unknown): Problem[] {
  const result = parseThreshold(key, expression, "thresholds");
  assert.ok(Array.isArray(result), `expected problems, got ${JSON.stringify(result)}`);
  return result;
}

function probeResult(overrides: Partial<UdpProbeResult> = {}): UdpProbeResult {
  return {
    kind: "udpProbe",
    address: "198.18.0.2:7000",
    flowId: 1,
    startedAt: 0,
    durationMs: 1000,
    sent: 1000,
    delivered: 990,
    lost: 10,
    late: 0,
    duplicated: 0,
    reordered: 0,
    foreign: 0,
    echoReceived: 995,
    lostOutbound: 5,
    lostReturn: 5,
    loss: 0.01,
    rtt: {
      unit: "ns",
      subBucketBits: 7,
      count: 990,
      min: 200_000,
      max: 4_500_000,
      sum: 990_000_000,
      buckets: [],
    },
    rttSummary: {
      count: 990,
      min: 200_000,
      mean: 1_000_000,
      p50: 900_000,
      p90: 2_000_000,
      p99: 3_100_000,
      p999: 4_000_000,
      max: 4_500_000,
    },
    timeline: { intervalMs: 100, sent: [], delivered: [], late: [] },
    sendErrors: {},
    stoppedEarly: false,
    achievedRate: 1000,
    ledger: null,
    outages: [],
    outboundLossRuns: null,
    ...overrides,
  };
}

const echoResult: UdpEchoResult = {
  kind: "udpEcho",
  address: "198.18.0.2:7000",
  received: 995,
  replied: 995,
  sendErrors: {},
  flows: [],
};

function results(entries: Record<string, WorkloadResult>): Map<string, WorkloadResult> {
  return new Map(Object.entries(entries));
}

Deno.test("parseThreshold() reads a percentage on a ratio metric as 0-1", () => {
  assert.deepEqual(parsed("probe.loss", "< 2%"), {
    key: "probe.loss",
    workload: "probe",
    metric: "loss",
    expression: "< 2%",
    operator: "<",
    limit: 0.02,
    unit: "ratio",
  });
});

Deno.test("parseThreshold() reads a plain number on a ratio metric as it is", () => {
  const t = parsed("probe.loss", "<= 0.02");
  assert.equal(t.operator, "<=");
  assert.equal(t.limit, 0.02);
});

Deno.test("parseThreshold() accepts a ratio of exactly 100%", () => {
  assert.equal(parsed("probe.loss", "<= 100%").limit, 1);
});

Deno.test("parseThreshold() converts duration limits to milliseconds", () => {
  assert.equal(parsed("probe.rtt.p99", "< 5ms").limit, 5);
  assert.equal(parsed("probe.rtt.p99", "< 1s").limit, 1000);
  assert.equal(parsed("probe.rtt.p99", "< 500us").limit, 0.5);
  assert.equal(parsed("probe.rtt.max", "< 1m").limit, 60_000);
  assert.equal(parsed("probe.rtt.p99.9", "< 5ms").metric, "rtt.p99.9");
});

Deno.test("parseThreshold() reads a plain number on a count metric", () => {
  const t = parsed("probe.lost.outbound", "== 0");
  assert.equal(t.workload, "probe");
  assert.equal(t.metric, "lost.outbound");
  assert.equal(t.operator, "==");
  assert.equal(t.limit, 0);
  assert.equal(t.unit, "count");
});

Deno.test("parseThreshold() knows every comparison operator", () => {
  for (const operator of ["<", "<=", ">", ">=", "==", "!="]) {
    assert.equal(parsed("echo.received", `${operator} 10`).operator, operator);
  }
});

Deno.test("parseThreshold() rejects a key without a dot", () => {
  assert.deepEqual(problems("probeloss", "< 2%"), [{
    where: 'thresholds["probeloss"]',
    message: 'expected "<workload>.<metric>" such as "probe.loss", got "probeloss"',
  }]);
});

Deno.test("parseThreshold() rejects a key with an empty workload or metric part", () => {
  assert.equal(problems(".loss", "< 2%").length, 1);
  assert.equal(problems("probe.", "< 2%").length, 1);
});

Deno.test("parseThreshold() rejects an unknown metric and suggests a close one", () => {
  const [problem, ...rest] = problems("probe.los", "< 2%");
  assert.deepEqual(rest, []);
  assert.equal(problem?.where, 'thresholds["probe.los"]');
  assert.match(problem!.message, /^unknown metric "los"; did you mean "lost" or "loss"\?/);
  assert.match(problem!.message, /\(metrics: sent, delivered, lost, loss, .*, replied\)$/);
});

Deno.test("parseThreshold() lists the metrics without a suggestion when none is close", () => {
  const [problem] = problems("probe.jitter", "< 2ms");
  assert.match(problem!.message, /^unknown metric "jitter" \(metrics: sent, /);
  assert.doesNotMatch(problem!.message, /did you mean/);
});

Deno.test("parseThreshold() rejects a malformed expression", () => {
  assert.deepEqual(problems("probe.loss", "less than 2"), [{
    where: 'thresholds["probe.loss"]',
    message: 'expected a comparison such as "< 2%" or "<= 5ms", got "less than 2"',
  }]);
  assert.equal(problems("probe.loss", "2%").length, 1);
  assert.equal(problems("probe.loss", "< 2 %%").length, 1);
});

Deno.test("parseThreshold() rejects an expression that is not a string", () => {
  assert.deepEqual(problems("probe.loss", 0.02), [{
    where: 'thresholds["probe.loss"]',
    message: 'expected a comparison such as "< 2%", got number',
  }]);
});

Deno.test("parseThreshold() reports a bad key and a bad expression together", () => {
  const found = problems("probe.los", "less than 2");
  assert.equal(found.length, 2);
  assert.match(found[0]!.message, /unknown metric "los"/);
  assert.match(found[1]!.message, /expected a comparison/);
});

Deno.test("parseThreshold() rejects a duration metric without a unit", () => {
  assert.deepEqual(problems("probe.rtt.p99", "< 5"), [{
    where: 'thresholds["probe.rtt.p99"]',
    message: 'rtt.p99 is a duration: give a unit, as in "< 5ms" (got "< 5")',
  }]);
  assert.equal(problems("probe.rtt.p99", "< 5%").length, 1);
});

Deno.test("parseThreshold() rejects a percentage on a count metric", () => {
  assert.deepEqual(problems("probe.lost", "< 2%"), [{
    where: 'thresholds["probe.lost"]',
    message: 'lost is a count: give a plain number, got "< 2%"',
  }]);
  assert.equal(problems("probe.lost", "< 2ms").length, 1);
});

Deno.test("parseThreshold() rejects a ratio above 100%", () => {
  assert.deepEqual(problems("probe.loss", "< 150%"), [{
    where: 'thresholds["probe.loss"]',
    message: `loss is between 0% and 100%, got "< 150%"`,
  }]);
  assert.equal(problems("probe.loss", "< 1.5").length, 1);
  assert.equal(problems("probe.loss", "> -1%").length, 1);
});

Deno.test("parseThreshold() rejects a duration unit on a ratio metric", () => {
  const found = problems("probe.loss", "< 0.5ms");
  assert.deepEqual(found, [{
    where: 'thresholds["probe.loss"]',
    message: 'loss is a ratio: give a percentage or a number 0-1, got "< 0.5ms"',
  }]);
});

Deno.test("evaluateThreshold() passes a threshold that holds, with the measured value", () => {
  const outcome = evaluateThreshold(
    parsed("probe.loss", "< 2%"),
    results({ probe: probeResult() }),
  );
  assert.deepEqual(outcome, {
    key: "probe.loss",
    expression: "< 2%",
    ok: true,
    value: 0.01,
    measured: "1.00%",
  });
});

Deno.test("evaluateThreshold() reads durations in milliseconds from nanosecond summaries", () => {
  const outcome = evaluateThreshold(
    parsed("probe.rtt.p99", "< 5ms"),
    results({ probe: probeResult() }),
  );
  assert.equal(outcome.ok, true);
  assert.equal(outcome.value, 3.1);
  assert.equal(outcome.measured, "3.1ms");
});

Deno.test("evaluateThreshold() fails a threshold that does not hold, and says why", () => {
  const outcome = evaluateThreshold(
    parsed("probe.loss", " < 2% "),
    results({ probe: probeResult({ lost: 50, loss: 0.05 }) }),
  );
  assert.deepEqual(outcome, {
    key: "probe.loss",
    expression: " < 2% ",
    ok: false,
    value: 0.05,
    measured: "5.00%",
    reason: "probe.loss is 5.00%, expected < 2%",
  });
});

Deno.test("evaluateThreshold() fails a threshold on a workload that never ran", () => {
  const outcome = evaluateThreshold(parsed("probe.loss", "< 2%"), results({ echo: echoResult }));
  assert.deepEqual(outcome, {
    key: "probe.loss",
    expression: "< 2%",
    ok: false,
    value: null,
    measured: "-",
    reason: 'no workload named "probe" ran (workloads: echo)',
  });
  const none = evaluateThreshold(parsed("probe.loss", "< 2%"), results({}));
  assert.equal(none.reason, 'no workload named "probe" ran (workloads: none)');
});

Deno.test("evaluateThreshold() fails a metric the workload's kind does not have", () => {
  const outcome = evaluateThreshold(parsed("echo.loss", "< 2%"), results({ echo: echoResult }));
  assert.equal(outcome.ok, false);
  assert.equal(outcome.value, null);
  assert.equal(
    outcome.reason,
    '"echo" is a udpEcho, which has no metric "loss" (it has: received, replied)',
  );
});

Deno.test("evaluateThreshold() fails a metric that was not measured", () => {
  const outcome = evaluateThreshold(
    parsed("probe.lost.outbound", "== 0"),
    results({ probe: probeResult({ echoReceived: null, lostOutbound: null, lostReturn: null }) }),
  );
  assert.equal(outcome.ok, false);
  assert.equal(outcome.value, null);
  assert.equal(outcome.measured, "-");
  assert.equal(outcome.reason, "lost.outbound was not measured in this run");
});

Deno.test("evaluateThreshold() fails a latency threshold when nothing came back", () => {
  const probe = probeResult({
    delivered: 0,
    lost: 1000,
    loss: 1,
    rttSummary: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 },
  });
  const outcome = evaluateThreshold(parsed("probe.rtt.p99", "< 5ms"), results({ probe }));
  assert.equal(outcome.ok, false);
  assert.equal(outcome.reason, "rtt.p99 was not measured in this run");
});

Deno.test("evaluateThreshold() compares counts exactly", () => {
  const probe = probeResult();
  assert.equal(evaluateThreshold(parsed("probe.lost", "== 10"), results({ probe })).ok, true);
  assert.equal(evaluateThreshold(parsed("probe.lost", "!= 10"), results({ probe })).ok, false);
  assert.equal(evaluateThreshold(parsed("probe.lost", ">= 10"), results({ probe })).ok, true);
  assert.equal(evaluateThreshold(parsed("probe.lost", "> 10"), results({ probe })).ok, false);
  assert.equal(evaluateThreshold(parsed("probe.lost", "< 10"), results({ probe })).ok, false);
  assert.equal(evaluateThreshold(parsed("probe.lost", "<= 10"), results({ probe })).ok, true);
});

// Limits are decimal shifts, not float products: 0.7 / 100 would be 0.006999999999999999
// and fail a loss of exactly 7 in 1000; 700 * 0.001 would let 700us pass "< 700us".
Deno.test("evaluateThreshold() passes a loss exactly at an inclusive percentage limit", () => {
  const probe = probeResult({ sent: 1000, delivered: 993, lost: 7, loss: 7 / 1000 });
  const outcome = evaluateThreshold(parsed("probe.loss", "<= 0.7%"), results({ probe }));
  assert.equal(outcome.ok, true, outcome.reason);
});

Deno.test("parseThreshold() turns 700us into exactly 0.7ms", () => {
  assert.equal(parsed("probe.rtt.p50", "< 700us").limit, 0.7);
});

Deno.test("formatMetric() prints ratios as percentages, with two decimals below 10%", () => {
  assert.equal(formatMetric(0.0042, "ratio"), "0.42%");
  assert.equal(formatMetric(0, "ratio"), "0.00%");
  assert.equal(formatMetric(0.25, "ratio"), "25.0%");
  assert.equal(formatMetric(1, "ratio"), "100.0%");
});

Deno.test("formatMetric() prints durations and counts", () => {
  assert.equal(formatMetric(3.1, "duration"), "3.1ms");
  assert.equal(formatMetric(0.85, "duration"), "850us");
  assert.equal(formatMetric(12, "count"), "12");
});
