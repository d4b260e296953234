// Programs under test, run for real: python servers started through setpriv, made ready
// by a port or a line of output, restarted, signalled and stopped; and nothing outlives
// the process that started them, even when it is SIGKILLed.

import assert from "node:assert/strict";
import type { ExecSettings } from "../harness/agent/protocol.ts";
import type { RunningWorkload } from "../harness/agent/running.ts";
import { startProgram } from "../harness/runner/program.ts";
import { CommandError } from "../harness/core/errors.ts";
import type { ExecResult, ProgramRun } from "../harness/measure/results.ts";
import { findProgram } from "../harness/workloads/exec.ts";
import { eventually, isAlive } from "./_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PROGRAMS = `${ROOT}tests/fixtures/programs`;
// The real interpreter: `python3` in PATH may be a shell shim (pyenv).
const PYTHON = Deno.realPathSync("/usr/bin/python3");
const SETPRIV = found("setpriv");
const SS = found("ss");

function found(name: string): string {
  const path = findProgram(name, null);
  if (typeof path !== "string") throw new Error(path.error);
  return path;
}

function settings(
  command: string[],
  ready: ExecSettings["ready"],
  options: Partial<ExecSettings> = {},
): ExecSettings {
  return {
    command,
    ready,
    readyTimeoutMs: 5000,
    env: {},
    cwd: null,
    stopTimeoutMs: 1000,
    setprivPath: SETPRIV,
    ssPath: SS,
    namespace: null,
    cgroup: null,
    ...options,
  };
}

function python(script: string, ...args: string[]): string[] {
  return [PYTHON, `${PROGRAMS}/${script}`, ...args];
}

function freeTcpPort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

function freeUdpPort(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  socket.close();
  return (socket.addr as Deno.NetAddr).port;
}

