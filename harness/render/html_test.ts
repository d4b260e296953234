import assert from "node:assert/strict";
import { renderHtml } from "./html.ts";
import type { RunReport, ScenarioReport } from "../runner/report.ts";
import type { UdpProbeResult } from "../measure/results.ts";
import {
  EVIL_NAME,
  EVIL_PROGRAM,
  millionPacketReport,
  sampleReport,
} from "../../tests/fixtures/reports/sample_report.ts";

const report = sampleReport();
const html = renderHtml(report);
let million: RunReport | undefined;

/** The 1,000,000-datagram report, built once (it takes a few seconds). */
function bigReport(): RunReport {
  return million ??= millionPacketReport();
}

const VOID_ELEMENTS = new Set(["meta", "br", "hr", "img", "input", "link", "wbr", "col"]);

/** Problems with the nesting of the tags of a page; empty when every tag is closed in order. */
function tagProblems(page: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const tag =
    /<!doctype[^>]*>|<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*(?:="[^"<]*")?)*)\s*(\/?)>/gi;
  let tags = 0;
  for (const m of page.matchAll(tag)) {
    tags++;
    const [, closing, rawName, , selfClosing] = m;
    if (rawName === undefined) continue; // the doctype
    const name = rawName.toLowerCase();
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> at ${m.index} closes <${open ?? "nothing"}>`);
    } else if (!selfClosing && !VOID_ELEMENTS.has(name)) stack.push(name);
  }
  if (stack.length > 0) problems.push(`never closed: ${stack.join(", ")}`);
  // Every "<" must start one of the tags above: text and attribute values are escaped.
  const angles = page.split("<").length - 1;
  if (angles !== tags) problems.push(`${angles - tags} "<" outside any tag`);
  return problems;
}

/** The SVG elements of a page, with their class and their markup. */
function svgs(page: string): { cls: string; title: string; markup: string }[] {
  return [...page.matchAll(/<svg class="([^"]*)"[^>]*>\s*<title>([^<]*)<\/title>[\s\S]*?<\/svg>/g)]
    .map((m) => ({ cls: m[1]!, title: m[2]!, markup: m[0] }));
}

function ofKind(page: string, kind: string) {
  return svgs(page).filter((s) => s.cls.split(" ").includes(kind));
}

/** The numbers of the x axis's labelled ticks: value and position. */
function xTicks(svg: string): { at: number; x: number }[] {
  return [...svg.matchAll(/<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">(-?[\d.]+)<\/text>/g)]
    .map((m) => ({ x: Number(m[1]), at: Number(m[2]) }));
}

Deno.test("renderHtml() emits a page whose tags all close, in order", () => {
  assert.ok(html.startsWith('<!doctype html>\n<html lang="en">'));
  assert.deepEqual(tagProblems(html), []);
  assert.deepEqual(tagProblems(renderHtml(bigReport())), []);
});

Deno.test("renderHtml() escapes every string that comes from the report", () => {
  assert.ok(!html.includes(EVIL_NAME));
  assert.ok(!/<script/i.test(html), "no script element, from the report or otherwise");
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot; flaky link"));
  assert.ok(html.includes("<title>squall report: 2 scenarios, 1 not passed</title>"));
  // Program names, stderr lines, holders, check names and errors.
  assert.ok(!html.includes(EVIL_PROGRAM));
  assert.ok(html.includes("srv&lt;&amp;&quot;&#39;&gt;"));
  assert.ok(html.includes("Address already in use &lt;/pre&gt;&lt;script&gt;alert(2)"));
  assert.ok(html.includes("old&lt;srv&gt;"));
  assert.ok(html.includes("check: no &lt;unexplained&gt; loss &amp; &quot;quotes&quot;"));
  assert.ok(html.includes("stderr: OSError: &lt;bind&gt; &amp; &quot;fail&quot;"));
  assert.ok(html.includes("applying &lt;loss&gt; &amp; &quot;10%&quot;"));
});

Deno.test("renderHtml() refers to nothing outside the page", () => {
  for (const page of [html, renderHtml(bigReport())]) {
    assert.ok(!page.includes("http://") && !page.includes("https://"));
    assert.ok(!/\ssrc=/i.test(page), "no src attribute at all");
    assert.ok(!/url\(|@import|<link|<script|<iframe|<object|<embed/i.test(page));
    for (const m of page.matchAll(/\shref="([^"]*)"/g)) {
      assert.match(m[1]!, /^#scenario-\d+$/, "only links within the page");
    }
    assert.ok(page.includes(`content="default-src 'none'; style-src 'unsafe-inline'"`));
  }
});

Deno.test("renderHtml() gives every plot a title, a description and labelled axes", () => {
  const plots = svgs(html);
  assert.equal((html.match(/<svg/g) ?? []).length, plots.length, "every svg starts with a title");
  assert.ok(plots.length >= 13);
  for (const p of plots) {
    assert.match(p.markup, /<\/title>\n<desc>[^<]+<\/desc>/, p.title);
    assert.match(p.markup, /role="img"/, p.title);
    if (p.cls.includes("ledger")) continue;
    const labels = [...p.markup.matchAll(/<text class="label"[^>]*>([^<]+)<\/text>/g)].map((m) =>
      m[1]!
    );
    assert.equal(labels.length, 2, `${p.title}: two axis labels`);
    for (const label of labels) {
      assert.match(label, /\((?:log scale, )?(?:[µmn]?s|%)(?:, [µmn]?s)*\)$|per (?:bin|\d+ms)$/);
    }
  }
  assert.ok(!/NaN|Infinity|undefined/.test(html), "no number went wrong");
});

Deno.test("renderHtml() puts every table's column headers in a thead", () => {
  const tables = [...html.matchAll(/<table[\s\S]*?<\/table>/g)].map((m) => m[0]);
  assert.ok(tables.length >= 15);
  for (const t of tables) {
    assert.match(t, /^<table class="[^"]*"><caption>[^<]+<\/caption><thead><tr>(<th scope="col">)/);
  }
});

Deno.test("renderHtml() draws one RTT CDF and histogram per UDP probe flow", () => {
  const flows = report.scenarios.flatMap((s) =>
    s.workloads.filter((w) => w.result?.kind === "udpProbe")
  );
  assert.equal(flows.length, 2);
  const cdfs = ofKind(html, "cdf").filter((s) =>
    s.title.startsWith("Latency CDF: round-trip time")
  );
  assert.deepEqual(cdfs.map((s) => s.title), [
    "Latency CDF: round-trip time of probe (client → 198.18.0.2:7000)",
    "Latency CDF: round-trip time of ping (local → 127.0.0.1:7001)",
  ]);
  for (const cdf of cdfs) {
    const path = /<path class="cdf-line" d="M([^"]+)"/.exec(cdf.markup)?.[1] ?? "";
    const points = path.split("L").map((p) => p.split(",").map(Number) as [number, number]);
    assert.ok(points.length > 20, "a curve, not a line");
    for (let i = 1; i < points.length; i++) {
      assert.ok(points[i]![0] >= points[i - 1]![0], "x never goes back");
      assert.ok(points[i]![1] <= points[i - 1]![1], "the CDF never falls");
    }
    assert.match(cdf.markup, /p99 \d/);
  }
  assert.equal(ofKind(html, "histogram").length, 2);
  // TCP probes: a CDF of connect times and one of round-trip times.
  assert.deepEqual(
    ofKind(html, "cdf").filter((s) => s.title.includes(" of web ")).map((s) => s.title),
    [
      "Latency CDF: connect time of web (client → 198.18.0.2:8080)",
      "Latency CDF: request round-trip time of web (client → 198.18.0.2:8080)",
    ],
  );
});

Deno.test("renderHtml() shades each fault over the loss timeline, at its time since the scenario started", () => {
  const [timeline] = ofKind(html, "loss-timeline");
  assert.ok(timeline);
  const faults = report.scenarios[0]!.faults;
  const bands = [...timeline.markup.matchAll(
    /<rect class="fault" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*><title>([^<]+)<\/title>/g,
  )];
  assert.equal(bands.length, faults.length);
  // Map pixels back to seconds through the axis's own ticks.
  const ticks = xTicks(timeline.markup);
  const [a, b] = [ticks[0]!, ticks[ticks.length - 1]!];
  const seconds = (x: number) => a.at + ((x - a.x) / (b.x - a.x)) * (b.at - a.at);
  faults.forEach((f, i) => {
    const [, x, width, title] = bands[i]!;
    assert.ok(Math.abs(seconds(Number(x)) - f.appliedAtMs / 1000) < 0.02, title);
    if (f.removedAtMs !== null) {
      const end = seconds(Number(x) + Number(width));
      assert.ok(Math.abs(end - f.removedAtMs / 1000) < 0.02, title);
    }
    assert.ok(title!.startsWith(`#${f.id} ${f.description.replaceAll("&", "&amp;")}`));
  });
  assert.match(timeline.markup, /<text class="fault-label"[^>]*>#2 blackhole for 1.5s/);
  // Loss bars under the blackhole reach 100%.
  assert.match(timeline.markup, /<path class="bars k-lost" d="M/);
});

