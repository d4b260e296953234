import assert from "node:assert/strict";
import { describeWorkload, validateWorkload } from "./kinds.ts";
import { bindChurn, bindChurnSettings } from "./bind_churn.ts";
import { context, messages } from "../../tests/fixtures/workload_context.ts";

Deno.test("a churn's port outside 1-65535 and cycles of zero are named", () => {
  assert.deepEqual(messages(bindChurn({ port: 0, cycles: 0 })), [
    "w.port: port must be a whole number 1-65535, got 0",
    "w.cycles: cycles must be a whole number 1-10000000, got 0",
  ]);
});

Deno.test("a churn's live connections over UDP, or TCP without SO_REUSEADDR, are named", () => {
  assert.deepEqual(messages(bindChurn({ port: 7200, cycles: 5, liveConnections: 2 })), [
    'w.liveConnections: liveConnections needs protocol "tcp"',
  ]);
  assert.deepEqual(
    messages(bindChurn({ port: 7200, cycles: 5, protocol: "tcp", reuseAddress: false })),
    [
      "w.reuseAddress: Deno's TCP listeners always set SO_REUSEADDR: use an exec() program to test without it",
    ],
  );
});

Deno.test("bindChurnSettings() gives ss only when the host may run it", () => {
  const spec = bindChurn({ port: 7200, cycles: 5, rebindTimeout: "200ms" });
  const allowed = context("loopback", "local");
  assert.deepEqual(bindChurnSettings(spec, allowed), {
    kind: "bindChurn",
    hostname: "127.0.0.1",
    port: 7200,
    protocol: "udp",
    cycles: 5,
    pendingReceive: false,
    awaitPending: false,
    liveConnections: 0,
    reuseAddress: false,
    rebindTimeoutMs: 200,
    maxDurationMs: 30_000,
    ssPath: "/usr/bin/ss",
  });
  const ssPath = (s: ReturnType<typeof bindChurnSettings>) => "ssPath" in s ? s.ssPath : "error";
  assert.equal(ssPath(bindChurnSettings(spec, { ...allowed, mayRun: new Set() })), null);
  const noSs = { ...allowed, tools: { ...allowed.tools, ss: undefined } };
  assert.equal(ssPath(bindChurnSettings(spec, noSs)), null);
});

Deno.test("bindChurn() sets reusePort only when asked, and refuses it with a pending UDP receive", () => {
  assert.equal("reusePort" in bindChurn({ port: 7200, cycles: 5 }), false);
  const spec = bindChurn({ port: 7200, cycles: 5, reusePort: true, protocol: "tcp" });
  assert.equal(spec.reusePort, true);
  assert.equal(describeWorkload(spec).endsWith(", SO_REUSEPORT"), true);
  assert.deepEqual(
    validateWorkload(
      bindChurn({ port: 7200, cycles: 5, reusePort: true, pendingReceive: true }),
      "w",
    )
      .map((p) => p.where),
    ["w.pendingReceive"],
  );
  const udp = bindChurn({ port: 7200, cycles: 5, reusePort: true });
  assert.ok("error" in bindChurnSettings(udp, context("loopback", "local")));
  const settings = bindChurnSettings(udp, context("namespaces", "server"));
  assert.ok("reusePort" in settings && settings.reusePort === true);
});
