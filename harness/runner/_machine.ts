/**
 * What a run needs of this machine: the files agents load the XDP dropper from, the
 * programs it runs by absolute path, and a writable place for its run record.
 *
 * @module
 */

import { EnvironmentError } from "../core/errors.ts";
import { LIBBPF_CANDIDATES } from "../kernel/libbpf.ts";
import { XDP_DROP_OBJECT } from "../kernel/xdp_dropper.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";
import { allowedAddresses, linkFaults } from "../scenario/topology.ts";
import type { ValidScenario } from "../scenario/scenario.ts";
import { findProgram } from "../workloads/kinds.ts";
import type { AgentLaunch, DropperFiles } from "./backend.ts";
import type { Plan, PlannedHost } from "../scenario/topology.ts";
import { RunRecord } from "./run_record.ts";

const BPF_SYSCALL_MARKER = "/proc/sys/kernel/unprivileged_bpf_disabled";

/**
 * The files agents need to hold droppers, when the scenario may apply faults: it has
 * faults on links, or a function that may apply them. Throws an EnvironmentError when
 * it has faults on links and this machine cannot load the dropper.
 */
export function dropperFiles(v: ValidScenario): DropperFiles | undefined {
  if (v.network !== "namespaces") return undefined;
  const declared = v.links.some((l) => linkFaults(l).length > 0);
  if (!declared && !v.scenario.fn) return undefined;
  const libbpfPath = findLibrary(LIBBPF_CANDIDATES);
  const libcPath = findLibrary(LIBC_CANDIDATES);
  const objectPath = findLibrary([XDP_DROP_OBJECT]);
  // This file exists exactly when the kernel has the bpf() system call.
  const kernelBpf = findLibrary([BPF_SYSCALL_MARKER]) !== undefined;
  if (libbpfPath && libcPath && objectPath && kernelBpf) {
    return { libbpfPath, libcPath, objectPath };
  }
  if (!declared) return undefined;
  const [missing, hint] = !kernelBpf
    ? ["BPF in this kernel (CONFIG_BPF_SYSCALL)", "run on a kernel built with BPF and XDP"]
    : !libbpfPath
    ? ["libbpf.so.1", "apt-get install libbpf1"]
    : !libcPath
    ? ["libc.so.6", "install the C library"]
    : [XDP_DROP_OBJECT, "rebuild it with deno task bpf"];
  throw new EnvironmentError(
    `Cannot load the XDP dropper for this scenario's faults: no ${missing}`,
    hint,
  );
}

/** Opens the run record; a machine where none can be written cannot run squall safely. */
export function openRunRecord(runId: string): RunRecord {
  try {
    return RunRecord.open(runId);
  } catch (error) {
    throw new EnvironmentError(
      error instanceof Error ? error.message : String(error),
      "squall records what each run starts in /run/squall (or $TMPDIR/squall-runs) for squall clean: make one of them writable",
      { cause: error },
    );
  }
}

/** The absolute path of a program in PATH, or undefined. */
export function programPath(name: string): string | undefined {
  const found = findProgram(name, null);
  return typeof found === "string" ? found : undefined;
}

/** What {@linkcode agentLaunch} gives a host's agent when this machine has it. */
export interface AgentLaunchOptions {
  /** The host. */
  host: PlannedHost;
  /** The dropper's files, when the scenario may apply faults. */
  dropper: DropperFiles | undefined;
  /** libc.so.6, for native echoes (in namespaces). */
  libc: string | undefined;
  /** `ss`, for who holds a port when a bind fails. */
  ssPath: string | undefined;
}

/**
 * How to start a host's agent: the addresses it may use, the dropper when it is at the
 * end of a link and faults can come, libc when it runs or may run a UDP echo, and `ss`
 * (to see who holds a port when a bind fails) where a bind churn runs or may run (the
 * scenario has a function).
 */
export function agentLaunch(
  v: ValidScenario,
  plan: Plan,
  options: AgentLaunchOptions,
): AgentLaunch {
  const { host, dropper, libc, ssPath } = options;
  const launch: AgentLaunch = { host, allowNet: allowedAddresses(plan, host.name) };
  // Only hosts at the end of a link may hold a dropper, and only when faults can come.
  if (dropper && host.interfaces.length > 0) launch.dropper = dropper;
  // The native echo needs libc: only for hosts that run an echo, or may (a function).
  const echoes = v.workloads.some((w) =>
    w.placement.on === host.name && w.placement.run.kind === "udpEcho"
  );
  if (libc && (echoes || v.scenario.fn)) launch.nativeEcho = libc;
  const churns = v.workloads.some((w) =>
    w.placement.on === host.name && w.placement.run.kind === "bindChurn"
  );
  if (ssPath && (churns || v.scenario.fn)) launch.allowRun = [ssPath];
  return launch;
}
