/**
 * `squall doctor`: what this machine supports, one line per item, and for each missing
 * piece what fails without it and how to fix it. Facts are gathered by
 * {@linkcode gatherFacts} (it tries things for real, in throwaway network namespaces
 * that vanish with the processes in them; nothing is created in the host's namespace),
 * then judged by the pure {@linkcode assess}, so the judgement can be tested with made-up
 * facts.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { styleText } from "node:util";
import { findOnPath } from "../runner/environment.ts";
import { runCommand, tailLines } from "../core/command.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { LIBBPF_CANDIDATES } from "../kernel/libbpf.ts";
import { findLibrary, LIBC_CANDIDATES } from "../native/libc.ts";
import type { NamespaceProbes, ProbeOutcome } from "./_doctor_probe.ts";
import { systemCgroup2Mounts } from "../runner/program_cgroup.ts";

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

/** One line of the doctor's report. */
export interface DoctorItem {
  /** A stable id for machines: `privileges`, `xdp-native`, `tool:ip`. */
  id: string;
  /** What was checked. */
  name: string;
  /** Whether `squall run` needs it (a missing required item makes the doctor exit 3). */
  required: boolean;
  /** Whether it is there and works. */
  ok: boolean;
  /** What was found. */
  detail: string;
  /** When missing: what does not work without it. */
  without?: string;
  /** When missing: how to get it. */
  fix?: string;
}

/** The doctor's report, as `squall doctor --json` writes it. */
export interface DoctorReport {
  /** Whether every required item is there. */
  ok: boolean;
  /** 0, or 3 when a required item is missing. */
  exitCode: ExitCode;
  /** Every item, required ones first. */
  items: DoctorItem[];
}

const CAPABILITIES = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_BPF: 39 } as const;
/** The Deno squall is pinned to and tested with. */
const PINNED_DENO = "2.9.6";
const MIN_DENO: [number, number] = [2, 9];
const MIN_LIBBPF: [number, number] = [0, 8];

