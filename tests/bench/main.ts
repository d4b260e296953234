// squall's benchmark: measures squall against references taken in the same run and
// checks its targets (eleven rows).
//
//   1. probe RTT (ping-pong) p50 <= 1.15x and p99 <= 1.5x sockperf UDP ping-pong
//      --full-rtt on the same path (veth between two namespaces); the fixed-rate probe at
//      2000/s has a p50 <= 1.15x the ping-pong p50 of the same run (row 1b); one-way
//      delays p50 <= 1.2x irtt's send and receive delays (row 1c, tests/bench/probe.ts);
//   2. a probe at 100k datagrams/s of 64 B for 10 s: no unexplained loss (loss minus the
//      receive-buffer overflows nstat counts in both namespaces), exact accounting, the
//      echo keeps up (reference: iperf3 -u at the same packet rate on the same path);
//   3. setup time (run to all agents ready): 2 hosts < 0.5 s, a 20-host star < 5 s;
//   4. runner peak RSS at 1M probe datagrams within 20 MB of that at 10k;
//   5. the XDP dropper's cost per packet: < 150 ns and <= 1.3x a count-only XDP program;
//   6. a loss rate change takes effect within 1 ms of the call returning (5 and 6 are
//      tests/bench/xdp.ts, which also runs on its own);
//   7. bind/close churn on one UDP port: squall's loop >= 0.8x a plain Deno loop (TCP
//      listen/close is reported too, for information);
//   8. reconnect storm (connect, 64 B each way, close) across a veth: squall's overhead
//      against plain Deno clients < 25% (7 and 8 are tests/bench/sockets.ts, which also
//      runs on its own; each side runs in a fresh child process, alternating, medians);
//   9. writing the JSON, JUnit and HTML reports of a 1M-packet run takes < 1 s, and the
//      HTML stays < 2 MB (tests/bench/reports.ts; reference: JSON alone, same run);
//  10. the delay line at 50k datagrams/s through 10 ms for 10 s: nothing lost, and the
//      line's process under half a core (tests/bench/delay.ts, which also runs on its own).
//
// Run as root: deno task bench (= deno run -A --unstable-net tests/bench/main.ts).
// Prints a table, then one line `BENCH_JSON {...}`. Exits 0 when every target passes,
// 1 when any is missed (or could not be measured).
// `--only rtt,paced,owd,loss,setup2,setup20,memory,xdp-cost,xdp-switch,churn,churn-tcp,storm,reports,delay`
// runs a subset (the others are reported as skipped and do not count).

import { benchReports } from "./reports.ts";
import { parseArgs } from "node:util";
import {
  type RunEvent,
  runScenario,
  scenario,
  type ScenarioReport,
  udpEcho,
  udpProbe,
  type UdpProbeResult,
} from "../../mod.ts";
import type { MemoryChildReport } from "./_memory_child.ts";
import { type CleanupReport, NamespaceSet } from "./_netns.ts";
import {
  cpuSnapshot,
  isAlive,
  mb,
  median,
  ms,
  nstat,
  onPath,
  otherCpu,
  ratio,
  type Row,
  run,
  sleep,
  table,
  us,
} from "./_util.ts";
import { benchXdp, type XdpBenchResult } from "./xdp.ts";
import { benchChurn, benchStorm, SOCKETS_CONFIG } from "./sockets.ts";
import { iperf3Reference, irttReference } from "./probe.ts";
import { benchDelay, DELAY_CONFIG } from "./delay.ts";

/** Everything the benchmark does, in one place. */
const CONFIG = {
  rtt: {
    /** squall probe runs (median taken), interleaved with sockperf runs. */
    runs: 3,
    count: 20_000,
    /**
     * The target compares like with like: squall's probe in ping-pong mode (one datagram
     * in flight, unpaced) against sockperf ping-pong (unpaced). For context, squall's
     * fixed-rate probe at this rate is also measured, against sockperf paced to it.
     */
    rate: 2_000,
    sockperfSeconds: 3,
    sockperfPacedSeconds: 2,
    messageSize: 64,
    maxRatio: 1.15,
    maxP99Ratio: 1.5,
    /** The fixed-rate probe's p50 against the ping-pong probe's, same run. */
    maxPacedRatio: 1.15,
    /** One-way delay p50 against irtt's (same rate, size, path shape). */
    maxOneWayRatio: 1.2,
  },
  loss: { rate: 100_000, durationS: 10, size: 64, iperf3Seconds: 5 },
  setup: { runs: 5, small: 2, large: 20, smallLimitMs: 500, largeLimitMs: 5_000 },
  memory: { small: 10_000, large: 1_000_000, rate: 45_000, limitBytes: 20e6 },
  /** Targets 7 and 8 (tests/bench/sockets.ts). */
  sockets: SOCKETS_CONFIG,
  /** Target 10 (tests/bench/delay.ts). */
  delay: DELAY_CONFIG,
} as const;

const SOCKPERF_PORT = 11_111;
const ECHO_PORT = 7000;
const HERE = new URL(".", import.meta.url).pathname;

/** The outcome of one target. */
interface Outcome {
  id: string;
  row: Row;
  /** true: passed; false: missed; null: could not be measured (counts as missed). */
  pass: boolean | null;
  why?: string;
  notes: string[];
  data: Record<string, unknown>;
}

const activeSets = new Set<NamespaceSet>();
const agentPidsSeen = new Set<number>();

function log(message: string): void {
  console.log(`# ${message}`);
}

