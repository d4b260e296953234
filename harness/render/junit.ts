/**
 * The report as JUnit XML, for CI systems that read test results (GitHub Actions test
 * reporters, GitLab `artifacts:reports:junit`, Jenkins `junit`):
 * `testsuites > testsuite > testcase > failure | error`, plus `system-out`.
 *
 * One `<testsuite>` per scenario. In it, one `<testcase>` for the scenario as a whole
 * (its `<system-out>` holds the scenario's JSON report), then one per check and one per
 * threshold. Pure: a string out of a {@linkcode RunReport}.
 *
 * @module
 */

import type { RunReport, ScenarioReport } from "../runner/report.ts";
import type { ThresholdOutcome } from "../scenario/threshold.ts";

/**
 * Renders a run report as a JUnit XML document.
 *
 * @example
 * ```ts
 * import { toJUnit } from "./junit.ts";
 * const xml = toJUnit({
 *   schemaVersion: 1,
 *   tool: { name: "squall", version: "0.1.0", deno: "2.9.6" },
 *   startedAt: "2025-01-01T00:00:00.000Z",
 *   durationMs: 0,
 *   exitCode: 0,
 *   summary: { total: 0, passed: 0, failed: 0, error: 0, interrupted: 0 },
 *   scenarios: [],
 * });
 * console.assert(xml.includes('<testsuites name="squall" tests="0"'));
 * ```
 */
export function toJUnit(report: RunReport): string {
  const suites = report.scenarios.map(suite);
  const total = (key: "tests" | "failures" | "errors") =>
    suites.reduce((sum, s) => sum + s.counts[key], 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${
      attributes({
        name: "squall",
        tests: total("tests"),
        failures: total("failures"),
        errors: total("errors"),
        time: seconds(report.durationMs),
        timestamp: report.startedAt,
      })
    }>`,
    ...suites.flatMap((s) => s.lines.map((l) => `  ${l}`)),
    "</testsuites>",
    "",
  ];
  return lines.join("\n");
}

interface Suite {
  counts: { tests: number; failures: number; errors: number };
  lines: string[];
}

function suite(report: ScenarioReport): Suite {
  const classname = report.file ?? "squall";
  const failedChecks = report.checks.filter((c) => !c.ok);
  const failedThresholds = report.thresholds.filter((t) => !t.ok);
  const error = report.status === "error" || report.status === "interrupted";
  const failed = report.status === "failed";
  const counts = {
    tests: 1 + report.checks.length + report.thresholds.length,
    failures: failedChecks.length + failedThresholds.length + (failed ? 1 : 0),
    errors: error ? 1 : 0,
  };
  const lines = [
    `<testsuite${
      attributes({
        name: report.name,
        tests: counts.tests,
        failures: counts.failures,
        errors: counts.errors,
        skipped: 0,
        time: seconds(report.durationMs),
        timestamp: report.startedAt,
      })
    }>`,
  ];

  // The scenario as a whole.
  const head = `  <testcase${
    attributes({ classname, name: report.name, time: seconds(report.durationMs) })
  }>`;
  lines.push(head);
  if (error || failed) {
    const message = scenarioMessage(report, failedChecks.length, failedThresholds.length);
    const element = error ? "error" : "failure";
    const body = [
      ...report.errors,
      ...failedThresholds.map(thresholdMessage),
      ...failedChecks.map((c) => `check "${c.name}" failed${c.detail ? `: ${c.detail}` : ""}`),
    ].join("\n");
    lines.push(
      `    <${element}${attributes({ message, type: report.status })}>${
        text(body || message)
      }</${element}>`,
    );
  }
  lines.push(`    <system-out>${cdata(JSON.stringify(report, null, 2))}</system-out>`);
  lines.push("  </testcase>");

  for (const c of report.checks) {
    const open = `  <testcase${attributes({ classname, name: c.name, time: 0 })}`;
    if (c.ok) {
      lines.push(`${open}/>`);
      continue;
    }
    const message = c.detail ? `check failed: ${c.detail}` : "check failed";
    lines.push(
      `${open}>`,
      `    <failure${attributes({ message, type: "check" })}>${text(message)}</failure>`,
      "  </testcase>",
    );
  }
  for (const t of report.thresholds) {
    const name = `threshold ${t.key} ${t.expression.trim()}`;
    const open = `  <testcase${attributes({ classname, name, time: 0 })}`;
    if (t.ok) {
      lines.push(`${open}/>`);
      continue;
    }
    const message = thresholdMessage(t);
    lines.push(
      `${open}>`,
      `    <failure${attributes({ message, type: "threshold" })}>${text(message)}</failure>`,
      "  </testcase>",
    );
  }
  lines.push("</testsuite>");
  return { counts, lines };
}

/** `probe.loss was 2.40%, limit < 2%`, and the reason when it says more than that. */
function thresholdMessage(t: ThresholdOutcome): string {
  const measured = t.value === null ? "not measured" : `was ${t.measured}`;
  const head = `${t.key} ${measured}, limit ${t.expression.trim()}`;
  // The usual reason ("probe.loss is 2.40%, expected < 2%") only repeats the head.
  if (!t.reason || t.reason.startsWith(`${t.key} is `)) return head;
  return `${head}: ${t.reason}`;
}

function scenarioMessage(report: ScenarioReport, checks: number, thresholds: number): string {
  const parts: string[] = [];
  if (thresholds > 0) parts.push(`${thresholds} threshold${thresholds === 1 ? "" : "s"} failed`);
  if (checks > 0) parts.push(`${checks} check${checks === 1 ? "" : "s"} failed`);
  parts.push(...report.errors);
  if (parts.length > 0) return parts.join("; ");
  return report.status === "interrupted" ? "interrupted" : `scenario ${report.status}`;
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

function attributes(values: Record<string, string | number>): string {
  return Object.entries(values).map(([k, v]) => ` ${k}="${attribute(String(v))}"`).join("");
}

/**
 * Characters XML 1.0 forbids anywhere (even escaped): C0 controls other than tab, LF
 * and CR; U+FFFE and U+FFFF; and UTF-16 surrogates that are not part of a pair.
 */
// deno-lint-ignore no-control-regex
const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]/gu;

/** A forbidden character shown as text: `\x1b`, `\ufffe`. */
function visible(char: string): string {
  const code = char.codePointAt(0)!;
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Character data: `& < >` escaped, forbidden characters made visible. */
function text(value: string): string {
  return value.replace(FORBIDDEN, visible).replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll("\r", "&#13;");
}

/** An attribute value: also quotes, and whitespace kept through attribute normalisation. */
function attribute(value: string): string {
  return text(value).replaceAll('"', "&quot;").replaceAll("'", "&apos;")
    .replaceAll("\t", "&#9;").replaceAll("\n", "&#10;");
}

/**
 * A CDATA section of JSON text. `]]>` cannot appear inside one, so it is split across
 * two sections; characters XML forbids become JSON escapes (they can only occur inside
 * JSON strings, so the JSON means the same).
 */
function cdata(json: string): string {
  const safe = json.replace(
    FORBIDDEN,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
  return `<![CDATA[${safe.replaceAll("]]>", "]]]]><![CDATA[>")}]]>`;
}
