/**
 * Checks, before anything is created, that this machine can run a scenario.
 *
 * @module
 */

import { EnvironmentError, PrivilegeError } from "../core/errors.ts";
import type { NetworkKind } from "../scenario/topology.ts";

const TOOLS: Record<string, string> = {
  ip: "iproute2",
  nsenter: "util-linux",
  unshare: "util-linux",
  setpriv: "util-linux",
};

/** Throws a {@linkcode PrivilegeError} or {@linkcode EnvironmentError} with a hint. */
export function checkEnvironment(network: NetworkKind): void {
  const needed = network === "namespaces" ? Object.keys(TOOLS) : ["setpriv"];
  const missing = needed.filter((tool) => findOnPath(tool) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((t) => TOOLS[t]))].join(" ");
    throw new EnvironmentError(
      `Cannot run a ${network} scenario: ${
        missing.map((t) => `"${t}"`).join(", ")
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