/** Whether a socket listens on (TCP) or is bound to (UDP) the port, from `ss`. */
async function bound(protocol: "tcp" | "udp", port: number): Promise<boolean> {
  const args = ["-H", "-n", protocol === "tcp" ? "-lt" : "-au", "sport", "=", `:${port}`];
  const out = await new Deno.Command(SS, { args, stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim() !== "";
}

function procExists(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function lastRun(program: RunningWorkload<ExecResult>): Promise<ProgramRun> {
  return (await program.snapshot()).runs.at(-1)!;
}

/** Whether a promise is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const still = new Promise<true>((resolve) => timer = setTimeout(() => resolve(true), ms));
  const outcome = await Promise.race([promise.then(() => false, () => false), still]);
  clearTimeout(timer);
  return outcome;
}

async function rejection(promise: Promise<unknown>): Promise<CommandError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CommandError, `expected a CommandError, got ${error}`);
    return error;
  }
  assert.fail("expected a rejection");
}

Deno.test("startProgram() resolves once a TCP server listens, and stop() ends it with SIGTERM", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port)), { tcp: port }),
  );
  assert.ok(await bound("tcp", port));
  assert.equal(program.address, `0.0.0.0:${port}`);
  const running = await lastRun(program);
  assert.ok(running.readyMs !== null && running.readyMs > 0);
  assert.equal(running.endedAt, null);

  const result = await program.stop();
  assert.equal(result.kind, "exec");
  assert.deepEqual(result.command, python("tcp_server.py", String(port)));
  assert.equal(result.runs.length, 1);
  const run = result.runs[0]!;
  assert.equal(run.pid, running.pid);
  assert.equal(run.signal, "SIGTERM");
  assert.equal(run.exitCode, null);
  assert.equal(run.endedBySquall, true);
  assert.ok(run.endedAt !== null && run.endedAt >= run.startedAt);
  assert.deepEqual(run.stdoutTail, [`listening on ${port}`]);
  assert.deepEqual(run.stderrTail, [`pid ${run.pid}`]);
  assert.ok(!procExists(run.pid));
  assert.deepEqual(await program.done, result);
  assert.ok(!await bound("tcp", port));
});

Deno.test("startProgram() is ready when a line of stdout matches the pattern", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port), "--delay", "0.2"), {
      stdout: { source: "^LISTENING on \\d+$", flags: "gi" },
    }),
  );
  const run = await lastRun(program);
  assert.deepEqual(run.stdoutTail, [`listening on ${port}`]);
  assert.ok(run.readyMs !== null && run.readyMs >= 200);
  assert.equal(program.address, "");
  await program.stop();
});

Deno.test("startProgram() is ready when a UDP socket is bound to the port", async () => {
  const port = freeUdpPort();
  const program = await startProgram(
    settings(python("udp_server.py", String(port)), { udp: port }),
  );
  assert.ok(await bound("udp", port));
  assert.equal(program.address, `0.0.0.0:${port}`);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await client.send(new TextEncoder().encode("ping"), {
    transport: "udp",
    hostname: "127.0.0.1",
    port,
  });
  const [reply] = await client.receive();
  client.close();
  assert.equal(new TextDecoder().decode(reply), "ping");
  const result = await program.stop();
  assert.equal(result.runs[0]!.signal, "SIGTERM");
});

Deno.test("restart() ends the program and starts a new run that is ready again", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port)), { tcp: port }),
  );
  const first = (await lastRun(program)).pid;
  await program.control!({ action: "restart" });
  assert.ok(!isAlive(first));
  assert.ok(await bound("tcp", port));
  const { runs } = await program.snapshot();
  assert.equal(runs.length, 2);
  assert.notEqual(runs[1]!.pid, first);
  assert.equal(runs[0]!.signal, "SIGTERM");
  assert.equal(runs[0]!.endedBySquall, true);
  assert.ok(runs[1]!.readyMs !== null);
  assert.equal(runs[1]!.endedAt, null);
  const result = await program.stop();
  assert.equal(result.runs.length, 2);
  assert.equal(result.runs[1]!.endedBySquall, true);
  assert.ok(!isAlive(runs[1]!.pid));
});

Deno.test("kill SIGKILL ends the run as squall's doing, and the workload waits for a restart", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port)), { tcp: port }),
  );
  const pid = (await lastRun(program)).pid;
  await program.control!({ action: "kill", signal: "SIGKILL" });
  assert.ok(await eventually(async () => (await lastRun(program)).endedAt !== null, 2000));
  const killed = await lastRun(program);
  assert.equal(killed.signal, "SIGKILL");
  assert.equal(killed.exitCode, null);
  assert.equal(killed.endedBySquall, true);
  assert.ok(!procExists(pid));
  assert.ok(await pendingAfter(program.done, 100), "done must wait for a restart or a stop");
  await assert.rejects(
    program.control!({ action: "kill", signal: "SIGTERM" }),
    /Cannot send SIGTERM to program ".*tcp_server\.py \d+": it is not running \(it was killed by SIGKILL\)/,
  );

  await program.control!({ action: "restart" });
  assert.ok(await bound("tcp", port));
  const result = await program.stop();
  assert.equal(result.runs.length, 2);
  assert.equal(result.runs[1]!.signal, "SIGTERM");
});

Deno.test("stop() after a kill resolves with the runs so far", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port)), { tcp: port }),
  );
  await program.control!({ action: "kill", signal: "SIGKILL" });
  const result = await program.stop();
  assert.equal(result.runs.length, 1);
  assert.equal(result.runs[0]!.signal, "SIGKILL");
  await assert.rejects(program.control!({ action: "restart" }), /it has been stopped/);
});

Deno.test("a program that exits on a signal squall sent counts as ended by squall", async () => {
  const script = "import signal, sys, time\n" +
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n" +
    "print('up', flush=True)\n" +
    "time.sleep(60)";
  const program = await startProgram(
    settings([PYTHON, "-c", script], { stdout: { source: "^up$", flags: "" } }),
  );
  await program.control!({ action: "kill", signal: "SIGSTOP" });
  await program.control!({ action: "kill", signal: "SIGCONT" });
  assert.equal((await lastRun(program)).endedAt, null);
  await program.control!({ action: "kill", signal: "SIGTERM" });
  assert.ok(await eventually(async () => (await lastRun(program)).endedAt !== null, 2000));
  const run = await lastRun(program);
  assert.equal(run.exitCode, 0);
  assert.equal(run.signal, null);
  assert.equal(run.endedBySquall, true);
  assert.ok(await pendingAfter(program.done, 100));
  await program.stop();
});

Deno.test("stop() of a frozen program gets it to handle SIGTERM", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port)), { tcp: port }),
  );
  await program.control!({ action: "kill", signal: "SIGSTOP" });
  const started = performance.now();
  const result = await program.stop();
  assert.ok(performance.now() - started < 900, "it ended on SIGTERM, not on SIGKILL later");
  assert.equal(result.runs[0]!.signal, "SIGTERM");
});

Deno.test("done resolves when the program exits by itself, whatever its exit code", async () => {
  const zero = await startProgram(settings([PYTHON, "-c", "print('hi')"], null));
  const ok = await zero.done;
  assert.equal(ok.runs[0]!.exitCode, 0);
  assert.equal(ok.runs[0]!.endedBySquall, false);
  assert.deepEqual(ok.runs[0]!.stdoutTail, ["hi"]);
  assert.deepEqual(await zero.stop(), ok);
  await assert.rejects(zero.control!({ action: "restart" }), /it has exited/);

  const three = await startProgram(
    settings([PYTHON, "-c", "import time, sys; time.sleep(0.1); sys.exit(3)"], null),
  );
  const failed = await three.done;
  assert.equal(failed.runs[0]!.exitCode, 3);
  assert.equal(failed.runs[0]!.signal, null);
  assert.equal(failed.runs[0]!.endedBySquall, false);
});

Deno.test("findProgram() says why a program cannot run", () => {
  const missing = findProgram("squall-no-such-program", null);
  assert.deepEqual(missing, { error: 'program "squall-no-such-program" is not in PATH' });
  const nowhere = findProgram("./no/such/program", ROOT);
  assert.ok(typeof nowhere !== "string");
  assert.match(
    nowhere.error,
    /^program "\.\/no\/such\/program" does not exist \(looked for .*\/no\/such\/program\)$/,
  );
  const script = findProgram("tests/fixtures/programs/sleeper.py", ROOT);
  assert.deepEqual(script, {
    error: `"${ROOT}tests/fixtures/programs/sleeper.py" is not an executable file`,
  });
  assert.equal(findProgram("./python3.11", "/usr/bin"), PYTHON);
});

Deno.test("a program never ready fails after the ready timeout, quotes its stderr and is gone", async () => {
  const port = freeTcpPort();
  const started = performance.now();
  const error = await rejection(
    startProgram(settings(python("sleeper.py"), { tcp: port }, { readyTimeoutMs: 500 })),
  );
  assert.ok(performance.now() - started >= 500);
  assert.match(
    error.message,
    new RegExp(
      `^Program ".*sleeper\\.py" was not ready after 500ms: tcp port ${port} never listened; ` +
        `its stderr ended with:\\n  \\| pid \\d+\\n  \\| still starting up$`,
    ),
  );
  assert.equal(error.code, null);
  const pid = Number(/pid (\d+)/.exec(error.message)![1]);
  assert.ok(!procExists(pid), `pid ${pid} still exists`);
});

Deno.test("a stdout pattern that never matches fails after the ready timeout", async () => {
  const error = await rejection(
    startProgram(
      settings(python("sleeper.py"), { stdout: { source: "^ready$", flags: "" } }, {
        readyTimeoutMs: 300,
      }),
    ),
  );
  assert.match(
    error.message,
    /was not ready after 300ms: no line of its stdout matched \/\^ready\$\//,
  );
  assert.ok(!procExists(Number(/pid (\d+)/.exec(error.message)![1])));
});

Deno.test("a program that exits before it is ready fails with its exit code and stderr", async () => {
  const port = freeTcpPort();
  const command = [PYTHON, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"];
  const error = await rejection(startProgram(settings(command, { tcp: port })));
  assert.match(
    error.message,
    /^Program ".*" exited with code 3 before it was ready; its stderr ended with:\n {2}\| boom$/,
  );
  assert.equal(error.code, 3);
  assert.equal(error.stderrTail, "boom");
});

Deno.test("a port held before the program starts does not make it ready", async () => {
  const port = freeTcpPort();
  using _held = Deno.listen({ hostname: "0.0.0.0", port });
  const never = await rejection(
    startProgram(settings(python("sleeper.py"), { tcp: port }, { readyTimeoutMs: 300 })),
  );
  assert.match(
    never.message,
    new RegExp(
      `not ready after 300ms: tcp port ${port} was already held by pid ${Deno.pid} "deno" ` +
        `before it started, and it never held it itself`,
    ),
  );
  const clash = await rejection(
    startProgram(settings(python("tcp_server.py", String(port)), { tcp: port })),
  );
  assert.match(clash.message, /exited with code 1 before it was ready/);
  assert.match(clash.message, /Address already in use/);
});

Deno.test("stop() ends a program that ignores SIGTERM with SIGKILL after the stop timeout", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port), "--ignore-sigterm"), { tcp: port }, {
      stopTimeoutMs: 300,
    }),
  );
  const started = performance.now();
  const result = await program.stop();
  assert.ok(performance.now() - started >= 300);
  assert.equal(result.runs[0]!.signal, "SIGKILL");
  assert.equal(result.runs[0]!.endedBySquall, true);
  assert.ok(!procExists(result.runs[0]!.pid));
});

Deno.test("stop() during a restart ends the new run before it is ready", async () => {
  const port = freeTcpPort();
  const program = await startProgram(
    settings(python("tcp_server.py", String(port), "--delay", "0.3"), { tcp: port }),
  );
  const restart = program.control!({ action: "restart" });
  restart.catch(() => {});
  await eventually(async () => (await program.snapshot()).runs.length === 2, 2000);
  const started = performance.now();
  const result = await program.stop();
  assert.ok(performance.now() - started < 900);
  await assert.rejects(restart, /was stopped before it was ready/);
  assert.equal(result.runs.length, 2);
  assert.equal(result.runs[1]!.readyMs, null);
  assert.equal(result.runs[1]!.endedBySquall, true);
  assert.ok(!isAlive(result.runs[1]!.pid));
});

Deno.test("the output tails keep the last 50 lines, cut long lines and keep a last partial line", async () => {
  const program = await startProgram(settings(python("chatty.py", "100"), null));
  const { runs: [run] } = await program.done;
  assert.equal(run!.stdoutTail.length, 50);
  assert.equal(run!.stdoutTail.at(-2), "out 99");
  assert.equal(run!.stdoutTail.at(-1), "x".repeat(1000) + "…");
  assert.equal(run!.stderrTail.length, 50);
  assert.equal(run!.stderrTail[0], "err 51");
  assert.equal(run!.stderrTail.at(-1), "no newline at the end");
});

Deno.test("the program gets a minimal environment, settings.env and its cwd", async () => {
  const script = "import os, json; print(json.dumps([os.getcwd(), dict(os.environ)]))";
  const program = await startProgram(
    settings([PYTHON, "-c", script], null, { cwd: "/tmp", env: { FOO: "bar", HOME: "/tmp" } }),
  );
  const { runs: [run] } = await program.done;
  const [cwd, env] = JSON.parse(run!.stdoutTail[0]!);
  assert.equal(cwd, "/tmp");
  assert.deepEqual(env, {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/tmp",
    LANG: "C.UTF-8",
    FOO: "bar",
  });
});

Deno.test("a program dies with the process that started it, even on SIGKILL", async () => {
  const driver = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-run=${PYTHON},${SETPRIV},${SS}`,
      "tests/_exec_child.ts",
      "hold",
      SETPRIV,
      SS,
      PYTHON,
      `${PROGRAMS}/sleeper.py`,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = driver.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const { pid } = JSON.parse(text) as { pid: number };
  assert.ok(isAlive(pid));
  driver.kill("SIGKILL");
  await driver.status;
  await reader.cancel();
  // Dead at once; the orphan's zombie stays in /proc until init reaps it (here ~1.5 s).
  assert.ok(await eventually(() => !isAlive(pid), 1000), `pid ${pid} outlived its parent`);
});

Deno.test("startProgram() works with an agent's permissions, which let it run nothing else", async () => {
  const port = freeTcpPort();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-run=${PYTHON},${SETPRIV},${SS}`,
      "tests/_exec_child.ts",
      "sandboxed",
      SETPRIV,
      SS,
      PYTHON,
      `${PROGRAMS}/tcp_server.py`,
      String(port),
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  const { other, address, result } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    other: string;
    address: string;
    result: ExecResult;
  };
  assert.equal(other, "NotCapable");
  assert.equal(address, `0.0.0.0:${port}`);
  assert.equal(result.runs.length, 2);
  assert.ok(result.runs.every((r) => r.endedBySquall && r.signal === "SIGTERM"));
});
