// The committed bpf/xdp_drop.o: it is exactly what bpf/build.sh builds from the source,
// the kernel's verifier accepts it on a veth, and it drops and counts what the rules say
// (run on crafted frames with BPF_PROG_TEST_RUN, so no traffic and no timing involved).

import assert from "node:assert/strict";
import { netnsOf } from "./_processes.ts";
import { BLACKHOLE_EVERYTHING } from "./fixtures/rules.ts";
import { closeClock, monotonicNs } from "../harness/native/clock.ts";
import {
  chance,
  decodeCounters,
  decodeDropTimes,
  decodeEntryFlows,
  decodeFlowValue,
  type DropTimes,
  encodeFlowKey,
  encodeRule,
  type Rule,
  SQ_CHAIN,
  SQ_CHANCE_ALWAYS,
  SQ_CONFIG,
  SQ_COUNTER_ENTRIES,
  SQ_COUNTERS,
  SQ_ENTRY_FLOWS,
  SQ_FLOW_VALUE,
  SQ_MAX_RULES,
  SQ_MODE_BERNOULLI,
  SQ_MODE_BLACKHOLE,
  SQ_MODE_GILBERT,
  SQ_MODE_OFF,
  SQ_PROTO_TCP,
  SQ_PROTO_UDP,
  SQ_SLOT_NO_MATCH,
  SQ_SLOT_NOT_IPV4,
  SQ_VERDICT_DROP,
  SQ_VERDICT_PASS,
  SQ_VERDICTS,
} from "../harness/kernel/xdp_layout.ts";

const BPF_DIR = new URL("../bpf/", import.meta.url).pathname;
const OBJECT = `${BPF_DIR}xdp_drop.o`;
const LIBBPF = "/usr/lib/x86_64-linux-gnu/libbpf.so.1";

