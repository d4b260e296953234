// Programs under test through the runner, on the real kernel: started inside a host's
// namespace, restarted and killed from the scenario function, and never left behind:
// not when they fail to get ready, and not their forked children.

import assert from "node:assert/strict";
import { exec, runScenario, scenario, udpProbe } from "../mod.ts";
import type { ExecResult } from "../harness/measure/bind_results.ts";
import type { UdpProbeResult } from "../harness/measure/results.ts";
import { SQUALL_CLI } from "./_processes.ts";

const PYTHON_SERVER = new URL("../scenarios/_programs/tcp_server.py", import.meta.url).pathname;
const LOOPBACK_PROGRAM = "tests/fixtures/programs/loopback_true.ts";

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

Deno.test("a program runs in its host's namespace, restarts and is killed from the function", async () => {
  const report = await runScenario(
    scenario("restart and kill", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        server: {
          on: "server",
          run: exec(["python3", PYTHON_SERVER, "7700", "--reuse"], { ready: { tcp: 7700 } }),
        },
      },
    }, async (t) => {
      await t.program("server").restart();
      await t.program("server").kill("SIGKILL");
      await t.program("server").restart();
    }),
  );
  assert.deepEqual(report.errors, []);
  const result = report.workloads[0]!.result as ExecResult;
  assert.equal(result.runs.length, 3);
  const [first, killed, last] = result.runs;
  assert.equal(first!.signal, "SIGTERM");
  assert.equal(killed!.signal, "SIGKILL");
  assert.equal(killed!.endedBySquall, true);
  assert.ok(last!.readyMs !== null);
  assert.equal(new Set(result.runs.map((r) => r.pid)).size, 3);
  for (const run of result.runs) assert.equal(alive(run.pid), false, `pid ${run.pid} is gone`);
  // It ran in the server's namespace, not the runner's.
  assert.ok(last!.stdoutTail.some((l) => l.includes("listening on tcp 7700")));
});

Deno.test("a program whose ready condition never comes fails the workload with its stderr, and is gone", async () => {
  const report = await runScenario(
    scenario("never ready", {
      hosts: ["server"],
      workloads: {
        quiet: {
          on: "server",
          run: exec(["sh", "-c", 'echo "starting up, pid $$" >&2; exec sleep 30'], {
            ready: { tcp: 7701 },
            readyTimeout: "500ms",
          }),
        },
      },
    }),
  );
  assert.equal(report.status, "error");
  const w = report.workloads[0]!;
  assert.equal(w.status, "failed");
  assert.match(w.error!, /was not ready after 500ms: tcp port 7701 never listened/);
  assert.match(w.error!, /starting up/);
  const pid = Number(/starting up, pid (\d+)/.exec(w.error!)?.[1]);
  assert.ok(pid > 0, w.error);
  assert.equal(alive(pid), false, `the program (pid ${pid}) was ended`);
});

Deno.test("children a program forked and left behind are ended with the run, and reported", async () => {
  const report = await runScenario(
    scenario("forking program", {
      hosts: ["server"],
      workloads: {
        // The shell starts two sleeps in sessions of their own: the stop's SIGTERM to the
        // shell's process group does not reach them.
        forks: {
          on: "server",
          run: exec(["sh", "-c", "setsid sleep 60 & setsid sleep 60 & echo forked; wait"], {
            ready: { stdout: /forked/ },
          }),
        },
      },
    }, async (t) => {
      await t.sleep("200ms");
    }),
  );
  assert.deepEqual(report.errors, []);
  // Ended through the run's cgroup (or, without one, by pid in the host's namespace).
  const note = report.log.find((l) => l.message.includes("squall ended them"));
  assert.ok(note, JSON.stringify(report.log));
  const pids = [...note.message.matchAll(/pid (\d+) \(sleep\)/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 2, note.message);
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const pid of pids) assert.equal(alive(pid), false, `sleep ${pid} was ended`);
});

Deno.test("a restart ends what the program started too: a server behind a wrapper script, and one in a session of its own", async () => {
  // Neither shell execs its server: without process-group signals the first server
  // would keep the port, and without the program's cgroup the setsid one would.
  const wrapped = (port: number, setsid: boolean) =>
    exec(
      ["sh", "-c", `${setsid ? "setsid " : ""}python3 ${PYTHON_SERVER} ${port} --reuse & wait`],
      {
        ready: { tcp: port },
        readyTimeout: "5s",
      },
    );
  const report = await runScenario(
    scenario("wrapped servers restart", {
      hosts: ["server"],
      workloads: {
        grouped: { on: "server", run: wrapped(7702, false) },
        escaped: { on: "server", run: wrapped(7703, true) },
      },
    }, async (t) => {
      await t.program("grouped").restart();
      await t.program("escaped").restart();
    }),
  );
  assert.deepEqual(report.errors, []);
  for (const w of report.workloads) {
    assert.equal(w.status, "stopped", `${w.name}: ${w.error}`);
    const runs = (w.result as ExecResult).runs;
    assert.equal(runs.length, 2, `${w.name} ran twice`);
    assert.ok(runs[1]!.readyMs !== null, `${w.name} was ready again after its restart`);
  }
  // The server in a session of its own got no SIGTERM: the cgroup ended it, and said so.
  assert.ok(
    report.log.some((l) =>
      /^Program escaped left processes running when squall ended it; squall ended them: pid \d+ \(python3\)$/
        .test(l.message)
    ),
    JSON.stringify(report.log),
  );
});

