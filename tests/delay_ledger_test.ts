// The ledger explains what the kernel drops for a delay line's queue, on the real kernel,
// through squall's runner: a 3 s delay at 30k datagrams/s would hold 90k packets, the
// kernel's queue holds 65,536, so for about 0.8 s every datagram that arrives is dropped
// by the kernel (queue_dropped in the namespace's /proc/net/netfilter/nfnetlink_queue),
// before the line ever sees it. The kernel counts those drops per queue: with one probe
// flow across the queue they are its own cause in that flow's ledger; with two they are
// said to be the queue's, not split between the flows, and neither is unexplained.

import assert from "node:assert/strict";
import { delay, runScenario, scenario, type ScenarioReport, udpEcho, udpProbe } from "../mod.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";

const FAULT = delay("3s", { direction: "forward" });
const ECHO = { on: "server", run: udpEcho({ port: 7000 }) };
const FLOOD = {
  on: "client",
  run: udpProbe({ target: "server:7000", duration: "3s", rate: 30_000, timeout: "4s" }),
};

function probe(report: ScenarioReport, name: string): UdpProbeResult {
  assert.deepEqual(report.errors, []);
  return report.workloads.find((w) => w.name === name)!.result as UdpProbeResult;
}

Deno.test("queue-full drops of a delay line crossed by one probe flow are that flow's, by cause", async () => {
  const report = await runScenario(
    scenario("a delay line's queue overflows", {
      hosts: ["client", "server"],
      links: [{ between: ["client", "server"], faults: [FAULT] }],
      workloads: { echo: ECHO, probe: FLOOD },
    }),
  );
  const r = probe(report, "probe");
  const line = report.faults[0]!.line!;
  const out = r.ledger!.outbound!;
  console.log(
    `sent ${r.sent}, lost on the way there ${out.lost}: ${JSON.stringify(out.droppedByFault)}, ` +
      `receive buffer overflow ${out.receiveBufferOverflow}; the line: ${JSON.stringify(line)}`,
  );
  assert.ok(line.queueFull > 1000, `the kernel dropped ${line.queueFull} for a full queue`);
  assert.deepEqual(out.droppedByFault.map((d) => [d.fault, d.cause, d.packets]), [
    [1, "queueFull", line.queueFull],
  ]);
  assert.equal(out.lost, line.queueFull + out.receiveBufferOverflow);
  assert.equal(out.unexplained, 0);
  assert.equal(out.queueDropsNotSplit, undefined);
  assert.equal(r.ledger!.total.unexplained, 0);
  assert.equal(r.sent, r.delivered + r.late + r.lost);
});

Deno.test("queue-full drops of a delay line crossed by two probe flows are not split, nor unexplained", async () => {
  const report = await runScenario(
    scenario("two flows through an overflowing delay line", {
      hosts: ["client", "server"],
      links: [{ between: ["client", "server"], faults: [FAULT] }],
      workloads: {
        echo: ECHO,
        flood: FLOOD,
        // A slow flow beside it: it too loses what arrives while the queue is full.
        slow: {
          on: "client",
          run: udpProbe({ target: "server:7000", duration: "3s", rate: 1000, timeout: "4s" }),
        },
      },
    }),
  );
  const line = report.faults[0]!.line!;
  assert.ok(line.queueFull > 1000, `the kernel dropped ${line.queueFull} for a full queue`);
  let lost = 0;
  let overflow = 0;
  for (const name of ["flood", "slow"]) {
    const r = probe(report, name);
    const out = r.ledger!.outbound!;
    console.log(
      `${name}: sent ${r.sent}, lost on the way there ${out.lost}: ` +
        `${JSON.stringify(out.queueDropsNotSplit)}, overflow ${out.receiveBufferOverflow}`,
    );
    assert.ok(out.lost > 0, `${name} lost nothing while the queue was full`);
    assert.deepEqual(out.droppedByFault, [], "no drop is pinned on one flow");
    assert.deepEqual(out.queueDropsNotSplit?.queues, [{
      fault: 1,
      description: `${report.faults[0]!.description}: queue full`,
      cause: "queueFull",
      dropped: line.queueFull,
      flows: 2,
      otherPackets: 0,
    }]);
    assert.equal(out.unexplained, 0);
    assert.equal(r.ledger!.total.unexplained, 0);
    lost += out.queueDropsNotSplit!.packets;
    overflow += out.receiveBufferOverflow;
  }
  // Between them, the two flows lost what the queue dropped. (Should the echo's socket
  // overflow, the namespace's count of it is in both flows' ledgers, as the report says.)
  if (overflow === 0) assert.equal(lost, line.queueFull);
  else assert.ok(lost <= line.queueFull);
});