Deno.test("renderHtml() draws the loss ledger as stacked bars with a segment per cause", () => {
  const ledgers = ofKind(html, "ledger");
  assert.equal(ledgers.length, 1, "only the probe through namespaces has a ledger");
  const svg = ledgers[0]!.markup;
  const probe = report.scenarios[0]!.workloads.find((w) => w.name === "probe")!
    .result as UdpProbeResult;
  const ledger = probe.ledger!;
  const segment = (cls: string, text: string) =>
    new RegExp(`<rect class="${cls}"[^>]*><title>${text}`).test(svg);
  assert.ok(segment("k-delivered", `delivered: ${probe.delivered.toLocaleString("en-US")} \\(`));
  assert.ok(
    segment("k-lost", `lost on the way there: ${ledger.outbound!.lost.toLocaleString("en-US")}`),
  );
  assert.ok(segment("k-lostback", `lost on the way back: ${ledger.return!.lost}`));
  for (const d of ledger.outbound!.droppedByFault) {
    assert.ok(
      segment("k-fault\\d", `dropped by fault #${d.fault}: ${d.packets.toLocaleString("en-US")}`),
    );
  }
  assert.ok(
    segment("k-overflow", `receive buffer overflow: ${ledger.return!.receiveBufferOverflow}`),
  );
  assert.ok(segment("k-nosocket", `no socket: ${ledger.outbound!.noSocket}`));
  assert.match(svg, />way there \(1,\d{3} lost\)</);
  assert.match(svg, />way back \(\d+ lost\)</);
  // The table: a row per cause, a column per direction and the total; the last row sums.
  const int = (n: number) => n.toLocaleString("en-US");
  const total = ledger.total;
  assert.ok(html.includes(
    `<tr class="sum"><th scope="row">lost</th><td class="num">${
      int(ledger.outbound!.lost)
    }</td><td class="num">${int(ledger.return!.lost)}</td><td class="num">${
      int(total.lost)
    }</td></tr>`,
  ));
  const fault2 = total.droppedByFault.find((d) => d.fault === 2)!;
  assert.ok(html.includes(
    `<th scope="row">dropped by fault #2 blackhole for 1.5s on client ↔ server</th><td class="num">${
      int(fault2.packets)
    }</td><td class="num">0</td><td class="num">${int(fault2.packets)}</td>`,
  ));
});

