import assert from "node:assert/strict";
import { basename, isAbsolute, join } from "node:path";
import { exec, execSettings, findProgram } from "./exec.ts";
import { EnvironmentError } from "../core/errors.ts";
import { context, messages } from "../../tests/fixtures/workload_context.ts";

Deno.test("a program that does not exist or cannot be executed is named before anything runs", () => {
  assert.deepEqual(messages(exec(["no-such-program-squall"])), [
    'w.command: program "no-such-program-squall" is not in PATH',
  ]);
  assert.match(
    messages(exec(["./no/such/file"]))[0]!,
    /^w\.command: program "\.\/no\/such\/file" does not exist/,
  );
  // deno.json exists and is not executable.
  assert.match(messages(exec(["./deno.json"]))[0]!, /is not an executable file$/);
  assert.deepEqual(messages(exec([])), [
    "w.command: expected the program and its arguments as strings, got []",
  ]);
  assert.deepEqual(messages(exec(["sh"], { ready: { tcp: 0 } })), [
    "w.ready.tcp: port must be a whole number 1-65535, got 0",
  ]);
  assert.deepEqual(messages(exec(["sh"], { cwd: "/no/such/dir" })), [
    'w.cwd: cwd must be a directory that exists, got "/no/such/dir"',
  ]);
  // Found in PATH, as its own name: /usr/bin/sh, not the /usr/bin/dash it may link to.
  const sh = findProgram("sh", null);
  assert.ok(typeof sh === "string" && isAbsolute(sh) && basename(sh) === "sh", String(sh));
});

Deno.test("findProgram() returns a symbolic link's own path, not the file it points to", async () => {
  const dir = await Deno.makeTempDir({ prefix: "squall_find_program_" });
  const path = Deno.env.get("PATH");
  try {
    const link = join(dir, "true-link");
    await Deno.symlink("/bin/true", link);
    assert.equal(findProgram(link, null), link);
    assert.equal(findProgram("./true-link", dir), link);
    Deno.env.set("PATH", `${dir}:${path ?? ""}`);
    assert.equal(findProgram("true-link", null), link, "looked up in PATH");
    // Links are followed to check the file: it must exist and be executable.
    const data = join(dir, "data");
    await Deno.writeTextFile(data, "not a program", { mode: 0o644 });
    await Deno.symlink(data, join(dir, "data-link"));
    assert.deepEqual(findProgram("./data-link", dir), {
      error: `"${join(dir, "data-link")}" is not an executable file`,
    });
    await Deno.symlink(join(dir, "gone"), join(dir, "dangling"));
    assert.deepEqual(findProgram("./dangling", dir), {
      error: `program "./dangling" does not exist (looked for ${join(dir, "dangling")})`,
    });
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("execSettings() finds the program and runs it in the host's namespace", () => {
  const spec = exec(["sh", "-c", "exit 0"], { ready: { tcp: 8000 }, cwd: "." });
  const settings = execSettings(spec, context("namespaces", "server"));
  assert.ok(!("error" in settings));
  assert.ok(isAbsolute(settings.command[0]!) && basename(settings.command[0]!) === "sh");
  assert.deepEqual(settings.command.slice(1), ["-c", "exit 0"]);
  assert.equal(settings.cwd, Deno.cwd());
  assert.equal(settings.readyTimeoutMs, 10_000);
  assert.equal(settings.stopTimeoutMs, 2000);
  assert.deepEqual(settings.namespace, { nsenterPath: "/usr/bin/nsenter", pid: 4242 });
  const local = execSettings(spec, context("loopback", "local"));
  assert.ok(!("error" in local) && local.namespace === null);
  assert.deepEqual(execSettings(exec(["no-such-program-squall"]), context("loopback", "local")), {
    error: 'program "no-such-program-squall" is not in PATH',
  });
});

Deno.test("execSettings() throws an EnvironmentError naming each missing tool", () => {
  const namespaced = context("namespaces", "server");
  assert.throws(
    () =>
      execSettings(exec(["sh"]), {
        ...namespaced,
        tools: { setpriv: undefined, ss: "/usr/bin/ss", nsenter: undefined },
      }),
    (error: unknown) =>
      error instanceof EnvironmentError &&
      error.message === 'Cannot start program under test "sh": setpriv, nsenter not found on PATH',
  );
  // On loopback nsenter is not needed.
  const local = context("loopback", "local");
  const settings = execSettings(exec(["sh"]), {
    ...local,
    tools: { ...local.tools, nsenter: undefined },
  });
  assert.ok(!("error" in settings) && settings.namespace === null);
});
