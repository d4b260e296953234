// Applies faults to links and removes them: picks the dropper on the receiving end of
// each direction, a free rule slot there, turns the fault into a rule with a kernel-time
// window (both ends switch at one instant), and keeps the fault timeline (each edge when
// asked and when it took effect) and what each fault dropped, per direction and per
// probe flow. A delay or a rate limit is a delay line instead: the receiving host's agent
// starts one on a fresh NFQUEUE queue, and the runner adds the iptables rules that feed
// it in that namespace (`nsenter -t <agent pid> -n iptables ...`; agents run no
// programs). A duplicate is the tc duplicator on the sender's egress. The rules, queues
// and programs go with the namespace, which dies with its agent.

import type { AgentConnection } from "./agent_connection.ts";
import { tryParseDuration } from "../core/duration.ts";
import { ScenarioError } from "../core/errors.ts";
import {
  blackhole,
  type DelayFault,
  describeFault,
  type DuplicateFault,
  type Fault,
  isLineFault,
  portRange,
  type RateLimitFault,
} from "../scenario/faults.ts";
import { emptyTally, LineFaults, type LineRecord, type LineTools } from "./_line_faults.ts";
import type { FaultDrops } from "../measure/loss_ledger.ts";
import type { FaultReport } from "./report.ts";
import type { RunEvent } from "./events.ts";
import { type AppliedFault, validateLinkFault } from "../scenario/scenario.ts";
import type { Plan } from "../scenario/topology.ts";
import { isIpv4 } from "../core/addresses.ts";
import { DropperMaps, type RuleTally } from "../kernel/xdp_dropper.ts";
import {
  type AttachReply,
  fromWire,
  toWire,
  type WireRule,
  type WriteReply,
} from "../agent/droppers.ts";
import type { DropperFiles } from "./backend.ts";
import { FaultClock } from "./_fault_clock.ts";
import { type RuleEnd, WindowedFault } from "./_fault_edges.ts";
import {
  chance,
  type Rule,
  SQ_MAX_RULES,
  SQ_MODE_BERNOULLI,
  SQ_MODE_BLACKHOLE,
  SQ_MODE_GILBERT,
  SQ_PROTO_ANY,
  SQ_PROTO_TCP,
  SQ_PROTO_UDP,
} from "../kernel/xdp_layout.ts";

interface End {
  host: string;
  ifname: string;
  slot: number;
  tally?: RuleTally;
}

interface FaultRecord extends LineRecord {
  ends: End[];
  /** Removes a delay line or duplicate fault at the end of its duration. */
  timer?: ReturnType<typeof setTimeout>;
  /** Its rules, switched at kernel time; undefined until they are written. */
  windowed?: WindowedFault;
  /** Ends the wait for a planned end (a duration) when the fault is removed first. */
  planned?: AbortController;
  removing?: Promise<void>;
}

/** The run events the fault manager emits. */
type FaultEvent = Extract<RunEvent, { type: "fault-applied" | "fault-removed" }>;

/** Options of {@linkcode FaultManager.apply}. */
export interface ApplyFaultOptions {
  /**
   * How long it lasts, ms: the droppers end it themselves at that kernel time (both ends
   * at once), and it is then removed. A blackhole's own `for` counts too (the shorter).
   * @default {undefined} until removed
   */
  forMs?: number;
}

/**
 * The faults of one run. Every fault is dropper rules on the receiving ends of its link,
 * switched at kernel time (see _fault_edges.ts): both directions take effect at one
 * instant a little after they are asked for, and end at one instant.
 */
export class FaultManager {
  #plan: Plan;
  #agent: (host: string) => AgentConnection;
  #now: () => number;
  #startMs: () => number;
  #emit: (event: FaultEvent) => void;
  #records: FaultRecord[] = [];
  #slots = new Map<string, Set<number>>();
  #clock: FaultClock | undefined;
  /** Each interface's dropper maps, opened here by id at setup. */
  #maps = new Map<string, DropperMaps>();
  #lines: LineFaults;

