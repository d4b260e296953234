// Socket-level targets: squall's own loops against plain Deno loops doing the same work,
// each measured in a fresh child process, alternating the two sides repetition by
// repetition (squall first on even repetitions, plain first on odd ones); the figures are
// medians.
//
//   a. bind/close churn on one port: cycles/s of harness/agent/bind_churn.ts (no pending
//      receive or accept) against `Deno.listenDatagram({...}).close()` (UDP) or
//      `Deno.listen({...}).close()` (TCP) in a tight loop, on 127.0.0.1 inside a
//      namespace of its own (so that nothing else on the machine can hold the port).
//      Target (UDP): squall >= 0.8x plain. TCP is informational.
//   b. reconnect storm: connect, write 64 B, read 64 B, close cycles/s of
//      harness/agent/reconnect_storm.ts (backoff 0, jitter 0, concurrency = clients) against
//      the same number of plain async clients doing the same cycles, across a veth
//      between two namespaces, against one squall TCP echo (harness/agent/tcp_echo.ts) that
//      serves both sides. Every measurement gets a fresh client namespace (all are
//      removed at the end): no TIME_WAIT socket of an earlier measurement is there to
//      slow the choice of an ephemeral port. Target: overhead 1 - squall/plain < 25%.
//
// The targets are judged on wall-clock rates, as specified. Each child also reports the
// CPU time it used (user + system, all threads): on a machine that other processes keep
// busy, wall-clock rates move by 2x from run to run while CPU per cycle moves much less
// (about 10% between the runs of one side in one benchmark), so the CPU figures are
// reported beside them (`cpuRatio`, `cpuOverhead`: what the ratio would be if each side
// had a core to itself and were bound by its own CPU).
//
// A fresh child per measurement is the fairest: each side starts from the same state
// (a new V8 heap, no sockets, no JIT feedback from the other side), both load the same
// modules (this one), and both settle for the same 200 ms before they start (a new Deno
// process writes its code cache once its main module first waits, blocking the event
// loop for 5-30 ms). Both sides then run the same short warm-up before the timed run.
//
// Run as root: deno run -A --unstable-net tests/bench/sockets.ts
// (or through tests/bench/main.ts: deno task bench --only churn,churn-tcp,storm).
// Prints a table, then one line `BENCH_SOCKETS_JSON {...}`; exits 0 when both targets
// pass, 1 otherwise. The same file is also the child programs (`--role churn|storm|echo`).

import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import type { ChurnSettings, StormSettings } from "../../harness/agent/protocol.ts";
import { startBindChurn } from "../../harness/agent/bind_churn.ts";
import { startReconnectStorm } from "../../harness/agent/reconnect_storm.ts";
import { startTcpEcho } from "../../harness/agent/tcp_echo.ts";
import { type CleanupReport, NamespaceSet } from "./_netns.ts";
import { median, type Row, sleep, table } from "./_util.ts";

/** Everything these targets do, in one place. */
export const SOCKETS_CONFIG = {
  churn: {
    /** Repetitions of each side (alternating): medians of this many runs. */
    reps: 5,
    /** Timed cycles per run. */
    cycles: 100_000,
    /** Untimed cycles before them, the same for both sides. */
    warmupCycles: 1_000,
    /** Outside the ephemeral range (32768-60999): no connection ever takes it. */
    port: 29_417,
    hostname: "127.0.0.1",
    minRatio: 0.8,
  },
  storm: {
    reps: 5,
    clients: 50,
    /** Per client: 50 x 100 = 5,000 connections per run, well under the ~28k ports. */
    cyclesPerClient: 100,
    /** Per client, untimed, before the timed run. */
    warmupCyclesPerClient: 2,
    size: 64,
    port: 7_000,
    connectTimeoutMs: 5_000,
    maxOverhead: 0.25,
  },
  /** A child that has not finished after this long is killed (and the run fails). */
  childTimeoutMs: 120_000,
  /** Each child waits this long after it starts, before any measurement. */
  settleMs: 200,
} as const;

