// Truth test of the bind watch on the examples: every EADDRINUSE a program under test
// hits, as strace sees its bind() calls, is in the report with the right port, errno,
// process and holder, and nothing else is; a clean program over 100 rebinds gives no
// report at all. The examples run as they are, with each program started under
// `strace -f -e trace=bind`.

import assert from "node:assert/strict";
import { runScenario, scenario } from "../mod.ts";
import type { ObservedBindFailure } from "../harness/measure/bind_results.ts";
import type { ScenarioOptions } from "../harness/scenario/scenario.ts";
import type { ExecSpec } from "../harness/workloads/exec.ts";
import udpRebind from "../scenarios/udp_rebind.ts";
import tcpRestart from "../scenarios/tcp_restart.ts";

/** One bind() in strace's output. */
interface TracedBind {
  pid: number;
  port: number;
  error: string | null;
}

/** Parses `strace -f` lines: `1234 bind(3, {sa_family=AF_INET, sin_port=htons(7300), ...}, 16) = -1 EADDRINUSE (...)`. */
function parseTrace(text: string): TracedBind[] {
  const binds: TracedBind[] = [];
  for (const line of text.split("\n")) {
    const match =
      /^(\d+)\s+bind\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\).*\) = (-?\d+)(?: (E[A-Z]+))?/
        .exec(line);
    if (!match) continue;
    binds.push({
      pid: Number(match[1]),
      port: Number(match[2]),
      error: match[3] === "0" ? null : match[4] ?? "unknown",
    });
  }
  return binds;
}

function strace(): string {
  for (const path of ["/usr/bin/strace", "/bin/strace"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not here.
    }
  }
  throw new Error("strace is not installed (apt-get install strace): the truth tests need it");
}

/** The scenario with every program started under strace, appending to `<dir>/<name>.trace`. */
function traced(
  options: ScenarioOptions,
  dir: string,
  change: (name: string, spec: ExecSpec) => ExecSpec = (_, s) => s,
): ScenarioOptions {
  const workloads = Object.fromEntries(
    Object.entries(options.workloads ?? {}).map(([name, placement]) => {
      if (placement.run.kind !== "exec") return [name, placement];
      const spec = change(name, placement.run);
      // strace (6.1) leaves its tracee running when it is ended: setpriv makes the
      // program die with it, as it would without strace.
      const wrapped = [
        ...[strace(), "-f", "-qq", "-A", "--seccomp-bpf", "-e", "trace=bind"],
        ...["-o", `${dir}/${name}.trace`, "setpriv", "--pdeathsig", "KILL", "--"],
      ];
      return [name, { ...placement, run: { ...spec, command: [...wrapped, ...spec.command] } }];
    }),
  );
  return { ...options, workloads };
}

function failuresOf(failures: ObservedBindFailure[] | null, workload: string) {
  assert.ok(failures, "the bind watch ran");
  return failures.filter((f) => f.workload === workload);
}

