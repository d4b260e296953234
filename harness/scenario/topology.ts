/**
 * Topology as data: hosts by role name, links between them, and the plan that gives
 * every link end an interface name, an address from 198.18.0.0/15 and a MAC address.
 * Planning is pure; {@linkcode ../runner/netns.ts} brings a plan to life.
 *
 * @module
 */

import type { Problem } from "../core/errors.ts";
import type { Fault } from "./faults.ts";
import { isIpv4, isLoopbackIpv4, type Target } from "../core/addresses.ts";

/**
 * How hosts are made: network namespaces (needs root), or one host on loopback.
 *
 * @example
 * ```ts
 * import type { NetworkKind } from "./topology.ts";
 * import { scenario } from "./scenario.ts";
 * const network: NetworkKind = "loopback"; // no root needed: one host on 127.0.0.1
 * const s = scenario("anywhere", { network, hosts: ["local"] });
 * console.assert(s.options.network === network);
 * ```
 */
export type NetworkKind = "namespaces" | "loopback";

/**
 * A link between two hosts, by name: `["client", "server"]`, or with faults on it:
 * `{ between: ["client", "server"], faults: [loss(0.1)] }`.
 *
 * @example
 * ```ts
 * import type { LinkOptions } from "./topology.ts";
 * import { loss } from "./faults.ts";
 * const links: LinkOptions[] = [
 *   ["client", "router"],
 *   { between: ["router", "server"], faults: [loss(0.05, { direction: "forward" })] },
 * ];
 * ```
 */
export type LinkOptions = readonly [string, string] | {
  /** The two hosts; a fault's `"forward"` direction is from the first to the second. */
  between: readonly [string, string];
  /**
   * Faults applied from the start of the run.
   * @default {[]}
   */
  faults?: readonly Fault[];
};

/** The two host names of a link. */
export function linkEnds(link: LinkOptions): readonly [string, string] {
  return Array.isArray(link)
    ? link as readonly [string, string]
    : (link as { between: readonly [string, string] }).between;
}

/** The faults a link carries from the start. */
export function linkFaults(link: LinkOptions): readonly Fault[] {
  return Array.isArray(link) ? [] : (link as { faults?: readonly Fault[] }).faults ?? [];
}

/**
 * One end of a planned link, as seen from its host.
 *
 * @example
 * ```ts
 * import type { PlannedInterface } from "./topology.ts";
 * // The client's end of the first link of run 585e7a.
 * const end: PlannedInterface = {
 *   name: "sq-585e7a-0a",
 *   address: "198.18.0.1",
 *   prefixLength: 30,
 *   mac: "02:73:71:00:00:0a",
 *   link: 0,
 *   peerHost: "server",
 *   peerAddress: "198.18.0.2",
 *   peerMac: "02:73:71:00:00:0b",
 * };
 * console.assert(`${end.address}/${end.prefixLength}` === "198.18.0.1/30");
 * ```
 */
export interface PlannedInterface {
  /** Interface name inside the host's namespace, e.g. `sq-3fa9c1-0a`. */
  name: string;
  /** IPv4 address of this end. */
  address: string;
  /** Prefix length of the link's subnet. */
  prefixLength: number;
  /** MAC address of this end. */
  mac: string;
  /** Index of the link in the scenario's `links`. */
  link: number;
  /** The host at the other end. */
  peerHost: string;
  /** Address of the other end. */
  peerAddress: string;
  /** MAC address of the other end, installed as a static neighbour. */
  peerMac: string;
}

/**
 * A host of the plan.
 *
 * @example
 * ```ts
 * import type { PlannedHost } from "./topology.ts";
 * const host: PlannedHost = { name: "local", address: "127.0.0.1", interfaces: [] };
 * console.assert(host.interfaces.length === 0); // loopback: no links
 * ```
 */
export interface PlannedHost {
  /** Role name, e.g. `client`. */
  name: string;
  /** The host's main address: its first link end, or 127.0.0.1 on loopback. */
  address: string;
  /** Its link ends, in link order. */
  interfaces: PlannedInterface[];
}

/**
 * A link of the plan.
 *
 * @example
 * ```ts
 * import type { PlannedLink } from "./topology.ts";
 * const link: PlannedLink = {
 *   index: 0,
 *   subnet: "198.18.0.0/30",
 *   hosts: ["client", "server"],
 *   interfaces: ["sq-585e7a-0a", "sq-585e7a-0b"],
 * };
 * console.assert(link.hosts.join(" ↔ ") === "client ↔ server");
 * ```
 */
export interface PlannedLink {
  /** Index in the scenario's `links`. */
  index: number;
  /** Subnet in CIDR notation. */
  subnet: string;
  /** Host names of the two ends. */
  hosts: [string, string];
  /** Interface names of the two ends. */
  interfaces: [string, string];
}

