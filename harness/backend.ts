/**
 * Host backends: "somewhere an agent can be started". The runner only needs a child
 * process speaking the agent protocol on stdio; how it is started (a local network
 * namespace, the host's own loopback, later ssh or kubectl exec) is the backend's
 * business.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { PlannedHost } from "./topology.ts";

/** What a backend needs to start the agent of one host. */
export interface AgentLaunch {
  /** The host. */
  host: PlannedHost;
  /** Addresses the agent may use, for `--allow-net`. */
  allowNet: readonly string[];
  /** Set when the agent may hold XDP droppers: it then gets `--allow-ffi` for these two. */
  dropper?: DropperFiles;
}

/** The files an agent needs to hold a dropper. */
export interface DropperFiles {
  /** The compiled XDP program. */
  objectPath: string;
  /** libbpf.so.1. */
  libbpfPath: string;
  /** libc.so.6. */
  libcPath: string;
}

/** Starts agents. */
export interface HostBackend {
  /** Name for the run header. */
  readonly name: string;
  /** The command line that starts the agent of a host (for the header and for tests). */
  agentCommand(launch: AgentLaunch): string[];
  /** Starts the agent of a host with piped stdio. */
  spawnAgent(launch: AgentLaunch): Deno.ChildProcess;
}

/** Path of the agent module. */
export const AGENT_PATH = fileURLToPath(new URL("./agent.ts", import.meta.url));

/** The Deno flags of an agent: no prompt, no config, only the network it needs. */
export function agentDenoArgs(launch: AgentLaunch, network: string): string[] {
  return [
    "run",
    "--no-prompt",
    "--no-config",
    "--quiet",
    "--unstable-net",
    `--allow-net=${launch.allowNet.join(",")}`,
    ...(network === "namespaces" ? ["--allow-sys=networkInterfaces"] : []),
    ...(launch.dropper
      ? [`--allow-ffi=${launch.dropper.libbpfPath},${launch.dropper.libcPath}`]
      : []),
    AGENT_PATH,
    "--host",
    launch.host.name,
    "--network",
    network,
    ...(launch.dropper
      ? [
        "--bpf-object",
        launch.dropper.objectPath,
        "--libbpf",
        launch.dropper.libbpfPath,
        "--libc",
        launch.dropper.libcPath,
      ]
      : []),
  ];
}

function spawn(argv: string[]): Deno.ChildProcess {
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Ends the agent if the runner dies (even on SIGKILL): `setpriv --pdeathsig KILL --`. */
const DIE_WITH_RUNNER = ["setpriv", "--pdeathsig", "KILL", "--"];

function localBackend(name: string, network: string, wrap: readonly string[]): HostBackend {
  return {
    name,
    agentCommand: (launch) => [
      ...DIE_WITH_RUNNER,
      ...wrap,
      Deno.execPath(),
      ...agentDenoArgs(launch, network),
    ],
    spawnAgent(launch) {
      return spawn(this.agentCommand(launch));
    },
  };
}

/**
 * One network namespace per host, made by `unshare --net` as the agent starts and
 * held by the agent alone. `setpriv --pdeathsig KILL` ends the agent if the runner
 * dies, and with it the namespace and its links.
 */
export const namespaceBackend: HostBackend = localBackend("namespaces", "namespaces", [
  "unshare",
  "--net",
  "--",
]);

/** One host on the machine's own loopback: no namespace, no privileges. */
export const loopbackBackend: HostBackend = localBackend("loopback", "loopback", []);
