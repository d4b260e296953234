/**
 * `squall doctor`: what this machine supports, one line per item, and for each missing
 * piece what fails without it and how to fix it. Facts are gathered by `gatherFacts`
 * in doctor_facts.ts (it tries things for real, in throwaway network namespaces that
 * vanish with the processes in them; nothing is created in the host's namespace), then
 * judged here by the pure {@linkcode assess}, so the judgement can be tested with
 * made-up facts; {@linkcode formatDoctor} renders the table.
 *
 * @module
 */

import { styleText } from "node:util";
import { ExitCode } from "../core/exit_codes.ts";
import type { ProbeOutcome } from "./_doctor_probe.ts";
import { type DoctorFacts, TOOLS } from "./doctor_facts.ts";

export type { DoctorFacts, ProbeOutcome } from "./doctor_facts.ts";

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
