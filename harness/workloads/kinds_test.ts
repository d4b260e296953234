// What the kinds list does for every kind: the dispatchers, and the checks of a value
// that is not a workload. Each kind's own tests are in its file's test (udp_probe_test.ts ...).

import assert from "node:assert/strict";
import { describeWorkload, runsUntilStopped, validateWorkload } from "./kinds.ts";
import { bindChurn } from "./bind_churn.ts";
import { exec } from "./exec.ts";
import { reconnectStorm } from "./reconnect_storm.ts";
import { tcpEcho } from "./tcp_echo.ts";
import { tcpProbe } from "./tcp_probe.ts";
import { udpEcho } from "./udp_echo.ts";
import { udpProbe } from "./udp_probe.ts";

Deno.test("validateWorkload() rejects a value that is not a workload", () => {
  const expected = [{
    where: "w",
    message: "expected a workload such as udpEcho({ port }) or udpProbe({ target, count })",
  }];
  assert.deepEqual(validateWorkload(undefined, "w"), expected);
  assert.deepEqual(validateWorkload({ port: 7000 }, "w"), expected);
  assert.deepEqual(validateWorkload({ kind: "sctpEcho" }, "w"), [{
    where: "w.kind",
    message: 'unknown workload kind "sctpEcho"',
  }]);
});

Deno.test("the new workload specs have the documented defaults and are valid", () => {
  assert.deepEqual(tcpEcho({ port: 7100 }), { kind: "tcpEcho", port: 7100 });
  const probe = tcpProbe({ target: "server:7100", count: 10 });
  assert.equal(probe.connection, "keep");
  assert.equal(probe.connectTimeout, "1s");
  const storm = reconnectStorm({ target: "server:7100", clients: 50, cycles: 3 });
  assert.equal(storm.concurrency, 50);
  assert.deepEqual(storm.backoff, {
    type: "exponential",
    initial: "10ms",
    max: "1s",
    factor: 2,
    jitter: 0.1,
  });
  assert.equal(bindChurn({ port: 7200, cycles: 5 }).reuseAddress, false);
  assert.equal(bindChurn({ port: 7200, cycles: 5, protocol: "tcp" }).reuseAddress, true);
  const program = exec(["sh", "-c", "sleep 1"], { ready: { stdout: /up/i } });
  assert.deepEqual(program.ready, { stdout: { source: "up", flags: "i" } });
  for (
    const spec of [
      tcpEcho({ port: 1 }),
      probe,
      storm,
      bindChurn({ port: 7200, cycles: 5 }),
      program,
    ]
  ) {
    assert.deepEqual(validateWorkload(spec, "w"), [], spec.kind);
    assert.ok(describeWorkload(spec).length > 10);
  }
  assert.equal(runsUntilStopped(tcpEcho({ port: 1 })), true);
  assert.equal(runsUntilStopped(program), true);
  assert.equal(runsUntilStopped(exec(["true"], { waitForExit: true })), false);
  assert.equal(runsUntilStopped(storm), false);
});

Deno.test("runsUntilStopped() is true for servers only", () => {
  assert.equal(runsUntilStopped(udpEcho({ port: 7000 })), true);
  assert.equal(runsUntilStopped(udpProbe({ target: "server:7000", count: 1 })), false);
});
