import assert from "node:assert/strict";
import { validateWorkload } from "./kinds.ts";
import { tcpEcho, tcpEchoSettings } from "./tcp_echo.ts";
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
