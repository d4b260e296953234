// The scenario function's view, on a plan and records made by hand (no network): which
// workload a failed bind belongs to, and what t says of hosts, links and workloads that
// are not there.

import assert from "node:assert/strict";
import { type ContextRun, ownerOf, scenarioContext } from "./context.ts";
import type { WorkloadRecord } from "./_workload_record.ts";
import { ScenarioError } from "../core/errors.ts";
import type { FaultManager } from "./fault_manager.ts";
import { planTopology } from "../scenario/topology.ts";
import type { CheckOutcome } from "./report.ts";

const record = (name: string, host: string, spec: object, final?: object) =>
  ({
    report: { name, host, spec, status: "running" },
    final,
    handle: { name },
  }) as unknown as WorkloadRecord;

Deno.test("ownerOf() finds a program by the pid of one of its runs, or the agent's one churn on the port", () => {
  const workloads = [
    record("server", "a", { kind: "exec" }, { kind: "exec", runs: [{ pid: 100 }, { pid: 200 }] }),
    record("churn", "a", { kind: "bindChurn", port: 7000 }),
    record("churn2", "b", { kind: "bindChurn", port: 7000 }),
  ];
  const at = (host: string, port: number) => ({ host, port, agentPid: 50 });
  assert.equal(ownerOf(workloads, [201, 200, 1], at("a", 7000)), "server", "a parent's pid");
  assert.equal(ownerOf(workloads, [100], at("b", 7000)), null, "the program runs on another host");
  assert.equal(ownerOf(workloads, [50, 1], at("a", 7000)), "churn", "the agent itself");
  assert.equal(ownerOf(workloads, [50, 1], at("a", 7001)), null, "no churn on that port");
  assert.equal(ownerOf(workloads, [60, 50], at("a", 7000)), null, "a child of the agent");
  const two = [...workloads, record("churn3", "a", { kind: "bindChurn", port: 7000 })];
  assert.equal(ownerOf(two, [50], at("a", 7000)), null, "two churns on the port: unknown");
});

function contextRun(): { run: ContextRun; badInput: () => number; checks: CheckOutcome[] } {
  let bad = 0;
  const checks: CheckOutcome[] = [];
  const plan = planTopology(
    "namespaces",
    ["client", "server", "db"],
    [["client", "server"]],
    "abc123",
  );
  const run: ContextRun = {
    name: "view",
    plan,
    signal: new AbortController().signal,
    workloads: new Map([["echo", record("echo", "server", { kind: "udpEcho" })]]),
    faults: {} as FaultManager,
    canDrop: false,
    checks,
    start: () => Promise.reject(new Error("not here")),
    note: () => {},
    badInput: () => {
      bad++;
    },
  };
  return { run, badInput: () => bad, checks };
}

Deno.test("t names the hosts, workloads and programs there are when asked for one that is not", () => {
  const { run } = contextRun();
  const t = scenarioContext(run);
  assert.deepEqual(t.hosts.map((h) => h.name), ["client", "server", "db"]);
  assert.equal(t.address("server"), run.plan.hosts[1]!.address);
  assert.throws(() => t.address("nope"), /Cannot find host "nope": hosts are client, server, db/);
  assert.equal(t.workload("echo").name, "echo");
  assert.throws(() => t.workload("probe"), /Cannot find workload "probe": workloads are echo/);
  assert.throws(
    () => t.program("echo"),
    /Cannot find program "echo": programs under test are none/,
  );
});

Deno.test("t.check() records its outcome and returns it", () => {
  const { run, checks } = contextRun();
  const t = scenarioContext(run);
  assert.equal(t.check("served", false, "3 left"), false);
  assert.equal(t.check("fast", true), true);
  assert.deepEqual(checks, [{ name: "served", ok: false, detail: "3 left" }, {
    name: "fast",
    ok: true,
  }]);
});

Deno.test("t.link() between hosts with no link is the scenario's error; a fault without a dropper, the machine's", async () => {
  const { run, badInput } = contextRun();
  const t = scenarioContext(run);
  assert.throws(() => t.link("client", "db"), (e) => {
    assert.ok(e instanceof ScenarioError);
    assert.match(e.message, /no link between "client" and "db" \(links: client-server\)/);
    return true;
  });
  assert.equal(badInput(), 1);
  const link = t.link("server", "client");
  assert.deepEqual(link.hosts, ["server", "client"]);
  await assert.rejects(
    link.apply({ kind: "loss" } as never),
    /Cannot apply "loss" to the link between "server" and "client": the XDP dropper cannot be loaded here/,
  );
  assert.equal(badInput(), 1, "the machine's fault is not bad input");
});

Deno.test("t.sleep() ends early, rejecting, when the run is aborted", async () => {
  const { run } = contextRun();
  const stop = new AbortController();
  const t = scenarioContext({ ...run, signal: stop.signal });
  const started = performance.now();
  const sleeping = t.sleep("10s");
  stop.abort(new Error("interrupted"));
  await assert.rejects(sleeping, /interrupted/);
  assert.ok(performance.now() - started < 1000);
});