/**
 * Everything needed to build a topology: names and addresses of every host and link.
 *
 * @example
 * ```ts
 * import type { Plan } from "./topology.ts";
 * function describe(plan: Plan): string[] {
 *   return plan.links.map((l) => `${l.hosts[0]} ↔ ${l.hosts[1]}  ${l.subnet}`);
 * }
 * const plan: Plan = { runId: "585e7a", network: "loopback", hosts: [], links: [] };
 * console.assert(describe(plan).length === 0);
 * ```
 */
export interface Plan {
  /** The per-run id carried by every name, 6 hex digits. */
  runId: string;
  /** How hosts are made. */
  network: NetworkKind;
  /** Hosts in declaration order. */
  hosts: PlannedHost[];
  /** Links in declaration order. */
  links: PlannedLink[];
}

/** The test range, RFC 2544: 198.18.0.0/15. */
export const TEST_RANGE = "198.18.0.0/15";
/** Loopback, which every agent may use. */
export const LOOPBACK_RANGE = "127.0.0.0/8";
/** Most links a scenario may have (interface names must fit 15 characters). */
export const MAX_LINKS = 1000;
/**
 * What one host costs: its agent's resident memory. Measured with `/proc/<pid>/status`
 * during a run (2026-12): 41 MB for an idle agent, 51-64 MB for one running a probe or
 * an echo; this is the busy figure, rounded up.
 */
export const AGENT_MEMORY_BYTES = 64 * 2 ** 20;
/** Most hosts whatever the memory (every host has at least one agent and one process). */
export const MAX_HOSTS = 1000;

/**
 * Most hosts a scenario may have on a machine with `memoryBytes` of memory: as many
 * agents as fit in half of it (the rest is for the runner, programs under test and the
 * system), and never more than {@linkcode MAX_HOSTS}.
 *
 * @example
 * ```ts
 * import { hostLimit } from "./topology.ts";
 * console.assert(hostLimit(24 * 2 ** 30) === 192);
 * ```
 */
export function hostLimit(memoryBytes: number): number {
  return Math.max(1, Math.min(MAX_HOSTS, Math.floor(memoryBytes / 2 / AGENT_MEMORY_BYTES)));
}

/** This machine's memory in bytes, or null when it cannot be read. */
export function machineMemoryBytes(): number | null {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return null; // No --allow-sys: only the fixed limit is checked.
  }
}
const BASE = ipToNumber("198.18.0.0");
const HOST_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** Makes a new run id: 6 random hex digits. */
export function newRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks hosts and links; returns every problem. The number of hosts is checked against
 * what `memoryBytes` (this machine's memory, by default) can hold.
 */
export function validateTopology(
  network: unknown,
  hosts: unknown,
  links: unknown,
  where: string,
  memoryBytes: number | null = machineMemoryBytes(),
): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) =>
    problems.push({ where: `${where}.${field}`, message });
  if (network !== undefined && network !== "namespaces" && network !== "loopback") {
    add("network", `expected "namespaces" or "loopback", got ${JSON.stringify(network)}`);
  }
  if (!Array.isArray(hosts) || hosts.length === 0) {
    add("hosts", 'expected a non-empty array of host names, such as ["client", "server"]');
    return problems;
  }
  const limit = memoryBytes === null ? MAX_HOSTS : hostLimit(memoryBytes);
  if (hosts.length > limit) {
    add(
      "hosts",
      memoryBytes === null || limit === MAX_HOSTS
        ? `at most ${MAX_HOSTS} hosts, got ${hosts.length}`
        : `at most ${limit} hosts on this machine, got ${hosts.length}: each host's agent takes about ${
          AGENT_MEMORY_BYTES / 2 ** 20
        } MiB, and squall uses at most half of this machine's ${
          (memoryBytes / 2 ** 30).toFixed(1)
        } GiB for them`,
    );
  }
  const seen = new Set<string>();
  hosts.forEach((name, i) => {
    if (typeof name !== "string" || !HOST_NAME.test(name)) {
      add(
        `hosts[${i}]`,
        `host name must be lowercase letters, digits, "-" or "_", starting with a letter (at most 32), got ${
          JSON.stringify(name)
        }`,
      );
    } else if (seen.has(name)) {
      add(`hosts[${i}]`, `duplicate host name "${name}"`);
    } else seen.add(name);
  });
  if (network === "loopback") {
    if (hosts.length !== 1) {
      add("hosts", `a loopback network has exactly one host, got ${hosts.length}`);
    }
    if (Array.isArray(links) && links.length > 0) add("links", "a loopback network has no links");
    return problems;
  }
  if (links === undefined) return problems;
  if (!Array.isArray(links)) {
    add("links", 'expected an array of host pairs, such as [["client", "server"]]');
    return problems;
  }
  if (links.length > MAX_LINKS) add("links", `at most ${MAX_LINKS} links, got ${links.length}`);
  const pairs = new Set<string>();
  links.forEach((link, i) => {
    const ends = Array.isArray(link) ? link : link?.between;
    if (!Array.isArray(ends) || ends.length !== 2) {
      add(
        `links[${i}]`,
        'expected a pair of host names, such as ["client", "server"], or { between: [a, b], faults }',
      );
      return;
    }
    if (!Array.isArray(link) && link.faults !== undefined && !Array.isArray(link.faults)) {
      add(`links[${i}].faults`, "expected an array of faults, such as [loss(0.1)]");
    }
    const [a, b] = ends;
    for (const end of [a, b]) {
      if (!seen.has(end)) {
        add(`links[${i}]`, `unknown host ${JSON.stringify(end)} (hosts: ${[...seen].join(", ")})`);
      }
    }
    if (a === b) add(`links[${i}]`, `a link joins two different hosts, got "${a}" twice`);
    const key = [a, b].sort().join("\u0000");
    if (pairs.has(key)) add(`links[${i}]`, `duplicate link between "${a}" and "${b}"`);
    pairs.add(key);
  });
  return problems;
}