function verdict(pass: boolean | null): string {
  return pass === true ? "PASS" : pass === false ? "MISS" : "N/A";
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs a scenario and remembers its agents' pids, to check later that none is left. */
async function runTracked(
  s: Parameters<typeof runScenario>[0],
  onEvent?: (event: RunEvent) => void,
): Promise<ScenarioReport> {
  const report = await runScenario(s, {
    onEvent: (event) => {
      if (event.type === "ready") {
        for (const h of event.hosts) if (h.agentPid !== null) agentPidsSeen.add(h.agentPid);
      }
      onEvent?.(event);
    },
  });
  for (const h of report.hosts) if (h.agentPid !== null) agentPidsSeen.add(h.agentPid);
  return report;
}

function probeResult(report: ScenarioReport, name = "probe"): UdpProbeResult {
  const w = report.workloads.find((w) => w.name === name);
  if (report.status !== "passed" || !w?.result || w.result.kind !== "udpProbe") {
    throw new Error(
      `scenario "${report.name}" ended ${report.status}` +
        (report.errors.length ? `: ${report.errors.join("; ")}` : "") +
        (w?.error ? `; ${name}: ${w.error}` : ""),
    );
  }
  return w.result;
}

async function withNamespaces<T>(fn: (set: NamespaceSet) => Promise<T>): Promise<{
  value: T;
  cleanup: CleanupReport;
}> {
  const set = new NamespaceSet();
  activeSets.add(set);
  let value: T;
  try {
    value = await fn(set);
  } catch (error) {
    await set.close();
    activeSets.delete(set);
    throw error;
  }
  const cleanup = await set.close();
  activeSets.delete(set);
  return { value, cleanup };
}

function cleanupText(c: CleanupReport): string {
  return c.alivePids.length === 0 && c.left.length === 0
    ? "nothing left (all pids reaped, no process in its namespaces)"
    : `LEFT BEHIND: alive pids ${c.alivePids.join(",") || "-"}, ` +
      `processes in its namespaces ${c.left.join(",") || "-"}`;
}

// --- 1. RTT against sockperf ---

interface SockperfFigures {
  p50Us: number;
  p99Us: number | null;
  received: number | null;
}

function parseSockperf(output: string): SockperfFigures {
  const p50 = /percentile 50\.000 =\s*([\d.]+)/.exec(output);
  if (!p50) throw new Error(`no "percentile 50.000" in sockperf output:\n${output.slice(-800)}`);
  const p99 = /percentile 99\.000 =\s*([\d.]+)/.exec(output);
  const received = /\[Valid Duration\].*ReceivedMessages=(\d+)/.exec(output);
  return {
    p50Us: Number(p50[1]),
    p99Us: p99 ? Number(p99[1]) : null,
    received: received ? Number(received[1]) : null,
  };
}

async function sockperfPingPong(
  set: NamespaceSet,
  server: string,
  seconds: number,
  mps: number | null,
): Promise<SockperfFigures> {
  const args = [
    "sockperf",
    "ping-pong",
    "--full-rtt",
    "-t",
    String(seconds),
    "-m",
    String(CONFIG.rtt.messageSize),
    "-i",
    server,
    "-p",
    String(SOCKPERF_PORT),
    ...(mps === null ? [] : [`--mps=${mps}`]),
  ];
  const out = await set.spawnIn(0, args).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (out.code !== 0) {
    throw new Error(`sockperf ping-pong exited ${out.code}:\n${text.slice(-800)}`);
  }
  return parseSockperf(text);
}

async function waitForUdpPort(set: NamespaceSet, index: number, port: number): Promise<void> {
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    const out = await set.runIn(index, ["ss", "-Hlun", `sport = :${port}`]);
    if (new TextDecoder().decode(out.stdout).trim() !== "") return;
    await sleep(20);
  }
  throw new Error(`sockperf server did not bind port ${port}`);
}

interface SquallRtt {
  p50: number;
  p99: number;
  delivered: number;
  sent: number;
  measuredBy: string;
  forwardP50: number | null;
  returnP50: number | null;
  echoP50: number | null;
  pacingMisses: number | null;
  cpuShare: number | null;
}

interface RttRuns {
  squall: SquallRtt[];
  squallPaced: SquallRtt[];
  sockperf: SockperfFigures[];
  sockperfPaced: SockperfFigures[];
  cleanup: CleanupReport | null;
  notes: string[];
}

/** sockperf and squall's probe, interleaved, once for targets 1, 1b and 1c. */
let rttRuns: Promise<RttRuns> | undefined;

function measureRtt(): Promise<RttRuns> {
  rttRuns ??= measureRttOnce();
  return rttRuns;
}

async function measureRttOnce(): Promise<RttRuns> {
  const c = CONFIG.rtt;
  const notes: string[] = [];
  const squall: SquallRtt[] = [];
  const squallPaced: SquallRtt[] = [];
  const sockperf: SockperfFigures[] = [];
  const sockperfPaced: SockperfFigures[] = [];
  let cleanup: CleanupReport | null = null;
  const haveSockperf = onPath("sockperf");
  if (!haveSockperf) {
    notes.push("sockperf is not installed (apt-get install -y sockperf): no reference");
  }
  // The fixed-rate probe runs for sockperfSeconds, like sockperf's runs.
  const pacedCount = c.rate * c.sockperfSeconds;

  const squallRun = async (pingPong: boolean) => {
    const into = pingPong ? squall : squallPaced;
    const count = pingPong ? c.count : pacedCount;
    const s = scenario("bench rtt", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        echo: { on: "server", run: udpEcho({ port: ECHO_PORT }) },
        probe: {
          on: "client",
          run: udpProbe({
            target: `server:${ECHO_PORT}`,
            count,
            rate: pingPong ? 1_000_000 : c.rate,
            size: c.messageSize,
            pingPong,
          }),
        },
      },
      timeout: `${Math.ceil(count / c.rate) + 30}s`,
    });
    const r = probeResult(await runTracked(s));
    const run: SquallRtt = {
      p50: r.rttSummary.p50,
      p99: r.rttSummary.p99,
      delivered: r.delivered,
      sent: r.sent,
      measuredBy: r.measuredBy,
      forwardP50: r.oneWay?.forward.delaySummary.p50 ?? null,
      returnP50: r.oneWay?.return.delaySummary.p50 ?? null,
      echoP50: r.oneWay?.echo.timeSummary.p50 ?? null,
      pacingMisses: r.pacing?.misses ?? null,
      cpuShare: r.cpu?.share ?? null,
    };
    into.push(run);
    log(
      `squall probe (${run.measuredBy}) ${
        pingPong ? "ping-pong" : `at ${c.rate}/s`
      } ${into.length}/${c.runs}: p50 ${us(run.p50)}, p99 ${
        us(run.p99)
      }, ${r.delivered}/${r.sent} delivered; one way ${us(run.forwardP50)} forward, ${
        us(run.returnP50)
      } return, echo's own time ${us(run.echoP50)}; pacing misses ${run.pacingMisses}, CPU ${
        run.cpuShare === null ? "?" : `${(run.cpuShare * 100).toFixed(0)}%`
      }`,
    );
  };

  if (haveSockperf) {
    const done = await withNamespaces(async (set) => {
      await set.addHolders(2);
      await set.wire([[0, 1]]);
      const server = set.links[0]!.ends[1].address;
      set.spawnIn(1, ["sockperf", "server", "-i", server, "-p", String(SOCKPERF_PORT)]);
      await waitForUdpPort(set, 1, SOCKPERF_PORT);
      for (let i = 0; i < c.runs; i++) {
        const f = await sockperfPingPong(set, server, c.sockperfSeconds, null);
        sockperf.push(f);
        log(
          `sockperf ping-pong ${i + 1}/${c.runs}: p50 ${f.p50Us.toFixed(1)} us, p99 ${
            f.p99Us?.toFixed(1)
          } us, ${f.received} round trips`,
        );
        const paced = await sockperfPingPong(set, server, c.sockperfPacedSeconds, c.rate);
        sockperfPaced.push(paced);
        log(
          `sockperf ping-pong --mps=${c.rate} ${i + 1}/${c.runs}: p50 ${
            paced.p50Us.toFixed(1)
          } us, p99 ${paced.p99Us?.toFixed(1)} us`,
        );
        await squallRun(true);
        await squallRun(false);
      }
    });
    cleanup = done.cleanup;
    notes.push(`sockperf namespaces: ${cleanupText(cleanup)}`);
  } else {
    for (let i = 0; i < c.runs; i++) {
      await squallRun(true);
      await squallRun(false);
    }
  }
  return { squall, squallPaced, sockperf, sockperfPaced, cleanup, notes };
}

