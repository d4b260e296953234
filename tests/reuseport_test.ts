// Ports shared on purpose, on the real kernel (loopback sockets of this process, and a
// python3 program run as another user): SO_REUSEPORT groups of squall's echoes spread
// flows and connections over their members; a member stopped as a dying worker loses
// exactly what was queued in its socket, counted per flow, and the kernel re-hashes its
// flows; a bind churn rebinds next to a live group with SO_REUSEPORT and fails without
// it, the failure named; a member of another owner is named as such.

import assert from "node:assert/strict";
import { startTcpEchoGroup, startUdpEchoGroup } from "../harness/agent/echo_group.ts";
import { startBindChurn } from "../harness/agent/bind_churn.ts";
import { findLibrary, LIBC_CANDIDATES } from "../harness/native/libc.ts";
import { HEADER_BYTES, writeHeader } from "../harness/native/probe_packet.ts";
import type { ChurnSettings } from "../harness/agent/protocol.ts";
import type { UdpEchoResult } from "../harness/measure/results.ts";
import type { ExecResult } from "../harness/measure/bind_results.ts";
import { sleep } from "../harness/core/sleep.ts";
import {
  type EchoHandle,
  exec,
  runScenario,
  scenario,
  tcpEcho,
  type TcpEchoResult,
  udpEcho,
  udpProbe,
  type UdpProbeResult,
  type WorkloadPlacement,
} from "../mod.ts";

const LIBC = findLibrary(LIBC_CANDIDATES)!;
const HOST = "127.0.0.1";

/** `count` client sockets, each its own flow (its own source port, so its own 5-tuple). */
function clients(count: number): Deno.DatagramConn[] {
  return Array.from(
    { length: count },
    () => Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 }),
  );
}

/** Sends probe datagram `seq` of flow `flowId` from `conn` to `port`. */
async function sendProbe(conn: Deno.DatagramConn, port: number, flowId: number, seq: number) {
  const data = new Uint8Array(HEADER_BYTES);
  writeHeader(new DataView(data.buffer), flowId, seq, 0);
  await conn.send(data, { transport: "udp", hostname: HOST, port });
}

function churnSettings(port: number, fields: Partial<ChurnSettings>): ChurnSettings {
  return {
    hostname: HOST,
    port,
    protocol: "tcp",
    cycles: 50,
    pendingReceive: false,
    awaitPending: false,
    liveConnections: 0,
    reuseAddress: true,
    rebindTimeoutMs: 200,
    maxDurationMs: 5_000,
    ssPath: "ss",
    ...fields,
  };
}

Deno.test("a UDP echo group spreads 64 flows over all 4 members, every datagram counted once", async () => {
  const group = await startUdpEchoGroup(HOST, 0, 4, LIBC);
  const port = Number(group.address.split(":").pop());
  const conns = clients(64);
  try {
    for (let seq = 0; seq < 5; seq++) {
      await Promise.all(conns.map((c, flow) => sendProbe(c, port, flow + 1, seq)));
      // Replies are not read; each client's buffer holds all 5.
    }
    await sleep(100);
    const result = await group.snapshot();
    const members = result.group!.members;
    assert.equal(result.received, 64 * 5);
    assert.equal(members.reduce((n, m) => n + m.received, 0), 64 * 5);
    // A flow keeps its member: 64 flows seen once each in all.
    assert.equal(members.reduce((n, m) => n + m.flows, 0), 64);
    assert.equal(result.group!.spread.idle, 0, JSON.stringify(members.map((m) => m.flows)));
    assert.ok(result.group!.spread.maxOverEven < 2.5, `${result.group!.spread.maxOverEven}`);
    assert.ok(result.flows.every((f) => f.received === 5));
  } finally {
    for (const c of conns) c.close();
    await group.stop();
  }
});

Deno.test("a stopped UDP member loses exactly what queued in its socket, and its flows re-hash", async () => {
  const group = await startUdpEchoGroup(HOST, 0, 2, LIBC);
  const port = Number(group.address.split(":").pop());
  const conns = clients(32);
  try {
    await Promise.all(conns.map((c, flow) => sendProbe(c, port, flow + 1, 0)));
    await sleep(100);
    const before = await group.snapshot();
    const flowsOfMember0 = before.group!.members[0]!.flows;
    assert.ok(flowsOfMember0 > 0 && flowsOfMember0 < 32, `${flowsOfMember0} flows on member 0`);
    // Member 0 stops reading for 400 ms, then closes: what its flows send meanwhile queues.
    const stopping = group.control!({ action: "stopMember", member: 0, hangMs: 400 });
    await sleep(50);
    for (let seq = 1; seq <= 3; seq++) {
      await Promise.all(conns.map((c, flow) => sendProbe(c, port, flow + 1, seq)));
    }
    await stopping;
    // Closed: the kernel re-hashes every flow to member 1.
    await Promise.all(conns.map((c, flow) => sendProbe(c, port, flow + 1, 4)));
    await sleep(100);
    const after = await group.snapshot();
    const [m0, m1] = after.group!.members as [
      NonNullable<UdpEchoResult["group"]>["members"][number],
      NonNullable<UdpEchoResult["group"]>["members"][number],
    ];
    assert.equal(m0.state, "stopped");
    assert.equal(m0.discarded, flowsOfMember0 * 3, "3 datagrams of each of its flows queued");
    assert.equal(m0.received, flowsOfMember0, "it read only the first of each");
    const discarded = after.flows.reduce((n, f) => n + (f.discarded ?? 0), 0);
    assert.equal(discarded, flowsOfMember0 * 3);
    // Every flow's last datagram reached member 1.
    assert.ok(after.flows.every((f) => f.highestSeq === 4), "every flow answered after re-hash");
    assert.equal(after.received + discarded, 32 * 5);
    assert.equal(m1.flows, 32);
  } finally {
    for (const c of conns) c.close();
    await group.stop();
  }
});

