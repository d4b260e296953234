import assert from "node:assert/strict";
import { tcpProbe, tcpProbeSettings } from "./tcp_probe.ts";
import { context, messages } from "../../tests/fixtures/workload_context.ts";

Deno.test("a TCP probe with neither count nor duration is named", () => {
  assert.deepEqual(messages(tcpProbe({ target: "server:7100" })), [
    "w: give either count or duration",
  ]);
});

Deno.test("tcpProbeSettings() resolves the target and gives both timeouts in ms", () => {
  const spec = tcpProbe({
    target: "198.18.0.2:7100",
    count: 10,
    connectTimeout: "250ms",
    connection: "per-request",
  });
  assert.deepEqual(tcpProbeSettings(spec, context("namespaces", "client")), {
    kind: "tcpProbe",
    hostname: "0.0.0.0",
    targetAddress: "198.18.0.2",
    targetPort: 7100,
    count: 10,
    durationMs: null,
    rate: 100,
    size: 64,
    connectTimeoutMs: 250,
    timeoutMs: 1000,
    connection: "per-request",
  });
});

Deno.test("tcpProbeSettings() says why a target cannot be reached", () => {
  assert.deepEqual(
    tcpProbeSettings(tcpProbe({ target: "sever:7100", count: 1 }), context("namespaces", "client")),
    { error: 'unknown host "sever" (hosts: client, server)' },
  );
  assert.deepEqual(
    tcpProbeSettings(tcpProbe({ target: "server:7100", count: 1 }), context("loopback", "local")),
    { error: 'a loopback scenario can only reach "local" or 127.0.0.0/8, got "server"' },
  );
});