  /**
   * `now`: ms since the run started; `startMs`: `performance.now()` when it started (for
   * kernel time in the run's ms); `tools`: what puts delay lines' rules in a namespace.
   */
  constructor(
    plan: Plan,
    agent: (host: string) => AgentConnection,
    now: () => number,
    emit: (event: FaultEvent) => void,
    startMs: () => number = () => performance.now() - now(),
    tools?: LineTools,
  ) {
    this.#plan = plan;
    this.#lines = new LineFaults(plan, agent, tools, {
      interfaceOf: (host, link) => this.#interface(host, link),
      sourceOf: (fault, sender, link) => this.#source(fault, sender, link),
    }, () => this.#records);
    this.#agent = agent;
    this.#now = now;
    this.#emit = emit;
    this.#startMs = startMs;
  }

  /**
   * Attaches a dropper to every interface of every host at the end of a link (their
   * programs load from the agents' start on), and opens their maps here by id, so a
   * fault later is map writes from this process: both ends written within microseconds,
   * whatever the agents are doing. Called at setup when faults can come.
   */
  async attachDroppers(files: DropperFiles): Promise<void> {
    const hosts = this.#plan.hosts.filter((h) => h.interfaces.length > 0);
    await Promise.all(hosts.flatMap((h) =>
      h.interfaces.map(async (i) => {
        const reply = await this.#agent(h.name).call("dropper.attach", {
          ifname: i.name,
        }) as AttachReply;
        this.#maps.set(
          i.name,
          DropperMaps.open(i.name, reply.maps, {
            libbpfPath: files.libbpfPath,
            libcPath: files.libcPath,
          }),
        );
      })
    ));
    // Warm the path a fault's writes take (the first run of that code took 0.3 ms a
    // write here, ten times a warm one), on a slot no fault takes until 16 are on, with a
    // rule that never applies; and learn how long a write takes to land, for the lead.
    const clock = this.#kernelClock();
    const spare = SQ_MAX_RULES - 1;
    const never = toRule(blackhole({ protocol: "udp", ports: 9 }), "0.0.0.1");
    for (let round = 0; round < 3; round++) {
      for (const [ifname, maps] of this.#maps) {
        const write = this.#writer(ifname);
        const sentNs = clock.nowNs();
        const reply = await write("dropper.set", {
          ifname,
          slot: spare,
          rule: toWire({ ...never, activeFromNs: sentNs, activeUntilNs: 0n }),
        }) as WriteReply;
        clock.noteWrite(sentNs, BigInt(reply.writtenNs));
        await write("dropper.window", { ifname, slot: spare, fromNs: "0", untilNs: "0" });
        maps.takeRule(spare);
      }
    }
  }

  /**
   * Closes the maps opened by {@linkcode FaultManager.attachDroppers} and the kernel
   * clock (after removeAll).
   */
  close(): void {
    for (const maps of this.#maps.values()) maps[Symbol.dispose]();
    this.#maps.clear();
    this.#clock?.[Symbol.dispose]();
    this.#clock = undefined;
  }

  /** Applies `fault` to link `index`; throws a ScenarioError for an invalid fault. */
  async apply(
    index: number,
    fault: Fault,
    where: string,
    options: ApplyFaultOptions = {},
  ): Promise<AppliedFault> {
    const link = this.#plan.links[index]!;
    const problems = validateLinkFault(fault, link.hosts, where);
    if (problems.length > 0) throw new ScenarioError(problems);
    const [a, b] = link.hosts;
    const directions = fault.direction === "both" ? ["forward", "reverse"] : [fault.direction];
    const id = this.#records.length + 1;
    const description = describeFault(fault, link.hosts);
    const askedAtMs = this.#now();
    const record: FaultRecord = {
      report: {
        id,
        description,
        link: [a, b],
        kind: fault.kind,
        direction: fault.direction,
        fault,
        askedAtMs,
        appliedAtMs: askedAtMs,
        removeAskedAtMs: null,
        removedAtMs: null,
        passed: 0,
        dropped: 0,
        directions: [],
      },
      ends: [],
      lines: [],
      dups: [],
    };
    if (isLineFault(fault)) {
      this.#lines.checkTools(description);
      record.report.line = emptyTally();
    }
    this.#records.push(record);
    if (isLineFault(fault) || fault.kind === "duplicate") {
      return await this.#applyOutsideDroppers(record, fault, index, directions, options);
    }
    const ruleEnds: RuleEnd[] = [];
    for (const direction of directions) {
      const [sender, receiver] = direction === "forward" ? [a, b] : [b, a];
      const ifname = this.#interface(receiver, index);
      const slot = this.#allocate(ifname, description);
      const rule = toRule(fault, this.#source(fault, sender, index));
      record.ends.push({ host: receiver, ifname, slot });
      ruleEnds.push({ from: sender, to: receiver, ifname, slot, rule, call: this.#writer(ifname) });
    }
    const own = fault.kind === "blackhole" && fault.for !== null
      ? tryParseDuration(fault.for) as number
      : undefined;
    const forMs = options.forMs === undefined
      ? own
      : own === undefined
      ? options.forMs
      : Math.min(own, options.forMs);
    const clock = this.#kernelClock();
    const windowed = await WindowedFault.apply(
      clock,
      ruleEnds,
      forMs === undefined ? {} : { forNs: BigInt(Math.round(forMs * 1e6)) },
    );
    record.windowed = windowed;
    record.report.askedAtMs = clock.toRunMs(windowed.start.askedNs);
    record.report.appliedAtMs = clock.toRunMs(windowed.start.effectiveNs);
    this.#emit({ type: "fault-applied", id, description });
    if (forMs !== undefined) {
      // The droppers end it at its planned end; then its rules are taken.
      const planned = record.planned = new AbortController();
      windowed.plannedEnd(planned.signal).then(() => this.#remove(record)).catch(() => {});
    }
    const remove = () => this.#remove(record);
    return { id, remove, [Symbol.asyncDispose]: remove };
  }

  /**
   * Resolves once fault `id`, applied with a duration, has ended in the kernel (its
   * rules may still be being taken); rejects with the signal's reason if it aborts first.
   */
  async ended(id: number, signal?: AbortSignal): Promise<void> {
    const record = this.#records[id - 1];
    if (!record?.windowed) throw new RangeError(`Cannot wait for fault ${id}: not applied`);
    await record.windowed.plannedEnd(signal);
  }

  /** Removes every fault still on (at teardown). */
  async removeAll(): Promise<void> {
    await Promise.allSettled(this.#records.map((r) => this.#remove(r)));
  }

  /** The fault timeline. */
  reports(): FaultReport[] {
    return this.#records.map((r) => r.report);
  }

  /** What every fault dropped of probe flow `flowId` on interface `ifname`. */
  async dropsFor(flowId: number, ifname: string): Promise<FaultDrops[]> {
    return [
      ...(await this.#dropperDrops(flowId, ifname)),
      ...(await this.#lines.lineDrops(flowId, ifname)),
    ];
  }

  async #dropperDrops(flowId: number, ifname: string): Promise<FaultDrops[]> {
    const onIf = this.#records.filter((r) => r.ends.some((e) => e.ifname === ifname));
    if (onIf.length === 0) return [];
    const end0 = onIf[0]!.ends.find((e) => e.ifname === ifname)!;
    const maps = this.#maps.get(ifname);
    const live = onIf.some((r) => r.ends.some((e) => e.ifname === ifname && !e.tally))
      ? maps
        ? { flows: maps.flowDrops() }
        : await this.#agent(end0.host).call("dropper.read", { ifname }) as
          | { flows: { flowId: number; rule: number; packets: number }[] }
          | null
      : null;
    return onIf.map((r) => {
      const end = r.ends.find((e) => e.ifname === ifname)!;
      const flows = end.tally
        ? end.tally.flows
        : (live?.flows ?? []).filter((f) => f.rule === end.slot);
      const packets = flows.filter((f) => f.flowId === flowId).reduce((n, f) => n + f.packets, 0);
      return { fault: r.report.id, description: r.report.description, packets };
    });
  }

  /** Applies a delay line or duplicate fault (no dropper rule, no kernel-time window). */
  async #applyOutsideDroppers(
    record: FaultRecord,
    fault: DelayFault | RateLimitFault | DuplicateFault,
    index: number,
    directions: string[],
    options: ApplyFaultOptions,
  ): Promise<AppliedFault> {
    for (const direction of directions) {
      if (fault.kind === "duplicate") {
        await this.#lines.startDuplicator(record, fault, index, direction);
      } else await this.#lines.startLine(record, fault, index, direction);
    }
    const { id, description } = record.report;
    record.report.appliedAtMs = this.#now();
    this.#emit({ type: "fault-applied", id, description });
    if (options.forMs !== undefined) {
      record.timer = setTimeout(() => this.#remove(record).catch(() => {}), options.forMs);
    }
    const remove = () => this.#remove(record);
    return { id, remove, [Symbol.asyncDispose]: remove };
  }

  /** Stops a delay line or duplicate fault's lines and duplicators, keeping their tallies. */
  async #removeOutsideDroppers(record: FaultRecord): Promise<void> {
    record.report.removeAskedAtMs = this.#now();
    for (const end of record.lines) await this.#lines.stopLine(record, end);
    for (const end of record.dups) {
      const tally = await this.#agent(end.host).call("dup.take", { ifname: end.ifname }) as {
        matched: number;
        duplicated: number;
      };
      end.taken = true;
      record.report.passed += tally.matched;
      record.report.duplicated = (record.report.duplicated ?? 0) + tally.duplicated;
    }
    record.report.removedAtMs = this.#now();
    this.#emit({
      type: "fault-removed",
      id: record.report.id,
      description: record.report.description,
      dropped: record.report.dropped,
      ...(record.report.line ? { line: record.report.line } : {}),
      ...(record.report.duplicated !== undefined ? { duplicated: record.report.duplicated } : {}),
    });
  }

  #remove(record: FaultRecord): Promise<void> {
    record.removing ??= (async () => {
      record.planned?.abort();
      clearTimeout(record.timer);
      if (record.lines.length > 0 || record.dups.length > 0) {
        return await this.#removeOutsideDroppers(record);
      }
      const windowed = record.windowed;
      if (!windowed) return; // its writes failed: nothing is on
      const clock = this.#kernelClock();
      const tallies = await windowed.remove();
      const edge = windowed.endEdge!;
      for (const [i, { end, tally, firstDropSeen, lastDropSeen }] of tallies.entries()) {
        const own = record.ends.find((e) => e.ifname === end.ifname && e.slot === end.slot)!;
        own.tally = tally;
        this.#slots.get(end.ifname)?.delete(end.slot);
        record.report.passed += tally.passed.packets;
        record.report.dropped += tally.dropped.packets;
        const at = (ns: number | null) => ns === null ? null : clock.toRunMs(BigInt(ns));
        record.report.directions.push({
          from: end.from,
          to: end.to,
          appliedAtMs: clock.toRunMs(windowed.start.perEndNs[i]!),
          removedAtMs: clock.toRunMs(edge.perEndNs[i]!),
          passed: tally.passed.packets,
          dropped: tally.dropped.packets,
          beforeAtMs: at(tally.beforeNs),
          firstDropAtMs: firstDropSeen ? at(tally.firstDropNs) : null,
          lastDropAtMs: lastDropSeen ? at(tally.lastDropNs) : null,
          afterAtMs: at(tally.afterNs),
        });
      }
      record.report.removeAskedAtMs = clock.toRunMs(edge.askedNs);
      record.report.removedAtMs = clock.toRunMs(edge.effectiveNs);
      this.#emit({
        type: "fault-removed",
        id: record.report.id,
        description: record.report.description,
        dropped: record.report.dropped,
      });
    })();
    return record.removing;
  }

  /**
   * How an end's rule is written: here, into the maps opened by id (microseconds, the
   * same calls as the agent's `dropper.*`), or through the agent when they are not open.
   */
  #writer(ifname: string): RuleEnd["call"] {
    return (method, params) => {
      const maps = this.#maps.get(ifname);
      if (!maps) {
        const host = this.#plan.hosts.find((h) => h.interfaces.some((i) => i.name === ifname))!;
        return this.#agent(host.name).call(method, params);
      }
      const slot = Number(params.slot);
      switch (method) {
        case "dropper.set":
          maps.setRule(slot, fromWire(params.rule as WireRule));
          break;
        case "dropper.window": {
          const window: { fromNs?: bigint; untilNs?: bigint } = {};
          if (params.fromNs !== undefined) window.fromNs = BigInt(String(params.fromNs));
          if (params.untilNs !== undefined) window.untilNs = BigInt(String(params.untilNs));
          maps.setWindow(slot, window);
          break;
        }
        case "dropper.take":
          return Promise.resolve(maps.takeRule(slot));
        default:
          return Promise.reject(new TypeError(`Unknown method "${method}"`));
      }
      return Promise.resolve({ writtenNs: String(maps.nowNs()) });
    };
  }

  /** Kernel time for this run, made on first use (the run has started by then). */
  #kernelClock(): FaultClock {
    this.#clock ??= new FaultClock(this.#startMs());
    return this.#clock;
  }

  #interface(host: string, link: number): string {
    return this.#plan.hosts.find((h) => h.name === host)!.interfaces.find((i) => i.link === link)!
      .name;
  }

  #source(fault: Fault, sender: string, link: number): string | undefined {
    const from = fault.match.from;
    if (from === undefined) return undefined;
    if (isIpv4(from)) return from;
    const host = this.#plan.hosts.find((h) => h.name === from)!;
    // A host name means its address on this link; from the receiver it never matches.
    return from === sender ? host.interfaces.find((i) => i.link === link)!.address : "0.0.0.1";
  }

  #allocate(ifname: string, description: string): number {
    const used = this.#slots.get(ifname) ?? new Set<number>();
    this.#slots.set(ifname, used);
    for (let slot = 0; slot < SQ_MAX_RULES; slot++) {
      if (!used.has(slot)) {
        used.add(slot);
        return slot;
      }
    }
    throw new RangeError(
      `Cannot apply "${description}": ${SQ_MAX_RULES} faults are already on "${ifname}"`,
    );
  }
}