async function run(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("bpf/build.sh --check finds the committed object identical to a fresh build", async () => {
  const result = await run(`${BPF_DIR}build.sh`, ["--check"]);
  assert.equal(result.code, 0, `bpf/build.sh --check failed:\n${result.stderr}`);
  assert.match(result.stdout, /^bpf\/xdp_drop\.o matches a fresh build/);
});

Deno.test("the kernel's verifier accepts bpf/xdp_drop.o on a veth", async () => {
  // A throwaway namespace that lives as long as this sleep: killing it removes the veth
  // pair and the XDP program attached to it.
  const holder = new Deno.Command("setpriv", {
    args: ["--pdeathsig", "KILL", "--", "unshare", "--net", "--", "sleep", "30"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const pid = String(holder.pid);
    const ownNetns = Deno.readLinkSync("/proc/self/ns/net");
    const deadline = performance.now() + 5_000;
    while (netnsOf(holder.pid) === ownNetns || netnsOf(holder.pid) === undefined) {
      assert.ok(performance.now() < deadline, "the namespace holder never unshared");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const ns = ["-t", pid, "-n", "ip"];
    const add = await run(
      "nsenter",
      [...ns, "link", "add", "name", "a", "type", "veth"].concat(
        ["peer", "name", "b"],
      ),
    );
    assert.equal(add.code, 0, add.stderr);
    // Attach the way squall does (libbpf, a bpf_link held by a process in the namespace),
    // not with `ip ... xdp obj`, which mounts bpffs and leaves directories in it.
    const dropper = new URL("../harness/kernel/xdp_dropper.ts", import.meta.url).href;
    const script = `import { XdpDropper } from ${JSON.stringify(dropper)};
      using d = await XdpDropper.attach("a");
      const out = await new Deno.Command("ip", { args: ["-j", "link", "show", "a"] }).output();
      console.log(new TextDecoder().decode(out.stdout));`;
    const attach = await run("nsenter", ["-t", pid, "-n", Deno.execPath(), "eval", "-q", script]);
    assert.equal(attach.code, 0, `the verifier rejected bpf/xdp_drop.o:\n${attach.stderr}`);
    const [link] = JSON.parse(attach.stdout) as { xdp?: { prog?: { name: string } } }[];
    assert.equal(link?.xdp?.prog?.name, "xdp_drop", attach.stdout);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stderr.cancel();
  }
});

const LIBBPF_SYMBOLS = {
  bpf_object__open_file: { parameters: ["buffer", "pointer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_prog_test_run_opts: { parameters: ["i32", "buffer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
} as const;

const XDP_DROP = 1;
const XDP_PASS = 2;
/** sizeof(struct bpf_test_run_opts) in libbpf 1.1, and the offsets used here. */
const TEST_RUN_OPTS = { size: 80, dataIn: 8, dataSizeIn: 24, retval: 56, repeat: 60 };

/** The object loaded (not attached) with libbpf, its maps at hand. */
class LoadedDropper {
  #lib = Deno.dlopen(LIBBPF, LIBBPF_SYMBOLS);
  #object: Deno.PointerValue;
  #prog: number;
  #maps: Record<"rules" | "chain" | "counters" | "flow_drops" | "config", number>;
  #cpus: number;

  constructor(path: string) {
    const s = this.#lib.symbols;
    this.#object = s.bpf_object__open_file(cString(path), null);
    assert.ok(this.#object, `Cannot open "${path}" with libbpf`);
    assert.equal(s.bpf_object__load(this.#object), 0, `Cannot load "${path}"`);
    this.#prog = s.bpf_program__fd(
      s.bpf_object__find_program_by_name(this.#object, cString("xdp_drop")),
    );
    const fd = (name: string) =>
      s.bpf_map__fd(s.bpf_object__find_map_by_name(this.#object, cString(name)));
    this.#maps = {
      rules: fd("rules"),
      chain: fd("chain"),
      counters: fd("counters"),
      flow_drops: fd("flow_drops"),
      config: fd("config"),
    };
    this.#cpus = s.libbpf_num_possible_cpus();
  }

  /** Possible CPUs: per-CPU map values hold one copy per CPU. */
  get cpus(): number {
    return this.#cpus;
  }

  /** Sets how many rule slots the program walks (XdpDropper keeps it at the highest in use). */
  ruleSlots(slots: number): void {
    const value = new Uint8Array(SQ_CONFIG.size);
    new DataView(value.buffer).setUint32(SQ_CONFIG.fields.rule_slots, slots, true);
    this.#update(this.#maps.config, u32(0), value);
  }

  /** Puts every rule off, every chain in the good state and every counter at zero. */
  reset(): void {
    this.ruleSlots(SQ_MAX_RULES);
    for (let i = 0; i < SQ_MAX_RULES; i++) {
      this.setRule(i, { mode: SQ_MODE_OFF });
      this.#update(this.#maps.chain, u32(i), new Uint8Array(SQ_CHAIN.size));
    }
    const zero = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    for (let entry = 0; entry < SQ_COUNTER_ENTRIES; entry++) {
      this.#update(this.#maps.counters, u32(entry), zero);
    }
  }

  setRule(index: number, rule: Partial<Rule>): void {
    this.#update(this.#maps.rules, u32(index), encodeRule({ ...MATCH_ALL, ...rule }));
  }

  /** Packets counted in a slot, summed over the CPUs. */
  packets(slot: number): number {
    return this.#slot(slot).packets;
  }

  bytes(slot: number): number {
    return this.#slot(slot).bytes;
  }

  /** A counter slot: counter `slot % 2` of counters entry `slot / 2`, summed over the CPUs. */
  #slot(slot: number) {
    const value = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    const entry = Math.floor(slot / SQ_VERDICTS);
    assert.equal(this.#lib.symbols.bpf_map_lookup_elem(this.#maps.counters, u32(entry), value), 0);
    return decodeCounters(value)[slot % SQ_VERDICTS]!;
  }

  /** Drops of a probe flow by a rule: in the rule's counters entry plus in `flow_drops`. */
  flowDrops(flowId: number, rule: number): number {
    return this.entryFlowDrops(flowId, rule) + this.hashFlowDrops(flowId, rule);
  }

  entryFlowDrops(flowId: number, rule: number): number {
    const entry = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    assert.equal(this.#lib.symbols.bpf_map_lookup_elem(this.#maps.counters, u32(rule), entry), 0);
    return decodeEntryFlows(entry).find((f) => f.flowId === flowId)?.packets ?? 0;
  }

  hashFlowDrops(flowId: number, rule: number): number {
    const value = new Uint8Array(SQ_FLOW_VALUE.size * this.#cpus);
    const key = encodeFlowKey({ flowId, rule });
    const found = this.#lib.symbols.bpf_map_lookup_elem(this.#maps.flow_drops, key, value) === 0;
    return found ? decodeFlowValue(value) : 0;
  }

  /** When a rule dropped first and last (kernel time), over the CPUs. */
  dropTimes(rule: number): DropTimes {
    const entry = new Uint8Array(SQ_COUNTERS.size * this.#cpus);
    assert.equal(this.#lib.symbols.bpf_map_lookup_elem(this.#maps.counters, u32(rule), entry), 0);
    return decodeDropTimes(entry);
  }

  chainIsBad(index: number): boolean {
    const value = new Uint8Array(SQ_CHAIN.size);
    assert.equal(this.#lib.symbols.bpf_map_lookup_elem(this.#maps.chain, u32(index), value), 0);
    return value[0] !== 0;
  }

  /** Runs the program `repeat` times on a frame; returns its XDP action. */
  run(frame: Uint8Array<ArrayBuffer>, repeat = 1): number {
    const opts = new Uint8Array(TEST_RUN_OPTS.size);
    const view = new DataView(opts.buffer);
    view.setBigUint64(0, BigInt(TEST_RUN_OPTS.size), true);
    const data = Deno.UnsafePointer.value(Deno.UnsafePointer.of(frame));
    view.setBigUint64(TEST_RUN_OPTS.dataIn, BigInt(data), true);
    view.setUint32(TEST_RUN_OPTS.dataSizeIn, frame.byteLength, true);
    view.setInt32(TEST_RUN_OPTS.repeat, repeat, true);
    assert.equal(this.#lib.symbols.bpf_prog_test_run_opts(this.#prog, opts), 0, "test run");
    return view.getUint32(TEST_RUN_OPTS.retval, true);
  }

  close(): void {
    this.#lib.symbols.bpf_object__close(this.#object);
    this.#lib.close();
  }

  #update(fd: number, key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): void {
    assert.equal(this.#lib.symbols.bpf_map_update_elem(fd, key, value, 0n), 0, "map update");
  }
}

const MATCH_ALL: Rule = { ...BLACKHOLE_EVERYTHING, mode: SQ_MODE_OFF };

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0") as Uint8Array<ArrayBuffer>;
}

function u32(value: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new Uint32Array([value]).buffer);
}

interface FrameOptions {
  /** EtherType; anything but 0x0800 gets a 46-byte zero payload. */
  etherType?: number;
  /** Adds one 802.1Q tag. */
  vlan?: boolean;
  protocol?: number;
  source?: string;
  dport?: number;
  /** IPv4 header length in 32-bit words. */
  ihl?: number;
  /** The frag_off field (flags and offset). */
  fragOff?: number;
  /** UDP payload: a probe header with this flow id. */
  probeFlow?: number;
  /** Cuts the frame after this many bytes of the transport header. */
  transportBytes?: number;
}

/** A frame as it would arrive on the veth. */
function frame(options: FrameOptions = {}): Uint8Array<ArrayBuffer> {
  const bytes = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
  if (options.vlan) bytes.push(0x81, 0x00, 0x00, 0x05);
  const etherType = options.etherType ?? 0x0800;
  bytes.push(etherType >> 8, etherType & 0xff);
  if (etherType !== 0x0800) return new Uint8Array([...bytes, ...new Array(46).fill(0)]);
  const ihl = options.ihl ?? 5;
  const protocol = options.protocol ?? SQ_PROTO_UDP;
  const fragOff = options.fragOff ?? 0;
  const source = (options.source ?? "198.18.0.1").split(".").map(Number);
  const ip = [0x40 | ihl, 0, 0, 0, 0, 0, fragOff >> 8, fragOff & 0xff, 64, protocol, 0, 0];
  ip.push(...source, 198, 18, 0, 2);
  while (ip.length < ihl * 4) ip.push(1); // IPv4 options (NOP)
  const dport = options.dport ?? 7000;
  let transport: number[];
  if (protocol === SQ_PROTO_UDP) {
    const payload = new Array(20).fill(0x55);
    if (options.probeFlow !== undefined) {
      const f = options.probeFlow;
      payload.splice(
        0,
        8,
        0x53,
        0x51,
        0x50,
        0x31,
        f >>> 24,
        (f >> 16) & 0xff,
        (f >> 8) & 0xff,
        f & 0xff,
      );
    }
    const length = 8 + payload.length;
    transport = [
      0x30,
      0x39,
      dport >> 8,
      dport & 0xff,
      length >> 8,
      length & 0xff,
      0,
      0,
      ...payload,
    ];
  } else if (protocol === SQ_PROTO_TCP) {
    transport = [0x30, 0x39, dport >> 8, dport & 0xff, ...new Array(16).fill(0)];
  } else {
    transport = [8, 0, 0, 0, 0, 0, 0, 0]; // ICMP echo request
  }
  transport = transport.slice(0, options.transportBytes ?? transport.length);
  return new Uint8Array([...bytes, ...ip, ...transport]);
}

const passSlot = (rule: number) => rule * SQ_VERDICTS + SQ_VERDICT_PASS;
const dropSlot = (rule: number) => rule * SQ_VERDICTS + SQ_VERDICT_DROP;

Deno.test("xdp_drop lets every matching rule have its say and counts every packet", async (t) => {
  const dropper = new LoadedDropper(OBJECT);
  try {
    await t.step("without rules, IPv4 passes as no match and the rest as not IPv4", () => {
      dropper.reset();
      assert.equal(dropper.run(frame()), XDP_PASS);
      assert.equal(dropper.packets(SQ_SLOT_NO_MATCH), 1);
      assert.equal(dropper.bytes(SQ_SLOT_NO_MATCH), frame().byteLength);
      assert.equal(dropper.run(frame({ etherType: 0x0806 })), XDP_PASS);
      assert.equal(dropper.run(frame().subarray(0, 20)), XDP_PASS, "short IPv4 header");
      assert.equal(dropper.run(frame({ ihl: 4 })), XDP_PASS, "IHL below 5");
      assert.equal(dropper.packets(SQ_SLOT_NOT_IPV4), 3);
    });

    await t.step("protocol, source and port all have to match", () => {
      dropper.reset();
      dropper.setRule(0, { mode: SQ_MODE_BLACKHOLE, protocol: SQ_PROTO_TCP });
      dropper.setRule(1, { mode: SQ_MODE_BLACKHOLE, dportMin: 7001, dportMax: 7002 });
      dropper.setRule(2, {
        mode: SQ_MODE_BLACKHOLE,
        srcAddr: "198.18.1.0",
        srcMask: "255.255.255.0",
      });
      dropper.setRule(4, {
        mode: SQ_MODE_BERNOULLI,
        protocol: SQ_PROTO_UDP,
        srcAddr: "198.18.0.0",
        srcMask: "255.255.255.0",
        dportMin: 7000,
        dportMax: 7000,
        lossGood: 0,
      });
      dropper.setRule(5, { mode: SQ_MODE_BLACKHOLE });
      assert.equal(dropper.run(frame()), XDP_DROP);
      assert.equal(dropper.packets(passSlot(4)), 1, "rule 4 matched and passed it");
      assert.equal(dropper.packets(dropSlot(5)), 1, "then rule 5 dropped it");
      dropper.setRule(5, { mode: SQ_MODE_OFF });
      assert.equal(dropper.run(frame()), XDP_PASS, "rule 4 alone never drops");
      assert.equal(dropper.packets(SQ_SLOT_NO_MATCH), 0, "a packet a rule passed is no no-match");
      dropper.setRule(5, { mode: SQ_MODE_BLACKHOLE });
      assert.equal(dropper.run(frame({ protocol: SQ_PROTO_TCP, dport: 7001 })), XDP_DROP);
      assert.equal(dropper.packets(dropSlot(0)), 1, "TCP rule first");
      assert.equal(dropper.packets(dropSlot(5)), 1, "a dropped packet goes no further");
      assert.equal(dropper.run(frame({ dport: 7002 })), XDP_DROP);
      assert.equal(dropper.packets(dropSlot(1)), 1, "port range");
      assert.equal(dropper.run(frame({ source: "198.18.1.9", dport: 9 })), XDP_DROP);
      assert.equal(dropper.packets(dropSlot(2)), 1, "source under mask");
      assert.equal(dropper.run(frame({ vlan: true })), XDP_DROP);
      assert.equal(dropper.run(frame({ ihl: 7 })), XDP_DROP);
      assert.equal(dropper.packets(passSlot(4)), 4, "VLAN tag and IPv4 options parsed");
      assert.equal(dropper.packets(dropSlot(5)), 3);
    });

    await t.step("the walk stops at the configured number of rule slots", () => {
      dropper.reset();
      dropper.setRule(5, { mode: SQ_MODE_BLACKHOLE });
      dropper.ruleSlots(5);
      assert.equal(dropper.run(frame()), XDP_PASS, "slot 5 is beyond the walk");
      assert.equal(dropper.packets(SQ_SLOT_NO_MATCH), 1);
      dropper.ruleSlots(6);
      assert.equal(dropper.run(frame()), XDP_DROP);
      dropper.ruleSlots(0);
      assert.equal(dropper.run(frame()), XDP_PASS, "no rule slots: nothing matches");
    });

    await t.step("a packet without ports matches only a rule for every port", () => {
      dropper.reset();
      dropper.setRule(0, { mode: SQ_MODE_BLACKHOLE, dportMin: 0, dportMax: 65534 });
      dropper.setRule(1, { mode: SQ_MODE_BLACKHOLE });
      assert.equal(dropper.run(frame({ protocol: 1 })), XDP_DROP, "ICMP");
      assert.equal(dropper.run(frame({ fragOff: 0x0010, dport: 80 })), XDP_DROP, "later fragment");
      assert.equal(dropper.run(frame({ transportBytes: 3 })), XDP_DROP, "cut UDP header");
      assert.equal(dropper.packets(dropSlot(1)), 3);
      assert.equal(dropper.run(frame({ fragOff: 0x2000, dport: 80 })), XDP_DROP, "first fragment");
      assert.equal(dropper.packets(dropSlot(0)), 1, "a first fragment has ports");
    });

    await t.step("drops of probe datagrams are counted per flow and rule", () => {
      dropper.reset();
      dropper.setRule(3, { mode: SQ_MODE_BLACKHOLE, protocol: SQ_PROTO_UDP });
      assert.equal(dropper.run(frame({ probeFlow: 0xabcdef01 }), 5), XDP_DROP);
      assert.equal(dropper.flowDrops(0xabcdef01, 3), 5);
      dropper.setRule(3, { mode: SQ_MODE_BERNOULLI, protocol: SQ_PROTO_UDP, lossGood: 0 });
      assert.equal(dropper.run(frame({ probeFlow: 99 })), XDP_PASS);
      assert.equal(dropper.flowDrops(99, 3), 0, "passed probes are not counted");
    });

    await t.step("flows beyond the slots of a rule's counters entry go to flow_drops", () => {
      dropper.reset();
      dropper.setRule(2, { mode: SQ_MODE_BLACKHOLE, protocol: SQ_PROTO_UDP });
      // Each run lands on whichever CPU this thread is on, and each CPU's entry has its own
      // slots: one flow more than all of them together must overflow into the hash.
      const flows = Array.from({ length: SQ_ENTRY_FLOWS * dropper.cpus + 1 }, (_, i) => 0x5000 + i);
      for (const [i, flowId] of flows.entries()) {
        assert.equal(dropper.run(frame({ probeFlow: flowId }), i + 1), XDP_DROP);
      }
      assert.equal(dropper.run(frame({ probeFlow: flows[0]! }), 10), XDP_DROP, "first again");
      let inHash = 0;
      for (const [i, flowId] of flows.entries()) {
        assert.equal(dropper.flowDrops(flowId, 2), i + 1 + (i === 0 ? 10 : 0), `flow ${i}`);
        inHash += dropper.hashFlowDrops(flowId, 2);
      }
      assert.ok(inHash > 0, "some drops counted in flow_drops");
    });

    await t.step("chance 0 never drops and SQ_CHANCE_ALWAYS always does", () => {
      dropper.reset();
      dropper.setRule(0, { mode: SQ_MODE_BERNOULLI, lossGood: 0 });
      dropper.run(frame(), 10_000);
      assert.equal(dropper.packets(passSlot(0)), 10_000);
      dropper.setRule(0, { mode: SQ_MODE_BERNOULLI, lossGood: SQ_CHANCE_ALWAYS });
      dropper.run(frame(), 10_000);
      assert.equal(dropper.packets(dropSlot(0)), 10_000);
    });

    await t.step("Bernoulli drops about its loss chance", () => {
      dropper.reset();
      dropper.setRule(0, { mode: SQ_MODE_BERNOULLI, lossGood: chance(0.1) });
      dropper.run(frame(), 100_000);
      const dropped = dropper.packets(dropSlot(0)) / 100_000;
      assert.equal(dropper.packets(passSlot(0)) + dropper.packets(dropSlot(0)), 100_000);
      assert.ok(Math.abs(dropped - 0.1) < 0.01, `dropped ${dropped}, expected 0.1 (+-10 sigma)`);
    });

    await t.step("Gilbert-Elliott moves the chain first, then draws the new state's loss", () => {
      dropper.reset();
      dropper.setRule(0, {
        mode: SQ_MODE_GILBERT,
        lossGood: 0,
        lossBad: SQ_CHANCE_ALWAYS,
        pEnterBad: SQ_CHANCE_ALWAYS,
        pLeaveBad: SQ_CHANCE_ALWAYS,
      });
      const verdicts = Array.from({ length: 6 }, () => dropper.run(frame()));
      assert.deepEqual(verdicts, [XDP_DROP, XDP_PASS, XDP_DROP, XDP_PASS, XDP_DROP, XDP_PASS]);
      assert.equal(dropper.chainIsBad(0), false);
      dropper.setRule(0, {
        mode: SQ_MODE_GILBERT,
        lossGood: 0,
        lossBad: SQ_CHANCE_ALWAYS,
        pEnterBad: SQ_CHANCE_ALWAYS,
        pLeaveBad: 0,
      });
      dropper.run(frame(), 100);
      assert.equal(dropper.packets(dropSlot(0)), 3 + 100, "stays bad");
      assert.equal(dropper.chainIsBad(0), true);
    });

    await t.step("a rule applies only within its kernel-time window and stamps its drops", () => {
      dropper.reset();
      const second = 1_000_000_000n;
      const now = monotonicNs();
      // Not yet, no more, never (until 0): each matches nothing, so the packet goes on.
      dropper.setRule(0, { mode: SQ_MODE_BLACKHOLE, activeFromNs: now + 60n * second });
      dropper.setRule(1, { mode: SQ_MODE_BLACKHOLE, activeFromNs: 1n, activeUntilNs: now });
      dropper.setRule(2, { mode: SQ_MODE_BLACKHOLE, activeUntilNs: 0n });
      assert.equal(dropper.run(frame(), 10), XDP_PASS);
      assert.equal(dropper.packets(SQ_SLOT_NO_MATCH), 10, "outside their windows, no match");
      const seen = monotonicNs();
      for (const rule of [0, 1, 2]) {
        assert.equal(dropper.packets(passSlot(rule)) + dropper.packets(dropSlot(rule)), 0);
        const { firstNs, lastNs } = dropper.dropTimes(rule);
        assert.deepEqual({ firstNs, lastNs }, { firstNs: null, lastNs: null });
      }
      // Each bracket stamped by the packets outside the window: the last before it opened,
      // the first after it closed; never while a rule is closed for its write (until 0).
      const early = dropper.dropTimes(0);
      assert.ok(early.beforeNs! >= now && early.beforeNs! <= seen && early.afterNs === null);
      const late = dropper.dropTimes(1);
      assert.ok(late.afterNs! >= now && late.afterNs! <= seen && late.beforeNs === null);
      const closed = dropper.dropTimes(2);
      assert.ok(closed.beforeNs === null && closed.afterNs === null);
      // Within its window: it drops, and its drops are stamped with the kernel's clock.
      dropper.setRule(3, {
        mode: SQ_MODE_BLACKHOLE,
        activeFromNs: now - second,
        activeUntilNs: now + 60n * second,
      });
      const before = monotonicNs();
      assert.equal(dropper.run(frame(), 1000), XDP_DROP);
      const after = monotonicNs();
      assert.equal(dropper.packets(dropSlot(3)), 1000);
      const times = dropper.dropTimes(3);
      assert.ok(times.firstNs !== null && times.lastNs !== null, "stamped");
      assert.ok(before <= times.firstNs! && times.firstNs! < times.lastNs!, `${before} ${times}`);
      assert.ok(times.lastNs! <= after, "the last drop is stamped before the run returned");
      // A rule for all time (from 0 until all ones) reads no clock: it drops, unstamped.
      dropper.setRule(3, { mode: SQ_MODE_OFF });
      dropper.setRule(4, { mode: SQ_MODE_BLACKHOLE });
      assert.equal(dropper.run(frame()), XDP_DROP);
      assert.deepEqual(dropper.dropTimes(4), {
        firstNs: null,
        lastNs: null,
        beforeNs: null,
        afterNs: null,
      });
    });
  } finally {
    dropper.close();
    closeClock();
  }
});
