// Delays, rate limits and duplicates on links, for the fault manager (fault_manager.ts):
// a delay or rate limit is a delay line in the receiving host's agent on a fresh NFQUEUE
// queue, fed by iptables rules the runner adds in that namespace (`nsenter -t <agent
// pid> -n iptables ...`; agents run no programs); a duplicate is the tc duplicator on
// the sender's egress. Rules, queues and programs go with the namespace.

import type { AgentConnection } from "./agent_connection.ts";
import { EnvironmentError } from "../core/errors.ts";
import { runCommand } from "../core/command.ts";
import {
  type DelayFault,
  type DuplicateFault,
  type Fault,
  portRange,
  type RateLimitFault,
} from "../scenario/faults.ts";
import type { Plan } from "../scenario/topology.ts";
import { drainMs, lineConfig, lineRules, lineTable } from "./_line_rules.ts";
import type { FaultReport, LineTally } from "./report.ts";
import type { FlowDrops, LineCounters } from "../native/delay_line_control.ts";
import type { FaultDrops } from "../measure/loss_ledger.ts";

/** One direction of a delay or rate limit: a line on `queue` in `host`'s namespace. */
export interface LineEnd {
  host: string;
  ifname: string;
  queue: number;
  /** The rule specs added (after the chain name). */
  rules: string[][];
  /** Its final state, once stopped. */
  final?: LineFinal;
}

/** What a stopped line did, and what the kernel dropped for its queue. */
interface LineFinal {
  counters: LineCounters;
  flows: FlowDrops[];
  queueFull: number;
  overrun: number;
  error: string | null;
}

/** What the agent answers to `delay.read` and `delay.stop`. */
interface LineState {
  state: "running" | "stopped" | "failed";
  counters: LineCounters;
  flows: FlowDrops[];
  error?: string;
}

/** The programs that put a delay line's rules in a namespace. */
export interface LineTools {
  /** `iptables`, absolute path, or undefined when this machine has none. */
  iptables: string | undefined;
  /** `nsenter`, absolute path. */
  nsenter: string | undefined;
  /** The pid of a host's agent (its namespace). */
  agentPid(host: string): number;
}

/** What a fault keeps of its delay lines and duplicators. */
export interface LineRecord {
  report: FaultReport;
  /** Delay lines, for a delay or rate limit. */
  lines: LineEnd[];
  /** Duplicators on the senders' ends. */
  dups: { host: string; ifname: string; taken: boolean }[];
}

/** The delay lines and duplicators of one run's faults. */
export class LineFaults {
  #plan: Plan;
  #agent: (host: string) => AgentConnection;
  #tools: LineTools | undefined;
  #interfaceOf: (host: string, link: number) => string;
  #sourceOf: (fault: Fault, sender: string, link: number) => string | undefined;
  #records: () => readonly LineRecord[];
  /** The last NFQUEUE queue number used in each host's namespace. */
  #queues = new Map<string, number>();

  /**
   * `interfaceOf` names a host's end of a link, `sourceOf` the address a fault's `from`
   * means on it, and `records` lists every fault so far (a duplicator per end at a time).
   */
  constructor(
    plan: Plan,
    agent: (host: string) => AgentConnection,
    tools: LineTools | undefined,
    where: {
      interfaceOf: (host: string, link: number) => string;
      sourceOf: (fault: Fault, sender: string, link: number) => string | undefined;
    },
    records: () => readonly LineRecord[],
  ) {
    this.#plan = plan;
    this.#agent = agent;
    this.#tools = tools;
    this.#interfaceOf = where.interfaceOf;
    this.#sourceOf = where.sourceOf;
    this.#records = records;
  }

  checkTools(description: string): void {
    if (!this.#tools?.iptables || !this.#tools.nsenter) {
      throw new EnvironmentError(
        `Cannot apply "${description}": no ${
          this.#tools?.nsenter ? "iptables" : "nsenter"
        } on this machine`,
        "delays and rate limits need iptables (apt-get install iptables) and nsenter (util-linux)",
      );
    }
  }

