import assert from "node:assert/strict";
import { tcpEcho, tcpEchoSettings } from "./tcp_echo.ts";
import { context, messages } from "../../tests/fixtures/workload_context.ts";

Deno.test("a TCP echo port outside 1-65535 is named", () => {
  assert.deepEqual(messages(tcpEcho({ port: 65536 })), [
    "w.port: port must be a whole number 1-65535, got 65536",
  ]);
});

Deno.test("tcpEchoSettings() binds the network's address", () => {
  assert.deepEqual(tcpEchoSettings(tcpEcho({ port: 7100 }), context("namespaces", "server")), {
    kind: "tcpEcho",
    hostname: "0.0.0.0",
    port: 7100,
    group: null,
  });
  assert.equal(
    tcpEchoSettings(tcpEcho({ port: 7100 }), context("loopback", "local")).hostname,
    "127.0.0.1",
  );
});
