import assert from "node:assert/strict";
import { buildLedger, type LedgerInput } from "./loss_ledger.ts";
import type { UdpProbeResult } from "./results.ts";

function input(
  overrides: Partial<Omit<LedgerInput, "result">> & { result: Partial<UdpProbeResult> },
): LedgerInput {
  return {
    outboundDrops: [],
    returnDrops: [],
    outboundKernel: { receiveBufferOverflow: 0, noSocket: 0 },
    returnKernel: { receiveBufferOverflow: 0, noSocket: 0 },
    shared: false,
    ...overrides,
    result: { echoReceived: null, late: 0, ...overrides.result } as UdpProbeResult,
  };
}

Deno.test("buildLedger() attributes each direction's loss to faults and the kernel", () => {
  const ledger = buildLedger(input({
    result: { sent: 1000, delivered: 880, late: 5, lost: 115, echoReceived: 920 },
    outboundDrops: [{ fault: 1, description: "loss 5%", packets: 70 }],
    outboundKernel: { receiveBufferOverflow: 8, noSocket: 2 },
    returnDrops: [{ fault: 1, description: "loss 5%", packets: 30 }, {
      fault: 2,
      description: "x",
      packets: 0,
    }],
    returnKernel: { receiveBufferOverflow: 5, noSocket: 99 },
  }));
  assert.deepEqual(ledger.outbound, {
    lost: 80,
    droppedByFault: [{ fault: 1, description: "loss 5%", packets: 70 }],
    receiveBufferOverflow: 8,
    noSocket: 2,
    unexplained: 0,
  });
  // No-socket drops of the probe's own namespace are not this flow's: replies always find the probe.
  assert.deepEqual(ledger.return, {
    lost: 35,
    droppedByFault: [{ fault: 1, description: "loss 5%", packets: 30 }],
    receiveBufferOverflow: 5,
    noSocket: 0,
    unexplained: 0,
  });
  assert.equal(ledger.total.lost, 115);
  assert.deepEqual(ledger.total.droppedByFault, [{
    fault: 1,
    description: "loss 5%",
    packets: 100,
  }]);
  assert.equal(ledger.total.unexplained, 0);
  assert.equal(ledger.late, 5);
});

Deno.test("buildLedger() says how much is unexplained, per direction", () => {
  const ledger = buildLedger(input({
    result: { sent: 100, delivered: 90, lost: 10, echoReceived: 95 },
    outboundDrops: [{ fault: 1, description: "loss", packets: 3 }],
  }));
  assert.equal(ledger.outbound!.unexplained, 2);
  assert.equal(ledger.return!.unexplained, 5);
  assert.equal(ledger.total.unexplained, 7);
});

Deno.test("buildLedger() without squall's echo gives only the total", () => {
  const ledger = buildLedger(input({
    result: { sent: 100, delivered: 90, lost: 10 },
    outboundDrops: [{ fault: 1, description: "loss", packets: 6 }],
    returnDrops: [{ fault: 1, description: "loss", packets: 4 }],
  }));
  assert.equal(ledger.outbound, null);
  assert.equal(ledger.return, null);
  assert.equal(ledger.total.unexplained, 0);
});

Deno.test("buildLedger() puts datagrams queued in a closed group member on their own cause", () => {
  const ledger = buildLedger(input({
    result: { sent: 400, delivered: 340, lost: 60, echoReceived: 340 },
    closedSocket: 60,
  }));
  assert.deepEqual(ledger.outbound, {
    lost: 60,
    droppedByFault: [],
    receiveBufferOverflow: 0,
    noSocket: 0,
    closedSocket: 60,
    unexplained: 0,
  });
  assert.equal(ledger.total.closedSocket, 60);
  assert.equal(ledger.total.unexplained, 0);
  assert.equal("closedSocket" in ledger.return!, false);
});

Deno.test("buildLedger() puts a delay line's queue drops on the flow when it alone crossed the queue", () => {
  const ledger = buildLedger(input({
    result: { sent: 1000, delivered: 850, lost: 150, echoReceived: 850 },
    outboundDrops: [
      { fault: 1, description: "delay 2s: queue full", packets: 140, cause: "queueFull" },
      { fault: 1, description: "delay 2s: netlink overrun", packets: 10, cause: "overrun" },
    ],
  }));
  assert.deepEqual(ledger.outbound!.droppedByFault.map((d) => [d.cause, d.packets]), [
    ["queueFull", 140],
    ["overrun", 10],
  ]);
  assert.equal(ledger.outbound!.unexplained, 0);
  assert.equal("queueDropsNotSplit" in ledger.outbound!, false);
  assert.equal(ledger.total.unexplained, 0);
});

Deno.test("buildLedger() does not split a queue's drops among flows, and does not call them unexplained", () => {
  const shared = { flows: 2, otherPackets: 0 };
  const queueFull = {
    fault: 1,
    description: "delay 2s: queue full",
    packets: 300,
    cause: "queueFull" as const,
    notSplit: shared,
  };
  const ledger = buildLedger(input({
    result: { sent: 1000, delivered: 850, lost: 150, echoReceived: 850 },
    outboundDrops: [queueFull, { fault: 2, description: "loss 1%", packets: 10 }],
  }));
  const out = ledger.outbound!;
  // What is left after the flow's own causes (140) is within what the queue dropped.
  assert.deepEqual(out.droppedByFault, [{ fault: 2, description: "loss 1%", packets: 10 }]);
  assert.deepEqual(out.queueDropsNotSplit, {
    packets: 140,
    queues: [{
      fault: 1,
      description: "delay 2s: queue full",
      cause: "queueFull",
      dropped: 300,
      flows: 2,
      otherPackets: 0,
    }],
  });
  assert.equal(out.unexplained, 0);
  assert.equal(ledger.total.queueDropsNotSplit!.packets, 140);
  assert.equal(ledger.total.unexplained, 0);

  // More lost than the queue dropped of every flow: the rest is unexplained.
  const more = buildLedger(input({
    result: { sent: 1000, delivered: 500, lost: 500, echoReceived: 500 },
    outboundDrops: [queueFull],
  }));
  assert.equal(more.outbound!.queueDropsNotSplit!.packets, 300);
  assert.equal(more.outbound!.unexplained, 200);
  // Nothing left to explain: the queue's drops were other flows'.
  const none = buildLedger(input({
    result: { sent: 1000, delivered: 1000, lost: 0, echoReceived: 1000 },
    outboundDrops: [queueFull],
  }));
  assert.equal(none.outbound!.queueDropsNotSplit!.packets, 0);
  assert.equal(none.outbound!.unexplained, 0);
});