async function targetRtt(): Promise<Outcome> {
  const c = CONFIG.rtt;
  const { squall, sockperf, sockperfPaced, squallPaced, cleanup, notes: shared } =
    await measureRtt();
  const notes = [...shared];
  const squallP50 = median(squall.map((s) => s.p50));
  const squallP99 = median(squall.map((s) => s.p99));
  const refP50 = median(sockperf.map((s) => s.p50Us * 1000));
  const refP99 = median(sockperf.flatMap((s) => s.p99Us === null ? [] : [s.p99Us * 1000]));
  const pacedP50 = median(sockperfPaced.map((s) => s.p50Us * 1000));
  const squallPacedP50 = median(squallPaced.map((s) => s.p50));
  const p50Pass = squallP50 !== null && refP50 !== null ? squallP50 <= c.maxRatio * refP50 : null;
  const p99Pass = squallP99 !== null && refP99 !== null
    ? squallP99 <= c.maxP99Ratio * refP99
    : null;
  const pass = p50Pass === null || p99Pass === null ? null : p50Pass && p99Pass;
  notes.push(
    `squall probe (${[...new Set(squall.map((s) => s.measuredBy))].join("/")} path): ${c.count} ` +
      `datagrams of ${c.messageSize} B in ping-pong mode (unpaced), median of ${squall.length} ` +
      `runs; p50 per run: ${squall.map((s) => us(s.p50)).join(", ")}; p99 per run: ${
        squall.map((s) => us(s.p99)).join(", ")
      }; the native probe's round trip runs from the kernel's transmit timestamp (as the ` +
      `datagram enters the qdisc) to its receive timestamp`,
  );
  if (sockperf.length > 0) {
    notes.push(
      `sockperf ping-pong --full-rtt -t ${c.sockperfSeconds} -m ${c.messageSize} (unpaced), ` +
        `median of ${sockperf.length}; p50 per run: ${
          sockperf.map((s) => `${s.p50Us.toFixed(1)} us`).join(", ")
        }; p99 median ${us(refP99)} (${
          ratio(squallP99, refP99)
        } for squall, limit ${c.maxP99Ratio}x)`,
    );
    notes.push(
      `for context (not a target): sockperf paced at the probe's rate (--mps=${c.rate}) ` +
        `p50 ${us(pacedP50)} (${ratio(pacedP50, refP50)} its unpaced p50); squall's fixed-rate ` +
        `probe at ${c.rate}/s: p50 ${us(squallPacedP50)}, ${ratio(squallPacedP50, pacedP50)} of ` +
        `paced sockperf`,
    );
  }
  const why: string[] = [];
  if (p50Pass === false) {
    why.push(`p50 ${us(squallP50)} is ${ratio(squallP50, refP50)} sockperf's ${us(refP50)}`);
  }
  if (p99Pass === false) {
    why.push(`p99 ${us(squallP99)} is ${ratio(squallP99, refP99)} sockperf's ${us(refP99)}`);
  }
  return {
    id: "rtt",
    row: {
      target: "1. probe RTT p50 (p99) ping-pong",
      measured: `${us(squallP50)} (${us(squallP99)})`,
      reference: refP50 === null ? "sockperf missing" : `${us(refP50)} (${us(refP99)}) sockperf`,
      ratio: `${ratio(squallP50, refP50)} (${ratio(squallP99, refP99)})`,
      limit: `<= ${c.maxRatio}x (${c.maxP99Ratio}x)`,
      result: verdict(pass),
    },
    pass,
    ...(pass === null ? { why: "sockperf missing: no reference" } : {}),
    ...(pass === false ? { why: why.join("; ") } : {}),
    notes,
    data: {
      rate: c.rate,
      count: c.count,
      squallP50Ns: squallP50,
      squallP99Ns: squallP99,
      squallRuns: squall,
      sockperfP50Ns: refP50,
      sockperfP99Ns: refP99,
      sockperfRunsUs: sockperf,
      sockperfPacedP50Ns: pacedP50,
      sockperfPacedRunsUs: sockperfPaced,
      ratio: squallP50 !== null && refP50 ? squallP50 / refP50 : null,
      p99Ratio: squallP99 !== null && refP99 ? squallP99 / refP99 : null,
      limitRatio: c.maxRatio,
      limitP99Ratio: c.maxP99Ratio,
      sockperfCleanup: cleanup,
    },
  };
}

async function targetPaced(): Promise<Outcome> {
  const c = CONFIG.rtt;
  const { squall, squallPaced, sockperf, sockperfPaced } = await measureRtt();
  const pingP50 = median(squall.map((s) => s.p50));
  const pacedP50 = median(squallPaced.map((s) => s.p50));
  const echoPing = median(squall.flatMap((s) => s.echoP50 === null ? [] : [s.echoP50]));
  const echoPaced = median(squallPaced.flatMap((s) => s.echoP50 === null ? [] : [s.echoP50]));
  const refRatio = median(sockperfPaced.map((s) => s.p50Us)) !== null &&
      median(sockperf.map((s) => s.p50Us))
    ? median(sockperfPaced.map((s) => s.p50Us))! / median(sockperf.map((s) => s.p50Us))!
    : null;
  const pass = pingP50 !== null && pacedP50 !== null ? pacedP50 <= c.maxPacedRatio * pingP50 : null;
  return {
    id: "paced",
    row: {
      target: `1b. fixed-rate ${c.rate}/s RTT p50`,
      measured: us(pacedP50),
      reference: `${us(pingP50)} ping-pong`,
      ratio: ratio(pacedP50, pingP50),
      limit: `<= ${c.maxPacedRatio}x`,
      result: verdict(pass),
    },
    pass,
    ...(pass === false
      ? {
        why: `fixed-rate p50 ${us(pacedP50)} is ${ratio(pacedP50, pingP50)} the ping-pong p50 ` +
          `${us(pingP50)}; the echo's own time (kernel receive to reply) p50 ${us(echoPaced)} ` +
          `at ${c.rate}/s against ${us(echoPing)} in ping-pong: the echo wakes from idle`,
      }
      : {}),
    notes: [
      `fixed-rate probe p50 per run: ${squallPaced.map((s) => us(s.p50)).join(", ")}; pacing ` +
      `misses per run: ${squallPaced.map((s) => s.pacingMisses).join(", ")} of ${
        c.rate * c.sockperfSeconds
      }; probe CPU per run: ${
        squallPaced.map((s) => s.cpuShare === null ? "?" : `${(s.cpuShare * 100).toFixed(0)}%`)
          .join(", ")
      }`,
      `the echo's own time p50: ${us(echoPaced)} at ${c.rate}/s, ${us(echoPing)} in ping-pong; ` +
      `sockperf's paced/unpaced p50 ratio in the same run: ${
        refRatio === null ? "n/a" : `${refRatio.toFixed(2)}x`
      } (the path's own cost of waking from idle)`,
    ],
    data: {
      pingP50Ns: pingP50,
      pacedP50Ns: pacedP50,
      echoPingNs: echoPing,
      echoPacedNs: echoPaced,
      sockperfPacedRatio: refRatio,
    },
  };
}

