// The XDP dropper's performance targets, measured on a veth pair between two namespaces
// built here (holders `setpriv --pdeathsig KILL -- unshare --net -- sleep 120`):
//
//   a. cost per packet: run_time_ns / run_cnt (kernel.bpf_stats_enabled=1) of xdp_drop
//      against bpf/xdp_count.o (count and pass, nothing else), attached in turn to the
//      same receiving veth end while one paced sender holds the same rate through every
//      round (squall probe datagrams; xdp_drop has one Bernoulli rule at 10% matching
//      them, so it draws for every packet and counts the flow of every drop). Rounds
//      come in pairs, one of each program, in the order A/B then B/A; the ratio is the
//      median of the per-pair ratios. Targets: at most 1.3x, and xdp_drop under 150 ns.
//      Every pair after the first runs fresh copies of both programs (loaded again, both
//      the same way): one object's cost moved by up to 10 ns from one load to the next
//      (where its code and maps land) while the pairs of one load agreed, so a run that
//      loaded each program once measured that luck as much as the program; reloading for
//      every pair averages it out, for both programs alike.
//      The cost of both depends on the rate (the sparser the packets, the less of each
//      program is still in the caches and branch predictors, and the more that hurts the
//      larger one), so the rate is fixed, and can be chosen with --rate.
//   b. a loss-rate change takes effect within 1 ms: while traffic flows, the rule goes
//      from 0% to 100% with one bpf_map_update_elem on the rules map, and the rule's
//      per-CPU drop counter is polled until it moves. Target: median under 1 ms.
//
// The sender calls libc's sendto through FFI in a loop paced by a busy wait (no event
// loop, no await): a Deno flood's rate moved from round to round, and the cost with it.
// It is pinned to one CPU and the attacher to another (when there are two): the busy
// poll of target b would otherwise starve the sender or the veth's softirq for whole
// scheduler slices on a 2-core machine, and measure those gaps instead of the dropper.
// The veth's receive path, and so the XDP program, runs on the sender's CPU.
//
// Run as root: deno run -A --unstable-net tests/bench/xdp.ts [--pairs N] [--rate PPS]
// [--switches N]; SQUALL_XDP_BENCH_WINDOWED=1 gives the dropper's rule a time window (see
// ruleFor()), as faults applied at run time have.
// Prints a table, then one line `BENCH_XDP_JSON {...}`; exits 0 when every target passes,
// 1 otherwise, 130 on SIGINT/SIGTERM (after cleaning up). The same file is also the two
// child programs (`--role sender`, `--role attacher`), so the benchmark is one module.
//
// The programs are loaded and attached here through libbpf FFI rather than with
// harness/kernel/xdp_dropper.ts, because XdpDropper exposes neither its program fd (needed for
// bpf_obj_get_info_by_fd) nor a read of one counter slot (a poll of every counter costs
// tens of microseconds, too coarse for target b).

import { parseArgs } from "node:util";
import { LIBBPF_CANDIDATES } from "../../harness/kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../../harness/native/libc.ts";
import { writeHeader } from "../../harness/native/probe_packet.ts";
import {
  chance,
  encodeRule,
  SQ_CHANCE_ALWAYS,
  SQ_CONFIG,
  SQ_COUNTER,
  SQ_COUNTER_ENTRIES,
  SQ_COUNTERS,
  SQ_MODE_BERNOULLI,
  SQ_PROTO_UDP,
  SQ_TIME_FOREVER,
  SQ_VERDICT_DROP,
  SQ_VERDICT_PASS,
  SQ_VERDICTS,
} from "../../harness/kernel/xdp_layout.ts";
import { XDP_DROP_OBJECT } from "../../harness/kernel/xdp_dropper.ts";
import { type CleanupReport, NamespaceSet } from "./_netns.ts";
import { eventually, isAlive, median, onPath, type Row, runOk, sleep, table } from "./_util.ts";

/**
 * Path of the count-only reference program, bpf/xdp_count.o (built by bpf/build.sh).
 *
 * @example
 * ```ts
 * import { XDP_COUNT_OBJECT } from "./xdp.ts";
 * console.assert(XDP_COUNT_OBJECT.endsWith("/bpf/xdp_count.o"));
 * ```
 */
export const XDP_COUNT_OBJECT = new URL("../../bpf/xdp_count.o", import.meta.url).pathname;

/** Everything the benchmark does, in one place. */
const CONFIG = {
  cost: {
    /** Pairs of rounds: one round of each program per pair, in alternating order. */
    pairs: 9,
    /**
     * Datagrams per second the sender holds through every round of both programs. The
     * cost per packet depends on the rate (at higher rates less runs between two packets,
     * so more of the program's code and data is still in the caches), so it is fixed.
     */
    rate: 20_000,
    /** Per round, after the attach: the program runs this long before the window opens. */
    settleMs: 200,
    /** Per round: the window the cost is measured over. */
    windowMs: 1_000,
    /** The dropper's rule during the cost rounds: loss at a rate squall's faults use. */
    lossRate: 0.1,
    maxRatio: 1.3,
    maxDropNs: 150,
  },
  switch: {
    /** Switches 0% -> 100% measured. */
    times: 20,
    /** Traffic through the rule before the first switch. */
    warmupMs: 500,
    /** Pause after switching back to 0%, plus up to `jitterMs` more, before the next. */
    settleMs: 20,
    jitterMs: 20,
    /** A switch with no drop seen by then counts as a timeout (and as this delay). */
    timeoutMs: 50,
    /** Datagrams per second through the rule while switching. */
    rate: 100_000,
    /** The sender's bound (it is stopped as soon as the switches are done). */
    sendMs: 15_000,
    limitUs: 1_000,
  },
  /** UDP payload bytes of every datagram: a squall probe header, then zeros. */
  payloadBytes: 64,
  /** Flow id in the probe header of every datagram. */
  flowId: 1,
  /** Destination port in the receiving namespace; nothing listens there. */
  port: 7_100,
  /** Longest any request to a child may take. */
  requestTimeoutMs: 10_000,
} as const;

/** Rule slot the benchmark uses in xdp_drop. */
const RULE = 0;

const HERE_FILE = new URL(import.meta.url).pathname;

/**
 * struct bpf_prog_info in /usr/include/linux/bpf.h (kernel UAPI, x86_64): run_time_ns
 * and run_cnt are the __u64 fields after prog_tags. Offsets and size printed by a C
 * program with offsetof()/sizeof() against the installed header (size 232, prog_tags at
 * 184, run_time_ns at 192, run_cnt at 200, recursion_misses at 208). The kernel copies
 * min(info_len, its own size) bytes and writes back how many.
 */
const PROG_INFO = { runTimeNs: 192, runCnt: 200, size: 232 } as const;

// ---------------------------------------------------------------------------------------
// Results

