/**
 * The HTML report: one self-contained file (inline CSS, SVG drawn here, no scripts, no
 * fonts, nothing fetched) with, per scenario, its status, hosts, links and faults, its
 * thresholds and checks, and a plot for every flow: latency CDFs and histograms, loss
 * over time under the fault timeline, the loss ledger, reconnect storms and bind
 * failures. Built only from histograms, timelines and capped logs, never from samples,
 * so its size does not grow with the number of packets.
 *
 * @module
 */

import type { RunReport, ScenarioReport, WorkloadReport } from "../runner/report.ts";
import { CSS } from "./_css.ts";
import {
  dash,
  duration,
  h,
  int,
  type Markup,
  MAX_TABLE_ROWS,
  raw,
  rows,
  since,
  table,
} from "./_markup.ts";
import { type Context, originOf } from "./_timeline.ts";
import { udpEchoLine, udpProbeSection } from "./_udp.ts";
import { tcpEchoLine, tcpProbeSection } from "./_tcp.ts";
import { churnSection, stormSection } from "./_storm_churn.ts";
import { bindFailuresSection, execSection } from "./_programs.ts";

/**
 * Renders a run report as one self-contained HTML page.
 *
 * @example
 * ```ts
 * import { renderHtml } from "./html.ts";
 * const html = renderHtml({
 *   schemaVersion: 1,
 *   tool: { name: "squall", version: "0.1.0", deno: "2.9.6" },
 *   startedAt: "2025-01-01T00:00:00.000Z",
 *   durationMs: 0,
 *   exitCode: 0,
 *   summary: { total: 0, passed: 0, failed: 0, error: 0, interrupted: 0 },
 *   scenarios: [],
 * });
 * console.assert(html.startsWith("<!doctype html>"));
 * ```
 */