Deno.test("renderHtml() shows a storm's attempts with faults, unserved periods and its recovery", () => {
  const [svg] = ofKind(html, "storm-timeline");
  assert.ok(svg);
  assert.match(svg.markup, /<path class="bars k-delivered"/);
  assert.match(svg.markup, /<path class="bars k-lost"/);
  assert.ok((svg.markup.match(/<rect class="unserved"/g) ?? []).length >= 1);
  assert.equal((svg.markup.match(/<rect class="fault"/g) ?? []).length, 3);
  assert.match(svg.markup, /recovered in \d+ms/);
  assert.equal(ofKind(html, "storm-scatter").length, 1);
  assert.match(html, /the log stopped at 20,000 of [\d,]+/);
});

Deno.test("renderHtml() lists bind failures with who held the port", () => {
  const tables = [...html.matchAll(/<table class="bind-failures">[\s\S]*?<\/table>/g)].map((m) =>
    m[0]
  );
  assert.equal(tables.length, 2, "the bind churn's and the bind watch's");
  for (const t of tables) {
    for (
      const column of [
        "time",
        "host",
        "program",
        "pid",
        "address",
        "error",
        "holders",
        "bound again",
        "looked within",
      ]
    ) {
      assert.match(t, new RegExp(`<th scope="col">${column}`));
    }
  }
  const watch = tables[1]!;
  assert.equal((watch.match(/<tr>/g) ?? []).length, 1 + report.scenarios[0]!.bindFailures!.length);
  assert.match(watch, /<li>pid 8173 <code>deno<\/code> UNCONN 0\.0\.0\.0:7000<\/li>/);
  assert.match(watch, /<code>no process<\/code> TIME-WAIT 0\.0\.0\.0:7100 ↔ 198\.18\.0\.1:40312/);
  assert.match(watch, /not looked up/);
  assert.match(watch, /after the rebind: may show the new socket/);
  assert.match(watch, /tid 8180/);
});