/** One cost round: one program attached while the paced sender sent through it. */
export interface XdpCostRound {
  /** The program measured. */
  program: "xdp_drop" | "xdp_count";
  /** The pair of rounds this one belongs to (0-based). */
  pair: number;
  /** Runs of the program during the window (delta of run_cnt). */
  runCnt: number;
  /** Nanoseconds spent in it during the window (delta of run_time_ns). */
  runTimeNs: number;
  /** runTimeNs / runCnt, or null without runs. */
  nsPerPacket: number | null;
  /** Length of the window, ms. */
  windowMs: number;
  /** Runs per second during the window: the rate the program actually saw. */
  runsPerSecond: number;
  /** Packets the program's own counters saw during the window. */
  counted: number;
  /** The same, per CPU (where the program ran). */
  countedPerCpu: number[];
  /** Packets the program dropped during the window (always 0 for xdp_count). */
  dropped: number;
}

/** Target a: the dropper's cost per packet against the count-only reference. */
export interface XdpCostResult {
  /** Every round, in the order run. */
  rounds: XdpCostRound[];
  /** Per pair of rounds, xdp_drop's ns per packet over xdp_count's. */
  pairRatios: number[];
  /** Median ns per packet of xdp_drop over its rounds. */
  dropNs: number | null;
  /** Median ns per packet of xdp_count over its rounds. */
  countNs: number | null;
  /** The median of {@linkcode XdpCostResult.pairRatios}: the target. */
  ratio: number | null;
  /** dropNs / countNs, for comparison. */
  ratioOfMedians: number | null;
  /** Whether the ratio is at most {@linkcode XdpCostResult.maxRatio}. */
  ratioPass: boolean;
  /** Whether dropNs is under {@linkcode XdpCostResult.maxDropNs}. */
  dropPass: boolean;
  /** The ratio target. */
  maxRatio: number;
  /** The absolute target, ns per packet. */
  maxDropNs: number;
  /** Loss rate of the rule that matched the traffic during the xdp_drop rounds. */
  lossRate: number;
  /** Datagrams per second the sender was paced at, in every round. */
  rate: number;
  /** Per round, ms the program ran before the window opened. */
  settleMs: number;
  /** Per round, ms of the window. */
  windowMs: number;
}

/** Target b: how soon a loss-rate change shows in the drop counter. */
export interface XdpSwitchResult {
  /** Microseconds from the update's return to the first drop seen, per switch; null: timeout. */
  samplesUs: (number | null)[];
  /** Counter reads per switch, the last one being the one that saw the drop. */
  polls: number[];
  /**
   * Per switch, packets the rule still passed after the update returned (read right after
   * the return and again when the drop was seen); 0 means the new rate held for every
   * packet from the return on. null: timeout.
   */
  passedAfterReturn: (number | null)[];
  /** Per switch, packets per second through the rule during the pause before it. */
  ratesBeforePps: number[];
  /** Packets per second through the rule during the warm-up before the first switch. */
  warmupPps: number;
  /** Median of the samples, timeouts counted as the timeout. */
  medianUs: number | null;
  /** Largest sample (timeouts counted as the timeout); reported, never a target. */
  maxUs: number | null;
  /** Switches with no drop seen within the timeout. */
  timeouts: number;
  /** Median duration of one counter read (bpf_map_lookup_elem of one per-CPU slot). */
  pollUs: number;
  /** Median duration of the bpf_map_update_elem call itself. */
  updateUs: number;
  /** Packets per second through the rule while switching. */
  trafficPps: number;
  /** The target, microseconds. */
  limitUs: number;
  /** Whether medianUs is under limitUs. */
  pass: boolean;
}

/** What {@linkcode benchXdp} measured, and what it left behind (nothing, it checks). */
export interface XdpBenchResult {
  /** Target a. */
  cost: XdpCostResult;
  /** Target b. */
  switchDelay: XdpSwitchResult;
  /** Whether every target passed. */
  pass: boolean;
  /** CPUs the sender and the attacher were pinned to. */
  cpus: XdpPlacement;
  /** kernel.bpf_stats_enabled before the run (it is restored afterwards). */
  statsEnabledBefore: string;
  /** Pids this run started that were still alive after cleanup (should be empty). */
  alivePids: number[];
  /** Processes still in one of its namespaces after cleanup (should be empty). */
  leftInNamespaces: number[];
  /** Ids of its BPF programs still loaded after cleanup (should be empty). */
  leftPrograms: number[];
  /** Wall time of the whole run. */
  elapsedMs: number;
}

/** Options of {@linkcode benchXdp}. */
export interface XdpBenchOptions {
  /**
   * Pairs of rounds for target a (one round of each program per pair).
   * @default {9}
   */
  pairs?: number;
  /**
   * Datagrams per second the sender holds during target a.
   * @default {20000}
   */
  rate?: number;
  /**
   * Switches measured for target b.
   * @default {20}
   */
  switches?: number;
  /**
   * Called with one line of progress at a time.
   * @default {undefined}
   */
  onProgress?: (message: string) => void;
}

// ---------------------------------------------------------------------------------------
// The benchmark

/** Cleanups of runs in progress, for the signal handler of the standalone run. */
const activeCleanups = new Set<() => Promise<void>>();

/**
 * Measures the XDP dropper against its targets (cost per packet, and the delay of a
 * loss-rate change) on a veth pair between two namespaces it builds and removes. Needs
 * root; sets kernel.bpf_stats_enabled=1 while it runs and restores the previous value.
 * Takes about 35 s.
 *
 * @throws {Error} when it cannot run (not root, a tool or an object missing) or a step
 * fails; everything it started is ended first.
 * @example
 * ```ts
 * import { benchXdp } from "./xdp.ts";
 * async function verdict(): Promise<string> {
 *   const result = await benchXdp({ pairs: 3 });
 *   return result.pass ? "PASS" : "MISS";
 * }
 * console.assert(typeof verdict === "function");
 * ```
 */