Deno.test("a TCP echo group spreads connections over its listeners and serves on after losing one", async () => {
  const group = await startTcpEchoGroup(HOST, 0, 3);
  const port = Number(group.address.split(":").pop());
  const connectOnce = async () => {
    const conn = await Deno.connect({ hostname: HOST, port });
    await conn.write(new Uint8Array([1, 2, 3]));
    const buf = new Uint8Array(3);
    let n = 0;
    while (n < 3) n += (await conn.read(buf.subarray(n))) ?? 3;
    conn.close();
  };
  try {
    for (let i = 0; i < 60; i++) await connectOnce();
    const before = await group.snapshot();
    assert.equal(before.connections, 60);
    assert.equal(before.group!.spread.idle, 0, JSON.stringify(before.group!.members));
    await group.control!({ action: "stopMember", member: 1, hangMs: 0 });
    for (let i = 0; i < 30; i++) await connectOnce();
    const after = await group.snapshot();
    assert.equal(after.connections, 90, "every connection after the loss served");
    assert.equal(after.group!.members[1]!.state, "stopped");
    assert.equal(after.group!.members[1]!.connections, before.group!.members[1]!.connections);
  } finally {
    await group.stop();
  }
});

Deno.test("a bind churn with SO_REUSEPORT rebinds next to a live group; without it, the failure is named", async () => {
  const group = await startTcpEchoGroup(HOST, 0, 2);
  const port = Number(group.address.split(":").pop());
  try {
    const joined = await startBindChurn(churnSettings(port, { reusePort: true }), LIBC);
    const result = await joined.done;
    assert.equal(result.failures, 0);
    assert.equal(result.cycles, 50);
    await assert.rejects(
      startBindChurn(churnSettings(port, {}), LIBC),
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.AddrInUse);
        assert.match(
          error.message,
          /bound without SO_REUSEPORT while 2 SO_REUSEPORT group members/,
        );
        assert.match(error.message, /uid 0/);
        return true;
      },
    );
  } finally {
    await group.stop();
  }
});

Deno.test("a UDP bind churn with SO_REUSEPORT rebinds next to a live UDP group", async () => {
  const group = await startUdpEchoGroup(HOST, 0, 2, LIBC);
  const port = Number(group.address.split(":").pop());
  try {
    const churn = await startBindChurn(
      churnSettings(port, { protocol: "udp", reusePort: true, reuseAddress: false }),
      LIBC,
    );
    const result = await churn.done;
    assert.equal(result.failures, 0);
    assert.equal(result.cycles, 50);
  } finally {
    await group.stop();
  }
});

Deno.test("a SO_REUSEPORT member of another owner is named as such", async () => {
  // A listener with SO_REUSEPORT, as user nobody (65534): a root socket cannot join it.
  const program = new Deno.Command("setpriv", {
    args: [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--",
      "/usr/bin/python3",
      "-c",
      "import socket,sys,time\n" +
      "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n" +
      "s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True)\n" +
      "sys.stdin.read()",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { HOME: "/tmp" },
  }).spawn();
  const reader = program.stdout.getReader();
  try {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const port = Number(text.trim());
    assert.ok(port > 0, `python3 listened (printed ${JSON.stringify(text)})`);
    await assert.rejects(
      startBindChurn(churnSettings(port, { reusePort: true }), LIBC),
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.AddrInUse, String(error));
        assert.match(
          error.message,
          /1 SO_REUSEPORT group member of another owner \(pid \d+ "python3" uid 65534\)/,
        );
        return true;
      },
    );
  } finally {
    reader.releaseLock();
    await program.stdin.close();
    await program.stdout.cancel();
    await program.status;
  }
});

