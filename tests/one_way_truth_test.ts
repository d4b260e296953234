// Ground truth for the native probe's one-way delays, on the real kernel: a queue on one
// direction of a veth (a TBF rate limit below the probe's bit rate on that direction's
// sending end) shows as delay on that direction only, and the other direction stays at
// the veth's microseconds; squall's one-way delays on a quiet path agree in direction
// with irtt's (client and server in the namespaces). Agents are started in the
// namespaces as the runner starts them (--allow-ffi for libc only, --allow-read for
// harness/native only), and driven over their NDJSON protocol.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type AgentWorkload, encodeLine, readLines } from "../harness/agent/protocol.ts";
import { AGENT_PATH } from "../harness/runner/backend.ts";
import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";
import { loss, runScenario, scenario, udpEcho, udpProbe } from "../mod.ts";
import { NamespaceSet } from "./bench/_netns.ts";
import { onPath } from "./bench/_util.ts";

const NATIVE_DIR = fileURLToPath(new URL("../harness/native", import.meta.url));
const LIBC = findLibrary(LIBC_CANDIDATES);
const PORT = 7000;
const MS = 1e6;

/** An agent inside holder `index`'s namespace, spoken to over NDJSON. */
class Agent {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<number, PromiseWithResolvers<Record<string, unknown>>>();
  readonly #pump: Promise<void>;

  constructor(set: NamespaceSet, index: number, allowNet: string) {
    const pid = set.holders[index]!.pid;
    this.#child = new Deno.Command("setpriv", {
      args: [
        "--pdeathsig",
        "KILL",
        "--",
        "nsenter",
        "-t",
        String(pid),
        "-n",
        Deno.execPath(),
        "run",
        "--no-prompt",
        "--no-config",
        "--quiet",
        "--unstable-net",
        `--allow-net=${allowNet}`,
        "--allow-sys=networkInterfaces",
        `--allow-ffi=${LIBC}`,
        `--allow-read=${NATIVE_DIR}`,
        AGENT_PATH,
        "--host",
        `h${index}`,
        "--network",
        "namespaces",
        "--libc",
        LIBC!,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const lines = readLines(this.#child.stdout);
    this.#pump = (async () => {
      for await (const line of lines) {
        const message = JSON.parse(line) as Record<string, unknown>;
        const id = message.id as number | undefined;
        if (id === undefined) continue;
        if (message.type === "result" || message.type === "failed") {
          this.#waiting.get(id)?.resolve(message);
        }
        if (message.type === "started") this.#waiting.get(-id)?.resolve(message);
      }
    })();
  }

  /** Starts a workload; resolves once it is started (its bound address). */
  async start(id: number, workload: AgentWorkload): Promise<void> {
    const started = Promise.withResolvers<Record<string, unknown>>();
    const done = Promise.withResolvers<Record<string, unknown>>();
    this.#waiting.set(-id, started);
    this.#waiting.set(id, done);
    done.promise.then((m) => {
      if (m.type === "failed") started.resolve(m);
    });
    await this.#writer.write(encodeLine({ op: "start", id, workload }));
    const reply = await started.promise;
    assert.equal(reply.type, "started", JSON.stringify(reply));
  }

  /** The result of workload `id` once it finishes (after a stop when `stop`). */
  async result<T>(id: number, stop = false): Promise<T> {
    if (stop) await this.#writer.write(encodeLine({ op: "stop", id }));
    const message = await this.#waiting.get(id)!.promise;
    assert.equal(message.type, "result", JSON.stringify(message));
    return message.result as T;
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#pump.catch(() => {});
    await this.#child.status;
  }
}

interface Lab {
  set: NamespaceSet;
  client: string;
  server: string;
  probe: Agent;
  echo: Agent;
}

/** Two namespaces, a veth, a native echo on the server; `setup` runs before the agents. */
async function withLab(
  setup: (set: NamespaceSet) => Promise<void>,
  fn: (lab: Lab) => Promise<void>,
): Promise<void> {
  const set = new NamespaceSet();
  const agents: Agent[] = [];
  try {
    await set.addHolders(2);
    await set.wire([[0, 1]]);
    // An agent sends only from a namespace whose interfaces are all squall's (sq-*).
    for (const end of set.links[0]!.ends) {
      const name = `sq-${end.name}`;
      for (
        const command of [["down"], ["name", name], ["up"]]
      ) {
        const target = command[0] === "up" ? name : end.name;
        const out = await set.runIn(end.holder, ["ip", "link", "set", target, ...command]);
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      }
      end.name = name;
    }
    await setup(set);
    const [a, b] = set.links[0]!.ends;
    const echo = new Agent(set, 1, `${b.address},${a.address}`);
    agents.push(echo);
    const probe = new Agent(set, 0, `${a.address},${b.address}`);
    agents.push(probe);
    await echo.start(1, { kind: "udpEcho", hostname: b.address, port: PORT });
    await fn({ set, client: a.address, server: b.address, probe, echo });
  } finally {
    for (const agent of agents) await agent.close();
    const cleanup = await set.close();
    assert.deepEqual(cleanup, { alivePids: [], left: [] }, "nothing outlives the test");
  }
}