/** Plans a (valid) topology: names, addresses and MACs for every link end. */
export function planTopology(
  network: NetworkKind,
  hosts: readonly string[],
  links: readonly LinkOptions[],
  runId: string,
): Plan {
  const planned = new Map<string, PlannedHost>(
    hosts.map((name) => [name, { name, address: "", interfaces: [] }]),
  );
  const plannedLinks: PlannedLink[] = [];
  links.forEach((link, index) => {
    const [a, b] = linkEnds(link);
    const base = BASE + index * 4;
    const ends = [
      {
        host: a,
        address: numberToIp(base + 1),
        mac: macOf(index, 0xa),
        name: `sq-${runId}-${index}a`,
      },
      {
        host: b,
        address: numberToIp(base + 2),
        mac: macOf(index, 0xb),
        name: `sq-${runId}-${index}b`,
      },
    ] as const;
    for (const [self, peer] of [[ends[0], ends[1]], [ends[1], ends[0]]] as const) {
      planned.get(self.host)!.interfaces.push({
        name: self.name,
        address: self.address,
        prefixLength: 30,
        mac: self.mac,
        link: index,
        peerHost: peer.host,
        peerAddress: peer.address,
        peerMac: peer.mac,
      });
    }
    plannedLinks.push({
      index,
      subnet: `${numberToIp(base)}/30`,
      hosts: [a, b],
      interfaces: [ends[0].name, ends[1].name],
    });
  });
  for (const host of planned.values()) {
    host.address = network === "loopback" ? "127.0.0.1" : host.interfaces[0]?.address ?? "";
  }
  return { runId, network, hosts: [...planned.values()], links: plannedLinks };
}

/**
 * Resolves a target as seen from host `from`: a host name becomes the address of that
 * host on the link they share. Returns an error message when it cannot be reached.
 */
export function resolveTarget(
  plan: Plan,
  from: string,
  target: Target,
): { address: string; port: number } | { error: string } {
  const source = plan.hosts.find((h) => h.name === from);
  if (!source) return { error: `unknown host "${from}"` };
  if (plan.network === "loopback") {
    if (target.host === from || target.host === "localhost") {
      return { address: "127.0.0.1", port: target.port };
    }
    if (isLoopbackIpv4(target.host)) return { address: target.host, port: target.port };
    return {
      error: `a loopback scenario can only reach "${from}" or 127.0.0.0/8, got "${target.host}"`,
    };
  }
  if (isIpv4(target.host)) {
    const reachable = source.interfaces.some((i) => i.peerAddress === target.host) ||
      source.interfaces.some((i) => i.address === target.host) || isLoopbackIpv4(target.host);
    if (!reachable) {
      return {
        error: `"${target.host}" is not on any link of host "${from}" (its peers: ${
          source.interfaces.map((i) => i.peerAddress).join(", ") || "none"
        })`,
      };
    }
    return { address: target.host, port: target.port };
  }
  if (target.host === from) return { address: "127.0.0.1", port: target.port };
  const link = source.interfaces.find((i) => i.peerHost === target.host);
  if (!link) {
    const known = plan.hosts.some((h) => h.name === target.host);
    return {
      error: known
        ? `no link between "${from}" and "${target.host}"`
        : `unknown host "${target.host}" (hosts: ${plan.hosts.map((h) => h.name).join(", ")})`,
    };
  }
  return { address: link.peerAddress, port: target.port };
}

/** The addresses an agent on `host` may use: its own, its peers', and the wildcard. */
export function allowedAddresses(plan: Plan, host: string): string[] {
  if (plan.network === "loopback") return [LOOPBACK_RANGE];
  const planned = plan.hosts.find((h) => h.name === host)!;
  return [
    "0.0.0.0",
    LOOPBACK_RANGE,
    ...planned.interfaces.flatMap((i) => [i.address, i.peerAddress]),
  ];
}

function macOf(link: number, end: number): string {
  const bytes = [0x02, 0x73, 0x71, (link >> 8) & 0xff, link & 0xff, end];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function ipToNumber(ip: string): number {
  return ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}
