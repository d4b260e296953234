import assert from "node:assert/strict";
import { mergeTcpGroup, mergeUdpGroup, spreadOf } from "./echo_group.ts";
import type { EchoFlow, UdpEchoResult } from "./results.ts";

function flow(flowId: number, fields: Partial<EchoFlow> = {}): EchoFlow {
  return {
    flowId,
    from: `198.18.0.1:${40000 + flowId}`,
    received: 10,
    duplicated: 0,
    lossRuns: 0,
    lossRunPackets: 0,
    highestSeq: 9,
    ...fields,
  };
}

function member(flows: EchoFlow[]): UdpEchoResult {
  const received = flows.reduce((n, f) => n + f.received, 0);
  return {
    kind: "udpEcho",
    address: "0.0.0.0:7000",
    received,
    replied: received,
    sendErrors: {},
    flows,
  };
}

Deno.test("spreadOf() gives shares, idle members and the largest share over an even one", () => {
  assert.deepEqual(spreadOf([2, 2, 2, 2]), {
    members: 4,
    units: 8,
    idle: 0,
    minShare: 0.25,
    maxShare: 0.25,
    maxOverEven: 1,
  });
  assert.deepEqual(spreadOf([0, 0]), {
    members: 2,
    units: 0,
    idle: 2,
    minShare: 0,
    maxShare: 0,
    maxOverEven: 0,
  });
});

Deno.test("mergeUdpGroup() sums members and gives each its share of flows and datagrams", () => {
  const group = mergeUdpGroup([member([flow(1), flow(2)]), member([]), member([flow(3)])], [
    false,
    false,
    false,
  ]);
  assert.equal(group.received, 30);
  assert.equal(group.flows.length, 3);
  assert.deepEqual(group.group!.members.map((m) => m.flows), [2, 0, 1]);
  assert.equal(group.group!.spread.idle, 1);
  assert.equal(group.group!.members[0]!.datagramShare, 20 / 30);
});

Deno.test("mergeUdpGroup() joins a flow re-hashed from a stopped member, with its discards", () => {
  // Member 0 saw seqs 0-9 and had 5 more queued when stopped; member 1 then saw 15-24.
  const before = flow(7, { received: 10, highestSeq: 9, discarded: 5 });
  const after = flow(7, { received: 10, highestSeq: 24, lossRuns: 1, lossRunPackets: 15 });
  const group = mergeUdpGroup([member([before]), member([after])], [true, false]);
  assert.deepEqual(group.flows, [{
    flowId: 7,
    from: before.from,
    received: 20,
    duplicated: 0,
    lossRuns: 1,
    lossRunPackets: 5,
    highestSeq: 24,
    discarded: 5,
  }]);
  assert.equal(group.group!.members[0]!.state, "stopped");
  assert.equal(group.group!.members[0]!.discarded, 5);
});

Deno.test("mergeTcpGroup() gives each listener its share of connections", () => {
  const listener = (connections: number) => ({
    kind: "tcpEcho" as const,
    address: "0.0.0.0:7100",
    connections,
    maxConcurrent: 1,
    bytes: connections * 64,
    errors: connections > 2 ? { ConnectionReset: 1 } : {},
  });
  const group = mergeTcpGroup([listener(3), listener(1), listener(0)], [false, true, false]);
  assert.equal(group.connections, 4);
  assert.deepEqual(group.errors, { ConnectionReset: 1 });
  assert.deepEqual(group.group!.members.map((m) => [m.share, m.state]), [
    [0.75, "open"],
    [0.25, "stopped"],
    [0, "open"],
  ]);
  assert.equal(group.group!.spread.maxOverEven, 2.25);
});
