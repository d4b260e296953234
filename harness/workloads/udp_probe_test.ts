import assert from "node:assert/strict";
import type { Duration } from "../core/duration.ts";
import { describeWorkload, resolveWorkload, runsUntilStopped, validateWorkload } from "./kinds.ts";
import { udpEcho } from "./udp_echo.ts";
import { udpProbe, type UdpProbeOptions, udpProbeSettings } from "./udp_probe.ts";
import { context } from "../../tests/fixtures/workload_context.ts";

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

Deno.test("udpProbeSettings() resolves the target and gives every duration in ms", () => {
  const spec = udpProbe({ target: "server:7000", duration: "1.5s", timeout: "250ms" });
  assert.deepEqual(udpProbeSettings(spec, context("namespaces", "client")), {
    kind: "udpProbe",
    hostname: "0.0.0.0",
    targetAddress: "198.18.0.2",
    targetPort: 7000,
    count: null,
    durationMs: 1500,
    rate: 100,
    size: 64,
    timeoutMs: 250,
    pingPong: false,
  });
  assert.equal(runsUntilStopped(spec), false);
});

Deno.test("udpProbeSettings() on loopback binds 127.0.0.1 and reaches its own host there", () => {
  const settings = resolveWorkload(
    udpProbe({ target: "local:7000", count: 5 }),
    context("loopback", "local"),
  );
  if ("error" in settings || settings.kind !== "udpProbe") {
    throw new Error(JSON.stringify(settings));
  }
  assert.equal(settings.hostname, "127.0.0.1");
  assert.equal(settings.targetAddress, "127.0.0.1");
});

Deno.test("udpProbeSettings() says why a target cannot be reached: an unknown host, no link", () => {
  assert.deepEqual(
    udpProbeSettings(udpProbe({ target: "sever:7000", count: 1 }), context("namespaces", "client")),
    { error: 'unknown host "sever" (hosts: client, server)' },
  );
  assert.deepEqual(
    udpProbeSettings(
      udpProbe({ target: "server:7000", count: 1 }),
      context("namespaces", "nobody"),
    ),
    { error: 'unknown host "nobody"' },
  );
});