  async #iptables(host: string, args: string[]): Promise<void> {
    const tools = this.#tools!;
    await runCommand(tools.nsenter!, [
      "-t",
      String(tools.agentPid(host)),
      "-n",
      tools.iptables!,
      "-w",
      "5",
      ...args,
    ]);
  }

  async startLine(
    record: LineRecord,
    fault: DelayFault | RateLimitFault,
    index: number,
    direction: string,
  ): Promise<void> {
    const [a, b] = this.#plan.links[index]!.hosts;
    const [sender, receiver] = direction === "forward" ? [a, b] : [b, a];
    const ifname = this.#interfaceOf(receiver, index);
    const queue = (this.#queues.get(receiver) ?? 0) + 1;
    this.#queues.set(receiver, queue);
    const rules = lineRules(fault, ifname, queue, this.#sourceOf(fault, sender, index));
    const end: LineEnd = { host: receiver, ifname, queue, rules: [] };
    record.lines.push(end);
    await this.#agent(receiver).call("delay.start", { queue, config: lineConfig(fault) });
    const table = lineTable(fault);
    for (const rule of rules) {
      await this.#iptables(receiver, ["-t", table, "-I", "PREROUTING", "1", ...rule]);
      end.rules.push(rule);
    }
  }

  /** Duplicates on the egress of the sender's end of the link (one per end at a time). */
  async startDuplicator(
    record: LineRecord,
    fault: DuplicateFault,
    index: number,
    direction: string,
  ): Promise<void> {
    const [a, b] = this.#plan.links[index]!.hosts;
    const [sender] = direction === "forward" ? [a, b] : [b, a];
    const ifname = this.#interfaceOf(sender, index);
    if (this.#records().some((r) => r.dups.some((d) => d.ifname === ifname && !d.taken))) {
      throw new RangeError(
        `Cannot apply "${record.report.description}": a duplicate() is already on "${ifname}" (one per link direction)`,
      );
    }
    const [dportMin, dportMax] = portRange(fault.match.ports);
    const protocol = fault.match.protocol === "udp" ? 17 : fault.match.protocol === "tcp" ? 6 : 0;
    // On the sender's own end, "from" a host is that host's address on the link.
    const source = this.#sourceOf(fault, sender, index);
    const end = { host: sender, ifname, taken: false };
    record.dups.push(end);
    record.report.duplicated ??= 0;
    await this.#agent(sender).call("dup.set", {
      ifname,
      config: { rate: fault.rate, protocol, dportMin, dportMax, source },
    });
  }

  /** Deletes a line's rules, then lets it release what it holds, and keeps its tally. */
  async stopLine(record: LineRecord, end: LineEnd): Promise<void> {
    const fault = record.report.fault as DelayFault | RateLimitFault;
    const table = lineTable(fault);
    for (const rule of end.rules.splice(0)) {
      await this.#iptables(end.host, ["-t", table, "-D", "PREROUTING", ...rule]).catch(() => {});
    }
    const kernel = await this.#queueDrops(end);
    let state: LineState;
    try {
      state = await this.#agent(end.host).call("delay.stop", {
        queue: end.queue,
        mode: "drain",
        timeoutMs: drainMs(fault),
      }) as LineState;
    } catch (error) {
      // The agent is gone, and its namespace with the queue: the kernel dropped what the
      // line held, and nobody can say how much.
      state = {
        state: "failed",
        counters: { ...EMPTY_COUNTERS },
        flows: [],
        error: `its agent is gone (${error instanceof Error ? error.message : error})`,
      };
    }
    end.final = {
      counters: state.counters,
      flows: state.flows,
      queueFull: kernel.queueFull,
      overrun: Math.max(kernel.overrun, state.counters.overrun),
      error: state.state === "failed" ? state.error ?? "the line failed" : null,
    };
    const tally = record.report.line!;
    const c = state.counters;
    tally.released += c.released;
    tally.tailDropped += c.tailDropped;
    tally.queueFull += end.final.queueFull;
    tally.overrun += end.final.overrun;
    // A line that died dropped what it held (the kernel flushes its queue).
    tally.droppedAtStop += c.droppedAtStop + (state.state === "failed" ? c.held : 0);
    tally.reordered += c.reordered;
    tally.maxHeld = Math.max(tally.maxHeld, c.maxHeld);
    tally.failed ??= end.final.error;
    record.report.passed += c.released;
    record.report.dropped = tally.tailDropped + tally.queueFull + tally.overrun +
      tally.droppedAtStop;
  }

  /** The kernel's drops for a line's queue (/proc/net/netfilter/nfnetlink_queue). */
  async #queueDrops(end: LineEnd): Promise<{ queueFull: number; overrun: number }> {
    try {
      const pid = this.#tools!.agentPid(end.host);
      const text = await Deno.readTextFile(`/proc/${pid}/net/netfilter/nfnetlink_queue`);
      for (const line of text.split("\n")) {
        const f = line.trim().split(/\s+/).map(Number);
        if (f[0] === end.queue) return { queueFull: f[5] ?? 0, overrun: f[6] ?? 0 };
      }
    } catch {
      // The namespace is gone: its agent died, and the kernel with it dropped the queue.
    }
    return { queueFull: 0, overrun: 0 };
  }

  /**
   * What the line faults on `ifname` dropped of probe flow `flowId`, by cause. The
   * kernel's drops for a line's queue (full, overrun) are counted per queue: they are the
   * flow's when it alone crossed the queue, and come marked `notSplit` otherwise.
   */
  async lineDrops(flowId: number, ifname: string): Promise<FaultDrops[]> {
    const out: FaultDrops[] = [];
    for (const record of this.#records()) {
      for (const end of record.lines) {
        if (end.ifname !== ifname) continue;
        const seen = end.final ?? await this.#liveState(end);
        const f = seen.flows.find((x) => x.flowId === flowId);
        if (!f) continue;
        const { id, description } = record.report;
        if (f.tailDropped > 0) {
          out.push({
            fault: id,
            description: `${description}: tail drop`,
            packets: f.tailDropped,
            cause: "tailDrop",
          });
        }
        if (f.droppedAtStop > 0) {
          out.push({
            fault: id,
            description: `${description}: held when its line stopped`,
            packets: f.droppedAtStop,
            cause: "heldAtStop",
          });
        }
        const flows = seen.flows.filter((x) => x.received > 0).length;
        const otherPackets = seen.counters.otherPackets;
        const alone = flows === 1 && otherPackets === 0;
        const kernel = [
          ["queueFull", seen.queueFull, "queue full"],
          ["overrun", seen.overrun, "netlink overrun"],
        ] as const;
        for (const [cause, packets, what] of kernel) {
          if (packets === 0) continue;
          out.push({
            fault: id,
            description: `${description}: ${what}`,
            packets,
            cause,
            ...(alone ? {} : { notSplit: { flows, otherPackets } }),
          });
        }
      }
    }
    return out;
  }

  /** What a running line counted so far, and the kernel's drops for its queue. */
  async #liveState(end: LineEnd): Promise<Omit<LineFinal, "error">> {
    const state = await this.#agent(end.host).call("delay.read", { queue: end.queue })
      .catch(() => null) as LineState | null;
    const counters = state?.counters ?? { ...EMPTY_COUNTERS };
    const kernel = await this.#queueDrops(end);
    return {
      counters,
      flows: state?.flows ?? [],
      queueFull: kernel.queueFull,
      overrun: Math.max(kernel.overrun, counters.overrun),
    };
  }
}

const EMPTY_COUNTERS: LineCounters = {
  received: 0,
  released: 0,
  tailDropped: 0,
  droppedAtStop: 0,
  held: 0,
  reordered: 0,
  overrun: 0,
  latenessSumNs: 0,
  latenessMaxNs: 0,
  socketErrors: 0,
  unattributed: 0,
  otherPackets: 0,
  guardNs: 0,
  maxHeld: 0,
};

/** A delay line tally with nothing in it yet. */
export function emptyTally(): LineTally {
  return {
    released: 0,
    tailDropped: 0,
    queueFull: 0,
    overrun: 0,
    droppedAtStop: 0,
    reordered: 0,
    maxHeld: 0,
    failed: null,
  };
}
