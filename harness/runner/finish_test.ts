// The pure parts of finishing a run's results: the echo's split of a probe's loss, the
// kernel's UDP counters, a storm's recovery after the last fault, a program's exit, and
// the run's status and exit code.

import assert from "node:assert/strict";
import type { BindWatchMonitor } from "./_bind_monitor.ts";
import type { WorkloadRecord } from "./_workload_record.ts";
import type { ObservedBindFailure } from "../measure/bind_results.ts";
import { difference, udpDrops, withEchoCounts } from "./finish.ts";
import { lastFaultEnd, recoveryAfter } from "./finish_storm.ts";
import { attributeBindFailures, exitFailure, type RunOutcome, runStatus } from "./outcome.ts";
import type { UdpEchoResult, UdpProbeResult } from "../measure/results.ts";
import type { ExecResult } from "../measure/bind_results.ts";
import type { ReconnectStormResult } from "../measure/tcp_results.ts";
import type { FaultReport } from "./report.ts";
import type { Plan } from "../scenario/topology.ts";

const probe = (sent: number, lost: number) =>
  ({ flowId: 7, sent, lost, echoReceived: null }) as unknown as UdpProbeResult;
const echo = (flows: object[]) => ({ flows }) as unknown as UdpEchoResult;
const flow = (received: number, highestSeq: number, lossRuns: number, lossRunPackets: number) => ({
  flowId: 7,
  received,
  highestSeq,
  lossRuns,
  lossRunPackets,
});

Deno.test("withEchoCounts() splits a probe's loss into the way there and back, trailing losses as one more run", () => {
  // 100 sent, 10 lost; the echo saw 95, the last (seq 96) then nothing: 3 lost at the end.
  const split = withEchoCounts(probe(100, 10), [echo([flow(95, 96, 1, 2)])]);
  assert.equal(split.echoReceived, 95);
  assert.equal(split.lostOutbound, 5);
  assert.equal(split.lostReturn, 5);
  assert.deepEqual(split.outboundLossRuns, { runs: 2, packets: 5 });
});

Deno.test("withEchoCounts() adds up what several echoes saw of the flow and skips other flows", () => {
  const other = { ...flow(50, 49, 0, 0), flowId: 8 };
  const split = withEchoCounts(probe(100, 0), [
    echo([flow(60, 99, 0, 0), other]),
    undefined,
    echo([flow(40, 99, 0, 0)]),
  ]);
  assert.equal(split.echoReceived, 100);
  assert.equal(split.lostOutbound, 0);
  assert.deepEqual(split.outboundLossRuns, { runs: 0, packets: 0 });
});

Deno.test("withEchoCounts() returns the result itself when no echo saw the flow", () => {
  const result = probe(100, 10);
  assert.equal(withEchoCounts(result, [echo([]), undefined]), result);
});

Deno.test("udpDrops() reads RcvbufErrors and NoPorts from the Udp: lines of /proc/net/snmp", () => {
  const snmp = [
    "Ip: Forwarding DefaultTTL",
    "Ip: 1 64",
    "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors",
    "Udp: 1000 12 3 998 7 0",
    "UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors",
    "UdpLite: 0 99 0 0 99 0",
  ].join("\n");
  assert.deepEqual(udpDrops(snmp), { receiveBufferOverflow: 7, noSocket: 12 });
  assert.deepEqual(udpDrops(""), { receiveBufferOverflow: 0, noSocket: 0 }, "no Udp: lines");
});

Deno.test("difference() is how much each kernel counter grew", () => {
  assert.deepEqual(
    difference({ receiveBufferOverflow: 9, noSocket: 4 }, {
      receiveBufferOverflow: 2,
      noSocket: 4,
    }),
    { receiveBufferOverflow: 7, noSocket: 0 },
  );
});

const storm = (periods: { startMs: number; endMs: number | null }[]) =>
  ({
    startedAt: 10_000,
    durationMs: 5_000,
    unservedPeriods: periods.map((p) => ({ ...p, clients: 1 })),
  }) as unknown as ReconnectStormResult;

Deno.test("recoveryAfter() is the end of the last unserved period around the fault's end", () => {
  const s = storm([{ startMs: 11_000, endMs: 11_500 }, { startMs: 12_000, endMs: 12_300 }]);
  assert.equal(recoveryAfter(s, 12_100, 0), 200);
  assert.equal(recoveryAfter(s, 11_900, 200), 400, "a period starting within the slack counts");
  assert.equal(recoveryAfter(s, 11_900, 0), 0, "served again before the fault ended");
  assert.equal(recoveryAfter(s, -Infinity, 0), null, "no fault ended");
  assert.equal(recoveryAfter(storm([{ startMs: 12_000, endMs: null }]), 12_100, 0), null);
});

