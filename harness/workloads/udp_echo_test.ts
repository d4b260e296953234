import assert from "node:assert/strict";
import { describeWorkload, runsUntilStopped, validateWorkload } from "./kinds.ts";
import { udpEcho, udpEchoSettings } from "./udp_echo.ts";
import { context } from "../../tests/fixtures/workload_context.ts";

Deno.test("validateWorkload() rejects an echo port of 0, above 65535, or not whole", () => {
  for (const port of [0, 70000, 1.5]) {
    assert.deepEqual(validateWorkload(udpEcho({ port }), "echo"), [{
      where: "echo.port",
      message: `port must be a whole number 1-65535, got ${port}`,
    }]);
  }
});

Deno.test("validateWorkload() quotes a port given as a string, as given", () => {
  assert.deepEqual(validateWorkload(udpEcho({ port: "7000" as unknown as number }), "echo"), [{
    where: "echo.port",
    message: 'port must be a whole number 1-65535, got "7000"',
  }]);
});

Deno.test("describeWorkload() describes an echo in one line", () => {
  assert.equal(describeWorkload(udpEcho({ port: 7000 })), "udp echo on port 7000");
});

Deno.test("udpEchoSettings() binds the network's address: 0.0.0.0, or 127.0.0.1 on loopback", () => {
  assert.deepEqual(udpEchoSettings(udpEcho({ port: 7000 }), context("namespaces", "server")), {
    kind: "udpEcho",
    hostname: "0.0.0.0",
    port: 7000,
    group: null,
  });
  assert.deepEqual(udpEchoSettings(udpEcho({ port: 7000 }), context("loopback", "local")), {
    kind: "udpEcho",
    hostname: "127.0.0.1",
    port: 7000,
    group: null,
  });
  assert.equal(runsUntilStopped(udpEcho({ port: 7000 })), true);
});

Deno.test("udpEcho() keeps group out of the spec unless given", () => {
  assert.equal(JSON.stringify(udpEcho({ port: 7000 })), '{"kind":"udpEcho","port":7000}');
  assert.equal(udpEcho({ port: 7000, group: 4 }).group, 4);
});

Deno.test("validateWorkload() rejects a group of 0, above 64, or not whole", () => {
  for (const group of [0, 65, 1.5]) {
    assert.deepEqual(validateWorkload(udpEcho({ port: 7000, group }), "echo"), [{
      where: "echo.group",
      message: `group must be a whole number 1-64, got ${group}`,
    }]);
  }
});

Deno.test("describeWorkload() names an echo's SO_REUSEPORT group", () => {
  assert.equal(
    describeWorkload(udpEcho({ port: 7000, group: 4 })),
    "udp echo on port 7000 (SO_REUSEPORT group of 4 sockets)",
  );
});

Deno.test("udpEchoSettings() passes the group on, and refuses a UDP group on loopback", () => {
  const spec = udpEcho({ port: 7000, group: 4 });
  assert.deepEqual(udpEchoSettings(spec, context("namespaces", "server")), {
    kind: "udpEcho",
    hostname: "0.0.0.0",
    port: 7000,
    group: 4,
  });
  const refused = udpEchoSettings(spec, context("loopback", "local"));
  assert.ok("error" in refused && refused.error.includes("needs the native echo"));
});