async function targetOneWay(): Promise<Outcome> {
  const c = CONFIG.rtt;
  const { squallPaced } = await measureRtt();
  const irtt = await irttReference(c.runs, c.sockperfSeconds, 1e6 / c.rate, c.messageSize);
  const forward = median(squallPaced.flatMap((s) => s.forwardP50 === null ? [] : [s.forwardP50]));
  const back = median(squallPaced.flatMap((s) => s.returnP50 === null ? [] : [s.returnP50]));
  const pass = forward !== null && back !== null && irtt.sendP50 !== null &&
      irtt.receiveP50 !== null
    ? forward <= c.maxOneWayRatio * irtt.sendP50 && back <= c.maxOneWayRatio * irtt.receiveP50
    : null;
  return {
    id: "owd",
    row: {
      target: `1c. one-way delay p50 at ${c.rate}/s`,
      measured: `${us(forward)} / ${us(back)}`,
      reference: `${us(irtt.sendP50)} / ${us(irtt.receiveP50)} irtt`,
      ratio: `${ratio(forward, irtt.sendP50)} / ${ratio(back, irtt.receiveP50)}`,
      limit: `<= ${c.maxOneWayRatio}x`,
      result: verdict(pass),
    },
    pass,
    ...(pass === null
      ? { why: forward === null ? "one-way delay not measured" : "irtt missing: no reference" }
      : {}),
    ...(pass === false ? { why: "squall's one-way delay p50 above 1.2x irtt's" } : {}),
    notes: [
      `one-way delays (forward / return) p50 per squall run: ${
        squallPaced.map((s) => `${us(s.forwardP50)} / ${us(s.returnP50)}`).join(", ")
      }; irtt -i ${1e6 / c.rate}us -l ${c.messageSize} -d ${c.sockperfSeconds}s send / receive ` +
      `delay p50 per run: ${
        irtt.runs.map((r) => `${us(r.sendP50)} / ${us(r.receiveP50)}`).join(", ")
      } (irtt's times are its own user-space clock reads; squall's are the kernel's socket ` +
      `timestamps at the probe and at the echo's receive, the echo's clock just before it sends)`,
    ],
    data: { forwardP50Ns: forward, returnP50Ns: back, irtt },
  };
}

// --- 2. loss accounting at 100k/s ---

const NSTAT_COUNTERS = ["UdpRcvbufErrors", "UdpInErrors"] as const;

/** The runner's own loss ledger, if this version of squall has one (read defensively). */
function describeLedger(r: UdpProbeResult): string {
  const ledger = (r as { ledger?: unknown }).ledger as
    | { total?: { lost?: number; receiveBufferOverflow?: number; unexplained?: number } }
    | null
    | undefined;
  const total = ledger?.total;
  if (!total) return "none";
  return `lost ${total.lost}, receive-buffer overflow ${total.receiveBufferOverflow}, ` +
    `unexplained ${total.unexplained}`;
}

