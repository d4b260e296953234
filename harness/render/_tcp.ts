// TCP probes and echoes in the HTML report: the probe's requests, connect times and
// request round-trip times; an echo's one line.

import type { HistogramData, LatencySummary } from "../measure/histogram.ts";
import type { WorkloadReport } from "../runner/report.ts";
import type { TcpEchoResult, TcpProbeResult } from "../measure/tcp_results.ts";
import { counts, h, int, latencyCells, type Markup, percent, statsTable } from "./_markup.ts";
import { cdfPlot, figure } from "./_plot.ts";
import { groupList } from "./_udp.ts";

/** The one line of a TCP echo: its connections and bytes. */
export function tcpEchoLine(w: WorkloadReport, r: TcpEchoResult): Markup {
  const errors = counts(r.errors);
  return h`<p class="server">${w.name} on ${w.host} (<code>${r.address}</code>): ${
    int(r.connections)
  } connections (at most ${int(r.maxConcurrent)} at once), ${int(r.bytes)} bytes${
    errors ? `, errors: ${errors}` : ""
  }</p>${
    r.group
      ? groupList(
        r.group.spread,
        r.group.members.map((m) =>
          `member ${m.member}${
            m.state === "stopped" ? " (stopped)" : ""
          }: ${m.connections} connection(s) (${(m.share * 100).toFixed(1)}%), ${m.bytes} bytes`
        ),
      )
      : ""
  }`;
}

/** A TCP probe: counts, and the CDFs of connect time and request round-trip time. */
export function tcpProbeSection(w: WorkloadReport, r: TcpProbeResult): Markup {
  const subject = `${w.name} (${w.host} → ${r.address})`;
  const stats = statsTable([
    ["requests", [
      ["requests", int(r.requests)],
      ["answered", int(r.responses)],
      ["failed", int(r.failed)],
      ["failure rate", percent(r.failureRate)],
      ["connects", int(r.connects)],
      ["connect failures", int(r.connectFailures)],
      ["errors", counts(r.errors) || "—"],
    ]],
    ["connect time", latencyCells(r.connectSummary)],
    ["request round-trip time", latencyCells(r.rttSummary)],
  ]);
  return h`<section class="workload tcp-probe">
<h3>TCP probe ${subject}</h3>
${stats}
${r.stoppedEarly ? h`<p class="warn">Stopped early: sent fewer requests than asked.</p>` : ""}
<div class="pair">
${connectTimeFigure(r.connectTime, r.connectSummary, subject)}
${
    figure(
      cdfPlot(r.rtt, r.rttSummary, "request round-trip time", subject, "responses"),
      `Request-to-response time CDF of ${int(r.rtt.count)} responses.`,
    )
  }
</div>
</section>
`;
}

/** The CDF of the connect times of a TCP probe or a reconnect storm. */
export function connectTimeFigure(
  data: HistogramData,
  summary: LatencySummary,
  subject: string,
): Markup {
  return figure(
    cdfPlot(data, summary, "connect time", subject, "connects"),
    `Connect time CDF of ${int(data.count)} successful connects.`,
  );
}