/** Turns a (valid) dropper fault into a dropper rule; `source` is an IPv4 address or any. */
export function toRule(
  fault: Exclude<Fault, DelayFault | RateLimitFault | DuplicateFault>,
  source: string | undefined,
): Rule {
  const [dportMin, dportMax] = portRange(fault.match.ports);
  const protocol = fault.match.protocol === "udp"
    ? SQ_PROTO_UDP
    : fault.match.protocol === "tcp"
    ? SQ_PROTO_TCP
    : SQ_PROTO_ANY;
  const base = {
    protocol,
    srcAddr: source ?? "0.0.0.0",
    srcMask: source === undefined ? "0.0.0.0" : "255.255.255.255",
    dportMin,
    dportMax,
    lossGood: 0,
    lossBad: 0,
    pEnterBad: 0,
    pLeaveBad: 0,
  };
  switch (fault.kind) {
    case "loss":
      return { ...base, mode: SQ_MODE_BERNOULLI, lossGood: chance(fault.rate) };
    case "burstLoss":
      return {
        ...base,
        mode: SQ_MODE_GILBERT,
        lossGood: chance(fault.lossGood),
        lossBad: chance(fault.lossBad),
        pEnterBad: chance(fault.p),
        pLeaveBad: chance(fault.r),
      };
    case "blackhole":
      return { ...base, mode: SQ_MODE_BLACKHOLE };
  }
}
