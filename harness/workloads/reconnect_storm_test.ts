import assert from "node:assert/strict";
import { reconnectStorm, reconnectStormSettings } from "./reconnect_storm.ts";
import { context, messages } from "../../tests/fixtures/workload_context.ts";

Deno.test("a storm's clients or cycles of zero or less, and a bad target port, are named", () => {
  assert.deepEqual(messages(reconnectStorm({ target: "server:70000", clients: 0, cycles: -1 })), [
    'w.target: port must be a whole number 1-65535, got 70000 in "server:70000"',
    "w.clients: clients must be a whole number 1-10000, got 0",
    "w.cycles: cycles must be a whole number above 0, got -1",
  ]);
});

Deno.test("a storm's bad backoff, protocol and concurrency are named", () => {
  assert.deepEqual(
    messages(reconnectStorm({
      target: "server:7100",
      clients: 5,
      duration: "1s",
      concurrency: 6,
      protocol: "sctp" as "tcp",
      backoff: { initial: "1s", max: "10ms", factor: 0.5, jitter: 2 },
    })),
    [
      "w.concurrency: concurrency must be a whole number 1-5 (the number of clients), got 6",
      'w.protocol: protocol must be "tcp" or "udp", got "sctp"',
      "w.backoff.max: backoff.max (10ms) must be at least backoff.initial (1s)",
      "w.backoff.factor: backoff.factor must be 1-100, got 0.5",
      "w.backoff.jitter: backoff.jitter must be 0-1, got 2",
    ],
  );
});

Deno.test("reconnectStormSettings() resolves the target and gives the backoff in ms", () => {
  const spec = reconnectStorm({
    target: "server:7100",
    clients: 20,
    duration: "2s",
    backoff: { type: "fixed", initial: "50ms" },
  });
  assert.deepEqual(reconnectStormSettings(spec, context("namespaces", "client")), {
    kind: "reconnectStorm",
    hostname: "0.0.0.0",
    targetAddress: "198.18.0.2",
    targetPort: 7100,
    clients: 20,
    cycles: null,
    durationMs: 2000,
    concurrency: 20,
    backoff: { type: "fixed", initialMs: 50, maxMs: 1000, factor: 2, jitter: 0.1 },
    protocol: "tcp",
    connectTimeoutMs: 1000,
    size: 64,
  });
  assert.deepEqual(
    reconnectStormSettings(
      reconnectStorm({ target: "198.18.0.9:7100", clients: 1, cycles: 1 }),
      context("namespaces", "client"),
    ),
    { error: '"198.18.0.9" is not on any link of host "client" (its peers: 198.18.0.2)' },
  );
});
