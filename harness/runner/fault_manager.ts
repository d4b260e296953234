// Applies faults to links and removes them: picks the dropper on the receiving end of
// each direction, a free rule slot there, turns the fault into a rule, and keeps the
// fault timeline and what each fault dropped, per probe flow.

import type { AgentConnection } from "./agent_connection.ts";
import { tryParseDuration } from "../core/duration.ts";
import { ScenarioError } from "../core/errors.ts";
import { describeFault, type Fault, portRange } from "../scenario/faults.ts";
import type { FaultDrops } from "../measure/loss_ledger.ts";
import type { FaultReport } from "./report.ts";
import { type AppliedFault, validateLinkFault } from "../scenario/scenario.ts";
import type { Plan } from "../scenario/topology.ts";
import { isIpv4 } from "../core/addresses.ts";
import type { RuleTally } from "../kernel/xdp_dropper.ts";
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

interface FaultRecord {
  report: FaultReport;
  ends: End[];
  timer?: ReturnType<typeof setTimeout>;
  removing?: Promise<void>;
}

type FaultEvent =
  | { type: "fault-applied"; id: number; description: string }
  | { type: "fault-removed"; id: number; description: string; dropped: number };

/** The faults of one run. */
export class FaultManager {
  #plan: Plan;
  #agent: (host: string) => AgentConnection;
  #now: () => number;
  #emit: (event: FaultEvent) => void;
  #records: FaultRecord[] = [];
  #slots = new Map<string, Set<number>>();

  constructor(
    plan: Plan,
    agent: (host: string) => AgentConnection,
    now: () => number,
    emit: (event: FaultEvent) => void,
  ) {
    this.#plan = plan;
    this.#agent = agent;
    this.#now = now;
    this.#emit = emit;
  }

  /** Applies `fault` to link `index`; throws a ScenarioError for an invalid fault. */
  async apply(index: number, fault: Fault, where: string): Promise<AppliedFault> {
    const link = this.#plan.links[index]!;
    const problems = validateLinkFault(fault, link.hosts, where);
    if (problems.length > 0) throw new ScenarioError(problems);
    const [a, b] = link.hosts;
    const directions = fault.direction === "both" ? ["forward", "reverse"] : [fault.direction];
    const id = this.#records.length + 1;
    const description = describeFault(fault, link.hosts);
    const record: FaultRecord = {
      report: {
        id,
        description,
        link: [a, b],
        kind: fault.kind,
        direction: fault.direction,
        fault,
        appliedAtMs: this.#now(),
        removedAtMs: null,
        passed: 0,
        dropped: 0,
      },
      ends: [],
    };
    this.#records.push(record);
    for (const direction of directions) {
      const [sender, receiver] = direction === "forward" ? [a, b] : [b, a];
      const ifname = this.#interface(receiver, index);
      const slot = this.#allocate(ifname, description);
      const rule = toRule(fault, this.#source(fault, sender, index));
      record.ends.push({ host: receiver, ifname, slot });
      await this.#agent(receiver).call("dropper.set", { ifname, slot, rule });
    }
    record.report.appliedAtMs = this.#now();
    this.#emit({ type: "fault-applied", id, description });
    if (fault.kind === "blackhole" && fault.for !== null) {
      const ms = tryParseDuration(fault.for) as number;
      record.timer = setTimeout(() => this.#remove(record).catch(() => {}), ms);
    }
    const remove = () => this.#remove(record);
    return { id, remove, [Symbol.asyncDispose]: remove };
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
    const onIf = this.#records.filter((r) => r.ends.some((e) => e.ifname === ifname));
    if (onIf.length === 0) return [];
    const end0 = onIf[0]!.ends.find((e) => e.ifname === ifname)!;
    const live = onIf.some((r) => r.ends.some((e) => e.ifname === ifname && !e.tally))
      ? await this.#agent(end0.host).call("dropper.read", { ifname }) as
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

  #remove(record: FaultRecord): Promise<void> {
    if (!record.removing) {
      clearTimeout(record.timer);
      record.removing = (async () => {
        for (const end of record.ends) {
          end.tally = await this.#agent(end.host).call("dropper.take", {
            ifname: end.ifname,
            slot: end.slot,
          }) as RuleTally;
          this.#slots.get(end.ifname)?.delete(end.slot);
          record.report.passed += end.tally.passed.packets;
          record.report.dropped += end.tally.dropped.packets;
        }
        record.report.removedAtMs = this.#now();
        this.#emit({
          type: "fault-removed",
          id: record.report.id,
          description: record.report.description,
          dropped: record.report.dropped,
        });
      })();
    }
    return record.removing;
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

/** Turns a (valid) fault into a dropper rule; `source` is an IPv4 address or any. */
export function toRule(fault: Fault, source: string | undefined): Rule {
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