export async function benchXdp(options: XdpBenchOptions = {}): Promise<XdpBenchResult> {
  const pairs = options.pairs ?? CONFIG.cost.pairs;
  const rate = options.rate ?? CONFIG.cost.rate;
  const switches = options.switches ?? CONFIG.switch.times;
  if (!Number.isInteger(pairs) || pairs < 1) {
    throw new RangeError(`Cannot run the XDP benchmark: pairs must be 1 or more, got ${pairs}`);
  }
  if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000) {
    throw new RangeError(
      `Cannot run the XDP benchmark: rate must be an integer from 1 to 1000000, got ${rate}`,
    );
  }
  if (!Number.isInteger(switches) || switches < 1) {
    throw new RangeError(
      `Cannot run the XDP benchmark: switches must be 1 or more, got ${switches}`,
    );
  }
  const progress = options.onProgress ?? (() => {});
  const { libbpf, libc } = checkPrerequisites();
  const cpus = placement();

  const started = performance.now();
  const statsBefore = (await Deno.readTextFile(STATS_SYSCTL)).trim();
  const set = new NamespaceSet();
  let attacher: Attacher | null = null;
  let programIds: number[] = [];
  let cleaned: Promise<{ alivePids: number[]; leftInNamespaces: number[] }> | null = null;
  const cleanup = () => {
    cleaned ??= (async () => {
      // Whatever fails here, the namespaces go and the sysctl gets its value back.
      try {
        const pids = attacher ? [attacher.pid] : [];
        let report: CleanupReport;
        try {
          await attacher?.close();
        } finally {
          report = await set.close();
        }
        return {
          alivePids: [...report.alivePids, ...pids.filter(isAlive)],
          leftInNamespaces: report.left,
        };
      } finally {
        await setStats(statsBefore);
      }
    })();
    return cleaned;
  };
  const onSignal = async () => {
    await cleanup();
  };
  activeCleanups.add(onSignal);

  let cost: XdpCostResult;
  let switchDelay: XdpSwitchResult;
  try {
    await setStats("1");
    progress(`kernel.bpf_stats_enabled: was ${statsBefore}, set to 1 for the run`);
    progress(
      cpus.sender === null
        ? "one CPU: sender and attacher not pinned"
        : `sender pinned to CPU ${cpus.sender}, attacher to CPU ${cpus.attacher}`,
    );
    await set.addHolders(2, ["sleep", "120"]);
    await set.wire([[0, 1]]);
    const [sender, receiver] = set.links[0]!.ends;
    const ifindex = await ifindexIn(set.holders[1]!.pid, receiver.name);
    progress(
      `veth ${sender.name} ${sender.address} (pid ${set.holders[0]!.pid}) -> ` +
        `${receiver.name} ${receiver.address} (pid ${set.holders[1]!.pid}, ifindex ${ifindex})`,
    );
    attacher = await Attacher.start(set.holders[1]!.pid, libbpf, ifindex, cpus.attacher);
    programIds = attacher.programIds;
    const traffic = { from: sender.address, to: receiver.address, cpu: cpus.sender, libc };

    cost = await measureCost(set, attacher, traffic, { pairs, rate }, progress);
    switchDelay = await measureSwitch(set, attacher, traffic, switches, progress);
  } catch (error) {
    await cleanup().catch((cleanupError) => {
      progress(`Cleaning up after the failure failed too: ${errorText(cleanupError)}`);
    });
    throw error;
  } finally {
    activeCleanups.delete(onSignal);
  }
  const { alivePids, leftInNamespaces } = await cleanup();
  const leftPrograms = await programsLeft(libbpf, programIds);
  return {
    cost,
    switchDelay,
    pass: cost.ratioPass && cost.dropPass && switchDelay.pass,
    cpus,
    statsEnabledBefore: statsBefore,
    alivePids,
    leftInNamespaces,
    leftPrograms,
    elapsedMs: performance.now() - started,
  };
}

const STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled";

/** The libbpf and libc paths, once everything the run needs is known to be there. */
function checkPrerequisites(): { libbpf: string; libc: string } {
  const what = "Cannot run the XDP benchmark";
  if (Deno.uid() !== 0) throw new Error(`${what}: it builds network namespaces, run it as root`);
  const missing = ["ip", "nsenter", "setpriv", "unshare", "sysctl", "taskset"].filter((c) =>
    !onPath(c)
  );
  if (missing.length > 0) throw new Error(`${what}: not on PATH: ${missing.join(", ")}`);
  for (const path of [XDP_DROP_OBJECT, XDP_COUNT_OBJECT]) {
    try {
      Deno.statSync(path);
    } catch {
      throw new Error(`${what}: "${path}" is missing (bpf/build.sh builds it)`);
    }
  }
  const libbpf = findLibrary(LIBBPF_CANDIDATES);
  if (!libbpf) throw new Error(`${what}: libbpf.so.1 not found (apt-get install libbpf1)`);
  const libc = findLibrary(LIBC_CANDIDATES);
  if (!libc) throw new Error(`${what}: libc.so.6 not found`);
  return { libbpf, libc };
}

async function setStats(value: string): Promise<void> {
  await runOk("sysctl", ["-q", "-w", `kernel.bpf_stats_enabled=${value}`]);
}

async function ifindexIn(pid: number, name: string): Promise<number> {
  const out = await runOk("nsenter", ["-t", String(pid), "-n", "ip", "-j", "link", "show", name]);
  const [link] = JSON.parse(out) as { ifindex?: number }[];
  if (typeof link?.ifindex !== "number") throw new Error(`No ifindex for "${name}" in ${out}`);
  return link.ifindex;
}

/**
 * CPUs the sender and the attacher are pinned to: the first and the last this process
 * may use, or none with a single CPU. Apart, the attacher's busy poll (target b) cannot
 * starve the sender, nor the veth's softirq, which runs on the sender's CPU.
 */
export interface XdpPlacement {
  /** CPU of every sender process, or null when not pinned. */
  sender: number | null;
  /** CPU of the attacher process, or null when not pinned. */
  attacher: number | null;
}

function placement(): XdpPlacement {
  const status = Deno.readTextFileSync("/proc/self/status");
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? "";
  const cpus = list.split(",").flatMap((part) => {
    const [low, high] = part.split("-").map(Number);
    if (low === undefined || !Number.isInteger(low)) return [];
    return Array.from({ length: (high ?? low) - low + 1 }, (_, i) => low + i);
  });
  if (cpus.length < 2) return { sender: null, attacher: null };
  return { sender: cpus[0]!, attacher: cpus[cpus.length - 1]! };
}

/** `taskset -c CPU` in front of a command, or nothing. */
function pinned(cpu: number | null): string[] {
  return cpu === null ? [] : ["taskset", "-c", String(cpu)];
}

interface Traffic {
  from: string;
  to: string;
  /** CPU the sender is pinned to. */
  cpu: number | null;
  /** Path of libc.so.6, which the sender calls. */
  libc: string;
}

