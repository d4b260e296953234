import assert from "node:assert/strict";
import type { Problem } from "../core/errors.ts";
import { Histogram } from "../measure/histogram.ts";
import { METRICS } from "./metrics.ts";
import type { UdpEchoResult, UdpProbeResult, WorkloadResult } from "../measure/results.ts";
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
    measuredBy: "deno",
    clock: { send: "user", receive: "user" },
    oneWay: null,
    pacing: null,
    cpu: null,
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
  assert.match(problem!.message, /\(metrics: sent, delivered, lost, loss, .*, replied, .*\)$/);
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
    '"echo" is a udpEcho, which has no metric "loss" (it has: received, replied, group.idle, group.maxOverEven, group.discarded)',
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

// ---- confidence levels: "< 2% @95" ----

/** A probe result whose round-trip times are these nanosecond values. */
function probeWithRtts(values: number[]): UdpProbeResult {
  const h = new Histogram();
  for (const v of values) h.record(v);
  return probeResult({ rtt: h.toJSON(), rttSummary: h.summary() });
}

/** 1000 round-trip times: 10us, 20us, ... 10ms. Ranks 985 and 996 bound its p99. */
const TEN_MS_RAMP = Array.from({ length: 1000 }, (_, i) => (i + 1) * 10_000);

function lossOf(sent: number, lost: number): UdpProbeResult {
  return probeResult({ sent, lost, delivered: sent - lost, loss: sent === 0 ? 0 : lost / sent });
}

function closeTo(actual: number | null | undefined, expected: number, relative = 1e-9): void {
  assert.ok(
    typeof actual === "number" && Math.abs(actual - expected) <= relative * expected,
    `got ${actual}, expected ${expected}`,
  );
}

Deno.test("parseThreshold() reads a confidence level after @", () => {
  assert.deepEqual(parsed("probe.loss", "< 2% @95"), {
    key: "probe.loss",
    workload: "probe",
    metric: "loss",
    expression: "< 2% @95",
    operator: "<",
    limit: 0.02,
    unit: "ratio",
    confidence: 95,
  });
  assert.equal(parsed("probe.loss", "< 2% @99.9").confidence, 99.9);
  assert.equal(parsed("probe.loss", "<=2%@ 97.5%").confidence, 97.5);
  assert.equal(parsed("probe.rtt.p99", "< 5ms @99").limit, 5);
  assert.equal(parsed("probe.rtt.p50", "> 100us @90").operator, ">");
  assert.equal(parsed("probe.loss", "< 2%").confidence, undefined);
});

Deno.test("parseThreshold() rejects a confidence level of 0, 100 or beyond", () => {
  assert.deepEqual(problems("probe.loss", "< 2% @100"), [{
    where: 'thresholds["probe.loss"]',
    message: "confidence level must be above 0 and below 100, got 100",
  }]);
  for (const level of ["0", "100.0", "150", "-5", "0.0"]) {
    const [problem, ...rest] = problems("probe.loss", `< 2% @${level}`);
    assert.deepEqual(rest, []);
    assert.equal(
      problem?.message,
      `confidence level must be above 0 and below 100, got ${level}`,
    );
  }
  assert.equal(parsed("probe.loss", "< 2% @0.5").confidence, 0.5);
  assert.equal(parsed("probe.loss", "< 2% @99.99").confidence, 99.99);
});

Deno.test("parseThreshold() rejects an @ without a level", () => {
  for (const expression of ["< 2% @", "< 2% @high", "< 2% @95 @99", "@95"]) {
    assert.equal(problems("probe.loss", expression).length, 1, expression);
  }
  assert.deepEqual(problems("probe.loss", "< 2% @high"), [{
    where: 'thresholds["probe.loss"]',
    message: 'expected a confidence level after "@" as in "< 2% @95", got "< 2% @high"',
  }]);
});

Deno.test("parseThreshold() rejects a confidence level on == and !=", () => {
  for (const operator of ["==", "!="]) {
    assert.deepEqual(problems("probe.loss", `${operator} 0 @95`), [{
      where: 'thresholds["probe.loss"]',
      message:
        `"${operator}" cannot be decided at a confidence level: use <, <=, > or >=, or remove @95`,
    }]);
  }
  // With a level out of range too: both problems at once.
  assert.equal(problems("probe.loss", "== 0 @100").length, 2);
});