const SELF = new URL(import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Which loop a measurement ran. */
export type Side = "squall" | "plain";

/** One measured run of a churn, as its child reports it. */
export interface ChurnRun {
  side: Side;
  protocol: "udp" | "tcp";
  /** Timed cycles completed. */
  cycles: number;
  /** Wall time of the timed run (first bind to last close), ms. */
  wallMs: number;
  /** cycles / wall time, per second. */
  rate: number;
  /** CPU time of the child (user + system) during the timed run, microseconds. */
  cpuUs: number;
  /** Binds that failed (each was retried at once, in both loops). */
  failures: number;
  /** Failed binds by error (`EADDRINUSE`, ...; plain: the error's name). */
  errors: Record<string, number>;
  /** The rate squall reports itself (its own clock), or null for the plain side. */
  reportedRate: number | null;
}

/** The outcome of the churn target for one protocol. */
export interface ChurnBenchResult {
  protocol: "udp" | "tcp";
  runs: ChurnRun[];
  squallRate: number | null;
  plainRate: number | null;
  /** squall / plain, of the medians. */
  ratio: number | null;
  /** Cycles per CPU-second of each side (medians), and squall / plain of them. */
  squallCpuRate: number | null;
  plainCpuRate: number | null;
  cpuRatio: number | null;
  minRatio: number;
  /** ratio >= minRatio (for TCP too, though only UDP is a target). */
  pass: boolean;
  cleanup: CleanupReport;
}

/** One measured run of a storm, as its child reports it. */
export interface StormRun {
  side: Side;
  clients: number;
  cyclesPerClient: number;
  attempts: number;
  successes: number;
  failures: number;
  /** Failures by kind (squall) or error name (plain). */
  errors: Record<string, number>;
  wallMs: number;
  /** Successful cycles per second of wall time. */
  rate: number;
  cpuUs: number;
  /** CPU time the echo process used during the run, microseconds (from /proc). */
  echoCpuUs: number | null;
  /** squall's own connect time p50, ns (plain: null). */
  connectP50Ns: number | null;
}

/** The outcome of the storm target. */
export interface StormBenchResult {
  runs: StormRun[];
  squallRate: number | null;
  plainRate: number | null;
  /** 1 - squall / plain, of the medians. */
  overhead: number | null;
  maxOverhead: number;
  /** Client CPU per successful cycle, medians, microseconds. */
  squallCpuPerCycleUs: number | null;
  plainCpuPerCycleUs: number | null;
  /** 1 - plain / squall CPU per cycle: the overhead if the clients were CPU-bound. */
  cpuOverhead: number | null;
  pass: boolean;
  cleanup: CleanupReport;
}

/** Options of {@linkcode benchChurn} and {@linkcode benchStorm}. */
export interface SocketsBenchOptions {
  /**
   * Repetitions of each side.
   * @default {5}
   */
  reps?: number;
  /**
   * Namespace sets in use are added here while they exist (and removed after), so that
   * a signal handler can close them.
   * @default {undefined}
   */
  activeSets?: Set<NamespaceSet>;
  /**
   * Called with one line of progress at a time.
   * @default {undefined}
   */
  onProgress?: (message: string) => void;
}

// ---------------------------------------------------------------------------------------
// The parent side

/**
 * Measures bind/close churn on one port, squall's loop against a plain Deno loop, each
 * run in a fresh child process inside a namespace made for it (on its 127.0.0.1).
 *
 * @example
 * ```ts
 * import { benchChurn } from "./sockets.ts";
 * async function udpRatio(): Promise<number | null> {
 *   return (await benchChurn("udp", { reps: 3 })).ratio;
 * }
 * console.assert(typeof udpRatio === "function");
 * ```
 */
export async function benchChurn(
  protocol: "udp" | "tcp",
  options: SocketsBenchOptions = {},
): Promise<ChurnBenchResult> {
  const c = SOCKETS_CONFIG.churn;
  const reps = checkReps(options.reps ?? c.reps);
  const progress = options.onProgress ?? (() => {});
  const runs: ChurnRun[] = [];
  const { cleanup } = await withSet(options, async (set) => {
    await set.addHolders(1);
    const up = await set.runIn(0, ["ip", "link", "set", "lo", "up"]);
    if (up.code !== 0) {
      throw new Error(`Cannot bring lo up in the churn namespace: ${decoder.decode(up.stderr)}`);
    }
    for (let rep = 0; rep < reps; rep++) {
      for (const side of order(rep)) {
        const run = await child<ChurnRun>(set, 0, [
          "--role",
          "churn",
          "--side",
          side,
          "--protocol",
          protocol,
          "--cycles",
          String(c.cycles),
          "--warmup",
          String(c.warmupCycles),
          "--hostname",
          c.hostname,
          "--port",
          String(c.port),
        ]);
        runs.push(run);
        progress(
          `churn ${protocol} ${rep + 1}/${reps} ${side}: ${run.rate.toFixed(0)} cycles/s ` +
            `(${run.cycles} in ${run.wallMs.toFixed(0)} ms, ${run.failures} failed binds)`,
        );
      }
    }
  });
  const of = (side: Side) => runs.filter((r) => r.side === side);
  const squallRate = median(of("squall").map((r) => r.rate));
  const plainRate = median(of("plain").map((r) => r.rate));
  const ratio = squallRate !== null && plainRate ? squallRate / plainRate : null;
  const cpuRate = (side: Side) => median(of(side).map((r) => r.cycles / (r.cpuUs / 1e6)));
  const squallCpuRate = cpuRate("squall");
  const plainCpuRate = cpuRate("plain");
  return {
    protocol,
    runs,
    squallRate,
    plainRate,
    ratio,
    squallCpuRate,
    plainCpuRate,
    cpuRatio: squallCpuRate !== null && plainCpuRate ? squallCpuRate / plainCpuRate : null,
    minRatio: c.minRatio,
    pass: ratio !== null && ratio >= c.minRatio,
    cleanup,
  };
}

/**
 * Measures reconnect storm cycles (connect, write, read, close) per second, squall's
 * storm against plain async clients, across a veth to one squall TCP echo; every run is
 * a fresh child in a fresh client namespace.
 *
 * @example
 * ```ts
 * import { benchStorm } from "./sockets.ts";
 * async function overhead(): Promise<number | null> {
 *   return (await benchStorm({ reps: 3 })).overhead;
 * }
 * console.assert(typeof overhead === "function");
 * ```
 */
export async function benchStorm(options: SocketsBenchOptions = {}): Promise<StormBenchResult> {
  const c = SOCKETS_CONFIG.storm;
  const reps = checkReps(options.reps ?? c.reps);
  const progress = options.onProgress ?? (() => {});
  const runs: StormRun[] = [];
  const { cleanup } = await withSet(options, async (set) => {
    await set.addHolders(1);
    // One echo for every run of both sides, listening on 0.0.0.0: each client namespace
    // gets its own link to it.
    const echo = set.spawnIn(0, [...denoRun(), "--role", "echo", "--port", String(c.port)]);
    const ready = await firstLine(echo);
    const echoPid = Number(/^ready (\d+)$/.exec(ready)?.[1]);
    if (!Number.isInteger(echoPid)) throw new Error(`The echo child said "${ready}"`);
    for (let rep = 0; rep < reps; rep++) {
      for (const side of order(rep)) {
        await set.addHolders(1);
        const index = set.holders.length - 1;
        await set.wire([[index, 0]]);
        const target = set.links.at(-1)!.ends[1].address;
        const echoBefore = cpuOfPid(echoPid);
        const run = await child<StormRun>(set, index, [
          "--role",
          "storm",
          "--side",
          side,
          "--target",
          target,
          "--port",
          String(c.port),
          "--clients",
          String(c.clients),
          "--cycles",
          String(c.cyclesPerClient),
          "--warmup",
          String(c.warmupCyclesPerClient),
        ]);
        const echoAfter = cpuOfPid(echoPid);
        // The child's whole life, warm-up and start-up included: an upper bound.
        run.echoCpuUs = echoBefore !== null && echoAfter !== null ? echoAfter - echoBefore : null;
        // The client namespace (and its TIME_WAIT sockets) stays until set.close():
        // ended now, its inode could be reused by a namespace made by anyone else, which
        // close() would then report as a process left in one of ours.
        runs.push(run);
        progress(
          `storm ${rep + 1}/${reps} ${side}: ${run.rate.toFixed(0)} cycles/s ` +
            `(${run.successes}/${run.attempts} in ${run.wallMs.toFixed(0)} ms, client CPU ${
              (run.cpuUs / Math.max(1, run.successes)).toFixed(1)
            } us/cycle)`,
        );
      }
    }
  });
  const of = (side: Side) => runs.filter((r) => r.side === side);
  const squallRate = median(of("squall").map((r) => r.rate));
  const plainRate = median(of("plain").map((r) => r.rate));
  const overhead = squallRate !== null && plainRate ? 1 - squallRate / plainRate : null;
  const cpuPerCycle = (side: Side) =>
    median(of(side).map((r) => r.cpuUs / Math.max(1, r.successes)));
  const clean = runs.every((r) => r.failures === 0);
  const squallCpu = cpuPerCycle("squall");
  const plainCpu = cpuPerCycle("plain");
  return {
    runs,
    squallRate,
    plainRate,
    overhead,
    maxOverhead: c.maxOverhead,
    squallCpuPerCycleUs: squallCpu,
    plainCpuPerCycleUs: plainCpu,
    cpuOverhead: squallCpu && plainCpu !== null ? 1 - plainCpu / squallCpu : null,
    pass: overhead !== null && overhead < c.maxOverhead && clean,
    cleanup,
  };
}

function checkReps(reps: number): number {
  if (!Number.isInteger(reps) || reps < 1) {
    throw new RangeError(`Cannot run the socket benchmark: reps must be 1 or more, got ${reps}`);
  }
  return reps;
}

/** Even repetitions run squall first, odd ones plain first. */
function order(rep: number): Side[] {
  return rep % 2 === 0 ? ["squall", "plain"] : ["plain", "squall"];
}

function denoRun(): string[] {
  // `env` execs deno in place (the pid stays the one spawnIn returns); NO_COLOR keeps
  // a child's error readable in the message that reports it.
  return ["env", "NO_COLOR=1", Deno.execPath(), "run", "-A", "--unstable-net", "--no-prompt", SELF];
}

async function withSet(
  options: SocketsBenchOptions,
  fn: (set: NamespaceSet) => Promise<void>,
): Promise<{ cleanup: CleanupReport }> {
  const set = new NamespaceSet();
  options.activeSets?.add(set);
  try {
    await fn(set);
  } catch (error) {
    await set.close();
    throw error;
  } finally {
    options.activeSets?.delete(set);
  }
  return { cleanup: await set.close() };
}

/** Runs this module as a child in holder `index`'s namespace; returns its report. */
async function child<T>(set: NamespaceSet, index: number, args: string[]): Promise<T> {
  const proc = set.spawnIn(index, [...denoRun(), ...args]);
  const timer = setTimeout(() => set.stop(proc), SOCKETS_CONFIG.childTimeoutMs);
  let out: Deno.CommandOutput;
  try {
    out = await proc.output();
  } finally {
    clearTimeout(timer);
  }
  const stdout = decoder.decode(out.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_SOCKETS_CHILD "));
  if (out.code !== 0 || !line) {
    const stderr = decoder.decode(out.stderr);
    // The error's first line says what failed; the end of the stack, where.
    const error = stderr.split("\n").find((l) => /^error: /.test(l)) ?? "";
    const tail = `${error} ${(stderr || stdout).trim().slice(-600)}`.trim();
    throw new Error(`Child ${args.join(" ")} exited ${out.code}: ${tail}`);
  }
  return JSON.parse(line.slice("BENCH_SOCKETS_CHILD ".length)) as T;
}

/** Reads the first line a child writes to stdout, then lets go of the stream. */
async function firstLine(proc: Deno.ChildProcess): Promise<string> {
  const reader = proc.stdout.getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Child pid ${proc.pid} exited before writing a line`);
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text.slice(0, text.indexOf("\n"));
}

/** utime + stime of a process, microseconds, or null once it is gone. */
function cpuOfPid(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15, at 11 and 12 after the command.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// The children

function cpuNowUs(): number {
  const u = cpuUsage();
  return u.user + u.system;
}

function report(value: unknown): void {
  Deno.stdout.writeSync(encoder.encode(`BENCH_SOCKETS_CHILD ${JSON.stringify(value)}\n`));
}

/** squall's churn: one warm-up churn, then the timed one. */
async function squallChurn(
  protocol: "udp" | "tcp",
  hostname: string,
  port: number,
  cycles: number,
  warmup: number,
): Promise<ChurnRun> {
  const settings = (n: number): ChurnSettings => ({
    hostname,
    port,
    protocol,
    cycles: n,
    pendingReceive: false,
    awaitPending: false,
    liveConnections: 0,
    reuseAddress: false,
    rebindTimeoutMs: 1_000,
    maxDurationMs: 60_000,
    ssPath: null,
  });
  if (warmup > 0) await (await startBindChurn(settings(warmup))).done;
  const cpu0 = cpuNowUs();
  const t0 = performance.now();
  const churn = await startBindChurn(settings(cycles));
  const r = await churn.done;
  const wallMs = performance.now() - t0;
  const cpuUs = cpuNowUs() - cpu0;
  if (r.stoppedEarly) throw new Error(`squall's churn stopped early after ${r.cycles} cycles`);
  return {
    side: "squall",
    protocol,
    cycles: r.cycles,
    wallMs,
    rate: r.cycles / (wallMs / 1000),
    cpuUs,
    failures: r.failures,
    errors: r.errors,
    reportedRate: r.rate,
  };
}

/** A plain loop gives up after this many failed binds (none is expected). */
const PLAIN_MAX_FAILURES = 1_000;

/**
 * The plain loop: bind, close, over and over, as a Deno program would write it. A bind
 * that fails (none should: nothing is pending) is counted by error name and tried again
 * at once, as squall's loop does; returns the failures.
 */
function plainChurnLoop(
  protocol: "udp" | "tcp",
  hostname: string,
  port: number,
  cycles: number,
  errors: Record<string, number>,
): number {
  let failures = 0;
  for (let i = 0; i < cycles; i++) {
    try {
      if (protocol === "udp") Deno.listenDatagram({ transport: "udp", hostname, port }).close();
      else Deno.listen({ hostname, port }).close();
    } catch (error) {
      const name = error instanceof Error ? error.name : "Error";
      errors[name] = (errors[name] ?? 0) + 1;
      if (++failures >= PLAIN_MAX_FAILURES) {
        throw new Error(`The plain churn failed ${failures} binds: ${JSON.stringify(errors)}`, {
          cause: error,
        });
      }
      i--;
    }
  }
  return failures;
}

function plainChurn(
  protocol: "udp" | "tcp",
  hostname: string,
  port: number,
  cycles: number,
  warmup: number,
): ChurnRun {
  if (warmup > 0) plainChurnLoop(protocol, hostname, port, warmup, {});
  const errors: Record<string, number> = {};
  const cpu0 = cpuNowUs();
  const t0 = performance.now();
  const failures = plainChurnLoop(protocol, hostname, port, cycles, errors);
  const wallMs = performance.now() - t0;
  const cpuUs = cpuNowUs() - cpu0;
  return {
    side: "plain",
    protocol,
    cycles,
    wallMs,
    rate: cycles / (wallMs / 1000),
    cpuUs,
    failures,
    errors,
    reportedRate: null,
  };
}

/** squall's storm: backoff 0 without jitter, every client in flight at once. */
async function squallStorm(
  target: string,
  port: number,
  clients: number,
  cycles: number,
): Promise<Omit<StormRun, "echoCpuUs">> {
  const settings: StormSettings = {
    hostname: "0.0.0.0",
    targetAddress: target,
    targetPort: port,
    clients,
    cycles,
    durationMs: null,
    concurrency: clients,
    backoff: { type: "fixed", initialMs: 0, maxMs: 0, factor: 1, jitter: 0 },
    protocol: "tcp",
    connectTimeoutMs: SOCKETS_CONFIG.storm.connectTimeoutMs,
    size: SOCKETS_CONFIG.storm.size,
  };
  const cpu0 = cpuNowUs();
  const t0 = performance.now();
  const r = await startReconnectStorm(settings).done;
  const wallMs = performance.now() - t0;
  const cpuUs = cpuNowUs() - cpu0;
  const errors = Object.fromEntries(Object.entries(r.errors).filter(([, n]) => n > 0));
  return {
    side: "squall",
    clients,
    cyclesPerClient: cycles,
    attempts: r.attempts,
    successes: r.successes,
    failures: r.failures,
    errors,
    wallMs,
    rate: r.successes / (wallMs / 1000),
    cpuUs,
    connectP50Ns: r.connectSummary.p50,
  };
}

/**
 * The plain clients: each connects, writes `size` bytes, reads them back, closes, and
 * starts again at once. A failed cycle is counted by error name, and the client goes on.
 */
async function plainStorm(
  target: string,
  port: number,
  clients: number,
  cycles: number,
): Promise<Omit<StormRun, "echoCpuUs">> {
  const size = SOCKETS_CONFIG.storm.size;
  const payload = new Uint8Array(size).fill(0x5a);
  const errors: Record<string, number> = {};
  let attempts = 0;
  let successes = 0;
  const client = async () => {
    const buffer = new Uint8Array(size);
    for (let i = 0; i < cycles; i++) {
      attempts++;
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await Deno.connect({ hostname: target, port });
        for (let written = 0; written < size;) {
          written += await conn.write(payload.subarray(written));
        }
        for (let read = 0; read < size;) {
          const n = await conn.read(buffer.subarray(read));
          if (n === null) throw new Deno.errors.UnexpectedEof(`closed after ${read} bytes`);
          read += n;
        }
        successes++;
      } catch (error) {
        const name = error instanceof Error ? error.name : "Error";
        errors[name] = (errors[name] ?? 0) + 1;
      } finally {
        conn?.close();
      }
    }
  };
  const cpu0 = cpuNowUs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, client));
  const wallMs = performance.now() - t0;
  const cpuUs = cpuNowUs() - cpu0;
  return {
    side: "plain",
    clients,
    cyclesPerClient: cycles,
    attempts,
    successes,
    failures: attempts - successes,
    errors,
    wallMs,
    rate: successes / (wallMs / 1000),
    cpuUs,
    connectP50Ns: null,
  };
}