Deno.test("udp_rebind: every EADDRINUSE strace sees is reported, with its port, errno and process; 100 clean rebinds report nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The fixed server rebinds 100 times: no false report over 100 clean cycles.
    const options = traced(
      udpRebind.options,
      dir,
      (name, spec) =>
        name === "fixed"
          ? {
            ...spec,
            command: spec.command.map((c, i, all) => all[i - 1] === "--reloads" ? "100" : c),
          }
          : spec,
    );
    const report = await runScenario(scenario(udpRebind.name, options), {
      file: "scenarios/udp_rebind.ts",
    });
    assert.deepEqual(report.errors, []);
    assert.equal(report.bindWatch.lost, 0);

    const buggyTrace = parseTrace(await Deno.readTextFile(`${dir}/buggy.trace`));
    const buggyInUse = buggyTrace.filter((b) => b.error === "EADDRINUSE");
    assert.ok(buggyInUse.length >= 19, `strace saw ${buggyInUse.length} EADDRINUSE`);
    const buggy = failuresOf(report.bindFailures, "buggy");
    assert.equal(buggy.length, buggyInUse.length, "one report per failed bind, no more, no less");
    const tracedPids = new Set(buggyInUse.map((b) => b.pid));
    for (const f of buggy) {
      assert.equal(f.port, 7300);
      assert.equal(f.error, "EADDRINUSE");
      assert.equal(f.errno, 98);
      assert.equal(f.protocol, "udp");
      assert.ok(
        tracedPids.has(f.tid) || tracedPids.has(f.pid),
        `pid ${f.pid}/${f.tid} is in strace's`,
      );
      assert.ok(f.rebindMs !== null && f.rebindMs >= 0, "the port was bound again");
      // Before the port was bound again, the only socket on it is the server's own closed
      // one (or none: the event loop has released it and the retry has not come yet).
      // Looked up within a millisecond (the watch's doorbell), that socket is at times
      // seen after its fd was closed and before the kernel let it go: no process holds it.
      if (f.holders && f.holderLookupDelayMs! < f.rebindMs!) {
        assert.ok(
          f.holders.every((h) => h.pid === f.pid || h.pid === null),
          JSON.stringify(f.holders),
        );
      }
    }
    // Looked up within about a millisecond of the failure (the watch's doorbell), the
    // port is often free already (the old socket went as its pending receive was
    // delivered, and the retry has not come yet): the server's own socket is seen for
    // some failures, never another's.
    assert.ok(
      buggy.some((f) => f.holders?.some((h) => h.pid === f.pid)),
      `the server's own socket was seen holding the port: ${
        JSON.stringify(buggy.map((f) => f.holders))
      }`,
    );
    const fixedTrace = parseTrace(await Deno.readTextFile(`${dir}/fixed.trace`));
    assert.ok(fixedTrace.filter((b) => b.port === 7301).length >= 100, "100 rebinds were made");
    assert.deepEqual(fixedTrace.filter((b) => b.error !== null), [], "strace: no failed bind");
    assert.deepEqual(failuresOf(report.bindFailures, "fixed"), [], "squall: no failed bind");
    // Nothing else in the namespace failed to bind.
    assert.equal(report.bindFailures!.length, buggy.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcp_restart: the server without SO_REUSEADDR fails to rebind, held by its old connections; the one with it never fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const report = await runScenario(
      scenario(tcpRestart.name, traced(tcpRestart.options, dir), tcpRestart.fn),
      { file: "scenarios/tcp_restart.ts" },
    );
    assert.deepEqual(report.errors, []);
    const plainTrace = parseTrace(await Deno.readTextFile(`${dir}/plain.trace`));
    const inUse = plainTrace.filter((b) => b.error === "EADDRINUSE");
    assert.ok(inUse.length >= 1, "strace saw the restarted server fail to bind");
    const plain = failuresOf(report.bindFailures, "plain");
    assert.equal(plain.length, inUse.length, "one report per failed bind");
    for (const f of plain) {
      assert.equal(f.port, 7400);
      assert.equal(f.error, "EADDRINUSE");
      assert.equal(f.protocol, "tcp");
      assert.ok(new Set(inUse.map((b) => b.pid)).has(f.pid), `pid ${f.pid} is in strace's`);
      // The old process's connections hold the port: sockets on 7400 that do not listen.
      assert.ok(f.holders && f.holders.length > 0, "holders were seen");
      assert.ok(
        f.holders!.every((h) => h.local.endsWith(":7400") && h.state !== "LISTEN"),
        JSON.stringify(f.holders),
      );
    }
    const reusingTrace = parseTrace(await Deno.readTextFile(`${dir}/reusing.trace`));
    assert.ok(reusingTrace.filter((b) => b.port === 7401 && b.error === null).length >= 2);
    assert.deepEqual(reusingTrace.filter((b) => b.error !== null), []);
    assert.deepEqual(failuresOf(report.bindFailures, "reusing"), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
