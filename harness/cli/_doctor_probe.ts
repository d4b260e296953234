// The part of `squall doctor` that must run inside a throwaway network namespace:
// `unshare --net -- deno run ... _doctor_probe.ts`. It makes a veth pair there,
// attaches an XDP program to it natively (through a bpf_link, as squall's dropper does)
// and generically (through netlink, XDP_FLAGS_SKB_MODE), checks the mode the kernel
// reports, and loads and attaches the bind watch to the bind syscall tracepoints. It
// prints one JSON line: {xdpNative, xdpGeneric, tracepoints}, each {ok, detail}.
//
// Everything it creates goes with it: the veth pair and any XDP attachment with the
// namespace (nothing else is in it), the bpf_links and the tracepoint programs with the
// process. It refuses to run in a namespace that has any interface but "lo": the host's.

import { BindWatch } from "../kernel/bind_watch.ts";
import { runCommand } from "../core/command.ts";
import { cString, errnoText, LIBBPF_CANDIDATES, openLibraries } from "../kernel/libbpf.ts";
import { findLibrary } from "../native/libc.ts";
import { XDP_DROP_OBJECT, XdpDropper } from "../kernel/xdp_dropper.ts";

/** What one probe found. */
export interface ProbeOutcome {
  /** Whether it worked. */
  ok: boolean;
  /** What was seen: the mode, the error. */
  detail: string;
}

/** What this child reports. */
export interface NamespaceProbes {
  xdpNative: ProbeOutcome;
  xdpGeneric: ProbeOutcome;
  tracepoints: ProbeOutcome;
}

const VETH = ["sqdoctor0", "sqdoctor1"] as const;
const XDP_FLAGS_SKB_MODE = 1 << 1;
/** `ip -j -d link` "xdp" modes. */
const XDP_ATTACHED = { 1: "native (driver)", 2: "generic (skb)", 3: "offloaded", 4: "multi" };

async function ip(...args: string[]): Promise<string> {
  const out = await runCommand("ip", args, { noThrow: true });
  if (out.code !== 0) throw new Error(`ip ${args.join(" ")}: ${out.stderr.trim()}`);
  return out.stdout;
}

/** The XDP mode the kernel reports for an interface, or undefined when none is attached. */
async function xdpMode(ifname: string): Promise<number | undefined> {
  const [link] = JSON.parse(await ip("-j", "-d", "link", "show", "dev", ifname)) as {
    xdp?: { mode?: number };
  }[];
  return link?.xdp?.mode;
}

function modeName(mode: number | undefined): string {
  if (mode === undefined) return "not attached";
  return XDP_ATTACHED[mode as keyof typeof XDP_ATTACHED] ?? `mode ${mode}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function native(): Promise<ProbeOutcome> {
  try {
    using dropper = await XdpDropper.attach(VETH[0]);
    const mode = await xdpMode(dropper.ifname);
    return mode === 1
      ? { ok: true, detail: "xdp_drop.o attached to a veth through a bpf_link, native mode" }
      : { ok: false, detail: `attached, but the kernel reports ${modeName(mode)}` };
  } catch (error) {
    return { ok: false, detail: message(error) };
  }
}

async function generic(): Promise<ProbeOutcome> {
  const symbols = {
    bpf_object__open_file: { parameters: ["buffer", "pointer"], result: "pointer" },
    bpf_object__load: { parameters: ["pointer"], result: "i32" },
    bpf_object__close: { parameters: ["pointer"], result: "void" },
    bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
    bpf_program__fd: { parameters: ["pointer"], result: "i32" },
    bpf_xdp_attach: { parameters: ["i32", "i32", "u32", "pointer"], result: "i32" },
    bpf_xdp_detach: { parameters: ["i32", "u32", "pointer"], result: "i32" },
  } as const;
  let libs;
  try {
    libs = openLibraries();
  } catch (error) {
    return { ok: false, detail: message(error) };
  }
  const path = findLibrary(LIBBPF_CANDIDATES);
  if (path === undefined) {
    libs.close();
    return { ok: false, detail: "cannot find libbpf.so.1" };
  }
  let bpf;
  try {
    bpf = Deno.dlopen(path, symbols);
  } catch (error) {
    libs.close();
    return { ok: false, detail: `libbpf 0.8+ is needed for bpf_xdp_attach: ${message(error)}` };
  }
  let object: Deno.PointerValue = null;
  try {
    const ifindex = libs.libc.if_nametoindex(cString(VETH[1]));
    if (ifindex === 0) return { ok: false, detail: `no interface "${VETH[1]}"` };
    object = bpf.symbols.bpf_object__open_file(cString(XDP_DROP_OBJECT), null);
    if (object === null) return { ok: false, detail: `libbpf cannot open "${XDP_DROP_OBJECT}"` };
    const loaded = bpf.symbols.bpf_object__load(object);
    if (loaded < 0) {
      return { ok: false, detail: `the kernel refused the program: ${errnoText(libs, loaded)}` };
    }
    const program = bpf.symbols.bpf_object__find_program_by_name(object, cString("xdp_drop"));
    if (program === null) return { ok: false, detail: "no program xdp_drop in the object" };
    const fd = bpf.symbols.bpf_program__fd(program);
    const attached = bpf.symbols.bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, null);
    if (attached < 0) {
      return { ok: false, detail: `cannot attach in generic mode: ${errnoText(libs, attached)}` };
    }
    const mode = await xdpMode(VETH[1]);
    bpf.symbols.bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, null);
    return mode === 2
      ? { ok: true, detail: "xdp_drop.o attached to a veth with XDP_FLAGS_SKB_MODE" }
      : { ok: false, detail: `attached, but the kernel reports ${modeName(mode)}` };
  } catch (error) {
    return { ok: false, detail: message(error) };
  } finally {
    if (object !== null) bpf.symbols.bpf_object__close(object);
    bpf.close();
    libs.close();
  }
}

async function tracepoints(): Promise<ProbeOutcome> {
  try {
    using _watch = await BindWatch.open();
    return {
      ok: true,
      detail: "bind_watch.o loaded and attached to syscalls:sys_enter_bind and sys_exit_bind",
    };
  } catch (error) {
    return { ok: false, detail: message(error) };
  }
}

async function probe(): Promise<NamespaceProbes> {
  const failed = (detail: string) => ({ ok: false, detail });
  try {
    await ip("link", "add", VETH[0], "type", "veth", "peer", "name", VETH[1]);
    await ip("link", "set", VETH[0], "up");
    await ip("link", "set", VETH[1], "up");
  } catch (error) {
    const detail = `cannot make a veth pair to attach to: ${message(error)}`;
    return {
      xdpNative: failed(detail),
      xdpGeneric: failed(detail),
      tracepoints: await tracepoints(),
    };
  }
  return {
    xdpNative: await native(),
    xdpGeneric: await generic(),
    tracepoints: await tracepoints(),
  };
}

if (import.meta.main) {
  // A fresh namespace has only "lo": anything else means this is not the throwaway one.
  const links = JSON.parse(await ip("-j", "link", "show")) as { ifname: string }[];
  const others = links.map((l) => l.ifname).filter((name) => name !== "lo");
  if (others.length > 0) {
    console.error(
      `squall doctor: refusing to create interfaces here: this namespace already has ${
        others.join(", ")
      } (run me with unshare --net)`,
    );
    Deno.exit(1);
  }
  console.log(JSON.stringify(await probe()));
}
