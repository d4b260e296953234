// The delay line's bench (issue 13): 50k datagrams/s through a 10 ms delay line for
// 10 s, in two namespaces of its own (tests/_delay_lab.ts); reports loss, the added
// delay's percentiles and the CPU the line's process used while the traffic flowed,
// with its line thread's share, how much of it the kernel did, and how often the thread
// slept and was preempted (wake-ups are most of what a line costs beyond the kernel's
// per-packet work). Runs on its own too: deno run -A tests/bench/delay.ts

import { DelayLab } from "../_delay_lab.ts";

/** What the bench measures. */
export const DELAY_CONFIG = { rate: 50_000, seconds: 10, delayMs: 10, maxCores: 0.5 } as const;

/** What {@linkcode benchDelay} found. */
export interface DelayBenchResult {
  sent: number;
  received: number;
  /** CPU the line's process used per second of traffic, in cores. */
  lineCores: number;
  /** Of it, in the kernel (the verdicts re-inject each packet up to its socket). */
  lineSystemCores: number;
  /** Of it, the line's own thread (the worker), in cores. */
  threadCores: number;
  /** Times a second the line's thread went to sleep (voluntary context switches). */
  sleepsPerSecond: number;
  /** Times a second it was preempted (the receiver at a higher priority, say). */
  preemptionsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxHeld: number;
  queueDropped: number;
  pass: boolean;
}

function cpuTicks(path: string): { user: number; system: number } {
  const stat = Deno.readTextFileSync(`${path}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

/** The /proc directory of the line's worker thread (named after the worker). */
function workerTask(pid: number): string {
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const path = `/proc/${pid}/task/${task.name}`;
    if (Deno.readTextFileSync(`${path}/comm`).startsWith("worker")) return path;
  }
  throw new Error(`Cannot find the delay line's thread in process ${pid}`);
}

function switches(path: string): { voluntary: number; preempted: number } {
  const status = Deno.readTextFileSync(`${path}/status`);
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return {
    voluntary: field("voluntary_ctxt_switches"),
    preempted: field("nonvoluntary_ctxt_switches"),
  };
}

/** Runs the bench once. */
export async function benchDelay(): Promise<DelayBenchResult> {
  const { rate, seconds, delayMs, maxCores } = DELAY_CONFIG;
  await using lab = await DelayLab.create();
  const line = await lab.startLine(1);
  await lab.addRule(1, ["-p", "udp", "--dport", "9000"]);
  await line.configure({ delayNs: delayMs * 1e6 });
  const count = rate * seconds;
  const process = `/proc/${line.child.pid}`;
  const thread = workerTask(line.child.pid);
  const before = cpuTicks(process);
  const threadBefore = cpuTicks(thread);
  const switchesBefore = switches(thread);
  const r = await lab.measure(9000, rate, count);
  const after = cpuTicks(process);
  const threadAfter = cpuTicks(thread);
  const switchesAfter = switches(thread);
  const queues = await lab.queueStats();
  const counters = await line.stop();
  const ticks = 100; // CLK_TCK
  const user = (after.user - before.user) / ticks;
  const system = (after.system - before.system) / ticks;
  const lineCores = (user + system) / seconds;
  const received = r.unique;
  return {
    sent: count,
    received,
    lineCores,
    lineSystemCores: system / seconds,
    threadCores: (threadAfter.user + threadAfter.system - threadBefore.user -
      threadBefore.system) / ticks / seconds,
    sleepsPerSecond: (switchesAfter.voluntary - switchesBefore.voluntary) / seconds,
    preemptionsPerSecond: (switchesAfter.preempted - switchesBefore.preempted) / seconds,
    p50Ms: r.percentilesUs[50]! / 1000,
    p90Ms: r.percentilesUs[90]! / 1000,
    p99Ms: r.percentilesUs[99]! / 1000,
    maxHeld: counters.maxHeld,
    queueDropped: (queues.get(1)?.dropped ?? 0) + (queues.get(1)?.userDropped ?? 0),
    pass: received === count && lineCores < maxCores,
  };
}

if (import.meta.main) {
  const r = await benchDelay();
  console.log(JSON.stringify(r));
  Deno.exit(r.pass ? 0 : 1);
}