export function renderHtml(report: RunReport): string {
  const s = report.summary;
  const bad = s.failed + s.error + s.interrupted;
  const title = `squall report: ${s.total} scenario${s.total === 1 ? "" : "s"}, ${
    bad === 0 ? "all passed" : `${bad} not passed`
  }`;
  const page = h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${title}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header>
<h1>squall report</h1>
<p class="meta">${report.tool.name} ${report.tool.version}, Deno ${report.tool.deno} · started ${report.startedAt} · ${
    duration(report.durationMs)
  } · exit code ${report.exitCode}</p>
<p class="summary">${s.passed} passed, ${s.failed} failed${
    s.error > 0 ? `, ${s.error} errors` : ""
  }${s.interrupted > 0 ? `, ${s.interrupted} interrupted` : ""}</p>
${
    report.scenarios.length > 0
      ? h`<nav aria-label="Scenarios"><ol>${
        report.scenarios.map((sc, i) =>
          h`<li><a href="#scenario-${i + 1}">${sc.name}</a> ${statusBadge(sc.status)}</li>`
        )
      }</ol></nav>`
      : h`<p>No scenarios ran.</p>`
  }
</header>
<main>
${report.scenarios.map((sc, i) => scenarioSection(sc, i + 1))}
</main>
<footer><p>Written by squall ${report.tool.version}. Self-contained: no scripts, nothing loaded from anywhere.</p></footer>
</body>
</html>
`;
  return page.text;
}

// ---------------------------------------------------------------------------------
// Scenario.

function statusBadge(status: ScenarioReport["status"]): Markup {
  return h`<span class="badge ${status}">${status.toUpperCase()}</span>`;
}

function scenarioSection(s: ScenarioReport, number: number): Markup {
  const ctx: Context = { scenario: s, origin: originOf(s) };
  const failedThresholds = s.thresholds.filter((t) => !t.ok).length;
  const failedChecks = s.checks.filter((c) => !c.ok).length;
  return h`<section class="scenario ${s.status}" id="scenario-${number}" aria-labelledby="scenario-${number}-name">
<h2 id="scenario-${number}-name">${statusBadge(s.status)} ${s.name}</h2>
<p class="meta">${
    s.file ? h`<code>${s.file}</code> · ` : ""
  }run ${s.runId} · ${s.network} · started ${s.startedAt} · ${duration(s.durationMs)}${
    s.setupMs !== null ? ` (setup ${duration(s.setupMs)})` : ""
  } · exit code ${s.exitCode}${
    failedThresholds + failedChecks > 0
      ? ` · ${failedThresholds} threshold(s) and ${failedChecks} check(s) failed`
      : ""
  }</p>
${s.errors.length > 0 ? errorsBlock(s.errors) : ""}
${thresholdsTable(s)}
${topologyTables(s)}
${s.workloads.map((w) => workloadSection(ctx, w))}
${s.bindFailures !== null ? bindFailuresSection(ctx, s) : ""}
${
    s.bindWatch.active
      ? ""
      : h`<p class="note">Bind watch did not run${
        s.bindWatch.reason ? h`: ${s.bindWatch.reason}` : ""
      }.</p>`
  }
${
    s.log.length > 0
      ? table(
        "Log of the scenario function",
        ["time", "message"],
        rows(
          s.log,
          2,
          (l) => h`<tr><td class="num">${since(l.atMs)}</td><td><pre>${l.message}</pre></td></tr>`,
        ),
      )
      : ""
  }
</section>
`;
}

function errorsBlock(errors: string[]): Markup {
  return h`<div class="errors" role="alert"><h3>Errors</h3><ul>${
    errors.slice(0, MAX_TABLE_ROWS).map((e) => h`<li><pre>${e}</pre></li>`)
  }${
    errors.length > MAX_TABLE_ROWS
      ? h`<li>and ${int(errors.length - MAX_TABLE_ROWS)} more</li>`
      : ""
  }</ul></div>`;
}

function thresholdsTable(s: ScenarioReport): Markup {
  if (s.thresholds.length + s.checks.length === 0) return h``;
  const mark = (ok: boolean) =>
    h`<span class="${ok ? "ok" : "fail"}">${ok ? "✓ held" : "✗ failed"}</span>`;
  return table(
    "Thresholds and checks",
    ["", "name", "value", "limit", "reason or detail"],
    [
      ...rows(
        s.thresholds,
        5,
        (t) =>
          h`<tr class="${t.ok ? "" : "failed"}"><td>${
            mark(t.ok)
          }</td><td><code>${t.key}</code></td><td class="num">${t.measured}</td><td><code>${t.expression.trim()}</code></td><td>${
            t.reason ?? ""
          }</td></tr>`,
      ),
      ...rows(
        s.checks,
        5,
        (c) =>
          h`<tr class="${c.ok ? "" : "failed"}"><td>${
            mark(c.ok)
          }</td><td>check: ${c.name}</td><td></td><td></td><td>${c.detail ?? ""}</td></tr>`,
      ),
    ],
    "thresholds",
  );
}

function topologyTables(s: ScenarioReport): Markup {
  const hosts = table(
    "Hosts",
    ["host", "address", "agent pid", "interfaces"],
    rows(
      s.hosts,
      4,
      (host) =>
        h`<tr><td>${host.name}</td><td><code>${host.address}</code></td><td class="num">${
          dash(host.agentPid)
        }</td><td>${
          host.interfaces.map((i) =>
            h`<code>${i.name}</code> ${i.address}/${i.prefixLength} → ${i.peerHost}<br>`
          )
        }</td></tr>`,
    ),
  );
  const links = s.links.length === 0 ? h`` : table(
    "Links",
    ["link", "subnet", "interfaces"],
    rows(
      s.links,
      3,
      (l) =>
        h`<tr><td>${l.hosts[0]} ↔ ${l.hosts[1]}</td><td><code>${l.subnet}</code></td><td><code>${
          l.interfaces[0]
        }</code> ↔ <code>${l.interfaces[1]}</code></td></tr>`,
    ),
  );
  const faults = s.faults.length === 0 ? h`` : table(
    "Faults (the fault timeline)",
    ["#", "fault", "applied", "removed", "passed", "dropped"],
    rows(
      s.faults,
      6,
      (f) =>
        h`<tr><td class="num">${f.id}</td><td>${f.description}</td><td class="num">${
          since(f.appliedAtMs)
        }</td><td class="num">${
          f.removedAtMs === null ? "still on at the end" : since(f.removedAtMs)
        }</td><td class="num">${int(f.passed)}</td><td class="num">${int(f.dropped)}</td></tr>`,
    ),
  );
  const workloads = table(
    "Workloads",
    ["workload", "host", "what", "started", "status"],
    rows(
      s.workloads,
      5,
      (w) =>
        h`<tr class="${
          w.status === "failed" ? "failed" : ""
        }"><td>${w.name}</td><td>${w.host}</td><td>${w.description}</td><td class="num">${
          since(w.startedAtMs)
        }</td><td>${w.status}${w.error ? h`: <span class="fail">${w.error}</span>` : ""}</td></tr>`,
    ),
  );
  return h`<details class="topology" open><summary>Hosts, links, faults and workloads</summary><div class="tables">${hosts}${links}${faults}</div>${workloads}</details>`;
}

function workloadSection(ctx: Context, w: WorkloadReport): Markup {
  const r = w.result;
  if (!r) return h``;
  switch (r.kind) {
    case "udpProbe":
      return udpProbeSection(ctx, w, r);
    case "udpEcho":
      return udpEchoLine(w, r);
    case "tcpEcho":
      return tcpEchoLine(w, r);
    case "tcpProbe":
      return tcpProbeSection(w, r);
    case "reconnectStorm":
      return stormSection(ctx, w, r);
    case "bindChurn":
      return churnSection(ctx, w, r);
    case "exec":
      return execSection(ctx, w, r);
  }
}
