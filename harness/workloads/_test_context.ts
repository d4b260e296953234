// What the workload kinds' tests share: the runner's view of a small network, and a
// workload's validation problems as lines.

import { planTopology, resolveTarget } from "../scenario/topology.ts";
import { type ResolveContext, validateWorkload } from "./kinds.ts";

/** A workload's validation problems at "w", one `where: message` line each. */
export const messages = (spec: unknown): string[] =>
  validateWorkload(spec, "w").map((p) => `${p.where}: ${p.message}`);

/** A two-host network (client 198.18.0.1, server 198.18.0.2) or loopback, as the runner sees it. */
export function context(network: "namespaces" | "loopback", host: string): ResolveContext {
  const plan = network === "loopback"
    ? planTopology("loopback", ["local"], [], "c0ffee")
    : planTopology("namespaces", ["client", "server"], [["client", "server"]], "c0ffee");
  return {
    network,
    host,
    hostname: network === "loopback" ? "127.0.0.1" : "0.0.0.0",
    resolveTarget: (target) => resolveTarget(plan, host, target),
    tools: { setpriv: "/usr/bin/setpriv", ss: "/usr/bin/ss", nsenter: "/usr/bin/nsenter" },
    mayRun: new Set(["/usr/bin/ss"]),
    agentPid: 4242,
  };
}