Deno.test("lastFaultEnd() takes the last fault removed on the host's links while the storm ran", () => {
  const links = [{ hosts: ["client", "server"] }, { hosts: ["server", "db"] }] as unknown as Plan[
    "links"
  ];
  const fault = (link: string[], removedAtMs: number | null) =>
    ({ link, removedAtMs }) as unknown as FaultReport;
  const faults = [
    fault(["client", "server"], 1_000), // run started at 9_000: ends at 10_000
    fault(["client", "server"], 3_000), // 12_000
    fault(["server", "db"], 4_000), // another host's link
    fault(["client", "server"], null), // still on
    fault(["client", "server"], 9_000), // 18_000: after the storm ended (15_000)
  ];
  const options = { host: "client", links, startEpochMs: 9_000 };
  assert.equal(lastFaultEnd(storm([]), faults, options), 12_000);
  assert.equal(lastFaultEnd(storm([]), [], options), -Infinity);
});

Deno.test("exitFailure() says how a waited-for program failed, with the end of its stderr", () => {
  const exec = (run: object | undefined) =>
    ({ command: ["/bin/server", "-p", "7000"], runs: run ? [run] : [] }) as unknown as ExecResult;
  const run = { endedAt: 1, signal: null, exitCode: 0, stderrTail: [] as string[] };
  assert.equal(exitFailure(exec(run)), undefined);
  assert.equal(exitFailure(exec(undefined)), undefined);
  assert.equal(exitFailure(exec({ ...run, endedAt: null, exitCode: null })), undefined);
  assert.equal(
    exitFailure(exec({ ...run, signal: "SIGKILL", exitCode: null })),
    'Program "/bin/server -p 7000" was ended by SIGKILL',
  );
  assert.equal(
    exitFailure(exec({ ...run, exitCode: 2, stderrTail: ["a", "b", "c", "d", "e", "f"] })),
    'Program "/bin/server -p 7000" exited with code 2; its stderr ended with:' +
      "\n  b\n  c\n  d\n  e\n  f",
  );
});

Deno.test("runStatus() ranks interrupted over errors over failures, and errors by their cause", () => {
  const base: RunOutcome = {
    checks: [{ name: "ok", ok: true }],
    thresholds: [{ ok: true }],
    workloads: [{ status: "finished" }],
    errors: [],
    badInput: false,
    environment: false,
    interrupted: false,
  };
  assert.deepEqual(runStatus(base), { status: "passed", exitCode: 0 });
  assert.deepEqual(runStatus({ ...base, thresholds: [{ ok: false }] }), {
    status: "failed",
    exitCode: 1,
  });
  assert.deepEqual(runStatus({ ...base, workloads: [{ status: "failed" }] }).status, "failed");
  assert.deepEqual(runStatus({ ...base, errors: ["x"] }), { status: "error", exitCode: 1 });
  assert.deepEqual(runStatus({ ...base, errors: ["x"], badInput: true }).exitCode, 2);
  assert.deepEqual(runStatus({ ...base, errors: ["x"], environment: true }).exitCode, 3);
  assert.deepEqual(runStatus({ ...base, errors: ["x"], badInput: true, interrupted: true }), {
    status: "interrupted",
    exitCode: 130,
  });
});

Deno.test("attributeBindFailures() owes a failure to the program whose cgroup the kernel saw, before any pid", () => {
  const failure = (pid: number): ObservedBindFailure => ({
    atMs: 0,
    host: "server",
    workload: null,
    pid,
    tid: pid,
    program: "python3",
    address: "0.0.0.0",
    port: 7600,
    protocol: "tcp",
    error: "EADDRINUSE",
    errno: 98,
    rebindMs: null,
    holders: null,
    holderLookupDelayMs: null,
  });
  const gone = failure(501); // exited before /proc was read: no parents, no run of its own
  const other = failure(777);
  const cgroups = new Map([[gone, [9001, 12, 9000]], [other, [1]]]);
  const monitor = {
    status: () => ({ active: true, reason: null, lost: 0, untracked: 0 }),
    failures: () => [gone, other],
    ancestorsOf: () => [],
    cgroupsOf: (f: ObservedBindFailure) => cgroups.get(f) ?? [],
  } as unknown as BindWatchMonitor;
  const record = (id: number, name: string) =>
    ({
      id,
      report: { name, host: "server", spec: { kind: "exec" } },
      final: { kind: "exec", runs: [{ pid: 400 + id }] },
    }) as unknown as WorkloadRecord;
  const workloads = new Map([["holder", record(1, "holder")], ["server", record(2, "server")]]);
  const programs = new Map([[9000, 2], [8000, 1]]); // cgroup id -> workload id
  attributeBindFailures(monitor, workloads, {
    agentPid: () => 50,
    programOf: (ids) => ids.map((id) => programs.get(id)).find((p) => p !== undefined),
  });
  assert.equal(gone.workload, "server", "by an ancestor cgroup: a cgroup the program made");
  assert.equal(other.workload, null, "the root cgroup is no program's, nor is pid 777");
});
