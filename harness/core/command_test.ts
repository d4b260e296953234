import assert from "node:assert/strict";
import { runCommand } from "./command.ts";
import { CommandError } from "./errors.ts";

Deno.test("runCommand() resolves with stdout and passes stdin", async () => {
  assert.equal(await runCommand("sh", ["-c", "cat; echo done"], { stdin: "in\n" }), "in\ndone\n");
});

Deno.test("runCommand() throws a non-zero exit with the tail of its stderr", async () => {
  const script = "for i in $(seq 1 20); do echo line$i >&2; done; exit 4";
  const error = await runCommand("sh", ["-c", script]).then(
    () => assert.fail("expected a CommandError"),
    (e) => e,
  );
  assert.ok(error instanceof CommandError);
  assert.equal(error.code, 4);
  assert.match(error.message, /^Command "sh -c .*" exited with code 4\n/);
  // The last 12 lines, not the first.
  assert.equal(error.stderrTail.split("\n").length, 12);
  assert.match(error.stderrTail, /^line9\n[\s\S]*line20$/);
});

Deno.test("runCommand() with noThrow returns the exit code, stdout and stderr", async () => {
  const out = await runCommand("sh", ["-c", "echo out; echo err >&2; exit 7"], { noThrow: true });
  assert.deepEqual(out, { code: 7, signal: null, stdout: "out\n", stderr: "err\n" });
  const ok = await runCommand("true", [], { noThrow: true });
  assert.deepEqual(ok, { code: 0, signal: null, stdout: "", stderr: "" });
});

Deno.test("runCommand() with noThrow returns the signal that ended the command", async () => {
  const out = await runCommand("sh", ["-c", "kill -KILL $$"], { noThrow: true });
  assert.equal(out.code, null);
  assert.equal(out.signal, "SIGKILL");
});

Deno.test("runCommand() kills a command that outlives its timeout and throws", async () => {
  const started = performance.now();
  const error = await runCommand("sleep", ["5"], { timeoutMs: 200, noThrow: true }).then(
    () => assert.fail("expected a timeout"),
    (e) => e,
  );
  const took = performance.now() - started;
  assert.ok(error instanceof CommandError);
  assert.match(error.message, /^Command "sleep 5" timed out after 200 ms/);
  assert.ok(took >= 190 && took < 2000, `took ${took} ms`);
});

Deno.test("runCommand() is cancelled by its signal, rejecting with the signal's reason", async () => {
  const stop = new AbortController();
  const started = performance.now();
  setTimeout(() => stop.abort(new Error("stopped")), 100);
  await assert.rejects(runCommand("sleep", ["5"], { signal: stop.signal }), /^Error: stopped$/);
  assert.ok(performance.now() - started < 2000);
  // Already aborted: nothing is started.
  await assert.rejects(runCommand("sleep", ["5"], { signal: stop.signal }), /^Error: stopped$/);
});

Deno.test("runCommand() throws a CommandError for a command that cannot start", async () => {
  await assert.rejects(
    runCommand("/nonexistent/squall-command", [], { noThrow: true }),
    (e) =>
      e instanceof CommandError && /^Cannot run "\/nonexistent\/squall-command"/.test(e.message),
  );
});

Deno.test("runCommand() rejects a timeout that is not above 0", async () => {
  await assert.rejects(runCommand("true", [], { timeoutMs: 0 }), RangeError);
});