/** Tools: the package they come from, whether squall run needs them, and what they are for. */
const TOOLS: {
  name: string;
  alternatives?: string[];
  pkg: string;
  required: boolean;
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

/**
 * Judges the facts: one item per thing checked, required ones first.
 *
 * @example
 * ```ts ignore
 * import { assess, gatherFacts } from "./doctor.ts";
 * const items = assess(await gatherFacts());
 * console.log(items.filter((i) => !i.ok).map((i) => i.name));
 * ```
 */
export function assess(facts: DoctorFacts): DoctorItem[] {
  const items: DoctorItem[] = [];
  const add = (item: DoctorItem) => items.push(item);
  const missing = (detail: string, without: string, fix: string) => ({ detail, without, fix });

  // Privileges.
  const caps = Object.entries(CAPABILITIES).map(([name, bit]) => ({
    name,
    has: facts.capEff !== null && (facts.capEff >> BigInt(bit) & 1n) === 1n,
  }));
  const lacking = caps.filter((c) => !c.has).map((c) => c.name);
  const privilegeName = "root, with CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_BPF";
  const privilegeWithout =
    "namespaced scenarios exit 3 (no namespaces, links or XDP faults); loopback scenarios still run";
  if (facts.capEff === null) {
    add({
      id: "privileges",
      name: privilegeName,
      required: true,
      ok: false,
      ...missing(
        `uid ${facts.uid}; cannot read CapEff in /proc/self/status`,
        privilegeWithout,
        "run squall on Linux with /proc mounted, as root",
      ),
    });
  } else if (facts.uid !== 0) {
    add({
      id: "privileges",
      name: privilegeName,
      required: true,
      ok: false,
      ...missing(
        `uid ${facts.uid}, not root${
          lacking.length > 0 ? `; effective capabilities lack ${lacking.join(", ")}` : ""
        }`,
        privilegeWithout,
        'run it as root: sudo -E env PATH="$PATH" deno task squall run ...',
      ),
    });
  } else if (lacking.length > 0) {
    add({
      id: "privileges",
      name: privilegeName,
      required: true,
      ok: false,
      ...missing(
        `root, but the effective capabilities lack ${lacking.join(", ")} (a container?)`,
        privilegeWithout,
        `give the container the capabilities: ${
          lacking.map((c) => `--cap-add ${c.replace("CAP_", "")}`).join(" ")
        } (or --privileged)`,
      ),
    });
  } else {
    add({
      id: "privileges",
      name: privilegeName,
      required: true,
      ok: true,
      detail: `uid 0; CapEff ${facts.capEff.toString(16).padStart(16, "0")} has all three`,
    });
  }

  add({
    id: "netns",
    name: "network namespaces (unshare --net)",
    required: true,
    ...probe(
      facts.netns,
      "every namespaced scenario: each host is a network namespace",
      "run as root (unshare --net needs CAP_SYS_ADMIN); the kernel needs CONFIG_NET_NS=y",
    ),
  });
  add({
    id: "veth",
    name: "veth pairs (in a throwaway namespace)",
    required: true,
    ...probe(
      facts.veth,
      "links between hosts",
      "a kernel with CONFIG_VETH (modprobe veth), and CAP_NET_ADMIN",
    ),
  });
  add({
    id: "xdp-native",
    name: "XDP on veth, native mode",
    required: true,
    ...probe(
      facts.xdpNative,
      "faults (loss, burstLoss, blackhole): the XDP dropper cannot attach, so scenarios with faults fail",
      "a kernel with CONFIG_BPF_SYSCALL and CONFIG_XDP_SOCKETS, veth with native XDP (Linux 4.19+), CAP_BPF and CAP_NET_ADMIN",
    ),
  });
  add({
    id: "xdp-generic",
    name: "XDP on veth, generic mode",
    required: false,
    ...probe(
      facts.xdpGeneric,
      "nothing squall does on veth today; generic XDP is the kernel's fallback for drivers without native XDP",
      "a kernel with CONFIG_BPF_SYSCALL; CAP_BPF and CAP_NET_ADMIN",
    ),
  });

  const lib = facts.libbpf;
  const libVersion = lib.version === null ? null : lib.version.split(".").map(Number);
  const libOk = lib.path !== null && libVersion !== null &&
    atLeast([libVersion[0] ?? 0, libVersion[1] ?? 0], MIN_LIBBPF);
  add({
    id: "libbpf",
    name: "libbpf.so.1",
    required: true,
    ok: libOk,
    detail: lib.path === null
      ? lib.error ?? "not found"
      : lib.version === null
      ? `${lib.path}: version unknown (${lib.error ?? "no libbpf_major_version"})`
      : `${lib.version} (${lib.path})`,
    ...(libOk ? {} : {
      without: "faults and the bind watch: both load BPF programs through libbpf",
      fix: `apt-get install libbpf1 (libbpf ${MIN_LIBBPF.join(".")} or later; tested with 1.1)`,
    }),
  });
  add({
    id: "tracepoints",
    name: "BPF on the bind syscall tracepoints",
    required: false,
    ...probe(
      facts.tracepoints,
      "the bind watch: reports have no bind failures of programs under test (bindWatch.active is false), only what squall's own workloads see",
      "a kernel with CONFIG_FTRACE_SYSCALLS and BTF (/sys/kernel/btf/vmlinux); run as root",
    ),
  });
  add({
    id: "netem",
    name: "netem qdisc",
    required: false,
    ...probe(
      facts.netem,
      "nothing today (squall's faults are XDP); delay and jitter faults, when they come, need netem or a wire of their own",
      "a kernel with CONFIG_NET_SCH_NETEM (on Ubuntu: apt-get install linux-modules-extra-$(uname -r); modprobe sch_netem)",
    ),
  });

  add({
    id: "cgroup",
    name: "cgroup v2 with cgroup.kill",
    required: false,
    ...probe(
      facts.cgroup,
      "programs under test: what they fork or daemonize is still ended when a run ends, but outlives a SIGKILL of squall",
      "a writable cgroup2 mount (mount -t cgroup2 none /sys/fs/cgroup) on Linux 5.14 or later; in a container, a private cgroup namespace with /sys/fs/cgroup writable",
    ),
  });

  const denoVersion = facts.deno.split(".").map(Number);
  const denoOk = atLeast([denoVersion[0] ?? 0, denoVersion[1] ?? 0], MIN_DENO);
  add({
    id: "deno",
    name: "Deno",
    required: true,
    ok: denoOk,
    detail: `${facts.deno}${
      facts.deno === PINNED_DENO ? "" : ` (squall is pinned to and tested with ${PINNED_DENO})`
    }`,
    ...(denoOk ? {} : {
      without: "squall itself: it uses Deno APIs and options of 2.9",
      fix: `npm i -g deno@${PINNED_DENO} (or npx -y deno@${PINNED_DENO} task squall ...)`,
    }),
  });

  for (const tool of TOOLS) {
    const path = facts.tools[tool.name] ?? null;
    add({
      id: `tool:${tool.name}`,
      name: tool.pkg === tool.name ? tool.name : `${tool.name} (${tool.pkg})`,
      required: tool.required,
      ok: path !== null,
      detail: path ?? "not on PATH",
      ...(path !== null ? {} : { without: tool.without, fix: `apt-get install ${tool.pkg}` }),
    });
  }
  return [...items.filter((i) => i.required), ...items.filter((i) => !i.required)];
}

function probe(
  outcome: ProbeOutcome,
  without: string,
  fix: string,
): Pick<DoctorItem, "ok" | "detail" | "without" | "fix"> {
  return outcome.ok
    ? { ok: true, detail: outcome.detail }
    : { ok: false, detail: outcome.detail, without, fix };
}

function atLeast(version: [number, number], min: [number, number]): boolean {
  return version[0] > min[0] || (version[0] === min[0] && version[1] >= min[1]);
}

/**
 * The report of a list of items: ok, and exit code 3 when a required item is missing.
 *
 * @example
 * ```ts
 * import { doctorReport } from "./doctor.ts";
 * const report = doctorReport([
 *   { id: "netem", name: "netem qdisc", required: false, ok: false, detail: "not set" },
 * ]);
 * console.assert(report.ok && report.exitCode === 0);
 * ```
 */
export function doctorReport(items: DoctorItem[]): DoctorReport {
  const ok = items.every((i) => i.ok || !i.required);
  return { ok, exitCode: ok ? ExitCode.Pass : ExitCode.Environment, items };
}

/** Options of {@linkcode formatDoctor}. */
export interface DoctorTextOptions {
  /** Use ANSI colours. */
  color: boolean;
}

/**
 * Renders the report for people: `✓`/`✗` and a line per item, and for a missing one
 * what fails without it and how to fix it.
 *
 * @example
 * ```ts
 * import { doctorReport, formatDoctor } from "./doctor.ts";
 * const text = formatDoctor(doctorReport([
 *   { id: "deno", name: "Deno", required: true, ok: true, detail: "2.9.6" },
 * ]), { color: false });
 * console.assert(text.includes("✓ Deno"));
 * ```
 */
export function formatDoctor(report: DoctorReport, options: DoctorTextOptions): string {
  const paint = (style: Parameters<typeof styleText>[0], text: string) =>
    options.color ? styleText(style, text, { validateStream: false }) : text;
  const width = Math.max(...report.items.map((i) => label(i).length), 0);
  const lines = ["squall doctor: what this machine can run", ""];
  for (const item of report.items) {
    const mark = item.ok
      ? paint("green", "✓")
      : item.required
      ? paint("red", "✗")
      : paint("yellow", "✗");
    lines.push(`${mark} ${label(item).padEnd(width)}  ${paint("dim", item.detail)}`);
    if (!item.ok) {
      if (item.without) lines.push(`    without it: ${item.without}`);
      if (item.fix) lines.push(`    fix: ${item.fix}`);
    }
  }
  const missingRequired = report.items.filter((i) => i.required && !i.ok);
  const missingOptional = report.items.filter((i) => !i.required && !i.ok);
  lines.push("");
  if (missingRequired.length === 0) {
    lines.push(paint(
      "green",
      `Every required item is here: squall run can run namespaced scenarios${
        missingOptional.length > 0
          ? ` (${missingOptional.length} optional item${
            missingOptional.length === 1 ? "" : "s"
          } missing)`
          : ""
      }.`,
    ));
  } else {
    lines.push(paint(
      "red",
      `${missingRequired.length} required item${
        missingRequired.length === 1 ? " is" : "s are"
      } missing: ${missingRequired.map((i) => i.name).join("; ")}`,
    ));
  }
  return lines.join("\n");
}

function label(item: DoctorItem): string {
  return item.required ? item.name : `${item.name} (optional)`;
}

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
 * import { gatherFacts } from "./doctor.ts";
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