async function targetLoss(): Promise<Outcome> {
  const c = CONFIG.loss;
  let pids: Record<string, number> = {};
  const before: Record<string, Record<string, number>> = {};
  const after: Record<string, Record<string, number>> = {};
  const readAll = async (into: Record<string, Record<string, number>>) => {
    await Promise.all(
      Object.entries(pids).map(async ([host, pid]) => {
        into[host] = await nstat(pid, NSTAT_COUNTERS);
      }),
    );
  };
  const s = scenario(
    "bench loss",
    {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: { echo: { on: "server", run: udpEcho({ port: ECHO_PORT }) } },
      timeout: `${c.durationS + 30}s`,
    },
    async (t) => {
      await readAll(before);
      const probe = await t.start("probe", {
        on: "client",
        run: udpProbe({
          target: `server:${ECHO_PORT}`,
          duration: `${c.durationS}s`,
          rate: c.rate,
          size: c.size,
        }),
      });
      await probe.result();
      await readAll(after);
    },
  );
  const report = await runTracked(s, (event) => {
    if (event.type === "ready") {
      pids = Object.fromEntries(
        event.hosts.flatMap((h) => h.agentPid === null ? [] : [[h.name, h.agentPid]]),
      );
    }
  });
  const r = probeResult(report);
  const iperf3 = await iperf3Reference(c.rate, c.size, c.iperf3Seconds).catch((error) => {
    log(`iperf3 could not run: ${errorText(error)}`);
    return null;
  });
  const delta = (host: string, counter: string) =>
    (after[host]?.[counter] ?? NaN) - (before[host]?.[counter] ?? NaN);
  const dropsClient = delta("client", "UdpRcvbufErrors");
  const dropsServer = delta("server", "UdpRcvbufErrors");
  const inErrClient = delta("client", "UdpInErrors");
  const inErrServer = delta("server", "UdpInErrors");
  const overflow = dropsClient + dropsServer;
  const unexplained = r.lost - overflow;
  const sumOk = r.sent === r.delivered + r.lost + r.late;
  const splitKnown = r.lostOutbound !== null && r.lostReturn !== null && r.echoReceived !== null;
  const splitOk = splitKnown && r.lostOutbound! + r.lostReturn! === r.lost;
  const nominal = c.rate * c.durationS;
  // The echo keeps up: nothing overflowed its socket, and the probe held its rate.
  const echoKeptUp = dropsServer === 0 && r.sent >= 0.95 * nominal;
  const pass = Number.isFinite(unexplained) && unexplained === 0 && sumOk && splitOk &&
    echoKeptUp;
  const whyParts: string[] = [];
  if (!Number.isFinite(unexplained)) whyParts.push("nstat counters could not be read");
  else if (unexplained !== 0) {
    whyParts.push(`unexplained loss ${unexplained} (lost ${r.lost}, nstat overflows ${overflow})`);
  }
  if (!sumOk) whyParts.push(`sent ${r.sent} != delivered + lost + late`);
  if (!echoKeptUp) {
    whyParts.push(
      `the echo did not keep up: ${dropsServer} overflowed its socket, ${r.sent} of ${nominal} ` +
        `sent (iperf3 -u at the same rate: ${
          iperf3
            ? `${iperf3.rate.toFixed(0)}/s sent, ${iperf3.lostPercent.toFixed(2)}% lost`
            : "n/a"
        })`,
    );
  }
  if (!splitOk) {
    whyParts.push(
      splitKnown ? "lostOutbound + lostReturn != lost" : "echoReceived/lostOutbound unknown",
    );
  }
  const notes = [
    `probe: ${c.durationS} s at ${c.rate}/s: sent ${r.sent} (nominal ${nominal}, ` +
    `${nominal - r.sent} short), delivered ${r.delivered}, lost ${r.lost}, late ${r.late}, ` +
    `duplicated ${r.duplicated}, reordered ${r.reordered}; echoReceived ${r.echoReceived}, ` +
    `lostOutbound ${r.lostOutbound}, lostReturn ${r.lostReturn}; rtt p50 ${
      us(r.rttSummary.p50)
    }, p99 ${us(r.rttSummary.p99)}`,
    `nstat deltas: client UdpRcvbufErrors ${dropsClient}, UdpInErrors ${inErrClient}; ` +
    `server UdpRcvbufErrors ${dropsServer}, UdpInErrors ${inErrServer}`,
    `checks: sent == delivered + lost + late: ${sumOk} (${r.sent} == ${r.delivered} + ${r.lost} + ${r.late}); ` +
    `lostOutbound + lostReturn == lost: ${splitOk}; unexplained = lost - overflows = ` +
    `${r.lost} - ${overflow} = ${unexplained}`,
    `cross-check: lostOutbound ${r.lostOutbound} vs server-side overflows ${dropsServer}; ` +
    `lostReturn ${r.lostReturn} vs client-side overflows ${dropsClient}`,
    `squall's own loss ledger (for comparison, not used above): ${describeLedger(r)}`,
    `measured by the ${r.measuredBy} probe; pacing ${r.pacing?.mode ?? "?"}, ${
      r.pacing?.misses ?? "?"
    } sends missed their time (lateness p50 ${us(r.pacing?.lateness.p50)}, p99 ${
      us(r.pacing?.lateness.p99)
    }); probe CPU ${r.cpu ? `${(r.cpu.share * 100).toFixed(0)}% of a core` : "?"}`,
    iperf3
      ? `reference iperf3 -u -b ${
        (c.rate * c.size * 8 / 1e6).toFixed(1)
      }M -l ${c.size} -t ${c.iperf3Seconds} ` +
        `on the same path shape: ${iperf3.rate.toFixed(0)} datagrams/s sent, ${iperf3.lost} of ` +
        `${iperf3.packets} lost (${iperf3.lostPercent.toFixed(2)}%)`
      : "iperf3 not installed: no capacity reference",
  ];
  return {
    id: "loss",
    row: {
      target: `2. unexplained loss (${c.rate / 1000}k/s, ${c.durationS} s)`,
      measured: Number.isFinite(unexplained) ? String(unexplained) : "n/a",
      reference: `lost ${r.lost}, nstat ${overflow}; iperf3 ${
        iperf3 ? `${iperf3.lostPercent.toFixed(2)}% lost` : "n/a"
      }`,
      ratio: "-",
      limit: "== 0, exact sums, echo keeps up",
      result: verdict(pass),
    },
    pass,
    ...(pass ? {} : { why: whyParts.join("; ") }),
    notes,
    data: {
      rate: c.rate,
      durationS: c.durationS,
      sent: r.sent,
      delivered: r.delivered,
      lost: r.lost,
      late: r.late,
      duplicated: r.duplicated,
      echoReceived: r.echoReceived,
      lostOutbound: r.lostOutbound,
      lostReturn: r.lostReturn,
      probeDurationMs: r.durationMs,
      nstatBefore: before,
      nstatAfter: after,
      overflow,
      unexplained: Number.isFinite(unexplained) ? unexplained : null,
      sumOk,
      splitOk,
      echoKeptUp,
      iperf3,
      measuredBy: r.measuredBy,
      pacing: r.pacing ?? null,
      cpu: r.cpu ?? null,
    },
  };
}

// --- 3. setup time ---

function starHosts(n: number): { hosts: string[]; links: [string, string][] } {
  if (n === 2) return { hosts: ["client", "server"], links: [["client", "server"]] };
  const leaves = Array.from({ length: n - 1 }, (_, i) => `leaf${i + 1}`);
  return { hosts: ["hub", ...leaves], links: leaves.map((l) => ["hub", l]) };
}

async function squallSetupMs(n: number): Promise<number> {
  const { hosts, links } = starHosts(n);
  const s = scenario(`bench setup ${n}`, { hosts, links }, () => {});
  const report = await runTracked(s);
  if (report.status !== "passed" || report.setupMs === null) {
    throw new Error(`setup scenario (${n} hosts) ended ${report.status}: ${report.errors}`);
  }
  return report.setupMs;
}

/** The same work done directly: n namespaces held by trivial Deno processes, then links. */
async function nativeSetupMs(n: number): Promise<number> {
  const pairs: [number, number][] = n === 2
    ? [[0, 1]]
    : Array.from({ length: n - 1 }, (_, i) => [0, i + 1]);
  const { value } = await withNamespaces(async (set) => {
    const start = performance.now();
    await set.addHolders(
      n,
      [
        Deno.execPath(),
        "run",
        "--no-prompt",
        "--no-config",
        "--quiet",
        `${HERE}_ready_child.ts`,
      ],
      true,
    );
    await set.wire(pairs);
    return performance.now() - start;
  });
  return value;
}

async function targetSetup(n: number, limitMs: number): Promise<Outcome> {
  const runs = CONFIG.setup.runs;
  const squall: number[] = [];
  const native: number[] = [];
  for (let i = 0; i < runs; i++) {
    squall.push(await squallSetupMs(n));
    native.push(await nativeSetupMs(n));
  }
  const m = median(squall);
  const ref = median(native);
  const pass = m !== null && m < limitMs;
  const shape = n === 2 ? "2 hosts, 1 link" : `${n} hosts, star of ${n - 1} links`;
  log(`setup ${shape}: squall ${squall.map((v) => v.toFixed(0)).join(", ")} ms`);
  return {
    id: `setup${n}`,
    row: {
      target: `3. setup, ${shape}`,
      measured: ms(m),
      reference: `${ms(ref)} native`,
      ratio: ratio(m, ref),
      limit: `< ${limitMs} ms`,
      result: verdict(pass),
    },
    pass,
    ...(pass ? {} : { why: `median setup ${ms(m)} is not under ${limitMs} ms` }),
    notes: [
      `setup ${shape}: squall setupMs per run ${
        squall.map((v) => v.toFixed(1)).join(", ")
      } (median of ${runs}); native reference (the same namespaces held by a trivial ` +
      `\`deno run\` that prints a line, plus the same ip -batch wiring) ${
        native.map((v) => v.toFixed(1)).join(", ")
      }`,
    ],
    data: {
      hosts: n,
      squallMs: squall,
      nativeMs: native,
      medianMs: m,
      nativeMedianMs: ref,
      limitMs,
    },
  };
}

// --- 4. runner memory ---

