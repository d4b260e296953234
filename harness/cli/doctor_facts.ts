/**
 * The facts `squall doctor` judges, found out for real: privileges, namespaces, a veth
 * pair, XDP and the bind watch in throwaway network namespaces (a child process entered
 * with `unshare --net`, see _doctor_probe.ts), netem, a cgroup, libbpf's version and the
 * tools on PATH. Nothing is created in the host's namespace.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { findOnPath } from "../runner/environment.ts";
import { LIBBPF_CANDIDATES } from "../kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";
import type { NamespaceProbes, ProbeOutcome } from "./_doctor_probe.ts";
import { systemCgroup2Mounts } from "../runner/program_cgroup.ts";
import { runCommand, tailLines } from "../core/command.ts";

export type { ProbeOutcome } from "./_doctor_probe.ts";

/** Everything the doctor found out, before judging it. */
export interface DoctorFacts {
  /** The effective user id. */
  uid: number;
  /** The effective capability set (`CapEff` of /proc/self/status), or null if unreadable. */
  capEff: bigint | null;
  /** `unshare --net true`. */
  netns: ProbeOutcome;
  /** A veth pair made inside a throwaway namespace. */
  veth: ProbeOutcome;
  /** XDP attached natively to a veth (through a bpf_link, as the dropper does). */
  xdpNative: ProbeOutcome;
  /** XDP attached in generic (skb) mode to a veth. */
  xdpGeneric: ProbeOutcome;
  /** The bind watch loaded and attached to the bind syscall tracepoints. */
  tracepoints: ProbeOutcome;
  /** Whether the kernel has the netem qdisc. */
  netem: ProbeOutcome;
  /** A cgroup (v2) made and removed, as a run does for its programs under test. */
  cgroup: ProbeOutcome;
  /** libbpf.so.1: its path and version (`1.1`), or why not. */
  libbpf: { path: string | null; version: string | null; error: string | null };
  /** The version of Deno running squall. */
  deno: string;
  /** Each tool squall or its tests use, and where it was found (null: not on PATH). */
  tools: Record<string, string | null>;
}

/** Tools: the package they come from, whether squall run needs them, and what they are for. */
export const TOOLS: {
  /** The command, as looked up on PATH. */
  name: string;
  /** Other names that do as well (`chromium-browser`). */
  alternatives?: string[];
  /** The Debian package it comes from. */
  pkg: string;
  /** Whether `squall run` needs it. */
  required: boolean;
  /** What does not work without it. */
  without: string;
}[] = [
  {
    name: "ip",
    pkg: "iproute2",
    required: true,
    without: "namespaced scenarios: links and addresses are made with ip",
  },
  {
    name: "nsenter",
    pkg: "util-linux",
    required: true,
    without: "namespaced scenarios: programs under test are started in a host's namespace",
  },
  {
    name: "unshare",
    pkg: "util-linux",
    required: true,
    without: "namespaced scenarios: each host's namespace is made by unshare --net",
  },
  {
    name: "setpriv",
    pkg: "util-linux",
    required: true,
    without: "every scenario: agents are started with setpriv --pdeathsig",
  },
  {
    name: "ss",
    pkg: "iproute2",
    required: false,
    without: "bind failures are reported without the process that held the port",
  },
  {
    name: "strace",
    pkg: "strace",
    required: false,
    without: "the truth tests (tests/*_truth_test.ts) that check squall against strace",
  },
  {
    name: "sockperf",
    pkg: "sockperf",
    required: false,
    without: "the RTT reference of the benchmark (deno task bench)",
  },
  {
    name: "chromium",
    alternatives: ["chromium-browser", "google-chrome"],
    pkg: "chromium",
    required: false,
    without: "looking at the --html report in a headless browser (writing it needs none)",
  },
];

/** Options of {@linkcode gatherFacts}. */
export interface GatherOptions {
  /**
   * How long each probe may take before it counts as failed, in ms.
   * @default {20000}
   */
  timeoutMs?: number;
}