async function measureCost(
  set: NamespaceSet,
  attacher: Attacher,
  traffic: Traffic,
  { pairs, rate }: { pairs: number; rate: number },
  progress: (message: string) => void,
): Promise<XdpCostResult> {
  const c = CONFIG.cost;
  await attacher.request({ op: "setLoss", rate: c.lossRate });
  const roundMs = c.settleMs + c.windowMs;
  // One sender for every round: the same load, started once, outlasting them all.
  const sender = await startSender(set, traffic, rate, 2 * pairs * (roundMs + 1_000) + 10_000);
  const all: XdpCostRound[] = [];
  try {
    for (let pair = 0; pair < pairs; pair++) {
      // Fresh copies of both programs for every pair: where the kernel puts their code
      // and maps changes each program's cost by several ns from one load to the next (its
      // cache set and page placement), so one load per run would measure that luck.
      if (pair > 0) {
        const reply = await attacher.request({ op: "reload" });
        attacher.programIds.push(...(reply.programIds as number[]));
      }
      // A, B, then B, A: neither program always goes first (a drift would favour it).
      const order = pair % 2 === 0
        ? (["xdp_drop", "xdp_count"] as const)
        : (["xdp_count", "xdp_drop"] as const);
      for (const program of order) {
        const reply = await attacher.request(
          { op: "round", program, settleMs: c.settleMs, windowMs: c.windowMs },
          roundMs + CONFIG.requestTimeoutMs,
        );
        const r = reply.round as Omit<XdpCostRound, "pair">;
        const round: XdpCostRound = { ...r, pair };
        all.push(round);
        progress(
          `pair ${pair + 1}/${pairs} ${program}: ${round.nsPerPacket?.toFixed(1)} ns/packet ` +
            `over ${round.runCnt} runs (${(round.runsPerSecond / 1000).toFixed(1)}k/s, ` +
            `${round.dropped} dropped)`,
        );
        if (round.runCnt === 0) {
          throw new Error(
            `${program} ran 0 times while the sender sent at ${rate}/s: ` +
              `is kernel.bpf_stats_enabled on, and the program attached?`,
          );
        }
      }
    }
  } finally {
    await sender.stop();
    await attacher.request({ op: "detach" }).catch(() => {});
  }
  const perPacket = (program: XdpCostRound["program"]) =>
    all.filter((r) => r.program === program && r.nsPerPacket !== null).map((r) => r.nsPerPacket!);
  const pairRatios = Array.from({ length: pairs }, (_, pair) => {
    const drop = all.find((r) => r.pair === pair && r.program === "xdp_drop")?.nsPerPacket;
    const count = all.find((r) => r.pair === pair && r.program === "xdp_count")?.nsPerPacket;
    return drop && count ? drop / count : null;
  }).filter((v) => v !== null);
  const dropNs = median(perPacket("xdp_drop"));
  const countNs = median(perPacket("xdp_count"));
  const ratio = median(pairRatios);
  return {
    rounds: all,
    pairRatios,
    dropNs,
    countNs,
    ratio,
    ratioOfMedians: dropNs !== null && countNs ? dropNs / countNs : null,
    ratioPass: ratio !== null && ratio <= c.maxRatio,
    dropPass: dropNs !== null && dropNs < c.maxDropNs,
    maxRatio: c.maxRatio,
    maxDropNs: c.maxDropNs,
    lossRate: c.lossRate,
    rate,
    settleMs: c.settleMs,
    windowMs: c.windowMs,
  };
}