async function memoryChild(count: number, rate: number): Promise<MemoryChildReport> {
  const out = await run(Deno.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    `${HERE}_memory_child.ts`,
    "--count",
    String(count),
    "--rate",
    String(rate),
  ]);
  const line = out.stdout.split("\n").find((l) => l.startsWith("BENCH_CHILD "));
  if (out.code !== 0 || !line) {
    throw new Error(
      `memory child (${count}) exited ${out.code}: ${(out.stderr || out.stdout).slice(-800)}`,
    );
  }
  const report = JSON.parse(line.slice("BENCH_CHILD ".length)) as MemoryChildReport;
  if (report.status !== "passed") {
    throw new Error(`memory child (${count}) scenario ended ${report.status}: ${report.errors}`);
  }
  return report;
}

/** Send rate a count-limited probe achieved: its duration includes the 1 s reply timeout. */
function achieved(r: MemoryChildReport): string {
  if (!r.probe || r.probe.durationMs <= 1000) return "?";
  return (r.probe.sent / ((r.probe.durationMs - 1000) / 1000)).toFixed(0);
}

async function targetMemory(): Promise<Outcome> {
  const c = CONFIG.memory;
  const small = await memoryChild(c.small, c.rate);
  log(`memory ${c.small}: VmHWM ${mb(small.vmHwmBytes)}`);
  const large = await memoryChild(c.large, c.rate);
  log(`memory ${c.large}: VmHWM ${mb(large.vmHwmBytes)}`);
  const diff = large.vmHwmBytes - small.vmHwmBytes;
  const pass = Math.abs(diff) <= c.limitBytes;
  const describe = (r: MemoryChildReport) =>
    `${r.count}: runner VmHWM ${mb(r.vmHwmBytes)}, VmRSS at end ${mb(r.vmRssBytes)}, ` +
    `heapUsed at end ${mb(r.memoryUsage.heapUsed)} (sampled peak ${
      mb(r.sampledPeak.heapUsed)
    }), external ${
      mb(r.memoryUsage.external)
    }; probe sent ${r.probe?.sent} delivered ${r.probe?.delivered} ` +
    `lost ${r.probe?.lost} in ${((r.probe?.durationMs ?? 0) / 1000).toFixed(1)} s ` +
    `(${achieved(r)}/s achieved ` +
    `of ${r.rate}/s asked); agent VmHWM client ${mb(r.agentVmHwmBytes["client"])}, server ${
      mb(r.agentVmHwmBytes["server"])
    }`;
  return {
    id: "memory",
    row: {
      target: `4. runner peak RSS at ${c.large / 1e6}M packets`,
      measured: mb(large.vmHwmBytes),
      reference: `${mb(small.vmHwmBytes)} at ${c.small / 1000}k`,
      ratio: `${diff >= 0 ? "+" : "-"}${(Math.abs(diff) / 1e6).toFixed(2)} MB`,
      limit: `within ${mb(c.limitBytes)}`,
      result: verdict(pass),
    },
    pass,
    ...(pass ? {} : { why: `peak RSS grew by ${mb(diff)} from ${c.small} to ${c.large} packets` }),
    notes: [describe(small), describe(large)],
    data: { small, large, diffBytes: diff, limitBytes: c.limitBytes },
  };
}

// --- 7 and 8. socket loops against plain Deno loops (tests/bench/sockets.ts) ---

function kRate(rate: number | null): string {
  return rate === null ? "n/a" : `${(rate / 1000).toFixed(1)}k cycles/s`;
}

function perRun(runs: readonly { side: string; rate: number }[], side: string): string {
  return runs.filter((r) => r.side === side).map((r) => (r.rate / 1000).toFixed(1)).join(", ");
}

function errorsOf(runs: readonly { errors: Record<string, number> }[]): Record<string, number> {
  const all: Record<string, number> = {};
  for (const run of runs) {
    for (const [name, n] of Object.entries(run.errors)) all[name] = (all[name] ?? 0) + n;
  }
  return all;
}

async function targetChurn(protocol: "udp" | "tcp"): Promise<Outcome> {
  const r = await benchChurn(protocol, { activeSets, onProgress: log });
  const c = CONFIG.sockets.churn;
  // Only UDP is a target; TCP listen/close is reported for information and never missed.
  const informational = protocol === "tcp";
  const pass = informational ? true : r.pass;
  const failures = r.runs.reduce((sum, run) => sum + run.failures, 0);
  const ratioText = r.ratio === null ? "n/a" : `${r.ratio.toFixed(2)}x`;
  return {
    id: informational ? "churn-tcp" : "churn",
    row: {
      target: `7. bind/close churn, ${protocol.toUpperCase()}${informational ? " (info)" : ""}`,
      measured: kRate(r.squallRate),
      reference: `${kRate(r.plainRate)} plain loop`,
      ratio: ratioText,
      limit: informational ? `(>= ${c.minRatio}x)` : `>= ${c.minRatio}x`,
      result: informational ? `INFO (${r.pass ? "would pass" : "would miss"})` : verdict(pass),
    },
    pass,
    ...(pass ? {} : {
      why: `squall's churn ${kRate(r.squallRate)} is ${ratioText} a plain loop's ${
        kRate(r.plainRate)
      } (limit ${c.minRatio}x)`,
    }),
    notes: [
      `churn ${protocol.toUpperCase()} on ${c.hostname}:${c.port} (a namespace of its own), ` +
      `${c.cycles} timed cycles after ${c.warmupCycles} untimed, each run a fresh child, ` +
      `alternating, medians of ${r.runs.length / 2}: squall (bindChurn, no pending ` +
      `${protocol === "udp" ? "receive" : "accept"}) per run ${
        perRun(r.runs, "squall")
      }k/s; plain \`${
        protocol === "udp" ? "Deno.listenDatagram" : "Deno.listen"
      }({...}).close()\` loop per run ${perRun(r.runs, "plain")}k/s; ` +
      `failed binds ${failures}${failures > 0 ? ` ${JSON.stringify(errorsOf(r.runs))}` : ""}; ` +
      `per CPU-second (user + system of the child, less moved by other load): squall ${
        kRate(r.squallCpuRate)
      }, plain ${kRate(r.plainCpuRate)}, ratio ${
        r.cpuRatio === null ? "n/a" : `${r.cpuRatio.toFixed(2)}x`
      }; namespace: ${cleanupText(r.cleanup)}`,
    ],
    data: { ...r, informational },
  };
}

