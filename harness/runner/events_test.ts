// What progress output shows of each kind of workload, from its result so far.

import assert from "node:assert/strict";
import { PROGRESS_KINDS, progressOf } from "./events.ts";
import type { WorkloadResult } from "../measure/results.ts";

const result = (r: object) => r as unknown as WorkloadResult;

Deno.test("progressOf() takes sent, delivered, loss and p99 from each kind it reports on", () => {
  const timeline = { intervalMs: 100, sent: [10, 10], delivered: [9, 0], late: [0, 0] };
  const udp = progressOf(
    result({
      kind: "udpProbe",
      sent: 20,
      delivered: 9,
      timeline,
      durationMs: 1150,
      rttSummary: { p99: 5 },
    }),
    1000,
  );
  // 1.15 s in with a 1 s timeout, only the first interval's replies are due.
  assert.deepEqual(udp, { kind: "udpProbe", sent: 20, delivered: 9, loss: 0.1, p99Ns: 5 });
  assert.deepEqual(
    progressOf(
      result({ kind: "tcpProbe", requests: 8, responses: 6, failed: 2, rttSummary: { p99: 7 } }),
      0,
    ),
    { kind: "tcpProbe", sent: 8, delivered: 6, loss: 0.25, p99Ns: 7 },
  );
  assert.deepEqual(
    progressOf(
      result({
        kind: "reconnectStorm",
        attempts: 0,
        successes: 0,
        failures: 0,
        connectSummary: { p99: 0 },
      }),
      0,
    ),
    { kind: "reconnectStorm", sent: 0, delivered: 0, loss: 0, p99Ns: 0 },
    "nothing tried yet: no loss",
  );
  assert.deepEqual(
    progressOf(
      result({ kind: "bindChurn", attempts: 10, failures: 1, rebindSummary: { p99: 3 } }),
      0,
    ),
    { kind: "bindChurn", sent: 10, delivered: 9, loss: 0.1, p99Ns: 3 },
  );
  assert.equal(progressOf(result({ kind: "udpEcho" }), 0), undefined);
});

Deno.test("PROGRESS_KINDS are exactly the kinds progressOf() reports on", () => {
  assert.deepEqual([...PROGRESS_KINDS].sort(), [
    "bindChurn",
    "reconnectStorm",
    "tcpProbe",
    "udpProbe",
  ]);
});
