// Small helpers of the benchmark: statistics, commands, processes and namespaces read
// from /proc, and the result table.

import { isAlive, netnsOf } from "../_processes.ts";

/** The median of some numbers (mean of the middle two for an even count), or null. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const decoder = new TextDecoder();

/** Output of a finished command. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit (it is in `code`). */
export async function run(
  command: string,
  args: string[],
  stdin?: string,
): Promise<CommandOutput> {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a command and throws with its stderr when it fails. */
export async function runOk(command: string, args: string[], stdin?: string): Promise<string> {
  const out = await run(command, args, stdin);
  if (out.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${out.code}): ${out.stderr.trim()}`);
  }
  return out.stdout;
}

/** Whether a command is on PATH. */
export function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // Not there.
    }
  }
  return false;
}

export { isAlive, netnsOf };

/** Pids of the processes that are in one of the given network namespaces. */
export function processesIn(namespaces: ReadonlySet<string>): number[] {
  const found: number[] = [];
  if (namespaces.size === 0) return found;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const ns = netnsOf(pid);
    if (ns && namespaces.has(ns) && isAlive(pid)) found.push(pid);
  }
  return found;
}

/** Polls `condition` every 5 ms until it holds or `ms` pass; returns whether it held. */
export async function eventually(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (condition()) return true;
    await sleep(5);
  }
  return condition();
}

/** Reads counters with `nstat -az` inside the network namespace of `pid`. */
export async function nstat(
  pid: number,
  names: readonly string[],
): Promise<Record<string, number>> {
  // -a: absolute values, -z: zeros too, -s: leave nstat's history file alone.
  const out = await runOk("nsenter", ["-t", String(pid), "-n", "nstat", "-azs", ...names]);
  const counters: Record<string, number> = {};
  for (const name of names) counters[name] = 0;
  for (const line of out.split("\n")) {
    const match = /^(\S+)\s+(\d+)/.exec(line);
    if (match && names.includes(match[1]!)) counters[match[1]!] = Number(match[2]);
  }
  return counters;
}

/** A line of the result table. */
export interface Row {
  target: string;
  measured: string;
  reference: string;
  ratio: string;
  limit: string;
  result: string;
}

/** Formats rows as an aligned plain-text table. */
export function table(rows: readonly Row[]): string {
  const header: Row = {
    target: "target",
    measured: "measured",
    reference: "reference (same run)",
    ratio: "ratio",
    limit: "target",
    result: "result",
  };
  const keys = Object.keys(header) as (keyof Row)[];
  const all = [header, ...rows];
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row) => keys.map((k, i) => r[k].padEnd(widths[i]!)).join(" | ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-+-");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** Formats nanoseconds as microseconds. */
export function us(ns: number | null | undefined): string {
  return ns === null || ns === undefined ? "n/a" : `${(ns / 1000).toFixed(1)} us`;
}

/** Formats milliseconds. */
export function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? "n/a" : `${value.toFixed(1)} ms`;
}

/** Formats a byte count as MB (10^6 bytes). */
export function mb(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? "n/a" : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Formats a ratio. */
export function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return "n/a";
  return `${(a / b).toFixed(2)}x`;
}

/** CPU time counters, to tell how much of the machine other processes used meanwhile. */
export interface CpuSnapshot {
  /** Wall clock, ms. */
  atMs: number;
  /** user + nice + system of all CPUs, in clock ticks. */
  busyTicks: number;
  /** utime + stime + cutime + cstime of this process (reaped children included), ticks. */
  ownTicks: number;
}

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux). */
export const CLOCK_TICKS = 100;

/** Reads the CPU counters of the machine and of this process tree. */
export function cpuSnapshot(): CpuSnapshot {
  const stat = Deno.readTextFileSync("/proc/stat");
  const cpu = stat.split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busyTicks = (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0);
  const self = Deno.readTextFileSync("/proc/self/stat");
  const fields = self.slice(self.lastIndexOf(")") + 2).split(" ");
  // After the command: state is field 3, so utime..cstime (fields 14-17) are at 11-14.
  const ownTicks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  return { atMs: performance.now(), busyTicks, ownTicks };
}

/** CPU used by processes outside this process tree between two snapshots. */
export function otherCpu(a: CpuSnapshot, b: CpuSnapshot): {
  seconds: number;
  shareOfMachine: number;
} {
  const seconds = Math.max(0, (b.busyTicks - a.busyTicks) - (b.ownTicks - a.ownTicks)) /
    CLOCK_TICKS;
  const capacity = ((b.atMs - a.atMs) / 1000) * navigator.hardwareConcurrency;
  return { seconds, shareOfMachine: capacity > 0 ? seconds / capacity : 0 };
}