async function childMain(values: Record<string, string | undefined>): Promise<void> {
  const num = (name: string) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v)) throw new TypeError(`--${name} must be a number`);
    return v;
  };
  const side = values.side as Side;
  if (values.role === "echo") {
    const echo = await startTcpEcho("0.0.0.0", num("port"));
    Deno.stdout.writeSync(encoder.encode(`ready ${Deno.pid}\n`));
    await echo.done;
    return;
  }
  if (side !== "squall" && side !== "plain") throw new TypeError(`--side must be squall or plain`);
  await sleep(SOCKETS_CONFIG.settleMs);
  if (values.role === "churn") {
    const protocol = values.protocol === "tcp" ? "tcp" : "udp";
    const args = [protocol, values.hostname!, num("port"), num("cycles"), num("warmup")] as const;
    report(side === "squall" ? await squallChurn(...args) : plainChurn(...args));
  } else if (values.role === "storm") {
    const run = side === "squall" ? squallStorm : plainStorm;
    const [target, port, clients] = [values.target!, num("port"), num("clients")];
    const warmup = num("warmup");
    if (warmup > 0) await run(target, port, clients, warmup);
    report(await run(target, port, clients, num("cycles")));
  } else {
    throw new TypeError(`Unknown role "${values.role}": use churn, storm or echo`);
  }
}

