/**
 * Brings a planned topology to life in network namespaces that belong to processes:
 * each host's namespace is created by `unshare --net` as its agent starts, and lives
 * exactly as long as the agent. Veth pairs are created directly inside the two
 * namespaces, so nothing ever exists in the host's namespace and nothing is named:
 * when the agents die, for whatever reason, the kernel removes every link.
 *
 * @module
 */

import { runCommand } from "../core/command.ts";
import type { Plan } from "../scenario/topology.ts";

/** Creates every link of `plan` between the namespaces of the given agent pids. */
export async function wireLinks(plan: Plan, pids: ReadonlyMap<string, number>): Promise<void> {
  if (plan.links.length === 0 && plan.hosts.length === 0) return;
  const pidOf = (host: string) => {
    const pid = pids.get(host);
    if (pid === undefined) throw new RangeError(`Cannot wire host "${host}": it has no agent`);
    return pid;
  };
  if (plan.links.length > 0) {
    const lines = plan.links.map((link) => {
      const [a, b] = link.hosts;
      const endA = plan.hosts.find((h) => h.name === a)!.interfaces.find((i) =>
        i.link === link.index
      )!;
      const endB = plan.hosts.find((h) => h.name === b)!.interfaces.find((i) =>
        i.link === link.index
      )!;
      return `link add ${endA.name} netns ${pidOf(a)} address ${endA.mac} type veth ` +
        `peer name ${endB.name} netns ${pidOf(b)} address ${endB.mac}`;
    });
    await runCommand("ip", ["-batch", "-"], { stdin: lines.join("\n") + "\n" });
  }
  await Promise.all(plan.hosts.map((host) => {
    const lines = ["link set lo up"];
    for (const i of host.interfaces) {
      lines.push(`addr add ${i.address}/${i.prefixLength} dev ${i.name}`);
      lines.push(`link set ${i.name} up`);
      lines.push(`neigh replace ${i.peerAddress} lladdr ${i.peerMac} dev ${i.name} nud permanent`);
    }
    return runCommand("nsenter", ["-t", String(pidOf(host.name)), "-n", "ip", "-batch", "-"], {
      stdin: lines.join("\n") + "\n",
    });
  }));
}