Deno.test("renderHtml() lists failed thresholds and checks with value, limit and reason", () => {
  const probe = report.scenarios[0]!.workloads.find((w) => w.name === "probe")!
    .result as UdpProbeResult;
  const loss = `${(probe.loss * 100).toFixed(2)}%`;
  assert.ok(html.includes(
    `<tr class="failed"><td><span class="fail">✗ failed</span></td><td><code>probe.loss</code></td><td class="num">${loss}</td><td><code>&lt; 1%</code></td><td>${loss} is not &lt; 1%</td></tr>`,
  ));
  assert.match(
    html,
    /<code>probe\.rtt\.p99<\/code><\/td><td class="num">[\d.]+(?:us|ms)<\/td><td><code>&lt; 25ms<\/code><\/td><td><\/td>/,
  );
  assert.match(html, /<span class="badge failed">FAILED<\/span> &lt;script&gt;/);
  assert.match(html, /<div class="errors" role="alert">/);
});

Deno.test("renderHtml() stays under 2 MB for a million datagrams, full logs and the longest timeline", () => {
  const big = bigReport();
  const probe = big.scenarios[0]!.workloads.find((w) => w.name === "probe")!
    .result as UdpProbeResult;
  assert.equal(probe.sent, 1_000_000);
  assert.ok(probe.rtt.count > 900_000);
  assert.ok(probe.rtt.buckets.length > 1500, `${probe.rtt.buckets.length} buckets`);
  assert.equal(probe.timeline.sent.length, 1200);
  const page = renderHtml(big);
  const bytes = new TextEncoder().encode(page).length;
  assert.ok(bytes < 2 * 1024 * 1024, `${bytes} bytes`);
  // Tables stop at 500 rows and say how many more there were.
  assert.match(page, /and 4,500 more \(see the JSON report\)/);
  assert.match(page, /and 1,500 more \(see the JSON report\)/);
  assert.equal(
    ofKind(page, "cdf").filter((s) => s.title.includes("round-trip time of probe")).length,
    1,
  );
});