async function targetStorm(): Promise<Outcome> {
  const r = await benchStorm({ activeSets, onProgress: log });
  const c = CONFIG.sockets.storm;
  const failed = r.runs.filter((run) => run.failures > 0);
  const pct = (v: number | null) => v === null ? "n/a" : `${(v * 100).toFixed(1)}%`;
  const whyParts: string[] = [];
  if (r.overhead === null) whyParts.push("no rate measured");
  else if (r.overhead >= c.maxOverhead) {
    whyParts.push(
      `squall's storm ${kRate(r.squallRate)} vs plain clients ${kRate(r.plainRate)}: ` +
        `overhead ${pct(r.overhead)} (limit ${pct(c.maxOverhead)})`,
    );
  }
  if (failed.length > 0) {
    whyParts.push(
      `failed cycles in ${failed.length} runs: ${
        failed.map((run) => `${run.side} ${JSON.stringify(run.errors)}`).join("; ")
      }`,
    );
  }
  const us1 = (v: number | null) => v === null ? "n/a" : `${v.toFixed(1)} us`;
  return {
    id: "storm",
    row: {
      target: "8. reconnect storm overhead",
      measured: kRate(r.squallRate),
      reference: `${kRate(r.plainRate)} plain clients`,
      ratio: `overhead ${pct(r.overhead)}`,
      limit: `overhead < ${pct(c.maxOverhead)}`,
      result: verdict(r.pass),
    },
    pass: r.pass,
    ...(r.pass ? {} : { why: whyParts.join("; ") }),
    notes: [
      `reconnect storm: ${c.clients} clients x ${c.cyclesPerClient} cycles (connect, write ` +
      `${c.size} B, read ${c.size} B, close), all in flight at once, across a veth to one ` +
      `squall tcpEcho serving both sides; each run a fresh child in a fresh client namespace ` +
      `(no TIME_WAIT from earlier runs), alternating, medians of ${r.runs.length / 2}: ` +
      `squall (reconnectStorm, backoff fixed 0 ms, jitter 0) per run ${
        perRun(r.runs, "squall")
      }k/s; plain async clients per run ${perRun(r.runs, "plain")}k/s; client CPU per cycle ` +
      `(less moved by other load) squall ${us1(r.squallCpuPerCycleUs)}, plain ${
        us1(r.plainCpuPerCycleUs)
      }: overhead ${pct(r.cpuOverhead)} if the clients were CPU-bound; ` +
      `namespaces: ${cleanupText(r.cleanup)}`,
    ],
    data: { ...r },
  };
}

// --- main ---

/** Share of the machine other processes may use before a target's figures are flagged. */
const BUSY_SHARE = 0.1;

async function measure(id: string, label: string, fn: () => Promise<Outcome>): Promise<Outcome> {
  log(`${label}...`);
  const start = performance.now();
  const cpuBefore = cpuSnapshot();
  let outcome: Outcome;
  try {
    outcome = await fn();
  } catch (error) {
    const message = errorText(error);
    log(`${label} could not be measured: ${message}`);
    outcome = {
      id,
      row: {
        target: label,
        measured: "error",
        reference: "-",
        ratio: "-",
        limit: "-",
        result: "N/A",
      },
      pass: null,
      why: `could not be measured: ${message}`,
      notes: [],
      data: { error: message },
    };
  }
  const other = otherCpu(cpuBefore, cpuSnapshot());
  outcome.data.elapsedMs = performance.now() - start;
  outcome.data.otherProcessesCpuSeconds = other.seconds;
  outcome.data.otherProcessesShare = other.shareOfMachine;
  if (other.shareOfMachine > BUSY_SHARE) {
    outcome.notes.push(
      `WARNING: processes outside this benchmark used ${other.seconds.toFixed(1)} CPU-s ` +
        `(${(other.shareOfMachine * 100).toFixed(0)}% of the machine) while "${label}" ran: ` +
        `its figures may be skewed`,
    );
  }
  return outcome;
}

/** The XDP dropper's targets (issue 3), from tests/bench/xdp.ts, run once for both rows. */
let xdpRun: Promise<XdpBenchResult> | undefined;

// --- 9. writing every report of a 1M-packet run (tests/bench/reports.ts) ---

async function targetReports(): Promise<Outcome> {
  const r = await benchReports();
  const limitMs = 1000;
  const limitBytes = 2_000_000;
  const pass = r.allMs < limitMs && r.sizes.html < limitBytes;
  const kb = (n: number) => `${(n / 1000).toFixed(0)} kB`;
  return {
    id: "reports",
    row: {
      target: "9. JSON + JUnit + HTML of 1M packets",
      measured: `${r.allMs.toFixed(0)} ms, HTML ${kb(r.sizes.html)}`,
      reference: `${r.jsonOnlyMs.toFixed(0)} ms JSON alone`,
      ratio: `${(r.allMs / r.jsonOnlyMs).toFixed(2)}x`,
      limit: "< 1 s, HTML < 2 MB",
      result: verdict(pass),
    },
    pass,
    ...(pass ? {} : {
      why: `writing the reports took ${r.allMs.toFixed(0)} ms, HTML ${kb(r.sizes.html)}`,
    }),
    notes: [
      `reports of the 1M-packet fixture (tests/fixtures/reports/sample_report.ts), median of ${r.reps} after a warm-up: ` +
      `all three ${r.runsMs.map((ms) => ms.toFixed(0)).join(", ")} ms; sizes JSON ${
        kb(r.sizes.json)
      }, ` +
      `JUnit ${kb(r.sizes.junit)}, HTML ${kb(r.sizes.html)}`,
    ],
    data: { ...r, limitMs, limitBytes },
  };
}

async function targetXdpCost(): Promise<Outcome> {
  const r = await (xdpRun ??= benchXdp());
  const c = r.cost;
  const pass = c.dropPass && c.ratioPass;
  const ns = (v: number | null) => v === null ? "-" : `${v.toFixed(1)} ns`;
  return {
    id: "xdp-cost",
    row: {
      target: "5. dropper cost per packet",
      measured: ns(c.dropNs),
      reference: `${ns(c.countNs)} count-only XDP`,
      ratio: c.ratio === null ? "-" : `${c.ratio.toFixed(2)}x`,
      limit: `<= ${c.maxRatio}x, < ${c.maxDropNs} ns`,
      result: verdict(pass),
    },
    pass,
    ...(pass ? {} : {
      why: `dropper ${ns(c.dropNs)} (limit ${c.maxDropNs} ns: ${c.dropPass ? "met" : "missed"}), ${
        c.ratio?.toFixed(2)
      }x a count-only program (limit ${c.maxRatio}x: ${c.ratioPass ? "met" : "missed"})`,
    }),
    notes: [
      `dropper vs count-only XDP program, run_time_ns / run_cnt with kernel.bpf_stats_enabled=1, ` +
      `on one veth under one paced sender (libc sendto, ${c.rate} probe datagrams/s, ` +
      `the dropper with one Bernoulli rule at ${c.lossRate * 100}% matching them); ` +
      `${c.pairRatios.length} pairs of ${c.windowMs} ms rounds, A/B then B/A; ratio = median ` +
      `of the per-pair ratios (${c.pairRatios.map((v) => v.toFixed(2)).join(", ")}; ratio of ` +
      `the medians ${c.ratioOfMedians?.toFixed(2)})`,
    ],
    data: { cost: c },
  };
}

