// Truth test of bind failures owed to the program, whatever the failing process does
// next: a wrapper script restarts a server that fails its bind with EADDRINUSE and exits
// at once (within a few ms, before any poll of /proc could see its parents). The bind
// watch records the process's cgroup in the kernel, and every program under test has a
// cgroup of its own, so each failure is owed to the wrapper's workload: in 20 runs out of
// 20, and a threshold on `server.bindFailures.addressInUse` fails as it should.

import assert from "node:assert/strict";
import { exec, runScenario, scenario } from "../mod.ts";

const PORT = 7600;
const RUNS = 20;
const RESTARTS = 3;

// Keeps the port, listening (ready as `ss` sees it), until ended.
const HOLDER = `import socket, time
s = socket.socket()
s.bind(("0.0.0.0", ${PORT}))
s.listen()
time.sleep(60)`;

// The wrapper: starts the server, and when it exits starts it again, RESTARTS times. The
// server binds without SO_REUSEADDR, fails, and exits at once (status 1).
const WRAPPER = `i=0
while [ "$i" -lt ${RESTARTS} ]; do
  python3 -c 'import socket; socket.socket().bind(("0.0.0.0", ${PORT}))' 2>/dev/null
  i=$((i + 1))
done`;

const restarted = scenario("a wrapper restarts a server that fails its bind and exits", {
  hosts: ["server"],
  workloads: {
    holder: { on: "server", run: exec(["python3", "-c", HOLDER], { ready: { tcp: PORT } }) },
  },
  thresholds: { "server.bindFailures.addressInUse": "== 0" }, // fails: 3 per run
}, async (t) => {
  const server = await t.start("server", {
    on: "server",
    run: exec(["sh", "-c", WRAPPER], { waitForExit: true }),
  });
  await server.result();
});

Deno.test(`a server that fails its bind and exits at once is owed its failures in ${RUNS} runs of ${RUNS}`, async () => {
  let owed = 0;
  let thresholdsFailed = 0;
  const misses: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const report = await runScenario(restarted);
    assert.deepEqual(report.errors, [], `run ${run + 1}`);
    assert.equal(report.bindWatch.active, true, "the bind watch ran");
    const failures = report.bindFailures ?? [];
    const inUse = failures.filter((f) => f.port === PORT && f.error === "EADDRINUSE");
    assert.equal(inUse.length, RESTARTS, `run ${run + 1}: one failure per start`);
    const mine = inUse.filter((f) => f.workload === "server");
    // The threshold sees them: it fails, on the count.
    const threshold = report.thresholds.find((t) => t.key === "server.bindFailures.addressInUse");
    assert.ok(threshold, "the threshold was evaluated");
    if (mine.length === RESTARTS) owed++;
    if (!threshold.ok && threshold.value === RESTARTS && report.status === "failed") {
      thresholdsFailed++;
    }
    if (mine.length !== RESTARTS || threshold.ok) {
      misses.push(
        `run ${run + 1}: owed to ${JSON.stringify(inUse.map((f) => f.workload))}, ` +
          `threshold ${threshold.ok ? "passed" : "failed"} on ${threshold.value}`,
      );
    }
  }
  assert.equal(owed, RUNS, `owed to the program in ${owed} runs of ${RUNS}: ${misses.join("; ")}`);
  assert.equal(thresholdsFailed, RUNS, `the threshold failed in ${thresholdsFailed} of ${RUNS}`);
});