// ---------------------------------------------------------------------------------------
// Standalone run

function fmtRate(rate: number | null): string {
  return rate === null ? "n/a" : `${(rate / 1000).toFixed(1)}k/s`;
}

async function main(reps: number | undefined): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("The benchmark builds network namespaces: run it as root.");
    return 1;
  }
  const activeSets = new Set<NamespaceSet>();
  const onSignal = async () => {
    for (const set of activeSets) await set.close();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const options: SocketsBenchOptions = {
    activeSets,
    onProgress: (m) => console.log(`# ${m}`),
    ...(reps === undefined ? {} : { reps }),
  };
  const udp = await benchChurn("udp", options);
  const tcp = await benchChurn("tcp", options);
  const storm = await benchStorm(options);
  const churnRow = (r: ChurnBenchResult, target: boolean): Row => ({
    target: `bind/close churn, ${r.protocol.toUpperCase()}`,
    measured: fmtRate(r.squallRate),
    reference: `${fmtRate(r.plainRate)} plain Deno loop`,
    ratio: r.ratio === null ? "n/a" : `${r.ratio.toFixed(2)}x`,
    limit: target ? `>= ${r.minRatio}x` : "(info)",
    result: target ? (r.pass ? "PASS" : "MISS") : "INFO",
  });
  console.log("");
  console.log(table([
    churnRow(udp, true),
    churnRow(tcp, false),
    {
      target: "reconnect storm overhead",
      measured: fmtRate(storm.squallRate),
      reference: `${fmtRate(storm.plainRate)} plain Deno clients`,
      ratio: storm.overhead === null ? "n/a" : `overhead ${(storm.overhead * 100).toFixed(1)}%`,
      limit: `overhead < ${storm.maxOverhead * 100}%`,
      result: storm.pass ? "PASS" : "MISS",
    },
  ]));
  console.log(`BENCH_SOCKETS_JSON ${JSON.stringify({ udp, tcp, storm })}`);
  return udp.pass && storm.pass ? 0 : 1;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string" },
      side: { type: "string" },
      protocol: { type: "string" },
      cycles: { type: "string" },
      warmup: { type: "string" },
      hostname: { type: "string" },
      port: { type: "string" },
      target: { type: "string" },
      clients: { type: "string" },
      reps: { type: "string" },
    },
  });
  if (values.role === undefined) {
    Deno.exit(await main(values.reps === undefined ? undefined : Number(values.reps)));
  } else {
    await childMain(values);
  }
}