Deno.test("a stop reaches a program that is not ready yet", async () => {
  const started = performance.now();
  const report = await runScenario(
    scenario("stopped while starting", {
      hosts: ["server"],
      workloads: {
        slow: {
          on: "server",
          run: exec(["sh", "-c", "sleep 30 & exec sleep 30"], {
            ready: { tcp: 7704 },
            readyTimeout: "30s",
          }),
        },
      },
    }),
    { signal: AbortSignal.timeout(1000) },
  );
  const tookMs = performance.now() - started;
  assert.equal(report.status, "interrupted");
  const run = (report.workloads[0]!.result as ExecResult | undefined)?.runs[0];
  // Stopped while waiting to be ready or, on a machine slow to spawn, before it started.
  assert.match(
    report.workloads[0]!.error ?? "",
    /was stopped before it (was ready|could start)/,
  );
  // SIGTERM ended it at once: no wait for the stop timeout, nor for the ready timeout.
  assert.ok(tookMs < 4000, `the run ended ${Math.round(tookMs)} ms after it started`);
  if (run) assert.equal(alive(run.pid), false);
});

Deno.test("a machine without the tools programs need is an environment problem (exit 3), not bad input", async () => {
  // A PATH with setpriv and nothing else: no ss.
  const bin = await Deno.makeTempDir({ prefix: "squall_programs_test_" });
  try {
    const setpriv = new TextDecoder().decode(
      (await new Deno.Command("sh", { args: ["-c", "command -v setpriv"], stdout: "piped" })
        .output()).stdout,
    ).trim();
    await Deno.symlink(setpriv, `${bin}/setpriv`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...SQUALL_CLI,
        "run",
        LOOPBACK_PROGRAM,
        "--allow-run=true",
      ],
      cwd: new URL("..", import.meta.url).pathname,
      env: { PATH: bin, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 3, text);
    assert.match(
      text,
      /Cannot run a loopback scenario: "setsid" \(agents run in a session of their own\), "ss" \(programs under test and bind churn look up port holders with it\) not found on PATH\nhint: install them: apt-get install util-linux iproute2/,
    );
    assert.doesNotMatch(text, /agent pid|▶/, "nothing was started");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

/** A server that says it is ready, then exits by itself with `code` 300 ms later. */
function crashingServer(code: number, options: { expectExit?: boolean | number } = {}) {
  return exec(
    ["sh", "-c", `echo ready; sleep 0.3; echo "bind: Address already in use" >&2; exit ${code}`],
    { ready: { stdout: /ready/ }, ...options },
  );
}

Deno.test("a server that exits by itself while the scenario runs fails it, with its exit code and stderr", async () => {
  const run = (server: ReturnType<typeof exec>) =>
    runScenario(
      scenario("server exits", {
        hosts: ["server"],
        workloads: { server: { on: "server", run: server } },
      }, async (t) => {
        await t.sleep("1s");
      }),
    );
  const crashed = await run(crashingServer(98));
  assert.equal(crashed.status, "failed");
  const w = crashed.workloads[0]!;
  assert.equal(w.status, "failed");
  assert.match(
    w.error!,
    /exited by itself with code 98 while the scenario ran; its stderr ended with:\n {2}bind: Address already in use/,
  );
  assert.equal((w.result as ExecResult).runs[0]!.exitCode, 98);

  // An expected exit passes: any exit with true, that code with a number.
  assert.equal((await run(crashingServer(98, { expectExit: 98 }))).status, "passed");
  assert.equal((await run(crashingServer(0, { expectExit: true }))).status, "passed");
  const other = await run(crashingServer(1, { expectExit: 98 }));
  assert.equal(other.status, "failed");
  assert.match(other.workloads[0]!.error!, /exited by itself with code 1/);
});

Deno.test("a program started with t.start that fails before it is ready ran: its runs are in the report and thresholds on it are evaluated", async () => {
  const report = await runScenario(
    scenario("start fails", {
      hosts: ["server"],
      thresholds: { "late.runs": "== 1", "late.exitCode": "== 3" },
    }, async (t) => {
      await t.start("late", {
        on: "server",
        run: exec(["sh", "-c", "echo cannot bind >&2; exit 3"], { ready: { tcp: 7702 } }),
      });
    }),
  );
  const w = report.workloads.find((w) => w.name === "late")!;
  assert.equal(w.status, "failed");
  const result = w.result as ExecResult;
  assert.equal(result.runs.length, 1);
  assert.ok(result.runs[0]!.pid > 1);
  assert.equal(result.runs[0]!.exitCode, 3);
  assert.deepEqual(result.runs[0]!.stderrTail, ["cannot bind"]);
  assert.deepEqual(
    report.thresholds.map((t) => [t.key, t.ok, t.measured]),
    [["late.runs", true, "1"], ["late.exitCode", true, "3"]],
  );
});

const FORKING_SERVER = new URL("./fixtures/programs/forking_server.py", import.meta.url)
  .pathname;

Deno.test("a restart that keeps the children reproduces EADDRINUSE, names the surviving child as the holder, and reports it as an orphan", async () => {
  const report = await runScenario(
    scenario("the child kept the port", {
      hosts: ["server"],
      workloads: {
        server: {
          on: "server",
          run: exec(["python3", FORKING_SERVER, "7703"], { ready: { tcp: 7703 } }),
        },
      },
      thresholds: { "server.orphans": "== 0" },
    }, async (t) => {
      await assert.rejects(t.program("server").restart({ keepChildren: true }), /bind/);
    }),
  );
  const w = report.workloads.find((w) => w.name === "server")!;
  const result = w.result as ExecResult;
  assert.equal(result.runs.length, 2);
  assert.equal(result.runs[1]!.exitCode, 1);
  assert.match(result.runs[1]!.stderrTail.join("\n"), /Address already in use/);
  const orphans = result.orphans ?? [];
  assert.equal(orphans.length, 1, JSON.stringify(orphans));
  const orphan = orphans[0]!;
  assert.notEqual(orphan.pid, result.runs[0]!.pid, "the orphan is the child, not the server");
  assert.deepEqual(orphan.ports, ["tcp 0.0.0.0:7703 LISTEN"]);
  assert.equal(orphan.run, 0);
  assert.equal(alive(orphan.pid), false, "the orphan ended with the run");
  // The threshold on orphans fails, as it should.
  const threshold = report.thresholds.find((t) => t.key === "server.orphans")!;
  assert.equal(threshold.ok, false);
  assert.equal(threshold.measured, "1");
  // The bind watch owes the failure to the program, with the surviving child as holder.
  const failure = (result.bindFailures ?? []).find((f) => f.error === "EADDRINUSE");
  assert.ok(failure, JSON.stringify(result.bindFailures));
  assert.ok(
    failure.holders?.some((h) => h.pid === orphan.pid),
    `holders: ${JSON.stringify(failure.holders)}`,
  );
});

const UDP_SERVER = new URL("./fixtures/programs/udp_server.py", import.meta.url).pathname;

Deno.test("datagrams queued in the socket of a program squall restarts are a cause of their own, not unexplained", async () => {
  const report = await runScenario(
    scenario("queued at restart", {
      hosts: ["client", "server"],
      links: [["client", "server"]],
      workloads: {
        server: {
          on: "server",
          run: exec(["python3", UDP_SERVER, "7705"], { ready: { udp: 7705 } }),
        },
        probe: {
          on: "client",
          run: udpProbe({ target: "server:7705", duration: "2s", rate: 1000, timeout: "300ms" }),
        },
      },
    }, async (t) => {
      await t.sleep("500ms");
      // Frozen, it reads nothing: what comes meanwhile queues in its socket, then the
      // restart ends it with the queue unread.
      await t.program("server").kill("SIGSTOP");
      await t.sleep("300ms");
      await t.program("server").restart();
    }),
  );
  assert.deepEqual(report.errors, []);
  const probe = report.workloads.find((w) => w.name === "probe")!.result as UdpProbeResult;
  const ledger = probe.ledger!;
  const server = report.workloads.find((w) => w.name === "server")!.result as ExecResult;
  const queued = (server.queuedAtKill ?? []).reduce((n, q) => n + q.datagrams, 0);
  // 300 ms frozen at 1000/s: a few hundred queued (those the kernel took before the stop
  // reached the process were read).
  assert.ok(queued >= 100, `queued when it was ended: ${JSON.stringify(server.queuedAtKill)}`);
  assert.equal(ledger.total.closedSocket, queued, JSON.stringify(ledger.total));
  // A datagram the program had read but not answered when it ended is inside it, not in
  // its socket: at most one of those.
  assert.ok(ledger.total.unexplained <= 1, JSON.stringify(ledger.total));
});
