import assert from "node:assert/strict";
import {
  blackhole,
  burstLoss,
  describeFault,
  loss,
  meanBurstLength,
  portRange,
  stationaryLoss,
  validateFault,
} from "./faults.ts";
import { toRule } from "../runner/fault_manager.ts";
import {
  chance,
  SQ_CHANCE_ALWAYS,
  SQ_MODE_BERNOULLI,
  SQ_MODE_BLACKHOLE,
  SQ_MODE_GILBERT,
  SQ_PROTO_ANY,
  SQ_PROTO_UDP,
} from "../kernel/xdp_layout.ts";

const LINK = ["client", "server"] as const;

Deno.test("loss() describes itself in one line, with direction and match", () => {
  assert.equal(describeFault(loss(0.1), LINK), "loss 10% on client ↔ server");
  assert.equal(
    describeFault(
      loss(0.015, { direction: "reverse", protocol: "udp", ports: [7000, 7010] }),
      LINK,
    ),
    "loss 1.5% on server → client (udp dport 7000-7010)",
  );
  assert.equal(
    describeFault(blackhole({ for: "2s", from: "client", direction: "forward" }), LINK),
    "blackhole for 2s on client → server (from client)",
  );
});

Deno.test("burstLoss() from loss and burst length gives a chain with that loss and burst", () => {
  const fault = burstLoss({ loss: 0.05, burst: 4 });
  assert.ok(Math.abs(stationaryLoss(fault) - 0.05) < 1e-12);
  assert.equal(meanBurstLength(fault), 4);
  assert.equal(fault.lossGood, 0);
  assert.equal(fault.lossBad, 1);
});

Deno.test("burstLoss() from p and r keeps them, with the usual defaults", () => {
  const fault = burstLoss({ p: 0.01, r: 0.5 });
  assert.deepEqual([fault.p, fault.r, fault.lossGood, fault.lossBad], [0.01, 0.5, 0, 1]);
  assert.ok(Math.abs(stationaryLoss(fault) - 0.01 / 0.51) < 1e-12);
});

Deno.test("validateFault() names the loss or burst given, not the chain made from them", () => {
  assert.deepEqual(validateFault(burstLoss({ loss: 0.05, burst: 0 }), "f"), [{
    where: "f.burst",
    message: "burst must be a mean burst length of 1 or more packets, got 0",
  }]);
  assert.deepEqual(validateFault(burstLoss({ loss: 1.5, burst: 4 }), "f"), [{
    where: "f.loss",
    message: "loss must be a probability above 0 and below 1, got 1.5",
  }]);
  assert.deepEqual(validateFault(burstLoss({ loss: 1, burst: 2 }), "f"), [{
    where: "f.loss",
    message: "loss must be a probability above 0 and below 1, got 1",
  }]);
  assert.deepEqual(validateFault(burstLoss({ loss: 0.05, burst: 4 }), "f"), []);
});

Deno.test("validateFault() accepts good faults", () => {
  for (
    const f of [loss(0), loss(1), burstLoss({ p: 0.1, r: 1 }), blackhole(), blackhole({ for: 500 })]
  ) {
    assert.deepEqual(validateFault(f, "f"), []);
  }
});

Deno.test("validateFault() rejects a loss rate outside 0..1", () => {
  for (const rate of [-0.1, 1.5, NaN]) {
    assert.deepEqual(validateFault(loss(rate), "f").map((p) => p.where), ["f.rate"]);
  }
});

Deno.test("validateFault() rejects burst parameters that make no chain", () => {
  for (
    const f of [
      burstLoss({ p: 0, r: 0.5 }),
      burstLoss({ p: 0.1, r: 0 }),
    ]
  ) {
    const problems = validateFault(f, "f");
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.match(problems[0]!.message, /^burst parameters make no chain/);
  }
  assert.deepEqual(
    validateFault(burstLoss({ p: 0.1, r: 0.5, lossBad: 2 }), "f").map((p) => p.where),
    [
      "f.lossBad",
    ],
  );
});

Deno.test("validateFault() rejects an upside-down port range, a bad port and a bad window", () => {
  assert.deepEqual(validateFault(loss(0.1, { ports: [9000, 8000] }), "f"), [
    { where: "f.ports", message: "port range is upside down: [9000, 8000]" },
  ]);
  assert.equal(validateFault(loss(0.1, { ports: 0 }), "f")[0]?.where, "f.ports");
  assert.equal(validateFault(blackhole({ for: "soon" as "1s" }), "f")[0]?.where, "f.for");
  assert.equal(
    validateFault({ ...loss(0.1), direction: "sideways" } as unknown, "f")[0]?.where,
    "f.direction",
  );
  assert.equal(validateFault({ kind: "delay" }, "f")[0]?.where, "f.kind");
  assert.equal(validateFault(undefined, "f")[0]?.where, "f");
});

Deno.test("validateFault() lists every problem of a fault at once", () => {
  const bad = { ...loss(2, { ports: [9, 1], protocol: "sctp" as "udp" }), direction: "up" };
  assert.deepEqual(validateFault(bad, "f").map((p) => p.where), [
    "f.rate",
    "f.direction",
    "f.protocol",
    "f.ports",
  ]);
});

Deno.test("toRule() turns faults into dropper rules", () => {
  const rule = toRule(loss(0.25, { protocol: "udp", ports: 7000 }), "198.18.0.1");
  assert.equal(rule.mode, SQ_MODE_BERNOULLI);
  assert.equal(rule.protocol, SQ_PROTO_UDP);
  assert.equal(rule.lossGood, chance(0.25));
  assert.deepEqual([rule.dportMin, rule.dportMax], [7000, 7000]);
  assert.deepEqual([rule.srcAddr, rule.srcMask], ["198.18.0.1", "255.255.255.255"]);

  const any = toRule(blackhole(), undefined);
  assert.equal(any.mode, SQ_MODE_BLACKHOLE);
  assert.equal(any.protocol, SQ_PROTO_ANY);
  assert.deepEqual([any.dportMin, any.dportMax, any.srcMask], [0, 65535, "0.0.0.0"]);

  const burst = toRule(burstLoss({ p: 0.1, r: 0.5 }), undefined);
  assert.equal(burst.mode, SQ_MODE_GILBERT);
  assert.deepEqual([burst.lossGood, burst.lossBad], [0, SQ_CHANCE_ALWAYS]);
  assert.deepEqual([burst.pEnterBad, burst.pLeaveBad], [chance(0.1), chance(0.5)]);
});

Deno.test("portRange() of no ports is every port", () => {
  assert.deepEqual(portRange(undefined), [0, 65535]);
  assert.deepEqual(portRange(53), [53, 53]);
});
