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
import { isIpv4, isLoopbackIpv4, parseTarget } from "../core/addresses.ts";

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

Deno.test("parseTarget() splits a host name or an IP address from the port", () => {
  assert.deepEqual(parseTarget("server:7000"), { host: "server", port: 7000 });
  assert.deepEqual(parseTarget("198.18.0.2:53"), { host: "198.18.0.2", port: 53 });
  assert.deepEqual(parseTarget("db_1:65535"), { host: "db_1", port: 65535 });
});

Deno.test("parseTarget() rejects a target without a host, a port, or a valid port", () => {
  assert.deepEqual(parseTarget("server"), { error: 'expected "host:port", got "server"' });
  assert.deepEqual(parseTarget(":7000"), { error: 'expected "host:port", got ":7000"' });
  assert.deepEqual(parseTarget("server:http"), {
    error: 'expected "host:port", got "server:http"',
  });
  assert.deepEqual(parseTarget("server:0"), {
    error: 'port must be a whole number 1-65535, got 0 in "server:0"',
  });
  assert.deepEqual(parseTarget("server:65536"), {
    error: 'port must be a whole number 1-65535, got 65536 in "server:65536"',
  });
});

Deno.test("parseTarget() rejects a value that is not a string, by type", () => {
  assert.deepEqual(parseTarget(7000), { error: 'expected "host:port", got number' });
  assert.deepEqual(parseTarget(undefined), { error: 'expected "host:port", got undefined' });
});

Deno.test("isIpv4() and isLoopbackIpv4() recognise dotted-quad literals", () => {
  assert.equal(isIpv4("198.18.0.2"), true);
  assert.equal(isIpv4("256.0.0.1"), false);
  assert.equal(isIpv4("1.2.3"), false);
  assert.equal(isIpv4("server"), false);
  assert.equal(isLoopbackIpv4("127.0.0.2"), true);
  assert.equal(isLoopbackIpv4("198.18.0.2"), false);
});

Deno.test("runsUntilStopped() is true for servers only", () => {
  assert.equal(runsUntilStopped(udpEcho({ port: 7000 })), true);
  assert.equal(runsUntilStopped(udpProbe({ target: "server:7000", count: 1 })), false);
});
