/**
 * Host backends: "somewhere an agent can be started". The runner only needs a child
 * process speaking the agent protocol on stdio; how it is started (a local network
 * namespace, the host's own loopback, later ssh or kubectl exec) is the backend's
 * business.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { PlannedHost } from "../scenario/topology.ts";

/** What a backend needs to start the agent of one host. */
export interface AgentLaunch {
  /** The host. */
  host: PlannedHost;
  /** Addresses the agent may use, for `--allow-net`. */
  allowNet: readonly string[];
  /**
   * Set when the agent may hold XDP droppers and delay lines: it then gets `--allow-ffi`
   * for libbpf and libc, and `--allow-read` for harness/native (the lines' worker).
   */
  dropper?: DropperFiles;
  /**
   * libc.so.6, when the agent may run its UDP echo or probe natively (libc's socket calls
   * in a worker, with the kernel's timestamps): it then gets `--allow-ffi` for this file
   * and `--allow-read` for harness/native, the workers' folder.
   */
  nativeEcho?: string;
  /** Programs the agent may run (absolute paths), for `--allow-run`: `ss`, programs under test. */
  allowRun?: readonly string[];
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
export const AGENT_PATH = fileURLToPath(new URL("../agent/main.ts", import.meta.url));
/** The folder of the FFI workers (harness/native): all the native echo and probe workers load. */
const NATIVE_DIR = fileURLToPath(new URL("../native", import.meta.url));

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
    ...ffiFlag(launch),
    ...(launch.allowRun?.length ? [`--allow-run=${launch.allowRun.join(",")}`] : []),
    // The native workers (echo, probe, delay lines) are modules Deno loads at run time:
    // the agent needs to read them (an agent that may hold faults may hold delay lines).
    ...(launch.nativeEcho || launch.dropper ? [`--allow-read=${NATIVE_DIR}`] : []),
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
        // One dropper per interface, loaded from the agent's start on.
        "--preload-droppers",
        String(launch.host.interfaces.length),
      ]
      : []),
    ...(launch.dropper || launch.nativeEcho
      ? ["--libc", launch.dropper?.libcPath ?? launch.nativeEcho!]
      : []),
  ];
}

/** `--allow-ffi` for exactly the libraries the agent may load, or nothing. */
function ffiFlag(launch: AgentLaunch): string[] {
  const paths = new Set<string>();
  if (launch.dropper) {
    [launch.dropper.libbpfPath, launch.dropper.libcPath].forEach((p) => paths.add(p));
  }
  if (launch.nativeEcho) paths.add(launch.nativeEcho);
  return paths.size > 0 ? [`--allow-ffi=${[...paths].join(",")}`] : [];
}

function spawn(argv: string[]): Deno.ChildProcess {
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Ends the agent if the runner dies (even on SIGKILL): `setpriv --pdeathsig KILL --`;
 * then `setsid` puts it in a session of its own, out of the terminal's foreground
 * process group, so a Ctrl-C reaches the runner alone and the runner stops the
 * workloads, with what they measured. (setsid execs in place: the agent keeps the pid
 * squall spawned, since a spawned child is not a group leader.)
 */
const DIE_WITH_RUNNER = ["setpriv", "--pdeathsig", "KILL", "--", "setsid", "--"];

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
