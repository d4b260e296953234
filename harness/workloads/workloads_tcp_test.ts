// The TCP, storm, churn and program specs: defaults, and every bad input named where it is.

import assert from "node:assert/strict";
import { basename, isAbsolute, join } from "node:path";
import {
  bindChurn,
  describeWorkload,
  exec,
  findProgram,
  reconnectStorm,
  runsUntilStopped,
  tcpEcho,
  tcpProbe,
  validateWorkload,
} from "./workloads.ts";

const messages = (spec: unknown) =>
  validateWorkload(spec, "w").map((p) => `${p.where}: ${p.message}`);

Deno.test("the new workload specs have the documented defaults and are valid", () => {
  assert.deepEqual(tcpEcho({ port: 7100 }), { kind: "tcpEcho", port: 7100 });
  const probe = tcpProbe({ target: "server:7100", count: 10 });
  assert.equal(probe.connection, "keep");
  assert.equal(probe.connectTimeout, "1s");
  const storm = reconnectStorm({ target: "server:7100", clients: 50, cycles: 3 });
  assert.equal(storm.concurrency, 50);
  assert.deepEqual(storm.backoff, {
    type: "exponential",
    initial: "10ms",
    max: "1s",
    factor: 2,
    jitter: 0.1,
  });
  assert.equal(bindChurn({ port: 7200, cycles: 5 }).reuseAddress, false);
  assert.equal(bindChurn({ port: 7200, cycles: 5, protocol: "tcp" }).reuseAddress, true);
  const program = exec(["sh", "-c", "sleep 1"], { ready: { stdout: /up/i } });
  assert.deepEqual(program.ready, { stdout: { source: "up", flags: "i" } });
  for (
    const spec of [
      tcpEcho({ port: 1 }),
      probe,
      storm,
      bindChurn({ port: 7200, cycles: 5 }),
      program,
    ]
  ) {
    assert.deepEqual(validateWorkload(spec, "w"), [], spec.kind);
    assert.ok(describeWorkload(spec).length > 10);
  }
  assert.equal(runsUntilStopped(tcpEcho({ port: 1 })), true);
  assert.equal(runsUntilStopped(program), true);
  assert.equal(runsUntilStopped(exec(["true"], { waitForExit: true })), false);
  assert.equal(runsUntilStopped(storm), false);
});

Deno.test("clients or cycles of zero or less, and ports outside 1-65535, are named", () => {
  assert.deepEqual(messages(reconnectStorm({ target: "server:70000", clients: 0, cycles: -1 })), [
    'w.target: port must be a whole number 1-65535, got 70000 in "server:70000"',
    "w.clients: clients must be a whole number 1-10000, got 0",
    "w.cycles: cycles must be a whole number above 0, got -1",
  ]);
  assert.deepEqual(messages(bindChurn({ port: 0, cycles: 0 })), [
    "w.port: port must be a whole number 1-65535, got 0",
    "w.cycles: cycles must be a whole number 1-10000000, got 0",
  ]);
  assert.deepEqual(messages(tcpEcho({ port: 65536 })), [
    "w.port: port must be a whole number 1-65535, got 65536",
  ]);
  assert.deepEqual(messages(tcpProbe({ target: "server:7100" })), [
    "w: give either count or duration",
  ]);
});

Deno.test("bad backoffs, protocols and churn combinations are named", () => {
  assert.deepEqual(
    messages(reconnectStorm({
      target: "server:7100",
      clients: 5,
      duration: "1s",
      concurrency: 6,
      protocol: "sctp" as "tcp",
      backoff: { initial: "1s", max: "10ms", factor: 0.5, jitter: 2 },
    })),
    [
      "w.concurrency: concurrency must be a whole number 1-5 (the number of clients), got 6",
      'w.protocol: protocol must be "tcp" or "udp", got "sctp"',
      "w.backoff.max: backoff.max (10ms) must be at least backoff.initial (1s)",
      "w.backoff.factor: backoff.factor must be 1-100, got 0.5",
      "w.backoff.jitter: backoff.jitter must be 0-1, got 2",
    ],
  );
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