Deno.test("a program under test joins an echo's group; one without SO_REUSEPORT fails, the reason named", async () => {
  const program = new URL("./fixtures/programs/reuseport_udp_echo.py", import.meta.url).pathname;
  const python = (...args: string[]) => ["/usr/bin/python3", "-u", program, "7000", ...args];
  const probes: Record<string, WorkloadPlacement> = {};
  for (let i = 0; i < 16; i++) {
    probes[`flow${i}`] = {
      on: "client",
      run: udpProbe({ target: "server:7000", count: 50, rate: 100 }),
    };
  }
  const report = await runScenario(
    scenario("a program joins a SO_REUSEPORT group", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        echo: { on: "server", run: udpEcho({ port: 7000, group: 2 }) },
        worker: {
          on: "server",
          run: exec(python("--reuse-port"), { ready: { stdout: /ready/ } }),
        },
        intruder: { on: "server", run: exec(python(), { waitForExit: true, expectExit: 1 }) },
        ...probes,
      },
    }),
  );
  const probeResults = report.workloads.filter((w) => w.name.startsWith("flow"))
    .map((w) => w.result as UdpProbeResult);
  assert.equal(probeResults.length, 16);
  // Every datagram answered: by a member of squall's echo or by the program.
  assert.equal(probeResults.reduce((n, r) => n + r.delivered, 0), 16 * 50);
  const echo = report.workloads.find((w) => w.name === "echo")!.result as UdpEchoResult;
  assert.ok(echo.received < 16 * 50, `the program took a share (echo got ${echo.received})`);
  const failure = report.bindFailures?.find((f) => f.workload === "intruder");
  assert.ok(failure, JSON.stringify(report.bindFailures));
  assert.equal(failure.error, "EADDRINUSE");
  const members = (failure.holders ?? []).filter((h) => h.reusePort === true);
  assert.equal(members.length, 3, JSON.stringify(failure.holders));
  assert.match(failure.reason ?? "", /^3 SO_REUSEPORT group members .*python3.* hold the port/);
});

Deno.test("a program in a group that is frozen, then killed, loses its flows' queued datagrams, counted", async () => {
  const program = new URL("./fixtures/programs/reuseport_udp_echo.py", import.meta.url).pathname;
  const worker = () =>
    exec(["/usr/bin/python3", "-u", program, "7000", "--reuse-port"], {
      ready: { stdout: /ready/ },
    });
  const probes: Record<string, WorkloadPlacement> = {};
  for (let i = 0; i < 16; i++) {
    probes[`flow${i}`] = {
      on: "client",
      run: udpProbe({ target: "server:7000", duration: "1500ms", rate: 50, timeout: "1s" }),
    };
  }
  const report = await runScenario(
    scenario("a group worker hangs and dies", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        a: { on: "server", run: worker() },
        b: { on: "server", run: worker() },
        ...probes,
      },
    }, async (t) => {
      await t.sleep("400ms");
      await t.program("a").kill("SIGSTOP"); // hangs: its flows queue in its socket
      await t.sleep("300ms");
      await t.program("a").kill("SIGKILL"); // dies: the kernel re-hashes its flows to b
    }),
  );
  assert.deepEqual(report.errors, []);
  const a = report.workloads.find((w) => w.name === "a")!.result as ExecResult;
  const queued = a.queuedAtKill?.[0];
  assert.ok(queued && queued.datagrams > 0, JSON.stringify(a.queuedAtKill));
  const probeResults = report.workloads.filter((w) => w.name.startsWith("flow"))
    .map((w) => w.result as UdpProbeResult);
  const closed = probeResults.reduce((n, r) => n + (r.ledger?.total.closedSocket ?? 0), 0);
  assert.equal(closed, queued.flows.reduce((n, f) => n + f.datagrams, 0));
  assert.ok(closed > 0);
  // Only a datagram the program had read but not yet answered when SIGSTOP froze it
  // (inside the process, not in the socket) can be left unexplained: at most one.
  const unexplained: number[] = probeResults.map((r) => r.ledger?.total.unexplained ?? -1);
  const total = unexplained.reduce((a, b) => a + b, 0);
  assert.ok(unexplained.every((n) => n === 0 || n === 1), JSON.stringify(unexplained));
  assert.ok(total <= 1, JSON.stringify(unexplained));
});

Deno.test("stopMember() refuses an echo without a group and a member out of range", async () => {
  const errors: string[] = [];
  const report = await runScenario(
    scenario("stopMember misuse", {
      hosts: ["local"],
      network: "loopback",
      workloads: {
        plain: { on: "local", run: tcpEcho({ port: 47_301 }) },
        group: { on: "local", run: tcpEcho({ port: 47_302, group: 2 }) },
      },
    }, async (t) => {
      for (const [name, member] of [["plain", 0], ["group", 2], ["group", -1]] as const) {
        await (t.workload(name) as EchoHandle).stopMember(member).catch((e: Error) =>
          errors.push(`${e.name}: ${e.message}`)
        );
      }
      await (t.workload("group") as EchoHandle).stopMember(1);
    }),
  );
  assert.deepEqual(report.errors, []);
  assert.deepEqual(errors, [
    'TypeError: Cannot stop member 0 of workload "plain": it is not a SO_REUSEPORT group (give it group)',
    'RangeError: Cannot stop member 2 of workload "group": members are 0-1',
    'RangeError: Cannot stop member -1 of workload "group": members are 0-1',
  ]);
  const group = report.workloads.find((w) => w.name === "group")!.result as TcpEchoResult;
  assert.deepEqual(group.group!.members.map((m) => m.state), ["open", "stopped"]);
});