async function targetXdpSwitch(): Promise<Outcome> {
  const r = await (xdpRun ??= benchXdp());
  const s = r.switchDelay;
  return {
    id: "xdp-switch",
    row: {
      target: "6. loss rate change to first drop",
      measured: s.medianUs === null ? "-" : `${s.medianUs.toFixed(1)} us`,
      reference: `max ${s.maxUs?.toFixed(1)} us`,
      ratio: "-",
      limit: `< ${s.limitUs / 1000} ms (median)`,
      result: verdict(s.pass),
    },
    pass: s.pass,
    notes: [
      `from the return of the rule update (0% to 100%) to the first drop counted, ${s.samplesUs.length} switches; ` +
      `includes the gap to the next packet (${
        (s.trafficPps / 1000).toFixed(0)
      }k/s) and one counter read`,
    ],
    data: { switchDelay: s, cleanup: { alivePids: r.alivePids, leftPrograms: r.leftPrograms } },
  };
}

// --- 10. the delay line at 50k datagrams/s (tests/bench/delay.ts) ---

async function targetDelay(): Promise<Outcome> {
  const r = await benchDelay();
  const { rate, seconds, delayMs, maxCores } = DELAY_CONFIG;
  const lost = r.sent - r.received;
  return {
    id: "delay",
    row: {
      target: `10. delay line, ${rate / 1000}k/s through ${delayMs} ms`,
      measured: `${r.lineCores.toFixed(2)} cores, ${lost} lost`,
      reference: `${r.lineSystemCores.toFixed(2)} cores of it in the kernel`,
      ratio: "-",
      limit: `< ${maxCores} core, 0 lost`,
      result: verdict(r.pass),
    },
    pass: r.pass,
    ...(r.pass ? {} : {
      why: `the line's process used ${r.lineCores.toFixed(2)} cores, ${lost} datagrams lost`,
    }),
    notes: [
      `delay line: ${r.sent} datagrams at ${rate}/s for ${seconds} s through ${delayMs} ms ` +
      `(tests/_delay_lab.ts: its own two namespaces, libc sender and receiver): received ` +
      `${r.received}, one-way p50 ${r.p50Ms.toFixed(3)} ms, p90 ${r.p90Ms.toFixed(3)} ms, ` +
      `p99 ${r.p99Ms.toFixed(3)} ms, at most ${r.maxHeld} held, kernel queue drops ` +
      `${r.queueDropped}; the line's CPU (utime + stime of its process over the ${seconds} s) ` +
      `includes the kernel's work of re-injecting each packet up to the receiver's socket`,
      `delay line thread: ${r.threadCores.toFixed(2)} cores, ${
        (r.sleepsPerSecond / 1000).toFixed(1)
      }k sleeps/s, preempted ${(r.preemptionsPerSecond / 1000).toFixed(1)}k times/s ` +
      `(by the receiver, which runs at a higher real-time priority as the instrument)`,
    ],
    data: { ...r },
  };
}

async function main(args: string[]): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("The benchmark builds network namespaces: run it as root.");
    return 1;
  }
  const onSignal = async () => {
    for (const set of activeSets) await set.close();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const outcomes: Outcome[] = [];
  const targets: [string, string, () => Promise<Outcome>][] = [
    ["rtt", "1. probe RTT vs sockperf", targetRtt],
    ["paced", "1b. fixed-rate probe vs ping-pong", targetPaced],
    ["owd", "1c. one-way delay vs irtt", targetOneWay],
    ["loss", "2. loss accounting at 100k/s", targetLoss],
    [
      "setup2",
      "3. setup, 2 hosts",
      () => targetSetup(CONFIG.setup.small, CONFIG.setup.smallLimitMs),
    ],
    [
      "setup20",
      "3. setup, 20-host star",
      () => targetSetup(CONFIG.setup.large, CONFIG.setup.largeLimitMs),
    ],
    ["memory", "4. runner memory 10k vs 1M", targetMemory],
    ["xdp-cost", "5. XDP dropper cost", targetXdpCost],
    ["xdp-switch", "6. XDP loss rate change", targetXdpSwitch],
    ["churn", "7. bind/close churn, UDP", () => targetChurn("udp")],
    ["churn-tcp", "7. bind/close churn, TCP (info)", () => targetChurn("tcp")],
    ["storm", "8. reconnect storm overhead", targetStorm],
    ["reports", "9. writing reports of 1M packets", targetReports],
    ["delay", "10. delay line at 50k/s", targetDelay],
  ];
  const { values } = parseArgs({ args, options: { only: { type: "string" } } });
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((id) => !targets.some(([t]) => t === id)) ?? [];
  if (unknown.length > 0) {
    console.error(`Unknown target ${unknown.join(", ")}: use ${targets.map(([t]) => t).join(",")}`);
    return 1;
  }
  const skipped: string[] = [];
  for (const [id, label, fn] of targets) {
    if (only && !only.includes(id)) skipped.push(id);
    else outcomes.push(await measure(id, label, fn));
  }
  const totalS = (performance.now() - t0) / 1000;

  // Nothing squall started may outlive its run.
  await sleep(100);
  const leftAgents = [...agentPidsSeen].filter(isAlive);

  console.log("");
  console.log(table(outcomes.map((o) => o.row)));
  console.log("");
  for (const o of outcomes) for (const note of o.notes) console.log(`- ${note}`);
  console.log(
    `- squall agents started: ${agentPidsSeen.size}, still alive: ${
      leftAgents.length === 0 ? "none" : leftAgents.join(", ")
    }`,
  );
  console.log(
    `- CPU used by processes outside this benchmark, per target: ${
      outcomes.map((o) =>
        `${o.id} ${Number(o.data.otherProcessesCpuSeconds).toFixed(2)} s (${
          (Number(o.data.otherProcessesShare) * 100).toFixed(0)
        }%)`
      ).join(", ")
    }`,
  );
  if (skipped.length > 0) console.log(`- skipped (--only): ${skipped.join(", ")}`);
  console.log(`- total time ${totalS.toFixed(1)} s`);
  const missed = outcomes.filter((o) => o.pass !== true);
  console.log("");
  if (missed.length === 0) console.log("All targets passed.");
  else {
    console.log(`Missed ${missed.length} of ${outcomes.length} targets:`);
    for (const o of missed) console.log(`  ${o.row.target}: ${o.why ?? "missed"}`);
  }
  const json = {
    startedAt,
    totalSeconds: totalS,
    config: CONFIG,
    targets: Object.fromEntries(
      outcomes.map((o) => [o.id, { pass: o.pass, why: o.why ?? null, ...o.data }]),
    ),
    leftoverAgentPids: leftAgents,
    skipped,
    passed: missed.length === 0,
    missed: missed.map((o) => o.id),
  };
  console.log(`BENCH_JSON ${JSON.stringify(json)}`);
  return missed.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