Deno.test("parseThreshold() rejects a confidence level on a metric with no interval", () => {
  const known = parseThreshold("probe.sent", "> 5 @95", "options.thresholds", "udpProbe");
  assert.deepEqual(known, [{
    where: 'options.thresholds["probe.sent"]',
    message: "sent has no confidence interval: remove @95",
  }]);
  // Without the kind, no kind that has the metric gives it an interval.
  assert.deepEqual(problems("probe.rtt.max", "< 5ms @99"), [{
    where: 'thresholds["probe.rtt.max"]',
    message: "rtt.max has no confidence interval: remove @99",
  }]);
  assert.equal(problems("probe.rtt.mean", "< 5ms @95").length, 1);
  assert.equal(problems("probe.outage.longest", "< 1s @95").length, 1);
  assert.equal(parsed("storm.failure.rate", "< 1% @95").confidence, 95);
  assert.equal(parsed("churn.rebind.p99", "< 10ms @95").confidence, 95);
});

Deno.test("parseThreshold() rejects a proportion limit that no sample can show", () => {
  assert.deepEqual(problems("probe.loss", "<= 0% @95"), [{
    where: 'thresholds["probe.loss"]',
    message:
      "loss <= 0% cannot be shown at 95% confidence by any sample size: change the limit or remove @95",
  }]);
  assert.equal(problems("probe.loss", ">= 100% @95").length, 1);
  assert.equal(problems("probe.loss", "< 0 @95").length, 1);
  // Without a level these may be meant as they read: loss of exactly none.
  assert.equal(parsed("probe.loss", "<= 0%").limit, 0);
  assert.equal(parsed("probe.loss", "> 0% @95").confidence, 95);
});

Deno.test("parseThreshold() reports the problems of the comparison before those of the level", () => {
  assert.deepEqual(problems("probe.rtt.p99", "< 5 @95"), [{
    where: 'thresholds["probe.rtt.p99"]',
    message: 'rtt.p99 is a duration: give a unit, as in "< 5ms" (got "< 5 @95")',
  }]);
  assert.equal(problems("probe.loss", "less than 2% @95").length, 1);
});

Deno.test("evaluateThreshold() passes a loss whose 95% upper bound is under the limit", () => {
  const outcome = evaluateThreshold(
    parsed("probe.loss", "< 2% @95"),
    results({ probe: lossOf(10_000, 120) }),
  );
  // Clopper-Pearson for 120 of 10,000 (scipy.stats.beta.ppf): 1.0265% to 1.3951%.
  closeTo(outcome.bound, 0.013950635558311471);
  closeTo(outcome.interval?.[0], 0.010265227024565882);
  closeTo(outcome.interval?.[1], 0.013950635558311471);
  assert.deepEqual({ ...outcome, bound: 0, interval: [] }, {
    key: "probe.loss",
    expression: "< 2% @95",
    ok: true,
    value: 0.012,
    measured: "1.20% (95% upper bound 1.40%, n=10000)",
    confidence: 95,
    bound: 0,
    interval: [],
    sampleSize: 10_000,
  });
});

Deno.test("evaluateThreshold() fails a loss under the limit whose upper bound is not", () => {
  const outcome = evaluateThreshold(
    parsed("probe.loss", "< 2% @95"),
    results({ probe: lossOf(1000, 14) }),
  );
  assert.equal(outcome.ok, false);
  assert.equal(outcome.value, 0.014);
  closeTo(outcome.bound, 0.02180013152550217);
  assert.equal(outcome.measured, "1.40% (95% upper bound 2.18%, n=1000)");
  assert.equal(outcome.reason, "95% upper bound 2.18% is not < 2% (measured 1.40%, n=1000)");
  assert.equal(outcome.warning, undefined);
  // The same loss without a level passes: 1.4% < 2%.
  assert.equal(
    evaluateThreshold(parsed("probe.loss", "< 2%"), results({ probe: lossOf(1000, 14) })).ok,
    true,
  );
});

