import assert from "node:assert/strict";
import type { Duration } from "../core/duration.ts";
import {
  describeWorkload,
  runsUntilStopped,
  udpEcho,
  udpProbe,
  type UdpProbeOptions,
  validateWorkload,
} from "./workloads.ts";
import { isIpv4, isLoopbackIpv4, parseTarget } from "../core/addresses.ts";

/** Validates a probe to "server:7000" at "probe"; the test gives count or duration. */
function probeProblems(options: Partial<UdpProbeOptions>) {
  return validateWorkload(udpProbe({ target: "server:7000", ...options }), "probe");
}

Deno.test("udpEcho() and udpProbe() return plain specs with the documented defaults", () => {
  assert.deepEqual(udpEcho({ port: 7000 }), { kind: "udpEcho", port: 7000 });
  assert.deepEqual(udpProbe({ target: "server:7000", count: 10 }), {
    kind: "udpProbe",
    target: "server:7000",
    count: 10,
    duration: null,
    rate: 100,
    size: 64,
    timeout: "1s",
    pingPong: false,
  });
});

Deno.test("validateWorkload() accepts a valid echo and valid probes", () => {
  assert.deepEqual(validateWorkload(udpEcho({ port: 7000 }), "echo"), []);
  assert.deepEqual(probeProblems({ count: 100 }), []);
  assert.deepEqual(probeProblems({ duration: "2s", rate: 500, size: 1400 }), []);
  assert.deepEqual(probeProblems({ count: 100, target: "198.18.0.2:7000", timeout: 250 }), []);
});

Deno.test("validateWorkload() rejects an echo port of 0, above 65535, or not whole", () => {
  for (const port of [0, 70000, 1.5]) {
    assert.deepEqual(validateWorkload(udpEcho({ port }), "echo"), [{
      where: "echo.port",
      message: `port must be a whole number 1-65535, got ${port}`,
    }]);
  }
});

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

Deno.test("validateWorkload() rejects a probe rate of 0, below 0, or above the maximum", () => {
  for (const rate of [0, -1, NaN, 1_000_001]) {
    assert.deepEqual(probeProblems({ count: 100, rate }), [{
      where: "probe.rate",
      message: `rate must be above 0 and at most 1000000 per second, got ${rate}`,
    }]);
  }
  assert.deepEqual(probeProblems({ count: 100, rate: 0.5 }), []);
});

Deno.test("validateWorkload() rejects a probe with neither count nor duration", () => {
  assert.deepEqual(probeProblems({}), [{
    where: "probe",
    message: "give either count or duration",
  }]);
});

Deno.test("validateWorkload() rejects a probe with both count and duration", () => {
  assert.deepEqual(probeProblems({ count: 100, duration: "2s" }), [{
    where: "probe",
    message: "give count or duration, not both",
  }]);
});

Deno.test("validateWorkload() rejects a probe count of 0 or a fraction", () => {
  assert.deepEqual(probeProblems({ count: 0 }), [{
    where: "probe.count",
    message: "count must be a whole number above 0, got 0",
  }]);
  assert.equal(probeProblems({ count: 2.5 })[0]?.where, "probe.count");
});

Deno.test("validateWorkload() rejects a probe duration that is zero or not a duration", () => {
  assert.deepEqual(probeProblems({ duration: "0s" }), [{
    where: "probe.duration",
    message: "duration must be above 0",
  }]);
  assert.deepEqual(probeProblems({ duration: "soon" as Duration }), [{
    where: "probe.duration",
    message: 'expected a duration such as "250ms" or "2s", got "soon"',
  }]);
});

Deno.test("validateWorkload() rejects a probe size below the header or above a UDP payload", () => {
  assert.deepEqual(probeProblems({ count: 100, size: 10 }), [{
    where: "probe.size",
    message: "size must be a whole number of bytes 20-65507, got 10",
  }]);
  assert.equal(probeProblems({ count: 100, size: 65_508 }).length, 1);
  assert.equal(probeProblems({ count: 100, size: 64.5 }).length, 1);
  assert.deepEqual(probeProblems({ count: 100, size: 20 }), []);
  assert.deepEqual(probeProblems({ count: 100, size: 65_507 }), []);
});

Deno.test("validateWorkload() rejects a probe target without a valid port", () => {
  assert.deepEqual(probeProblems({ count: 100, target: "server" }), [{
    where: "probe.target",
    message: 'expected "host:port", got "server"',
  }]);
  assert.deepEqual(probeProblems({ count: 100, target: "server:0" }), [{
    where: "probe.target",
    message: 'port must be a whole number 1-65535, got 0 in "server:0"',
  }]);
  assert.deepEqual(probeProblems({ count: 100, target: "server:99999" }), [{
    where: "probe.target",
    message: 'port must be a whole number 1-65535, got 99999 in "server:99999"',
  }]);
});

Deno.test("validateWorkload() rejects a probe timeout that is not a duration, or zero", () => {
  assert.deepEqual(probeProblems({ count: 100, timeout: "soon" as Duration }), [{
    where: "probe.timeout",
    message: 'expected a duration such as "250ms" or "2s", got "soon"',
  }]);
  assert.deepEqual(probeProblems({ count: 100, timeout: 0 }), [{
    where: "probe.timeout",
    message: "timeout must be above 0",
  }]);
});

Deno.test("validateWorkload() reports every problem of a probe at once, each at its field", () => {
  const found = validateWorkload(
    udpProbe({
      target: "server",
      count: 0,
      rate: -1,
      size: 10,
      timeout: "soon" as Duration,
    }),
    "scenario.ts: options.workloads.probe.run",
  );
  assert.deepEqual(found.map((p) => p.where), [
    "scenario.ts: options.workloads.probe.run.target",
    "scenario.ts: options.workloads.probe.run.count",
    "scenario.ts: options.workloads.probe.run.rate",
    "scenario.ts: options.workloads.probe.run.size",
    "scenario.ts: options.workloads.probe.run.timeout",
  ]);
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

Deno.test("describeWorkload() describes an echo in one line", () => {
  assert.equal(describeWorkload(udpEcho({ port: 7000 })), "udp echo on port 7000");
});

Deno.test("describeWorkload() describes a probe by count in one line", () => {
  assert.equal(
    describeWorkload(udpProbe({ target: "server:7000", count: 1000, rate: 500 })),
    "udp probe to server:7000, 1000 datagrams at 500/s, 64 B, timeout 1s",
  );
});

Deno.test("describeWorkload() describes a probe by duration in one line", () => {
  assert.equal(
    describeWorkload(
      udpProbe({ target: "198.18.0.2:7000", duration: "1.5m", size: 1400, timeout: "250ms" }),
    ),
    "udp probe to 198.18.0.2:7000, for 1m30s at 100/s, 1400 B, timeout 250ms",
  );
});

Deno.test("runsUntilStopped() is true for servers only", () => {
  assert.equal(runsUntilStopped(udpEcho({ port: 7000 })), true);
  assert.equal(runsUntilStopped(udpProbe({ target: "server:7000", count: 1 })), false);
});
