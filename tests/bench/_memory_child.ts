// One memory measurement, run by main.ts in its own process so that every case starts
// from a fresh runner: a probe of `--count` datagrams at `--rate` per second against an
// echo, then the peak RSS of this process (the runner) and of both agents.
//
// Run: deno run -A --unstable-net tests/bench/_memory_child.ts --count 1000000 --rate 45000
// Prints one line: BENCH_CHILD {...}

import { parseArgs } from "node:util";
import { runScenario, scenario, udpEcho, udpProbe, type UdpProbeResult } from "../../mod.ts";

/** What the child reports. */
export interface MemoryChildReport {
  count: number;
  rate: number;
  status: string;
  errors: string[];
  probe: {
    sent: number;
    delivered: number;
    lost: number;
    late: number;
    durationMs: number;
  } | null;
  /** Peak RSS of this process (VmHWM), bytes. */
  vmHwmBytes: number;
  /** RSS at the end (VmRSS), bytes. */
  vmRssBytes: number;
  /** `Deno.memoryUsage()` at the end. */
  memoryUsage: Deno.MemoryUsage;
  /** Largest `Deno.memoryUsage()` values seen while sampling every 250 ms. */
  sampledPeak: { rss: number; heapUsed: number; heapTotal: number; external: number };
  /** Peak RSS (VmHWM) of the agents, bytes, by host. */
  agentVmHwmBytes: Record<string, number | null>;
}

/** Reads a `kB` field of a /proc/<pid>/status file, in bytes, or null. */
export function statusBytes(pid: number | "self", field: string): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { count: { type: "string" }, rate: { type: "string" } },
  });
  const count = Number(values.count ?? 10_000);
  const rate = Number(values.rate ?? 45_000);
  const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
  const sample = () => {
    const m = Deno.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
    peak.external = Math.max(peak.external, m.external);
  };
  const sampler = setInterval(sample, 250);

  let pids: Record<string, number | null> = {};
  const agentVmHwmBytes: Record<string, number | null> = {};
  let probe: UdpProbeResult | undefined;
  const timeoutS = Math.ceil(count / rate) + 30;
  const s = scenario(
    `bench memory ${count}`,
    {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: { echo: { on: "server", run: udpEcho({ port: 7000 }) } },
      timeout: `${timeoutS}s`,
    },
    async (t) => {
      const handle = await t.start("probe", {
        on: "client",
        run: udpProbe({ target: "server:7000", count, rate }),
      });
      probe = await handle.result();
      for (const [host, pid] of Object.entries(pids)) {
        agentVmHwmBytes[host] = pid === null ? null : statusBytes(pid, "VmHWM");
      }
    },
  );
  const report = await runScenario(s, {
    onEvent: (event) => {
      if (event.type === "ready") {
        pids = Object.fromEntries(event.hosts.map((h) => [h.name, h.agentPid]));
      }
    },
  });
  clearInterval(sampler);
  sample();
  const result: MemoryChildReport = {
    count,
    rate,
    status: report.status,
    errors: report.errors,
    probe: probe
      ? {
        sent: probe.sent,
        delivered: probe.delivered,
        lost: probe.lost,
        late: probe.late,
        durationMs: probe.durationMs,
      }
      : null,
    vmHwmBytes: statusBytes("self", "VmHWM") ?? 0,
    vmRssBytes: statusBytes("self", "VmRSS") ?? 0,
    memoryUsage: Deno.memoryUsage(),
    sampledPeak: peak,
    agentVmHwmBytes,
  };
  console.log(`BENCH_CHILD ${JSON.stringify(result)}`);
}

if (import.meta.main) await main();