/**
 * Finds out what this machine supports, trying things for real: namespaces, a veth pair
 * and XDP in throwaway namespaces (a child `deno run` entered with `unshare --net`),
 * the bind watch on the tracepoints. Needs `-A` (it reads /proc and opens libbpf).
 *
 * @example
 * ```ts ignore
 * import { gatherFacts } from "./doctor_facts.ts";
 * console.log((await gatherFacts()).libbpf.version);
 * ```
 */
export async function gatherFacts(options: GatherOptions = {}): Promise<DoctorFacts> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const tools: Record<string, string | null> = {};
  for (const tool of TOOLS) {
    const names = [tool.name, ...(tool.alternatives ?? [])];
    tools[tool.name] = names.map((n) => findOnPath(n)).find((p) => p !== undefined) ?? null;
  }
  const [netns, veth, inNamespace, netem] = await Promise.all([
    command("unshare", ["--net", "--", "true"], undefined, timeoutMs),
    command(
      "unshare",
      ["--net", "--", "ip", "-batch", "-"],
      "link add sqdoctor0 type veth peer name sqdoctor1\nlink set sqdoctor0 up\nlink set sqdoctor1 up\n",
      timeoutMs,
    ),
    namespaceProbes(timeoutMs),
    netemSupport(timeoutMs),
  ]);
  return {
    uid: Deno.uid() ?? -1,
    capEff: effectiveCapabilities(),
    netns: netns.ok ? { ok: true, detail: "unshare --net works" } : netns,
    veth: veth.ok ? { ok: true, detail: "made a veth pair in a throwaway namespace" } : veth,
    ...inNamespace,
    netem,
    cgroup: cgroupSupport(),
    libbpf: libbpfVersion(),
    deno: Deno.version.deno,
    tools,
  };
}

/** Makes and removes a cgroup where a run would make its own. */
function cgroupSupport(): ProbeOutcome {
  const mounts = systemCgroup2Mounts();
  if (mounts.length === 0) return { ok: false, detail: "no cgroup2 mount in /proc/self/mountinfo" };
  const failures: string[] = [];
  for (const mount of mounts) {
    const path = `${mount}/squall-doctor-${Deno.pid}`;
    try {
      Deno.mkdirSync(path);
    } catch (error) {
      failures.push(`cannot make a cgroup in ${mount}: ${(error as Error).message}`);
      continue;
    }
    let kill = false;
    try {
      kill = Deno.statSync(`${path}/cgroup.kill`).isFile;
    } catch {
      // Before Linux 5.14.
    } finally {
      Deno.removeSync(path);
    }
    return kill
      ? { ok: true, detail: `made and removed a cgroup in ${mount}` }
      : { ok: false, detail: `${mount}: no cgroup.kill (Linux 5.14 or later)` };
  }
  return { ok: false, detail: failures.join("; ") };
}

function effectiveCapabilities(): bigint | null {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return hex === undefined ? null : BigInt(`0x${hex}`);
  } catch {
    return null;
  }
}

/** Runs a command; ok when it exits 0, else the tail of its stderr. */
async function command(
  name: string,
  args: string[],
  stdin: string | undefined,
  timeoutMs: number,
  label = `${name} ${args.join(" ")}`,
): Promise<ProbeOutcome & { stdout: string }> {
  try {
    const out = await runCommand(name, args, {
      timeoutMs,
      noThrow: true,
      ...(stdin === undefined ? {} : { stdin }),
    });
    const stderr = tailLines(out.stderr.trim(), 2).split("\n").join("; ");
    const ok = out.code === 0;
    return {
      ok,
      detail: ok ? "" : `${label}: exit ${out.code ?? out.signal}: ${stderr}`,
      stdout: out.stdout,
    };
  } catch (error) {
    const cause = error instanceof Error ? error.cause : undefined;
    const detail = cause instanceof Deno.errors.NotFound
      ? `"${name}" not found on PATH`
      : `${name}: ${error instanceof Error ? error.message : error}`;
    return { ok: false, detail, stdout: "" };
  }
}