Deno.test("evaluateThreshold() fails a sample too small to decide, and says how many it needs", () => {
  // With 50 datagrams, even none lost bounds the loss at 1 - 0.05^(1/50) = 5.82%.
  const outcome = evaluateThreshold(
    parsed("probe.loss", "< 2% @95"),
    results({ probe: lossOf(50, 0) }),
  );
  closeTo(outcome.bound, 1 - 0.05 ** (1 / 50));
  assert.deepEqual({ ...outcome, bound: 0, interval: [0, 0] }, {
    key: "probe.loss",
    expression: "< 2% @95",
    ok: false,
    value: 0,
    measured: "0.00% (95% upper bound 5.82%, n=50)",
    reason: "sample too small to decide at 95%: need at least 149 datagrams, got 50",
    confidence: 95,
    bound: 0,
    interval: [0, 0],
    sampleSize: 50,
    warning:
      "probe.loss < 2% @95 was not decided: 50 datagrams cannot show it at 95% confidence whatever they measure; it needs at least 149",
  });
});

Deno.test("evaluateThreshold() decides from the smallest sufficient sample: 149 datagrams for < 2% @95", () => {
  const at = (sent: number) =>
    evaluateThreshold(parsed("probe.loss", "< 2% @95"), results({ probe: lossOf(sent, 0) }));
  // 1 - 0.05^(1/148) = 2.004%; 1 - 0.05^(1/149) = 1.990%.
  assert.equal(at(148).ok, false);
  assert.match(at(148).reason!, /need at least 149 datagrams, got 148/);
  assert.equal(at(149).ok, true, at(149).reason);
  assert.equal(at(149).measured, "0.00% (95% upper bound 1.99%, n=149)");
  // One loss in 149 is a sample large enough that fails on its bound, with no warning.
  const one = evaluateThreshold(
    parsed("probe.loss", "< 2% @95"),
    results({ probe: lossOf(149, 1) }),
  );
  assert.equal(one.ok, false);
  assert.equal(one.warning, undefined);
  // scipy.stats.beta.ppf(0.95, 2, 148) = 3.144%.
  assert.equal(one.reason, "95% upper bound 3.14% is not < 2% (measured 0.67%, n=149)");
});

Deno.test("evaluateThreshold() compares the lower bound for > and >=", () => {
  const probe = lossOf(1000, 14);
  const above = evaluateThreshold(parsed("probe.loss", "> 0.5% @95"), results({ probe }));
  assert.equal(above.ok, true, above.reason);
  closeTo(above.bound, 0.008483235314784687);
  assert.equal(above.measured, "1.40% (95% lower bound 0.85%, n=1000)");
  const not = evaluateThreshold(parsed("probe.loss", ">= 1% @95"), results({ probe }));
  assert.equal(not.ok, false);
  assert.equal(not.reason, "95% lower bound 0.85% is not >= 1% (measured 1.40%, n=1000)");
});

Deno.test("evaluateThreshold() bounds a p99 through the histogram's buckets", () => {
  const probe = probeWithRtts(TEN_MS_RAMP);
  const pass = evaluateThreshold(parsed("probe.rtt.p99", "< 10ms @95"), results({ probe }));
  assert.equal(pass.ok, true, pass.reason);
  // Upper: rank 996 (9.96ms), to its bucket's upper edge; lower: rank 985, lower edge.
  assert.equal(pass.bound, 9.961472);
  assert.deepEqual(pass.interval, [9.8304, 9.961472]);
  assert.equal(pass.sampleSize, 1000);
  assert.equal(pass.measured, "9.93ms (95% upper bound 9.96ms, n=1000)");
  const fail = evaluateThreshold(parsed("probe.rtt.p99", "< 9.95ms @95"), results({ probe }));
  assert.equal(fail.ok, false);
  assert.equal(fail.reason, "95% upper bound 9.96ms is not < 9.95ms (measured 9.93ms, n=1000)");
  // Without a level, 9.93ms < 9.95ms passes.
  assert.equal(evaluateThreshold(parsed("probe.rtt.p99", "< 9.95ms"), results({ probe })).ok, true);
  const lower = evaluateThreshold(parsed("probe.rtt.p99", "> 9.8ms @95"), results({ probe }));
  assert.equal(lower.ok, true, lower.reason);
  assert.equal(lower.bound, 9.8304);
});