function probeSpec(
  lab: Lab,
  count: number,
  rate: number,
  size: number,
  timeoutMs = 1000,
): AgentWorkload & { kind: "udpProbe" } {
  return {
    kind: "udpProbe",
    hostname: lab.client,
    targetAddress: lab.server,
    targetPort: PORT,
    count,
    durationMs: null,
    rate,
    size,
    timeoutMs,
    pingPong: false,
  };
}

async function tbf(set: NamespaceSet, end: 0 | 1): Promise<void> {
  const e = set.links[0]!.ends[end];
  const out = await set.runIn(e.holder, [
    "tc",
    "qdisc",
    "add",
    "dev",
    e.name,
    "root",
    "tbf",
    "rate",
    "4mbit",
    "burst",
    "4kb",
    "latency",
    "200ms",
  ]);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** What the native probe adds to a result (read loosely: this test checks the wire). */
type Native = UdpProbeResult & {
  measuredBy?: string;
  oneWay?: {
    forward: { delaySummary: { p50: number; count: number } };
    return: { delaySummary: { p50: number; count: number } };
  } | null;
};

const ready = LIBC !== undefined && Deno.uid() === 0;

Deno.test({
  name: "a queue on the way out shows as one-way delay on the way out only",
  ignore: !ready,
  fn: () =>
    withLab((set) => tbf(set, 0), async (lab) => {
      // 1000 B at 1000/s is 8 Mbit/s into a 4 Mbit/s limit: the probe's queue fills.
      await lab.probe.start(2, probeSpec(lab, 2000, 1000, 1000, 2000));
      const r = await lab.probe.result<Native>(2);
      assert.equal(r.measuredBy, "native");
      assert.ok(r.oneWay, "one-way delay measured");
      const { forward, return: back } = r.oneWay;
      assert.ok(forward.delaySummary.count > 500, `${forward.delaySummary.count} answered`);
      assert.ok(forward.delaySummary.p50 > 20 * MS, `forward p50 ${forward.delaySummary.p50} ns`);
      assert.ok(back.delaySummary.p50 < 1 * MS, `return p50 ${back.delaySummary.p50} ns`);
    }),
});

Deno.test({
  name: "a queue on the way back shows as one-way delay on the way back only",
  ignore: !ready,
  fn: () =>
    withLab((set) => tbf(set, 1), async (lab) => {
      await lab.probe.start(2, probeSpec(lab, 1500, 1000, 1000, 2000));
      const r = await lab.probe.result<Native>(2);
      assert.equal(r.measuredBy, "native");
      assert.ok(r.oneWay, "one-way delay measured");
      const { forward, return: back } = r.oneWay;
      assert.ok(back.delaySummary.count > 300, `${back.delaySummary.count} answered`);
      assert.ok(back.delaySummary.p50 > 20 * MS, `return p50 ${back.delaySummary.p50} ns`);
      assert.ok(forward.delaySummary.p50 < 1 * MS, `forward p50 ${forward.delaySummary.p50} ns`);
    }),
});

Deno.test({
  name: "an echo that sends datagrams back unchanged leaves one-way delay not measured",
  ignore: !ready || !onPath("socat"),
  fn: () =>
    withLab(() => Promise.resolve(), async (lab) => {
      // socat is a plain echo: it sends every datagram back as it came.
      const echo = lab.set.spawnIn(1, [
        "socat",
        `UDP4-RECVFROM:${PORT + 1},bind=${lab.server},fork`,
        "EXEC:cat",
      ]);
      try {
        await new Promise((r) => setTimeout(r, 300));
        await lab.probe.start(2, { ...probeSpec(lab, 200, 200, 64), targetPort: PORT + 1 });
        const r = await lab.probe.result<Native>(2);
        assert.equal(r.measuredBy, "native");
        assert.ok(r.delivered > 0, "socat answered");
        assert.equal(r.oneWay, null);
      } finally {
        await lab.set.stop(echo);
      }
    }),
});

Deno.test({
  name: "squall's one-way delays on a quiet veth are no larger than irtt's, direction by direction",
  ignore: !ready || !onPath("irtt"),
  fn: () =>
    withLab(() => Promise.resolve(), async (lab) => {
      await lab.probe.start(2, probeSpec(lab, 4000, 2000, 64));
      const r = await lab.probe.result<Native>(2);
      assert.ok(r.oneWay);
      const server = lab.set.spawnIn(1, ["irtt", "server", "-b", `${lab.server}:2112`, "-i", "0"]);
      try {
        await new Promise((r) => setTimeout(r, 300));
        const out = await lab.set.runIn(0, [
          "irtt",
          "client",
          "-i",
          "500us",
          "-d",
          "2s",
          "-l",
          "64",
          "-Q",
          "-o",
          "-",
          "--wait=200ms",
          `${lab.server}:2112`,
        ]);
        const stats = JSON.parse(new TextDecoder().decode(out.stdout)).stats;
        const irttSend = stats.send_delay.median as number;
        const irttReceive = stats.receive_delay.median as number;
        // Kernel times at both ends leave out the wake-ups irtt's user-space times hold.
        assert.ok(r.oneWay.forward.delaySummary.p50 <= 1.2 * irttSend);
        assert.ok(r.oneWay.return.delaySummary.p50 <= 1.2 * irttReceive);
        assert.ok(r.oneWay.forward.delaySummary.p50 >= 0);
        assert.ok(r.oneWay.return.delaySummary.p50 >= 0);
      } finally {
        await lab.set.stop(server);
      }
    }),
});

function scenarioProbe(report: Awaited<ReturnType<typeof runScenario>>): UdpProbeResult {
  const w = report.workloads.find((w) => w.name === "probe");
  assert.equal(report.status, "passed", report.errors.join("; "));
  assert.equal(w?.result?.kind, "udpProbe");
  return w.result as UdpProbeResult;
}

Deno.test({
  name: "XDP loss on one direction lands on that direction only, with one-way delays each way",
  ignore: Deno.uid() !== 0,
  fn: async (t) => {
    for (const direction of ["forward", "reverse"] as const) {
      await t.step(direction, async () => {
        const report = await runScenario(scenario(`one-way loss ${direction}`, {
          hosts: ["client", "server"],
          links: [{ between: ["client", "server"], faults: [loss(0.2, { direction })] }],
          workloads: {
            echo: { on: "server", run: udpEcho({ port: PORT }) },
            probe: {
              on: "client",
              run: udpProbe({ target: `server:${PORT}`, count: 5000, rate: 5000 }),
            },
          },
        }));
        const r = scenarioProbe(report);
        assert.equal(r.measuredBy, "native");
        assert.ok(r.oneWay, "one-way delay measured");
        assert.equal(r.sent, r.delivered + r.late + r.lost);
        assert.ok(r.lost > 500, `${r.lost} lost`);
        const [lossy, clean] = direction === "forward"
          ? [r.lostOutbound!, r.lostReturn!]
          : [r.lostReturn!, r.lostOutbound!];
        assert.equal(lossy, r.lost, "every loss on the faulty direction");
        assert.equal(clean, 0, "nothing lost on the other");
        assert.equal(r.ledger?.total.unexplained, 0);
        // Each delivered datagram crossed both ways: both have delays, none late.
        assert.equal(r.oneWay.forward.delaySummary.count, r.delivered);
        assert.equal(r.oneWay.return.delaySummary.count, r.delivered);
        assert.ok(r.oneWay.forward.delaySummary.p50 < 1 * MS);
        assert.ok(r.oneWay.return.delaySummary.p50 < 1 * MS);
      });
    }
  },
});

Deno.test({
  name: "a native probe at 100k datagrams/s for 10 s keeps exact sums and explains every loss",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const report = await runScenario(scenario("100k/s", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        echo: { on: "server", run: udpEcho({ port: PORT }) },
        probe: {
          on: "client",
          run: udpProbe({ target: `server:${PORT}`, duration: "10s", rate: 100_000, size: 64 }),
        },
      },
      timeout: "60s",
    }));
    const r = scenarioProbe(report);
    assert.equal(r.measuredBy, "native");
    assert.equal(r.sent, r.delivered + r.late + r.lost, "sent = delivered + late + lost");
    assert.equal(r.lostOutbound! + r.lostReturn!, r.lost, "lost = out + back");
    assert.equal(r.ledger?.total.unexplained, 0, JSON.stringify(r.ledger));
    assert.equal(r.ledger?.outbound?.unexplained, 0);
    assert.equal(r.ledger?.return?.unexplained, 0);
    assert.ok(r.sent >= 500_000, `sent ${r.sent} of 1M`);
  },
});
