// The doctor's judgement over made-up facts: which items are required, what a missing
// one says, the exit code, the text and the JSON. (tests/doctor_test.ts runs the real
// probes on this machine.)

import assert from "node:assert/strict";
import { assess, type DoctorFacts, type DoctorItem, doctorReport, formatDoctor } from "./doctor.ts";
import { ExitCode } from "../core/exit_codes.ts";

const ALL_CAPS = 0x000001fffeffffffn;
const ok = (detail: string) => ({ ok: true, detail });
const broken = (detail: string) => ({ ok: false, detail });

function facts(overrides: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    uid: 0,
    capEff: ALL_CAPS,
    netns: ok("unshare --net works"),
    veth: ok("made a veth pair"),
    xdpNative: ok("native"),
    xdpGeneric: ok("generic"),
    tracepoints: ok("attached"),
    netem: broken("not in this kernel (CONFIG_NET_SCH_NETEM is not set)"),
    nfqueue: ok("added an iptables NFQUEUE rule in a throwaway namespace"),
    cgroup: ok("made and removed a cgroup in /sys/fs/cgroup"),
    libbpf: { path: "/usr/lib/x86_64-linux-gnu/libbpf.so.1", version: "1.1", error: null },
    deno: "2.9.6",
    tools: {
      ip: "/usr/sbin/ip",
      nsenter: "/usr/bin/nsenter",
      unshare: "/usr/bin/unshare",
      setpriv: "/usr/bin/setpriv",
      ss: "/usr/bin/ss",
      iptables: "/usr/sbin/iptables",
      strace: null,
      sockperf: null,
      chromium: null,
    },
    ...overrides,
  };
}

function item(items: DoctorItem[], id: string): DoctorItem {
  const found = items.find((i) => i.id === id);
  assert.ok(found, `an item "${id}"; items: ${items.map((i) => i.id).join(", ")}`);
  return found;
}

Deno.test("assess() passes a machine that lacks only optional items, and says so", () => {
  const items = assess(facts());
  const report = doctorReport(items);
  assert.equal(report.ok, true);
  assert.equal(report.exitCode, ExitCode.Pass);
  for (
    const id of [
      "privileges",
      "netns",
      "veth",
      "xdp-native",
      "libbpf",
      "deno",
      "tool:ip",
      "tool:nsenter",
      "tool:unshare",
      "tool:setpriv",
    ]
  ) {
    assert.equal(item(items, id).required, true, `${id} is required`);
    assert.equal(item(items, id).ok, true, `${id} is there`);
  }
  for (
    const id of [
      "xdp-generic",
      "tracepoints",
      "netem",
      "nfqueue",
      "cgroup",
      "tool:iptables",
      "tool:ss",
      "tool:strace",
      "tool:sockperf",
      "tool:chromium",
    ]
  ) {
    assert.equal(item(items, id).required, false, `${id} is optional`);
  }
  const firstOptional = items.findIndex((i) => !i.required);
  assert.ok(items.slice(firstOptional).every((i) => !i.required), "required items come first");
  const netem = item(items, "netem");
  assert.equal(netem.ok, false);
  assert.ok(netem.without && netem.fix, "a missing item says what fails and how to fix it");
  assert.equal(item(items, "tool:strace").fix, "apt-get install strace");
});

Deno.test("assess() fails a missing required item with exit 3, what fails without it, and a fix", () => {
  const items = assess(facts({
    xdpNative: broken("Cannot attach dropper: Operation not permitted"),
    tools: { ...facts().tools, nsenter: null },
  }));
  const report = doctorReport(items);
  assert.equal(report.ok, false);
  assert.equal(report.exitCode, ExitCode.Environment);
  const xdp = item(items, "xdp-native");
  assert.equal(xdp.ok, false);
  assert.equal(xdp.detail, "Cannot attach dropper: Operation not permitted");
  assert.match(xdp.without!, /faults/);
  assert.match(xdp.fix!, /CAP_BPF/);
  const nsenter = item(items, "tool:nsenter");
  assert.deepEqual(
    [nsenter.ok, nsenter.detail, nsenter.fix],
    [false, "not on PATH", "apt-get install util-linux"],
  );
});