Deno.test("evaluateThreshold() fails a p99 from fewer than 299 samples as too small", () => {
  const probe = probeWithRtts(TEN_MS_RAMP.slice(0, 200));
  const outcome = evaluateThreshold(parsed("probe.rtt.p99", "< 10ms @95"), results({ probe }));
  assert.equal(outcome.ok, false);
  assert.equal(outcome.bound, null);
  assert.equal(outcome.interval?.[1], null);
  assert.equal(outcome.measured, "1.98ms (n=200, too few for a 95% upper bound)");
  assert.equal(
    outcome.reason,
    "sample too small to decide at 95%: need at least 299 replies, got 200",
  );
  assert.equal(
    outcome.warning,
    "probe.rtt.p99 < 10ms @95 was not decided: 200 replies cannot show it at 95% confidence whatever they measure; it needs at least 299",
  );
  // 299 samples are enough for the largest one to bound the p99.
  const enough = probeWithRtts(TEN_MS_RAMP.slice(0, 299));
  const decided = evaluateThreshold(
    parsed("probe.rtt.p99", "< 10ms @95"),
    results({ probe: enough }),
  );
  assert.equal(decided.ok, true, decided.reason);
  assert.equal(decided.bound, 2.99);
});

Deno.test("evaluateThreshold() fails a confidence threshold on a metric not measured", () => {
  const probe = probeResult({
    delivered: 0,
    lost: 1000,
    loss: 1,
    rttSummary: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 },
  });
  const outcome = evaluateThreshold(parsed("probe.rtt.p50", "< 5ms @95"), results({ probe }));
  assert.deepEqual(outcome, {
    key: "probe.rtt.p50",
    expression: "< 5ms @95",
    ok: false,
    value: null,
    measured: "-",
    reason: "rtt.p50 was not measured in this run",
    confidence: 95,
  });
});

Deno.test("evaluateThreshold() fails a confidence level on a metric its kind cannot bound", () => {
  // Parsing rejects this; a threshold built by hand reaches the evaluation.
  const threshold: Threshold = { ...parsed("probe.sent", "> 5"), confidence: 95 };
  const outcome = evaluateThreshold(threshold, results({ probe: probeResult() }));
  assert.equal(outcome.ok, false);
  assert.equal(outcome.value, 1000);
  assert.equal(outcome.reason, "sent has no confidence interval: remove @95");
});

Deno.test("every proportion has a ratio unit and every percentile metric a quantile", () => {
  const percentile = /\.p(50|90|99|99\.9)$/;
  for (const [kind, metrics] of Object.entries(METRICS)) {
    for (const [name, definition] of Object.entries(metrics)) {
      const what = `${kind} ${name}`;
      assert.equal(definition.unit === "ratio", definition.proportion !== undefined, what);
      assert.equal(percentile.test(name), definition.quantile !== undefined, what);
      if (definition.proportion || definition.quantile) assert.ok(definition.sample, what);
    }
  }
  const q = METRICS.udpProbe["rtt.p99.9"]!.quantile!(probeWithRtts(TEN_MS_RAMP));
  assert.equal(q?.q, 0.999);
  assert.deepEqual(METRICS.udpProbe.loss!.proportion!(lossOf(1000, 14)), {
    successes: 14,
    trials: 1000,
  });
});

Deno.test("one-way delay metrics read each direction, and null when not measured", () => {
  const direction = (ns: number) => {
    const h = new Histogram();
    h.record(ns);
    return { delay: h.toJSON(), delaySummary: h.summary(), late: 1, reordered: 2, duplicated: 3 };
  };
  const echo = new Histogram();
  echo.record(7000);
  const measured = probeResult({
    oneWay: {
      forward: direction(3000),
      return: direction(50_000_000),
      echo: { time: echo.toJSON(), timeSummary: echo.summary() },
    },
  });
  const read = (name: string, r: UdpProbeResult) => METRICS.udpProbe[name]!.read(r);
  assert.equal(read("owd.forward.p50", measured), 0.003);
  assert.equal(read("owd.return.max", measured), 50);
  assert.equal(read("owd.forward.late", measured), 1);
  assert.equal(read("owd.return.duplicated", measured), 3);
  assert.equal(read("owd.echo.p50", measured), 0.007);
  assert.equal(read("owd.forward.p50", probeResult()), null);
  assert.equal(read("pacing.misses", probeResult()), null);
  const outcome = evaluateThreshold(
    parsed("probe.owd.return.p99", "< 10ms"),
    results({ probe: measured }),
  );
  assert.equal(outcome.ok, false);
});