/** XDP and the tracepoints, tried by a child deno inside a throwaway namespace. */
async function namespaceProbes(timeoutMs: number): Promise<NamespaceProbes> {
  const script = fileURLToPath(new URL("./_doctor_probe.ts", import.meta.url));
  const libraries = [findLibrary(LIBBPF_CANDIDATES), findLibrary(LIBC_CANDIDATES)]
    .filter((p) => p !== undefined);
  // The child dies with the doctor (setpriv --pdeathsig), and the namespace with it.
  const dieWithUs = findOnPath("setpriv") ? ["setpriv", "--pdeathsig", "KILL", "--"] : [];
  const argv = [
    ...dieWithUs,
    "unshare",
    "--net",
    "--",
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--no-config",
    "--quiet",
    "--allow-read",
    "--allow-run=ip,unshare",
    ...(libraries.length > 0 ? [`--allow-ffi=${libraries.join(",")}`] : []),
    script,
  ];
  const label = "unshare --net -- deno run _doctor_probe.ts";
  const result = await command(argv[0]!, argv.slice(1), undefined, timeoutMs, label);
  if (result.ok) {
    try {
      return JSON.parse(result.stdout) as NamespaceProbes;
    } catch {
      result.detail = `unexpected output of the probe: ${result.stdout.slice(0, 200)}`;
    }
  }
  const failed = { ok: false, detail: result.detail };
  return { xdpNative: failed, xdpGeneric: failed, tracepoints: failed };
}

/** The netem qdisc: in the kernel config (/proc/config.gz), else as a module (modinfo). */
async function netemSupport(timeoutMs: number): Promise<ProbeOutcome> {
  let config: string | undefined;
  try {
    const bytes = await Deno.readFile("/proc/config.gz");
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    config = await new Response(stream).text();
  } catch {
    // No /proc/config.gz: ask modinfo.
  }
  const setting = config === undefined
    ? undefined
    : /^CONFIG_NET_SCH_NETEM=([ym])$/m.exec(config)?.[1] ?? "n";
  if (setting === "y") return { ok: true, detail: "built in (CONFIG_NET_SCH_NETEM=y)" };
  if (setting === "n") {
    return { ok: false, detail: "not in this kernel (CONFIG_NET_SCH_NETEM is not set)" };
  }
  const modinfo = await command("modinfo", ["sch_netem"], undefined, timeoutMs);
  if (modinfo.ok) {
    return {
      ok: true,
      detail: `module sch_netem${setting === "m" ? " (CONFIG_NET_SCH_NETEM=m)" : ""}`,
    };
  }
  return {
    ok: false,
    detail: `${
      setting === "m" ? "CONFIG_NET_SCH_NETEM=m but " : "no /proc/config.gz, and "
    }modinfo sch_netem failed: ${modinfo.detail}`,
  };
}

/** libbpf's version, asked of the library itself. */
function libbpfVersion(): DoctorFacts["libbpf"] {
  const path = findLibrary(LIBBPF_CANDIDATES) ?? null;
  if (path === null) {
    return {
      path,
      version: null,
      error: `not found (looked in ${LIBBPF_CANDIDATES.join(", ")})`,
    };
  }
  try {
    const lib = Deno.dlopen(path, {
      libbpf_major_version: { parameters: [], result: "u32" },
      libbpf_minor_version: { parameters: [], result: "u32" },
    });
    try {
      const version = `${lib.symbols.libbpf_major_version()}.${lib.symbols.libbpf_minor_version()}`;
      return { path, version, error: null };
    } finally {
      lib.close();
    }
  } catch (error) {
    return { path, version: null, error: error instanceof Error ? error.message : String(error) };
  }
}
