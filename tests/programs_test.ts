// Programs under test through the runner, on the real kernel: started inside a host's
// namespace, restarted and killed from the scenario function, and never left behind:
// not when they fail to get ready, and not their forked children.

import assert from "node:assert/strict";
import { exec, runScenario, scenario } from "../mod.ts";
import type { ExecResult } from "../harness/measure/results.ts";

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
  assert.match(report.workloads[0]!.error ?? "", /was stopped before it was ready/);
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
      args: ["run", "-A", "--unstable-net", "harness/cli/main.ts", "run", LOOPBACK_PROGRAM],
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