Deno.test("renderHtml() draws empty plots for flows with no replies and an unreadable start", () => {
  const base = sampleReport();
  const scenario = base.scenarios[1]!;
  const probe = scenario.workloads[1]!.result as UdpProbeResult;
  const silent: UdpProbeResult = {
    ...probe,
    delivered: 0,
    lost: probe.sent,
    loss: 1,
    rtt: { ...probe.rtt, count: 0, min: 0, max: 0, sum: 0, buckets: [] },
    rttSummary: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 },
    timeline: { ...probe.timeline, delivered: probe.timeline.delivered.map(() => 0) },
  };
  const broken: ScenarioReport = {
    ...scenario,
    startedAt: "not a date",
    workloads: [{ ...scenario.workloads[1]!, result: silent }],
  };
  const page = renderHtml({ ...base, scenarios: [broken] });
  assert.deepEqual(tagProblems(page), []);
  assert.ok(!/NaN|Infinity|undefined/.test(page));
  assert.match(page, /<text class="empty"[^>]*>no replies<\/text>/);
  assert.match(page, /the scenario start is unreadable/);
  const empty: RunReport = {
    ...base,
    scenarios: [],
    summary: { total: 0, passed: 0, failed: 0, error: 0, interrupted: 0 },
  };
  assert.match(renderHtml(empty), /No scenarios ran\./);
});

Deno.test("renderHtml() says answered again only after an answer", () => {
  const withOutage = (recovered: boolean) => {
    const r = structuredClone(sampleReport());
    const probe = r.scenarios[0]!.workloads.find((w) => w.result?.kind === "udpProbe")!;
    (probe.result as UdpProbeResult).outages = [{ fromMs: 1000, toMs: 3000, sent: 20, recovered }];
    return renderHtml(r);
  };
  assert.match(withOutage(true), /\(20 datagrams unanswered\); answered again from/);
  const never = withOutage(false);
  assert.match(never, /until the probe ended \(20 datagrams unanswered\); never answered again/);
  assert.doesNotMatch(never, /20 datagrams unanswered\); answered again/);
});

Deno.test("renderHtml() shows a delay line's causes summed per fault, and queue drops not split among flows", () => {
  const r = sampleReport();
  const probe = r.scenarios[0]!.workloads.find((w) => w.name === "probe")!
    .result as UdpProbeResult;
  const out = probe.ledger!.outbound!;
  const queue = {
    fault: 3,
    description: "delay 2s on client → server: queue full",
    cause: "queueFull" as const,
    dropped: 900,
    flows: 2,
    otherPackets: 0,
  };
  // Of what was lost on the way there, 40 were tail drops and 60 the fault's held packets
  // (one fault, two causes), and the rest the queue's drops shared with another flow.
  const rest = out.lost - 100 - out.receiveBufferOverflow - out.noSocket;
  for (const e of [out, probe.ledger!.total]) {
    e.droppedByFault = [
      { fault: 3, description: "delay 2s: tail drop", packets: 40, cause: "tailDrop" },
      { fault: 3, description: "delay 2s: held", packets: 60, cause: "heldAtStop" },
    ];
    e.queueDropsNotSplit = { packets: rest, queues: [queue] };
    e.unexplained = 0;
  }
  probe.ledger!.total.lost = out.lost + probe.ledger!.return!.lost;
  const page = renderHtml(r);
  const svg = ofKind(page, "ledger")[0]!.markup;
  assert.match(svg, /<rect class="k-fault\d"[^>]*><title>dropped by fault #3: 100 /);
  assert.match(
    svg,
    new RegExp(
      `<rect class="k-queue"[^>]*><title>dropped by delay lines&#39; queues, not split among flows: ${
        rest.toLocaleString("en-US")
      } `,
    ),
  );
  assert.ok(
    page.includes(`<th scope="row">dropped by delay lines&#39; queues, not split among flows</th>`),
  );
  assert.match(
    page,
    /the kernel dropped 900 packets for its delay line's queue, which 2 probe flows crossed/,
  );
  assert.deepEqual(tagProblems(page), []);
});