Deno.test("assess() tells apart not root, root without capabilities, and root with them", () => {
  const notRoot = item(assess(facts({ uid: 1000, capEff: 0n })), "privileges");
  assert.equal(notRoot.ok, false);
  assert.match(notRoot.detail, /^uid 1000, not root; effective capabilities lack CAP_NET_ADMIN/);
  assert.match(notRoot.fix!, /sudo/);

  // Root in a container without CAP_SYS_ADMIN and CAP_BPF.
  const caps = (1n << 12n) | (1n << 0n);
  const container = item(assess(facts({ capEff: caps })), "privileges");
  assert.equal(container.ok, false);
  assert.match(container.detail, /lack CAP_SYS_ADMIN, CAP_BPF/);
  assert.equal(
    container.fix,
    "give the container the capabilities: --cap-add SYS_ADMIN --cap-add BPF (or --privileged)",
  );

  const unknown = item(assess(facts({ capEff: null })), "privileges");
  assert.equal(unknown.ok, false);
  assert.equal(item(assess(facts()), "privileges").ok, true);
});

Deno.test("assess() checks the versions of libbpf and Deno", () => {
  assert.equal(
    item(assess(facts({ libbpf: { path: "/x.so", version: "0.5", error: null } })), "libbpf").ok,
    false,
  );
  const none = item(
    assess(facts({ libbpf: { path: null, version: null, error: "not found" } })),
    "libbpf",
  );
  assert.deepEqual([none.ok, none.detail], [false, "not found"]);
  assert.match(none.fix!, /apt-get install libbpf1/);
  assert.equal(item(assess(facts({ deno: "1.46.3" })), "deno").ok, false);
  assert.equal(item(assess(facts({ deno: "2.8.0" })), "deno").ok, false);
  const newer = item(assess(facts({ deno: "2.10.1" })), "deno");
  assert.deepEqual([newer.ok, newer.detail], [
    true,
    "2.10.1 (squall is pinned to and tested with 2.9.6)",
  ]);
});

Deno.test("formatDoctor() prints a ✓ or ✗ line per item, the fix under a missing one, and a verdict", () => {
  const missing = doctorReport(assess(facts({ veth: broken("RTNETLINK answers: not supported") })));
  const text = formatDoctor(missing, { color: false });
  const lines = text.split("\n");
  assert.equal(lines[0], "squall doctor: what this machine can run");
  const marked = lines.filter((l) => /^[✓✗] /.test(l));
  assert.equal(marked.length, missing.items.length, "one line per item");
  const veth = lines.findIndex((l) => l.startsWith("✗ veth pairs"));
  assert.match(lines[veth]!, /RTNETLINK answers: not supported$/);
  assert.equal(lines[veth + 1], "    without it: links between hosts");
  assert.match(lines[veth + 2]!, /^ {4}fix: .*CONFIG_VETH/);
  assert.ok(lines.some((l) => /^✗ netem qdisc \(optional\) +not in this kernel/.test(l)));
  assert.ok(lines.some((l) => /^✓ ss \(iproute2\) \(optional\) /.test(l)));
  assert.equal(lines.at(-1), "1 required item is missing: veth pairs (in a throwaway namespace)");

  const fine = formatDoctor(doctorReport(assess(facts())), { color: false });
  assert.match(
    fine,
    /Every required item is here: squall run can run namespaced scenarios \(4 optional items missing\)\.$/,
  );
  assert.ok(!fine.includes("\x1b["), "no colour unless asked");
  assert.ok(formatDoctor(doctorReport(assess(facts())), { color: true }).includes("\x1b["));
});

Deno.test("doctorReport() is plain JSON: ok, exitCode and every item", () => {
  const report = doctorReport(assess(facts({ netns: broken("unshare failed") })));
  const back = JSON.parse(JSON.stringify(report)) as typeof report;
  assert.deepEqual(back, report);
  assert.equal(back.exitCode, 3);
  assert.equal(item(back.items, "netns").detail, "unshare failed");
});

Deno.test("assess() says what a machine without iptables loses: delays and rate limits", () => {
  const items = assess(facts({
    nfqueue: broken(`"iptables" not found on PATH`),
    tools: { ...facts().tools, iptables: null },
  }));
  assert.equal(doctorReport(items).ok, true, "optional: only scenarios with delays need it");
  const nfqueue = item(items, "nfqueue");
  assert.equal(nfqueue.ok, false);
  assert.match(nfqueue.without!, /delays and rate limits/);
  assert.match(nfqueue.fix!, /apt-get install iptables/);
  assert.equal(item(items, "tool:iptables").fix, "apt-get install iptables");
});