async function measureSwitch(
  set: NamespaceSet,
  attacher: Attacher,
  traffic: Traffic,
  times: number,
  progress: (message: string) => void,
): Promise<XdpSwitchResult> {
  const s = CONFIG.switch;
  await attacher.request({ op: "setLoss", rate: 0 });
  await attacher.request({ op: "attach", program: "xdp_drop" });
  let sender: RunningSender | null = null;
  try {
    sender = await startSender(set, traffic, s.rate, s.sendMs);
    const reply = await attacher.request({
      op: "switch",
      times,
      warmupMs: s.warmupMs,
      settleMs: s.settleMs,
      jitterMs: s.jitterMs,
      timeoutMs: s.timeoutMs,
    }, s.sendMs);
    const samplesUs = reply.samplesUs as (number | null)[];
    const counted = samplesUs.map((v) => v ?? s.timeoutMs * 1000);
    const medianUs = median(counted);
    const result: XdpSwitchResult = {
      samplesUs,
      polls: reply.polls as number[],
      passedAfterReturn: reply.passedAfter as (number | null)[],
      ratesBeforePps: reply.ratesBefore as number[],
      warmupPps: reply.warmupPps as number,
      medianUs,
      maxUs: counted.length > 0 ? Math.max(...counted) : null,
      timeouts: samplesUs.filter((v) => v === null).length,
      pollUs: reply.pollUs as number,
      updateUs: reply.updateUs as number,
      trafficPps: reply.trafficPps as number,
      limitUs: s.limitUs,
      pass: medianUs !== null && medianUs < s.limitUs,
    };
    progress(
      `switch 0% -> 100%: ${
        samplesUs.map((v) => v === null ? "timeout" : v.toFixed(0)).join(" ")
      } us`,
    );
    return result;
  } finally {
    await sender?.stop();
    await attacher.request({ op: "detach" }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------
// The sender: a process in the sending namespace that sends squall probe datagrams at a
// fixed rate through libc (socket, sendto), paced by a busy wait on the clock. No event
// loop and no await between datagrams: the rate holds, whichever program is attached.

function spawnSender(
  set: NamespaceSet,
  traffic: Traffic,
  rate: number,
  ms: number,
): Deno.ChildProcess {
  return set.spawnIn(0, [
    ...pinned(traffic.cpu),
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--no-config",
    "--quiet",
    `--allow-ffi=${traffic.libc}`,
    HERE_FILE,
    "--role",
    "sender",
    "--libc",
    traffic.libc,
    "--from",
    traffic.from,
    "--to",
    traffic.to,
    "--rate",
    String(rate),
    "--ms",
    String(ms),
  ]);
}

/** A sender started and sending; `stop()` ends it (SIGKILL) and reaps it. */
interface RunningSender {
  stop(): Promise<void>;
}

/** Starts a paced sender and waits until it sends. */
async function startSender(
  set: NamespaceSet,
  traffic: Traffic,
  rate: number,
  ms: number,
): Promise<RunningSender> {
  const child = spawnSender(set, traffic, rate, ms);
  const lines = new Lines(child.stdout);
  const stop = async () => {
    await lines.cancel();
    await set.stop(child);
  };
  try {
    const ready = await within(lines.next(), CONFIG.requestTimeoutMs, "Starting the sender");
    if (ready !== "SENDER_READY") {
      const stderr = await new Response(child.stderr).text().catch(() => "");
      throw new Error(`The sender did not start: ${ready ?? "it exited"} ${stderr.slice(-800)}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

const AF_INET = 2;
const SOCK_DGRAM = 2;

/** A struct sockaddr_in for a dotted IPv4 address and a port. */
function sockaddrIn(address: string, port: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  address.split(".").forEach((part, i) => view.setUint8(4 + i, Number(part)));
  return bytes;
}

function senderMain(args: { libc: string; from: string; to: string; rate: number; ms: number }) {
  const libc = Deno.dlopen(args.libc, {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  });
  const c = libc.symbols;
  const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || c.bind(fd, sockaddrIn(args.from, 0), 16) !== 0) {
    console.log(`SENDER_FAILED cannot bind a UDP socket to "${args.from}"`);
    Deno.exit(1);
  }
  // Not connected: the ICMP port unreachable that passed datagrams earn (nothing listens
  // on the port) would otherwise fail the next send with ECONNREFUSED.
  const target = sockaddrIn(args.to, CONFIG.port);
  const payload = new Uint8Array(CONFIG.payloadBytes);
  const header = new DataView(payload.buffer);
  const length = BigInt(payload.byteLength);
  const intervalMs = 1000 / args.rate;
  console.log("SENDER_READY");
  const start = performance.now();
  const deadline = start + args.ms;
  let next = start;
  let seq = 0;
  for (;;) {
    const now = performance.now();
    if (now < next) continue;
    if (now >= deadline) break;
    writeHeader(header, CONFIG.flowId, seq++, now);
    c.sendto(fd, payload, length, 0, target, 16);
    next += intervalMs;
    // Behind by more than a millisecond (descheduled): start over from now, no burst.
    if (now - next > 1) next = now;
  }
  libc.close();
}

// ---------------------------------------------------------------------------------------
// The attacher: a Deno process in the receiving namespace that loads both programs,
// holds the bpf_link of the one attached, and answers requests (one JSON line each).

const LIBBPF_SYMBOLS = {
  bpf_object__open_file: { parameters: ["buffer", "pointer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__attach_xdp: { parameters: ["pointer", "i32"], result: "pointer" },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_prog_get_next_id: { parameters: ["u32", "buffer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  libbpf_get_error: { parameters: ["pointer"], result: "i64" },
  libbpf_strerror: { parameters: ["i32", "buffer", "usize"], result: "i32" },
} as const;

type Libbpf = Deno.DynamicLibrary<typeof LIBBPF_SYMBOLS>["symbols"];

/** Run statistics and own counters of one program. */
interface ProgramStats {
  runTimeNs: number;
  runCnt: number;
  /** Packets in the program's own counters, per CPU. */
  countedPerCpu: number[];
}

type StatsReply = Record<"xdp_drop" | "xdp_count", ProgramStats>;

/** The attacher process, seen from the benchmark. */
class Attacher {
  readonly pid: number;
  readonly programIds: number[];
  #child: Deno.ChildProcess;
  #lines: Lines;
  #stderr: Promise<string>;
  #closed = false;

  private constructor(child: Deno.ChildProcess, lines: Lines, programIds: number[]) {
    this.pid = child.pid;
    this.#child = child;
    this.#lines = lines;
    this.programIds = programIds;
    this.#stderr = new Response(child.stderr).text().catch(() => "");
  }

  /** Starts it inside the namespace of `pid`, and waits until both programs are loaded. */
  static async start(
    pid: number,
    libbpf: string,
    ifindex: number,
    cpu: number | null,
  ): Promise<Attacher> {
    const child = new Deno.Command("setpriv", {
      args: [
        "--pdeathsig",
        "KILL",
        "--",
        ...pinned(cpu),
        "nsenter",
        "-t",
        String(pid),
        "-n",
        Deno.execPath(),
        "run",
        "--no-prompt",
        "--no-config",
        "--quiet",
        `--allow-ffi=${libbpf}`,
        "--allow-env=SQUALL_XDP_BENCH_WINDOWED",
        HERE_FILE,
        "--role",
        "attacher",
        "--libbpf",
        libbpf,
        "--ifindex",
        String(ifindex),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = new Lines(child.stdout);
    const attacher = new Attacher(child, lines, []);
    const ready = await attacher.#reply(CONFIG.requestTimeoutMs, "Starting the attacher");
    attacher.programIds.push(...(ready.programIds as number[]));
    return attacher;
  }

  /** Sends one request and returns its reply; throws with the attacher's error. */
  async request(
    request: Record<string, unknown>,
    timeoutMs: number = CONFIG.requestTimeoutMs,
  ): Promise<Record<string, unknown>> {
    const what = `Request "${request.op}" to the attacher`;
    const writer = this.#child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    } catch {
      throw await this.#gone(what);
    } finally {
      writer.releaseLock();
    }
    return await this.#reply(timeoutMs, what);
  }

  async stats(): Promise<StatsReply> {
    return (await this.request({ op: "stats" })).stats as StatsReply;
  }

  /** Ends it (stdin EOF, then SIGKILL after 2 s) and reaps it. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#child.stdin.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 2_000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#lines.cancel();
    await this.#stderr;
  }

  async #reply(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const line = await within(this.#lines.next(), timeoutMs, what);
    if (line === null) throw await this.#gone(what);
    const reply = JSON.parse(line) as Record<string, unknown>;
    if (reply.ok !== true) throw new Error(`${what}: ${reply.error}`);
    return reply;
  }

  /** The error for a request the attacher can no longer answer: how it ended. */
  async #gone(what: string): Promise<Error> {
    const status = await within(this.#child.status, 2_000, `${what}: waiting for it to end`);
    const how = status.signal ? `was killed by ${status.signal}` : `exited ${status.code}`;
    const stderr = (await this.#stderr).trim();
    return new Error(`${what}: the attacher ${how}${stderr ? `: ${stderr.slice(-800)}` : ""}`);
  }
}

/** One program loaded from its object, maps at hand. */
interface Loaded {
  object: Deno.PointerValue;
  program: Deno.PointerValue;
  fd: number;
  id: number;
  counters: number;
}

async function attacherMain(args: { libbpf: string; ifindex: number }): Promise<void> {
  const lib = Deno.dlopen(args.libbpf, LIBBPF_SYMBOLS);
  const b = lib.symbols;
  const cpus = b.libbpf_num_possible_cpus();
  const libbpfError = (err: number | bigint) => {
    const buffer = new Uint8Array(128);
    b.libbpf_strerror(Number(err), buffer, BigInt(buffer.length));
    return new TextDecoder().decode(buffer.subarray(0, buffer.indexOf(0)));
  };
  const progInfo = (fd: number) => {
    const info = new Uint8Array(PROG_INFO.size);
    const length = new Uint32Array([PROG_INFO.size]);
    const rc = b.bpf_obj_get_info_by_fd(fd, info, new Uint8Array(length.buffer));
    if (rc < 0) throw new Error(`bpf_obj_get_info_by_fd: ${libbpfError(rc)}`);
    if (length[0]! < PROG_INFO.runCnt + 8) {
      throw new Error(`bpf_obj_get_info_by_fd: only ${length[0]} bytes of bpf_prog_info`);
    }
    const view = new DataView(info.buffer);
    return {
      id: view.getUint32(4, true),
      runTimeNs: Number(view.getBigUint64(PROG_INFO.runTimeNs, true)),
      runCnt: Number(view.getBigUint64(PROG_INFO.runCnt, true)),
    };
  };
  const load = (path: string, name: string): Loaded => {
    const object = b.bpf_object__open_file(cString(path), null);
    if (object === null) throw new Error(`Cannot open "${path}"`);
    const loaded = b.bpf_object__load(object);
    if (loaded < 0) throw new Error(`Cannot load "${path}": ${libbpfError(loaded)}`);
    const program = b.bpf_object__find_program_by_name(object, cString(name));
    if (program === null) throw new Error(`No program "${name}" in "${path}"`);
    const map = b.bpf_object__find_map_by_name(object, cString("counters"));
    if (map === null) throw new Error(`No map "counters" in "${path}"`);
    const fd = b.bpf_program__fd(program);
    return { object, program, fd, id: progInfo(fd).id, counters: b.bpf_map__fd(map) };
  };

  // The program walks rule slots up to config.rule_slots (XdpDropper keeps it at the
  // highest slot in use + 1): one rule, in slot 0, as squall would set it.
  const config = new Uint8Array(SQ_CONFIG.size);
  new DataView(config.buffer).setUint32(SQ_CONFIG.fields.rule_slots, 1, true);
  /** The rule last set, written again into every fresh copy of xdp_drop. */
  let rule: Uint8Array<ArrayBuffer> = ruleFor(0);
  let rulesFd = -1;
  const loadBoth = () => {
    const drop = load(XDP_DROP_OBJECT, "xdp_drop");
    const count = load(XDP_COUNT_OBJECT, "xdp_count");
    const mapFd = (name: string) => {
      const map = b.bpf_object__find_map_by_name(drop.object, cString(name));
      if (map === null) throw new Error(`No map "${name}" in "${XDP_DROP_OBJECT}"`);
      return b.bpf_map__fd(map);
    };
    rulesFd = mapFd("rules");
    const configRc = b.bpf_map_update_elem(mapFd("config"), u32(0), config, 0n);
    if (configRc < 0) throw new Error(`bpf_map_update_elem(config): ${libbpfError(configRc)}`);
    return { xdp_drop: drop, xdp_count: count };
  };
  let programs = loadBoth();
  let link: Deno.PointerValue = null;

  // Where each program counts packets: xdp_drop's `counters` holds a struct sq_counters per
  // entry (rule), with a struct sq_counter per verdict; xdp_count's one struct sq_counter.
  const counterLayouts = {
    xdp_drop: {
      entries: SQ_COUNTER_ENTRIES,
      size: SQ_COUNTERS.size,
      packetsAt: [0, 1].map((i) =>
        SQ_COUNTERS.fields.counter + i * SQ_COUNTER.size + SQ_COUNTER.fields.packets
      ),
    },
    xdp_count: { entries: 1, size: SQ_COUNTER.size, packetsAt: [SQ_COUNTER.fields.packets] },
  };
  const value = new Uint8Array(SQ_COUNTERS.size * cpus);
  const valueView = new DataView(value.buffer);
  const lookup = (fd: number, key: number) => {
    const rc = b.bpf_map_lookup_elem(fd, u32(key), value);
    if (rc < 0) throw new Error(`bpf_map_lookup_elem: ${libbpfError(rc)}`);
  };
  /** Packets in one of xdp_drop's counter slots, summed over CPUs. */
  const packets = (slot: number) => {
    lookup(programs.xdp_drop.counters, Math.floor(slot / SQ_VERDICTS));
    const at = counterLayouts.xdp_drop.packetsAt[slot % SQ_VERDICTS]!;
    let sum = 0n;
    for (let cpu = 0; cpu < cpus; cpu++) {
      sum += valueView.getBigUint64(cpu * SQ_COUNTERS.size + at, true);
    }
    return Number(sum);
  };
  /** Packets per CPU in all of a program's counters. */
  const packetsPerCpu = (name: keyof typeof programs) => {
    const { entries, size, packetsAt } = counterLayouts[name];
    const perCpu = new Array<number>(cpus).fill(0);
    for (let entry = 0; entry < entries; entry++) {
      lookup(programs[name].counters, entry);
      for (let cpu = 0; cpu < cpus; cpu++) {
        for (const at of packetsAt) {
          perCpu[cpu]! += Number(valueView.getBigUint64(cpu * size + at, true));
        }
      }
    }
    return perCpu;
  };
  const dropSlot = RULE * SQ_VERDICTS + SQ_VERDICT_DROP;
  const passSlot = RULE * SQ_VERDICTS + SQ_VERDICT_PASS;
  const ruleKey = u32(RULE);
  const setRule = (bytes: Uint8Array<ArrayBuffer>) => {
    const rc = b.bpf_map_update_elem(rulesFd, ruleKey, bytes, 0n);
    if (rc < 0) throw new Error(`bpf_map_update_elem: ${libbpfError(rc)}`);
    rule = bytes;
  };
  const detach = () => {
    if (link !== null) b.bpf_link__destroy(link);
    link = null;
  };
  const closeBoth = () => {
    b.bpf_object__close(programs.xdp_drop.object);
    b.bpf_object__close(programs.xdp_count.object);
  };

  const handlers: Record<string, (r: Record<string, unknown>) => Record<string, unknown>> = {
    attach(r) {
      detach();
      const which = programs[r.program as keyof typeof programs];
      if (!which) throw new Error(`Unknown program "${r.program}"`);
      const attached = b.bpf_program__attach_xdp(which.program, args.ifindex);
      if (attached === null) {
        throw new Error(
          `Cannot attach ${r.program} to ifindex ${args.ifindex}: ` +
            libbpfError(b.libbpf_get_error(null)),
        );
      }
      link = attached;
      return {};
    },
    detach() {
      detach();
      return {};
    },
    setLoss(r) {
      setRule(ruleFor(chance(r.rate as number)));
      return {};
    },
    /**
     * Replaces both programs with fresh copies (new code and maps, wherever the kernel
     * puts them this time), xdp_drop with the same config and rule.
     */
    reload() {
      detach();
      closeBoth();
      programs = loadBoth();
      setRule(rule);
      return { programIds: [programs.xdp_drop.id, programs.xdp_count.id] };
    },
    stats() {
      const dropInfo = progInfo(programs.xdp_drop.fd);
      const countInfo = progInfo(programs.xdp_count.fd);
      return {
        stats: {
          xdp_drop: {
            runTimeNs: dropInfo.runTimeNs,
            runCnt: dropInfo.runCnt,
            countedPerCpu: packetsPerCpu("xdp_drop"),
          },
          xdp_count: {
            runTimeNs: countInfo.runTimeNs,
            runCnt: countInfo.runCnt,
            countedPerCpu: packetsPerCpu("xdp_count"),
          },
        } satisfies StatsReply,
      };
    },
  };

  /** Attaches a program, lets it run, then measures it over a window. */
  const round = async (r: Record<string, unknown>) => {
    const name = r.program as keyof typeof programs;
    handlers.attach!({ program: name });
    await sleep(r.settleMs as number);
    const loaded = programs[name];
    const snapshot = () => ({
      at: performance.now(),
      info: progInfo(loaded.fd),
      perCpu: packetsPerCpu(name),
      dropped: name === "xdp_drop" ? packets(dropSlot) : 0,
    });
    const before = snapshot();
    await sleep(r.windowMs as number);
    const after = snapshot();
    const runCnt = after.info.runCnt - before.info.runCnt;
    const runTimeNs = after.info.runTimeNs - before.info.runTimeNs;
    const countedPerCpu = after.perCpu.map((n, cpu) => n - (before.perCpu[cpu] ?? 0));
    const windowMs = after.at - before.at;
    return {
      round: {
        program: name,
        runCnt,
        runTimeNs,
        nsPerPacket: runCnt > 0 ? runTimeNs / runCnt : null,
        windowMs,
        runsPerSecond: runCnt / (windowMs / 1000),
        counted: countedPerCpu.reduce((sum, n) => sum + n, 0),
        countedPerCpu,
        dropped: after.dropped - before.dropped,
      } satisfies Omit<XdpCostRound, "pair">,
    };
  };

  const switchLoss = async (r: Record<string, unknown>) => {
    const times = r.times as number;
    const timeoutMs = r.timeoutMs as number;
    const never = ruleFor(0);
    const always = ruleFor(SQ_CHANCE_ALWAYS);
    const passes = () => packets(passSlot);
    const drops = () => packets(dropSlot);
    setRule(never);
    // Traffic first: the rule's pass counter has to be moving, then a warm-up.
    const startPasses = passes();
    const flowing = await eventually(() => passes() > startPasses + 1000, 5_000);
    if (!flowing) throw new Error("No traffic through the rule: its pass counter stands still");
    const warmupStart = [performance.now(), passes()] as const;
    await sleep(r.warmupMs as number);
    const warmupPps = (passes() - warmupStart[1]) / ((performance.now() - warmupStart[0]) / 1000);
    // What one counter read costs, for the report.
    const pollTimes: number[] = [];
    for (let i = 0; i < 1001; i++) {
      const t = performance.now();
      drops();
      pollTimes.push(performance.now() - t);
    }
    const samplesUs: (number | null)[] = [];
    const polls: number[] = [];
    const passedAfter: (number | null)[] = [];
    const ratesBefore: number[] = [];
    const updateTimes: number[] = [];
    const passesBefore = passes() + drops();
    const t0 = performance.now();
    for (let i = 0; i < times; i++) {
      const settleStart = [performance.now(), passes()] as const;
      await sleep((r.settleMs as number) + Math.random() * (r.jitterMs as number));
      const base = drops();
      const passBase = passes();
      const called = performance.now();
      ratesBefore.push((passBase - settleStart[1]) / ((called - settleStart[0]) / 1000));
      setRule(always);
      const returned = performance.now();
      // Packets that pass from here on were not dropped by the new rate.
      const passAtReturn = passes();
      updateTimes.push(returned - called);
      let n = 0;
      let seen: number | null = null;
      for (;;) {
        n++;
        const moved = drops() > base;
        const now = performance.now();
        if (moved) {
          seen = now;
          break;
        }
        if (now - returned > timeoutMs) break;
      }
      passedAfter.push(seen === null ? null : passes() - passAtReturn);
      setRule(never);
      samplesUs.push(seen === null ? null : (seen - returned) * 1000);
      polls.push(n);
    }
    const seconds = (performance.now() - t0) / 1000;
    const passesAfter = passes() + drops();
    return {
      samplesUs,
      polls,
      passedAfter,
      ratesBefore,
      warmupPps,
      pollUs: median(pollTimes)! * 1000,
      updateUs: median(updateTimes)! * 1000,
      trafficPps: (passesAfter - passesBefore) / seconds,
    };
  };

  console.log(
    JSON.stringify({ ok: true, programIds: [programs.xdp_drop.id, programs.xdp_count.id] }),
  );
  const lines = new Lines(Deno.stdin.readable);
  try {
    for (let line = await lines.next(); line !== null; line = await lines.next()) {
      const r = JSON.parse(line) as Record<string, unknown>;
      let reply: Record<string, unknown>;
      try {
        const handler = handlers[r.op as string];
        if (r.op === "switch") reply = await switchLoss(r);
        else if (r.op === "round") reply = await round(r);
        else if (handler) reply = handler(r);
        else throw new Error(`Unknown request "${r.op}"`);
        reply = { ok: true, ...reply };
      } catch (error) {
        reply = { ok: false, error: errorText(error) };
      }
      console.log(JSON.stringify(reply));
    }
  } finally {
    detach();
    closeBoth();
    lib.close();
  }
}

/**
 * The benchmark's rule: Bernoulli with fixed-point chance `lossGood`, on its UDP port.
 * With SQUALL_XDP_BENCH_WINDOWED=1 in the environment (the attacher inherits it), the rule
 * has a time window that always holds but is not "all time" (from 1 ns until all ones
 * less one), so every packet pays the clock read a fault applied at run time pays.
 */
function ruleFor(lossGood: number): Uint8Array<ArrayBuffer> {
  const windowed = Deno.env.get("SQUALL_XDP_BENCH_WINDOWED") === "1";
  return encodeRule({
    ...(windowed ? { activeFromNs: 1n, activeUntilNs: SQ_TIME_FOREVER - 1n } : {}),
    mode: SQ_MODE_BERNOULLI,
    protocol: SQ_PROTO_UDP,
    srcAddr: "0.0.0.0",
    srcMask: "0.0.0.0",
    dportMin: CONFIG.port,
    dportMax: CONFIG.port,
    lossGood,
    lossBad: 0,
    pEnterBad: 0,
    pLeaveBad: 0,
  });
}

/** Ids among `ids` of BPF programs still loaded (waits up to 2 s for them to go). */
async function programsLeft(libbpf: string, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const lib = Deno.dlopen(
    libbpf,
    {
      bpf_prog_get_next_id: LIBBPF_SYMBOLS.bpf_prog_get_next_id,
    } as const,
  );
  // Walks the kernel's program ids (global, every namespace) without opening any.
  const loaded = () => {
    const next = new Uint32Array(1);
    const nextBytes = new Uint8Array(next.buffer);
    const left: number[] = [];
    let id = 0;
    while (lib.symbols.bpf_prog_get_next_id(id, nextBytes) === 0) {
      id = next[0]!;
      if (ids.includes(id)) left.push(id);
    }
    return left;
  };
  try {
    await eventually(() => loaded().length === 0, 2_000);
    return loaded();
  } finally {
    lib.close();
  }
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** Reads a stream one line at a time. */
class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line without its newline, or null at the end of the stream. */
  async next(): Promise<string | null> {
    for (;;) {
      const at = this.#buffer.indexOf("\n");
      if (at >= 0) {
        const line = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#buffer += value;
    }
  }

  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch {
      // Already closed.
    }
  }
}

/** `promise`, or an error naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0") as Uint8Array<ArrayBuffer>;
}

function u32(value: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Standalone run

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function verdict(pass: boolean): string {
  return pass ? "PASS" : "MISS";
}

function rows(result: XdpBenchResult): Row[] {
  const c = result.cost;
  const s = result.switchDelay;
  const ns = (v: number | null) => v === null ? "n/a" : `${v.toFixed(1)} ns`;
  const usText = (v: number | null) => v === null ? "n/a" : `${v.toFixed(1)} us`;
  return [
    {
      target: "a. xdp_drop cost per packet",
      measured: ns(c.dropNs),
      reference: `${ns(c.countNs)} xdp_count`,
      ratio: c.ratio === null ? "n/a" : `${c.ratio.toFixed(2)}x`,
      limit: `< ${c.maxDropNs} ns`,
      result: verdict(c.dropPass),
    },
    {
      target: "a. xdp_drop / xdp_count",
      measured: c.ratio === null ? "n/a" : `${c.ratio.toFixed(2)}x`,
      reference: `median of ${c.pairRatios.length} A/B pairs`,
      ratio: "-",
      limit: `<= ${c.maxRatio}x`,
      result: verdict(c.ratioPass),
    },
    {
      target: "b. loss 0% -> 100% to first drop",
      measured: `${usText(s.medianUs)} median`,
      reference: `max ${usText(s.maxUs)}`,
      ratio: "-",
      limit: `< ${s.limitUs / 1000} ms (median)`,
      result: verdict(s.pass),
    },
  ];
}

function notes(result: XdpBenchResult): string[] {
  const c = result.cost;
  const s = result.switchDelay;
  const perRound = c.rounds.map((r) =>
    `${r.program === "xdp_drop" ? "drop" : "count"} ${r.nsPerPacket?.toFixed(1)} ` +
    `(${(r.runsPerSecond / 1000).toFixed(1)}k/s)`
  ).join(", ");
  const dropRounds = c.rounds.filter((r) => r.program === "xdp_drop");
  const dropped = dropRounds.reduce((sum, r) => sum + r.dropped, 0);
  const dropRuns = dropRounds.reduce((sum, r) => sum + r.runCnt, 0);
  const gapUs = s.trafficPps > 0 ? 1e6 / s.trafficPps : null;
  const meanPackets = (program: XdpCostRound["program"]) => {
    const rs = c.rounds.filter((r) => r.program === program);
    return rs.reduce((sum, r) => sum + r.runCnt, 0) / Math.max(rs.length, 1);
  };
  return [
    `a: what was measured: run_time_ns / run_cnt (kernel.bpf_stats_enabled=1, which adds ` +
    `its own clock reads to every run of both programs) of xdp_drop and of xdp_count, ` +
    `attached in turn to the same receiving veth end while one sender held ${c.rate} ` +
    `datagrams/s throughout (a libc sendto loop paced by a busy wait, pinned, no event ` +
    `loop); ${c.pairRatios.length} pairs of rounds, order A/B then B/A, both programs ` +
    `loaded afresh for every pair after the first (load placement moves the cost); per round ` +
    `${c.settleMs} ms after the attach, then a ${c.windowMs} ms window; the ratio is the ` +
    `median of the per-pair ratios (${
      c.pairRatios.map((v) => v.toFixed(2)).join(", ")
    }; ratio of the medians ${c.ratioOfMedians?.toFixed(2)})`,
    `a: ns per packet per round, the rate each program saw in brackets: ${perRound}`,
    result.cpus.sender === null
      ? "sender and attacher not pinned (one CPU)"
      : `sender pinned to CPU ${result.cpus.sender}, attacher to CPU ${result.cpus.attacher}; ` +
        `share of the packets each program ran on per CPU, over all rounds: ${
          (["xdp_drop", "xdp_count"] as const).map((program) => {
            const perCpu = c.rounds.filter((r) => r.program === program).reduce(
              (sum, r) => sum.map((n, cpu) => n + (r.countedPerCpu[cpu] ?? 0)),
              new Array<number>(c.rounds[0]?.countedPerCpu.length ?? 0).fill(0),
            );
            const total = perCpu.reduce((a, n) => a + n, 0) || 1;
            return `${program} ${
              perCpu.map((n, cpu) => `CPU ${cpu} ${(n / total * 100).toFixed(1)}%`).join(" ")
            }`;
          }).join(", ")
        }`,
    `a: the traffic: squall probe datagrams (${CONFIG.payloadBytes}-byte UDP payload ` +
    `starting with the probe header, one flow) to dport ${CONFIG.port}; xdp_drop had one ` +
    `Bernoulli rule at ${c.lossRate * 100}% matching them (slot 0, config.rule_slots 1), ` +
    `so it drew a random number for every packet and parsed the probe header and counted ` +
    `the flow for each drop: it dropped ${dropped} of ${dropRuns} ` +
    `(${(dropped / Math.max(dropRuns, 1) * 100).toFixed(2)}%); ` +
    `${meanPackets("xdp_drop").toFixed(0)} runs per xdp_drop window, ` +
    `${meanPackets("xdp_count").toFixed(0)} per xdp_count window`,
    `a: program runs vs own counters per round: ${
      c.rounds.map((r) => `${r.runCnt}/${r.counted}`).join(", ")
    } (runs/counted)`,
    `b: delay from the return of bpf_map_update_elem (rule 0 from 0% to 100%) to the first ` +
    `drop seen in the rule's per-CPU drop counter, ${s.samplesUs.length} switches: ` +
    `${
      s.samplesUs.map((v) => v === null ? "timeout" : v.toFixed(1)).join(", ")
    } us; timeouts (> ${CONFIG.switch.timeoutMs} ms): ${s.timeouts}`,
    `b: the figure includes the gap to the next packet (traffic ${
      (s.trafficPps / 1000).toFixed(0)
    }k packets/s through the rule while switching, a mean gap of ${
      gapUs === null ? "n/a" : gapUs.toFixed(1)
    } us) and one poll (a counter read takes ${s.pollUs.toFixed(1)} us; one more read, ` +
    `of the pass counter, comes first; the update call itself took ` +
    `${s.updateUs.toFixed(1)} us and is not included); polls per switch: ${s.polls.join(", ")}`,
    `b: packets the rule still passed after the update had returned, per switch: ${
      s.passedAfterReturn.map((v) => v === null ? "-" : String(v)).join(", ")
    }; traffic in the pause before each switch (k packets/s): ${
      s.ratesBeforePps.map((v) => (v / 1000).toFixed(0)).join(", ")
    } (warm-up ${(s.warmupPps / 1000).toFixed(0)}k/s); a long delay with 0 packets passed ` +
    `is a gap in the traffic, not a late update`,
    `cleanup: kernel.bpf_stats_enabled restored to ${result.statsEnabledBefore}; ` +
    (result.alivePids.length === 0 && result.leftInNamespaces.length === 0 &&
        result.leftPrograms.length === 0
      ? "nothing left (every pid started here reaped, no process in its namespaces, " +
        "its BPF programs unloaded)"
      : `LEFT BEHIND: pids ${result.alivePids.join(",") || "-"}, processes in its ` +
        `namespaces ${result.leftInNamespaces.join(",") || "-"}, programs ${
          result.leftPrograms.join(",") || "-"
        }`),
    `elapsed ${(result.elapsedMs / 1000).toFixed(1)} s`,
  ];
}

async function main(options: XdpBenchOptions): Promise<number> {
  const onSignal = async () => {
    for (const cleanup of activeCleanups) await cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let result: XdpBenchResult;
  try {
    result = await benchXdp({ ...options, onProgress: (m) => console.log(`# ${m}`) });
  } catch (error) {
    console.error(`XDP benchmark failed: ${errorText(error)}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  console.log("");
  console.log(table(rows(result)));
  console.log("");
  for (const note of notes(result)) console.log(`- ${note}`);
  console.log(`BENCH_XDP_JSON ${JSON.stringify(result)}`);
  const clean = result.alivePids.length === 0 && result.leftInNamespaces.length === 0 &&
    result.leftPrograms.length === 0;
  return result.pass && clean ? 0 : 1;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      ms: { type: "string" },
      rate: { type: "string" },
      libc: { type: "string" },
      libbpf: { type: "string" },
      ifindex: { type: "string" },
      pairs: { type: "string" },
      switches: { type: "string" },
    },
  });
  if (values.role === "sender") {
    senderMain({
      libc: values.libc!,
      from: values.from!,
      to: values.to!,
      rate: Number(values.rate),
      ms: Number(values.ms),
    });
  } else if (values.role === "attacher") {
    await attacherMain({ libbpf: values.libbpf!, ifindex: Number(values.ifindex) });
  } else if (values.role === undefined) {
    Deno.exit(
      await main({
        ...(values.pairs === undefined ? {} : { pairs: Number(values.pairs) }),
        ...(values.rate === undefined ? {} : { rate: Number(values.rate) }),
        ...(values.switches === undefined ? {} : { switches: Number(values.switches) }),
      }),
    );
  } else {
    console.error(`Unknown role "${values.role}": use sender or attacher`);
    Deno.exit(2);
  }
}
