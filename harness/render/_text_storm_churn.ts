// Reconnect storms and bind churns in the text report: a storm's attempts, unserved periods
// and recovery; a churn's cycles and its first failures with who held the port.

import { formatDuration } from "../core/duration.ts";
import type { BindChurnResult } from "../measure/bind_results.ts";
import type { ReconnectStormResult } from "../measure/tcp_results.ts";
import { errorList, holderText, paint, since, type TextOptions } from "./_text_common.ts";

/** A reconnect storm's or a bind churn's lines. */
export function stormChurnLines(
  name: string,
  host: string,
  r: ReconnectStormResult | BindChurnResult,
  origin: number,
  options: TextOptions,
): string[] {
  const dim = (text: string) => paint(options, "dim", text);
  const ms = (ns: number) => formatDuration(ns / 1e6);
  switch (r.kind) {
    case "reconnectStorm": {
      const errors = errorList(r.errors);
      const c = r.connectSummary;
      const lines = [
        `  ${name} on ${host} → ${r.address}: ${r.clients} ${r.protocol} clients, ${r.attempts} attempts, ${r.successes} ok, ${r.failures} failed${
          errors ? ` (${errors})` : ""
        }; connect p50 ${c.count ? ms(c.p50) : "-"}, p99 ${
          c.count ? ms(c.p99) : "-"
        }; at most ${r.maxConcurrentAttempts} attempts at once`,
      ];
      for (const p of r.unservedPeriods.slice(0, 5)) {
        lines.push(paint(
          options,
          "yellow",
          `  ${name}: ${p.clients} client(s) unserved from ${since(p.startMs, origin)} ${
            p.endMs === null ? "until the end" : `to ${since(p.endMs, origin)}`
          }`,
        ));
      }
      if (r.unservedPeriods.length > 5) {
        lines.push(dim(`  ${name}: and ${r.unservedPeriods.length - 5} more unserved periods`));
      }
      const after = [
        r.recoveryMs !== null
          ? `every client served again ${formatDuration(r.recoveryMs)} after the last fault ended`
          : "",
        r.timeWait !== null ? `${r.timeWait} TIME_WAIT sockets left` : "",
      ].filter((t) => t);
      if (after.length > 0) lines.push(`  ${name}: ${after.join("; ")}`);
      return lines;
    }
    case "bindChurn": {
      const errors = errorList(r.errors);
      const rb = r.rebindSummary;
      const lines = [
        `  ${name} on ${host} (${r.protocol} ${r.address}): ${r.cycles} cycles, ${r.attempts} binds, ${r.failures} failed${
          errors ? ` (${errors})` : ""
        }, ${Math.round(r.rate)} cycles/s${
          rb.count > 0 ? `; rebind after a failure p50 ${ms(rb.p50)}, max ${ms(rb.max)}` : ""
        }${r.stoppedEarly ? paint(options, "yellow", "; stopped early") : ""}`,
      ];
      for (const f of r.failureLog.slice(0, 3)) {
        lines.push(dim(
          `    ${f.error} at ${since(f.atMs, origin)}: ${holderText(f.holders)}${
            f.reason ? `; ${f.reason}` : ""
          }${f.rebindMs !== null ? `; bound again after ${formatDuration(f.rebindMs)}` : ""}`,
        ));
      }
      if (r.failures > 3) lines.push(dim(`    and ${r.failures - 3} more failures`));
      return lines;
    }
  }
}
