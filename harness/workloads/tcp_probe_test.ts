import assert from "node:assert/strict";
import { validateWorkload } from "./kinds.ts";
import { tcpProbe, tcpProbeSettings } from "./tcp_probe.ts";
import { planTopology, resolveTarget } from "../scenario/topology.ts";
import type { ResolveContext } from "./kinds.ts";

const messages = (spec: unknown) =>
  validateWorkload(spec, "w").map((p) => `${p.where}: ${p.message}`);

/** A two-host network (client 198.18.0.1, server 198.18.0.2) or loopback, as the runner sees it. */
function context(network: "namespaces" | "loopback", host: string): ResolveContext {
  const plan = network === "loopback"
    ? planTopology("loopback", ["local"], [], "c0ffee")
    : planTopology("namespaces", ["client", "server"], [["client", "server"]], "c0ffee");
  return {
    network,
    host,
    hostname: network === "loopback" ? "127.0.0.1" : "0.0.0.0",
    resolveTarget: (target) => resolveTarget(plan, host, target),
    tools: { setpriv: "/usr/bin/setpriv", ss: "/usr/bin/ss", nsenter: "/usr/bin/nsenter" },
    mayRun: new Set(["/usr/bin/ss"]),
    agentPid: 4242,
  };
}

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
