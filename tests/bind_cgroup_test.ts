// The bind watch owes a failure to the cgroup of the process that failed, read in the
// kernel while it is inside bind(), so a server that fails its bind and exits at once
// (a wrapper script restarting it) is still owed to its program, every time; and the
// watch wakes on its doorbell as the failure happens instead of at its next poll.
//
// Real kernel: a namespace whose holder keeps TCP port 7600, a cgroup v2 of this test's
// own (as the runner makes one per program under test), a wrapper shell in it that runs a
// Python server 20 times, each failing its bind with EADDRINUSE and exiting; half of them
// in a cgroup the wrapper makes under its own (a program that nests cgroups).

import assert from "node:assert/strict";
import { type BindEvent, BindWatch, namespaceInode } from "../harness/kernel/bind_watch.ts";
import { cgroup2Mounts } from "../harness/runner/program_cgroup.ts";
import { eventually, netnsOf } from "./_processes.ts";

const PORT = 7600;
const RESTARTS = 20;
const EADDRINUSE = 98;

// Keeps the port, says so, and waits (until killed).
const HOLDER = `
import socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", ${PORT}))
s.listen()
print("held", flush=True)
time.sleep(120)
`;

// A server that fails its bind and exits at once (exit 1), as a careless one does.
const SERVER = `import socket; socket.socket().bind(("0.0.0.0", ${PORT}))`;

// The wrapper: restarts the server RESTARTS times; from the middle on, in a cgroup it
// makes under its own ($1: its cgroup's directory).
const WRAPPER = `
cg=$1
i=0
while [ "$i" -lt ${RESTARTS} ]; do
  if [ "$i" -eq ${RESTARTS / 2} ]; then mkdir "$cg/inner" && echo $$ > "$cg/inner/cgroup.procs"; fi
  python3 -c '${SERVER}' 2>/dev/null
  i=$((i + 1))
done
`;

Deno.test("a bind failure of a server that exits at once is owed to its program's cgroup, 20 of 20, as it happens", async () => {
  const mount = cgroup2Mounts(Deno.readTextFileSync("/proc/self/mountinfo"))[0];
  assert.ok(mount, "a cgroup2 mount");
  const top = `${mount}/squall-test-bind-cgroup-${Deno.pid}`;
  const program = `${top}/program-1`;
  Deno.mkdirSync(program, { recursive: true });
  const holder = new Deno.Command("setpriv", {
    args: ["--pdeathsig", "KILL", "--", "unshare", "--net", "--", "python3", "-c", HOLDER],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const watch = await BindWatch.open();
  let wrapper: Deno.ChildProcess | undefined;
  try {
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /held/);
    reader.releaseLock();
    assert.notEqual(netnsOf(holder.pid), netnsOf(Deno.pid));
    watch.watchNamespace(namespaceInode(holder.pid));
    const programId = Deno.statSync(program).ino!;

    // The watch, as the runner runs it: wake on the doorbell, read, note when.
    const seen: { event: BindEvent; readAtMs: number }[] = [];
    let done = false;
    const watching = (async () => {
      while (!done) {
        await watch.wait(50);
        const readAtMs = performance.timeOrigin + performance.now();
        for (const event of watch.read().events) seen.push({ event, readAtMs });
      }
    })();

    // The wrapper joins the program's cgroup, then enters the namespace: as the runner
    // starts a program under test.
    wrapper = new Deno.Command("setpriv", {
      args: [
        "--pdeathsig",
        "KILL",
        "--",
        "sh",
        "-c",
        'echo $$ > "$0/cgroup.procs" && exec nsenter -t "$1" -n -- sh -c "$2" wrapper "$0"',
        program,
        String(holder.pid),
        WRAPPER,
      ],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await wrapper.status;
    assert.equal(status.code, 0, "the wrapper ran to its end");
    assert.ok(
      await eventually(() => seen.length >= RESTARTS, 2_000),
      `${seen.length} of ${RESTARTS} failures seen`,
    );
    done = true;
    await watching;

    const inner = Deno.statSync(`${program}/inner`).ino!;
    const failures = seen.filter((s) => s.event.kind === "failure");
    assert.equal(failures.length, RESTARTS, "one failure per restart, nothing else");
    const pids = new Set(failures.map((f) => f.event.pid));
    assert.equal(pids.size, RESTARTS, "each from a process of its own");
    for (const [i, { event }] of failures.entries()) {
      assert.equal(event.errno, EADDRINUSE);
      assert.equal(event.port, PORT);
      assert.equal(event.comm, "python3");
      // The first half in the program's cgroup, the rest in the one it made under it;
      // each way, the program's cgroup is an ancestor at its level.
      assert.equal(event.cgroupId, i < RESTARTS / 2 ? programId : inner, `failure ${i}`);
      assert.ok(event.cgroupAncestors.includes(programId), `failure ${i}: program's cgroup`);
    }
    // Each failure was read as it happened, not a poll later: by then the server had
    // exited (it exits right after its bind), but its cgroup was recorded in the kernel.
    const delays = failures.map((f) => f.readAtMs - f.event.atMs).sort((a, b) => a - b);
    const median = delays[Math.floor(delays.length / 2)]!;
    console.log(
      `doorbell: read ${median.toFixed(3)} ms after the bind (median), max ${
        delays.at(-1)!.toFixed(3)
      } ms`,
    );
    assert.ok(median < 5, `median delay ${median} ms`);
  } finally {
    watch[Symbol.dispose]();
    await watch.closed();
    try {
      wrapper?.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await wrapper?.status;
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
    for (const dir of [`${program}/inner`, program, top]) {
      try {
        Deno.removeSync(dir);
      } catch {
        // Gone, or never made.
      }
    }
  }
});

Deno.test("BindWatch.wait() times out when nothing happens, and disposal during a wait frees after it", async () => {
  const watch = await BindWatch.open();
  try {
    const started = performance.now();
    assert.equal(await watch.wait(30), false, "nothing rang");
    const waitedMs = performance.now() - started;
    assert.ok(waitedMs >= 25 && waitedMs < 1_000, `waited ${waitedMs} ms`);
    await assert.rejects(watch.wait(-1), RangeError);
    const waiting = watch.wait(100);
    await assert.rejects(watch.wait(10), /in flight/);
    watch[Symbol.dispose](); // while the wait is in flight
    assert.equal(await waiting, false);
    await watch.closed();
    assert.throws(() => watch.read(), /disposed/);
  } finally {
    watch[Symbol.dispose]();
    await watch.closed();
  }
});
