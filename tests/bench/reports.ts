// Benchmark target 9: writing every report of a 1M-packet run (JSON, JUnit, HTML) takes
// under 1 s, and the HTML file stays under 2 MB. The report is the HTML tests' largest
// fixture: a probe of 1M datagrams (histograms and a full timeline, never samples), a
// storm with its whole attempt log, 5000 bind failures, 200 faults. The reference in
// the same run is JSON.stringify of the same report alone, the least any writer does.

import { toJUnit } from "../../harness/render/junit.ts";
import { renderHtml } from "../../harness/render/html.ts";
import { millionPacketReport } from "../fixtures/reports/sample_report.ts";

/** What was measured: medians of `reps` runs, in ms, and the sizes written. */
export interface ReportsBench {
  reps: number;
  allMs: number;
  jsonOnlyMs: number;
  sizes: { json: number; junit: number; html: number };
  runsMs: number[];
}

/** Writes the three reports `reps` times into a temporary directory and times it. */
export async function benchReports(reps = 5): Promise<ReportsBench> {
  const report = millionPacketReport();
  const dir = await Deno.makeTempDir({ prefix: "squall-bench-reports-" });
  const runsMs: number[] = [];
  const jsonMs: number[] = [];
  const sizes = { json: 0, junit: 0, html: 0 };
  try {
    for (let i = 0; i < reps + 1; i++) {
      const t0 = performance.now();
      const json = JSON.stringify(report, null, 2);
      await Deno.writeTextFile(`${dir}/r.json`, json);
      const t1 = performance.now();
      const junit = toJUnit(report);
      await Deno.writeTextFile(`${dir}/r.xml`, junit);
      const html = renderHtml(report);
      await Deno.writeTextFile(`${dir}/r.html`, html);
      const t2 = performance.now();
      if (i === 0) continue; // warm-up: the first run compiles the writers
      jsonMs.push(t1 - t0);
      runsMs.push(t2 - t0);
      sizes.json = new TextEncoder().encode(json).length;
      sizes.junit = new TextEncoder().encode(junit).length;
      sizes.html = new TextEncoder().encode(html).length;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { reps, allMs: median(runsMs), jsonOnlyMs: median(jsonMs), sizes, runsMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

if (import.meta.main) console.log(JSON.stringify(await benchReports()));
