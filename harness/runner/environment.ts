/**
 * Checks, before anything is created, that this machine can run a scenario.
 *
 * @module
 */

import { EnvironmentError, PrivilegeError } from "../core/errors.ts";
import type { NetworkKind } from "../scenario/topology.ts";
import type { ValidScenario } from "../scenario/scenario.ts";
import { linkFaults } from "../scenario/topology.ts";
import { isLineFault } from "../scenario/faults.ts";

/** Each tool squall runs, the Debian package it comes in, and what needs it. */
const TOOLS: Record<string, { pkg: string; why: string }> = {
  setpriv: { pkg: "util-linux", why: "every agent and program is started through it" },
  setsid: { pkg: "util-linux", why: "agents run in a session of their own" },
  ip: { pkg: "iproute2", why: "links are made with it" },
  unshare: { pkg: "util-linux", why: "each host's namespace is made with it" },
  nsenter: { pkg: "util-linux", why: "programs under test join their host's namespace with it" },
  ss: { pkg: "iproute2", why: "programs under test and bind churn look up port holders with it" },
  iptables: {
    pkg: "iptables",
    why: "delays and rate limits queue packets to their delay line with it",
  },
};

/** What a scenario needs of the machine, from its declaration. */
export interface EnvironmentNeeds {
  /** How hosts are made. */
  network: NetworkKind;
  /**
   * Whether it may start programs under test or bind churns: any declared, or a scenario
   * function (which may start them with `t.start`).
   */
  programs: boolean;
  /**
   * Whether it declares delays or rate limits on links (a scenario function that applies
   * them finds out when it does).
   * @default {false}
   */
  delays?: boolean;
}

/** The tools a scenario needs, by name. */
export function toolsNeeded(needs: EnvironmentNeeds): string[] {
  const tools = ["setpriv", "setsid"];
  if (needs.network === "namespaces") tools.push("ip", "unshare", "nsenter");
  if (needs.programs) tools.push("ss");
  if (needs.delays && needs.network === "namespaces") tools.push("iptables");
  return tools;
}

/** Tools only some scenarios need: a scenario that needs one may be skipped without it. */
const OPTIONAL_TOOLS = new Set(["iptables"]);

/**
 * Why a scenario with these needs cannot run here because of optional tools alone
 * (iptables for delays), with the package to install; undefined when nothing optional is
 * missing, or something every scenario needs is missing too.
 */
export function unavailableBecause(needs: EnvironmentNeeds): string | undefined {
  const missing = toolsNeeded(needs).filter((tool) => findOnPath(tool) === undefined);
  if (missing.length === 0 || !missing.every((t) => OPTIONAL_TOOLS.has(t))) return undefined;
  return `${
    missing.map((t) => `"${t}" (${TOOLS[t]!.why})`).join(", ")
  } not found on PATH; apt-get install ${
    [...new Set(missing.map((t) => TOOLS[t]!.pkg))].join(" ")
  }`;
}

/**
 * Throws a {@linkcode PrivilegeError} or {@linkcode EnvironmentError} with a hint when
 * this machine cannot run a scenario with these needs: every tool it will run is
 * checked now, before anything is created.
 */
export function checkEnvironment(needs: EnvironmentNeeds): void {
  const { network } = needs;
  const missing = toolsNeeded(needs).filter((tool) => findOnPath(tool) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((t) => TOOLS[t]!.pkg))].join(" ");
    throw new EnvironmentError(
      `Cannot run a ${network} scenario: ${
        missing.map((t) => `"${t}" (${TOOLS[t]!.why})`).join(", ")
      } not found on PATH`,
      `install them: apt-get install ${packages}`,
    );
  }
  if (network === "namespaces" && Deno.uid() !== 0) {
    throw new PrivilegeError(
      `Cannot create network namespaces: squall runs as uid ${Deno.uid()}, not root`,
      `run it as root (sudo -E env PATH="$PATH" deno task squall run ...), or give the scenario network: "loopback"`,
    );
  }
}

/** What a validated scenario needs of the machine. */
export function needsOf(v: ValidScenario): EnvironmentNeeds {
  const programs = typeof v.scenario.fn === "function" ||
    v.workloads.some(({ placement }) =>
      placement.run.kind === "exec" || placement.run.kind === "bindChurn"
    );
  const delays = v.links.some((link) => linkFaults(link).some(isLineFault));
  return { network: v.network, programs, delays };
}

/** The full path of an executable on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const path = `${dir}/${name}`;
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
}
